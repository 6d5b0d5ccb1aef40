/* tests/runtime/test_router.c - Workers route patterns and their precedence. */
#include <stdio.h>
#include <stdlib.h>

#include "runtime/router.h"
#include "test.h"

/* Targets are the addresses of these, so a failing CHECK shows which. */
static char A, B, C, D, E;

TEST(router_exact_host_and_path) {
  isl_rt_router_t *r;
  CHECK(isl_rt_router_new(&r) == 0);
  CHECK(isl_rt_router_add(r, "example.com/exact-path", &A, NULL) == 0);
  CHECK(isl_rt_router_add(r, "example.com/", &B, NULL) == 0);
  CHECK(isl_rt_router_match(r, "example.com", "/exact-path") == &A);
  CHECK(isl_rt_router_match(r, "example.com", "/exact-path/") == NULL);
  CHECK(isl_rt_router_match(r, "example.com", "/exact-pat") == NULL);
  CHECK(isl_rt_router_match(r, "example.com", "/") == &B);
  CHECK(isl_rt_router_match(r, "example.com", "") == &B); /* an empty target is "/" */
  CHECK(isl_rt_router_match(r, "example.com", NULL) == &B);
  CHECK(isl_rt_router_match(r, "example.org", "/exact-path") == NULL);
  CHECK(isl_rt_router_match(r, "www.example.com", "/exact-path") == NULL);
  CHECK(isl_rt_router_match(r, NULL, "/exact-path") == NULL);
  CHECK_EQ_INT(isl_rt_router_count(r), 2);
  isl_rt_router_free(r);
}

TEST(router_wildcard_subdomain_excludes_apex) {
  isl_rt_router_t *r;
  CHECK(isl_rt_router_new(&r) == 0);
  CHECK(isl_rt_router_add(r, "*.example.com/*", &A, NULL) == 0);
  CHECK(isl_rt_router_match(r, "www.example.com", "/") == &A);
  CHECK(isl_rt_router_match(r, "a.b.c.example.com", "/x/y") == &A);
  CHECK(isl_rt_router_match(r, "example.com", "/") == NULL);
  CHECK(isl_rt_router_match(r, "wwwexample.com", "/") == NULL);
  CHECK(isl_rt_router_match(r, "example.com.evil.net", "/") == NULL);
  CHECK(isl_rt_router_match(r, "com", "/") == NULL);
  isl_rt_router_free(r);
}

TEST(router_wildcard_apex_and_subdomains) {
  isl_rt_router_t *r;
  CHECK(isl_rt_router_new(&r) == 0);
  CHECK(isl_rt_router_add(r, "*example.com/*", &A, NULL) == 0);
  CHECK(isl_rt_router_match(r, "example.com", "/") == &A);
  CHECK(isl_rt_router_match(r, "www.example.com", "/a") == &A);
  CHECK(isl_rt_router_match(r, "x.y.example.com", "/a") == &A);
  /* "*" matches whole labels only. */
  CHECK(isl_rt_router_match(r, "myexample.com", "/") == NULL);
  CHECK(isl_rt_router_match(r, "example.co", "/") == NULL);
  isl_rt_router_free(r);
}

TEST(router_path_prefix) {
  isl_rt_router_t *r;
  CHECK(isl_rt_router_new(&r) == 0);
  CHECK(isl_rt_router_add(r, "example.com/api/*", &A, NULL) == 0);
  CHECK(isl_rt_router_add(r, "example.com/img*", &B, NULL) == 0);
  CHECK(isl_rt_router_match(r, "example.com", "/api/") == &A);
  CHECK(isl_rt_router_match(r, "example.com", "/api/v1/users") == &A);
  CHECK(isl_rt_router_match(r, "example.com", "/api") == NULL); /* a plain prefix: "/api/" */
  CHECK(isl_rt_router_match(r, "example.com", "/apix") == NULL);
  CHECK(isl_rt_router_match(r, "example.com", "/img") == &B);
  CHECK(isl_rt_router_match(r, "example.com", "/imgs/cat.png") == &B);
  CHECK(isl_rt_router_match(r, "example.com", "/API/") == NULL); /* paths are case-sensitive */
  CHECK(isl_rt_router_match(r, "example.com", "/") == NULL);
  isl_rt_router_free(r);
}

TEST(router_ignores_port_query_case_and_scheme) {
  isl_rt_router_t *r;
  CHECK(isl_rt_router_new(&r) == 0);
  CHECK(isl_rt_router_add(r, "https://Example.COM/a", &A, NULL) == 0);
  CHECK(isl_rt_router_add(r, "HTTP://*.Example.com/b/*", &B, NULL) == 0);
  CHECK(isl_rt_router_match(r, "example.com:8787", "/a?x=1") == &A);
  CHECK(isl_rt_router_match(r, "EXAMPLE.com", "/a#frag") == &A);
  CHECK(isl_rt_router_match(r, "example.com.", "/a") == &A);
  CHECK(isl_rt_router_match(r, " example.com ", "/a") == &A);
  CHECK(isl_rt_router_match(r, "example.com", "/A") == NULL);
  CHECK(isl_rt_router_match(r, "WWW.EXAMPLE.COM:443", "/b/?q") == &B);
  CHECK(isl_rt_router_match(r, "example.com:", "/a") == &A);
  /* An IPv6 literal keeps its colons; it is just a host no route names. */
  CHECK(isl_rt_router_match(r, "[::1]:8787", "/a") == NULL);
  CHECK(isl_rt_router_match(r, "[::1", "/a") == NULL);
  CHECK(isl_rt_router_match(r, ":8787", "/a") == NULL);
  isl_rt_router_free(r);
}

TEST(router_precedence_most_specific_wins) {
  isl_rt_router_t *r;
  CHECK(isl_rt_router_new(&r) == 0);
  /* Added least specific first, so insertion order cannot explain the result. */
  CHECK(isl_rt_router_add(r, "*example.com/*", &A, NULL) == 0);
  CHECK(isl_rt_router_add(r, "*.example.com/*", &B, NULL) == 0);
  CHECK(isl_rt_router_add(r, "*.api.example.com/*", &C, NULL) == 0);
  CHECK(isl_rt_router_add(r, "www.example.com/*", &D, NULL) == 0);
  CHECK(isl_rt_router_add(r, "www.example.com/api/*", &E, NULL) == 0);
  /* 1. exact host beats any wildcard, whatever the path. */
  CHECK(isl_rt_router_match(r, "www.example.com", "/x") == &D);
  /* 3. then the longer path prefix. */
  CHECK(isl_rt_router_match(r, "www.example.com", "/api/x") == &E);
  /* 2. longer wildcard suffix, then "*." over "*". */
  CHECK(isl_rt_router_match(r, "v1.api.example.com", "/") == &C);
  CHECK(isl_rt_router_match(r, "api.example.com", "/") == &B);
  CHECK(isl_rt_router_match(r, "example.com", "/") == &A);
  isl_rt_router_free(r);

  CHECK(isl_rt_router_new(&r) == 0);
  CHECK(isl_rt_router_add(r, "example.com/*", &A, NULL) == 0);
  CHECK(isl_rt_router_add(r, "example.com/api*", &B, NULL) == 0);
  CHECK(isl_rt_router_add(r, "example.com/api/v1/*", &C, NULL) == 0);
  CHECK(isl_rt_router_add(r, "example.com/api/v1/", &D, NULL) == 0);
  CHECK(isl_rt_router_add(r, "example.com/api/v1/*", &E, NULL) == ISL_EINVAL); /* a duplicate */
  CHECK(isl_rt_router_match(r, "example.com", "/api/v1/") == &D);              /* exact beats prefix of equal length */
  CHECK(isl_rt_router_match(r, "example.com", "/api/v1/x") == &C);
  CHECK(isl_rt_router_match(r, "example.com", "/api/v2") == &B);
  CHECK(isl_rt_router_match(r, "example.com", "/ap") == &A);
  isl_rt_router_free(r);

  /* An exact host whose paths do not match falls through to wildcards. */
  CHECK(isl_rt_router_new(&r) == 0);
  CHECK(isl_rt_router_add(r, "*.example.com/*", &A, NULL) == 0);
  CHECK(isl_rt_router_add(r, "www.example.com/admin/*", &B, NULL) == 0);
  CHECK(isl_rt_router_match(r, "www.example.com", "/admin/x") == &B);
  CHECK(isl_rt_router_match(r, "www.example.com", "/other") == &A);
  isl_rt_router_free(r);
}

TEST(router_no_match_on_empty_router) {
  isl_rt_router_t *r;
  CHECK(isl_rt_router_new(&r) == 0);
  CHECK(isl_rt_router_match(r, "example.com", "/") == NULL);
  CHECK_EQ_INT(isl_rt_router_count(r), 0);
  isl_rt_router_free(r);
  isl_rt_router_free(NULL);
}

TEST(router_rejects_invalid_patterns) {
  static const struct {
    const char *pattern, *want;
  } bad[] = {
      {"", "empty pattern"},
      {"*", "missing a path"},
      {"*/*", "needs a domain after"},
      {"*./*", "needs a domain after"},
      {"example.com", "missing a path"},
      {"/api/*", "missing a host"},
      {"a*b.com/*", "only at the start of the host"},
      {"**.example.com/*", "only at the start of the host"},
      {"www.*.com/*", "only at the start of the host"},
      {"example.com/a*b", "only at the end of the path"},
      {"example.com/**", "only at the end of the path"},
      {"example.com/*?x=1", "query string"},
      {"example.com/a?", "query string"},
      {"example.com/a#top", "fragment"},
      {"exa mple.com/*", "whitespace"},
      {"example.com/a\tb", "whitespace"},
      {"example.com:8080/*", "port"},
      {"ftp://example.com/*", "only http:// or https://"},
      {"https://https://example.com/*", "only http:// or https://"},
      {"example..com/*", "empty label"},
      {".example.com/*", "empty label"},
      {"example.com./*", "empty label"},
      {"user@example.com/*", "invalid character '@'"},
      {"ex\xc3\xa4mple.com/*", "non-ASCII"},
      {"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.com/*", "longer than 63"},
  };
  isl_rt_router_t *r;
  CHECK(isl_rt_router_new(&r) == 0);
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    isl_err_t err = {0};
    int rc = isl_rt_router_add(r, bad[i].pattern, &A, &err);
    CHECK_MSG(rc == ISL_EINVAL, "%s: rc %d", bad[i].pattern, rc);
    CHECK_EQ_INT(err.code, ISL_EINVAL);
    CHECK_MSG(strncmp(err.msg, "route \"", 7) == 0 && strstr(err.msg, bad[i].want), "%s: got \"%s\", want \"%s\"",
              bad[i].pattern, err.msg, bad[i].want);
  }
  isl_err_t err = {0};
  CHECK(isl_rt_router_add(r, "exa mple.com/*", &A, &err) == ISL_EINVAL);
  CHECK_EQ_STR(err.msg, "route \"exa mple.com/*\": contains whitespace or a control character");
  CHECK(isl_rt_router_add(r, NULL, &A, NULL) == ISL_EINVAL);

  /* A long host is refused; a pattern over the length limit too, cut short in the message. */
  char big[ISL_RT_ROUTE_MAX_LEN + 16];
  memset(big, 'a', sizeof(big));
  for (size_t i = 50; i < 300; i += 50) big[i] = '.';
  strcpy(big + 300, "/*");
  CHECK(isl_rt_router_add(r, big, &A, &err) == ISL_EINVAL);
  CHECK(strstr(err.msg, "longer than 253") != NULL);
  CHECK(isl_rt_router_add(r, "example.com/*", &A, NULL) == 0);
  memset(big, 'a', sizeof(big));
  memcpy(big, "example.com/", 12);
  big[sizeof(big) - 1] = '\0';
  CHECK(isl_rt_router_add(r, big, &A, &err) == ISL_EINVAL);
  CHECK(strstr(err.msg, "longer than") != NULL && strstr(err.msg, "...\"") != NULL);

  /* Duplicates: the same route whatever the scheme or host case. */
  CHECK(isl_rt_router_add(r, "HTTPS://EXAMPLE.com/*", &B, &err) == ISL_EINVAL);
  CHECK_EQ_STR(err.msg, "route \"HTTPS://EXAMPLE.com/*\": the same route as \"example.com/*\", added before");
  CHECK_EQ_INT(isl_rt_router_count(r), 1);
  /* Still distinct: "*." vs "*", exact vs prefix path. */
  CHECK(isl_rt_router_add(r, "*.example.com/*", &B, NULL) == 0);
  CHECK(isl_rt_router_add(r, "*example.com/*", &B, NULL) == 0);
  CHECK(isl_rt_router_add(r, "example.com/", &B, NULL) == 0);
  isl_rt_router_free(r);
}

TEST(router_five_thousand_routes) {
  enum { N = 5000 };
  static int targets[N];
  isl_rt_router_t *r;
  CHECK(isl_rt_router_new(&r) == 0);
  char pat[128], host[128];
  /* 2,000 exact hosts, 1,000 wildcard zones, 2,000 paths on one host. */
  for (int i = 0; i < N; i++) {
    if (i < 2000) {
      snprintf(pat, sizeof(pat), "tenant%d.example.com/*", i);
    } else if (i < 3000) {
      snprintf(pat, sizeof(pat), "*.zone%d.example.net/*", i);
    } else {
      snprintf(pat, sizeof(pat), "big.example.org/p%d/*", i);
    }
    isl_err_t err;
    CHECK_MSG(isl_rt_router_add(r, pat, &targets[i], &err) == 0, "%s: %s", pat, err.msg);
  }
  CHECK_EQ_INT(isl_rt_router_count(r), N);
  for (int i = 0; i < N; i++) {
    const char *path = "/x?y";
    char pbuf[64];
    if (i < 2000) {
      snprintf(host, sizeof(host), "Tenant%d.example.com:8787", i);
    } else if (i < 3000) {
      snprintf(host, sizeof(host), "a.b.zone%d.example.net", i);
    } else {
      snprintf(host, sizeof(host), "big.example.org");
      snprintf(pbuf, sizeof(pbuf), "/p%d/index.html", i);
      path = pbuf;
    }
    CHECK_MSG(isl_rt_router_match(r, host, path) == &targets[i], "route %d: %s%s", i, host, path);
  }
  CHECK(isl_rt_router_match(r, "tenant5000.example.com", "/") == NULL);
  CHECK(isl_rt_router_match(r, "zone2000.example.net", "/") == NULL); /* "*." excludes the apex */
  CHECK(isl_rt_router_match(r, "big.example.org", "/p2999/") == NULL);
  CHECK(isl_rt_router_match(r, "big.example.org", "/p30000/") == NULL);
  isl_rt_router_free(r);
}
