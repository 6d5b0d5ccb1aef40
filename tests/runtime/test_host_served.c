/*
 * test_host_served.c - the Host header end to end (issue 10): the router
 * picks a tenant by Host, and the worker learns its host from request.url,
 * which the runtime builds from the same Host and the request target. The
 * two must name the same host, or one tenant serves a request whose URL
 * says it is another's. Two tenants of one worker script, which answers
 * "TENANT HOSTNAME URL": "victim" routed on victim.test and 127.0.0.1, and
 * "evil" with no route, so it takes whatever no route claims. Before the
 * server checked Host, "evil" was handed requests whose request.url named
 * victim.test (userinfo, percent-encoding, a number for 127.0.0.1, an
 * absolute-form target, OPTIONS *). tests/http/test_hostile_clients.c checks each
 * refused form against the HTTP server alone.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http/http_client.h"
#include "runtime/server_proc.h"
#include "test.h"

static const char host_worker[] =
    "export default {\n"
    "  fetch(request, env) {\n"
    "    let hostname;\n"
    "    try { hostname = new URL(request.url).hostname; } catch (e) { hostname = '(invalid)'; }\n"
    "    return new Response(`${env.NAME} ${hostname} ${request.url}`);\n"
    "  },\n"
    "};\n";

static int start_tenants(test_server_t *s) {
  const char *written = test_server_write(s, "host.js", host_worker);
  if (!written) return -1;
  char cfg[2048];
  snprintf(cfg, sizeof(cfg),
           "{ \"listen\": {\"port\": 0}, \"threads\": 1,\n"
           "  \"workers\": [\n"
           "    {\"name\": \"victim\", \"main\": \"%s\", \"routes\": [\"victim.test/*\", \"127.0.0.1/*\"],\n"
           "     \"vars\": {\"NAME\": \"victim\"}},\n"
           "    {\"name\": \"evil\", \"main\": \"%s\", \"vars\": {\"NAME\": \"evil\"}}\n"
           "  ] }\n",
           written, written);
  return test_server_serve_config(s, cfg);
}

/* raw on a new connection; 1 if the answer is `status` and, unless body is
 * NULL, exactly `body`; else 0 after printing what came. */
static int answers(int port, const char *raw, int status, const char *body) {
  test_http_resp_t r = {0};
  int rc = test_http_request(port, raw, &r);
  int ok = rc == 0 && r.status == status && (!body || (r.body && strcmp(r.body, body) == 0));
  if (!ok) {
    printf("  %.*s: want %d \"%s\", got %d \"%s\" (read %d)\n", (int)strcspn(raw, "\r"), raw, status,
           body ? body : "(any)", r.status, r.body ? r.body : "", rc);
  }
  test_http_resp_free(&r);
  return ok;
}

/* GET / with this Host header line (NULL: none) is a 400. */
static int host_refused(int port, const char *host_lines) {
  char raw[512];
  snprintf(raw, sizeof(raw), "GET / HTTP/1.1\r\n%sConnection: close\r\n\r\n", host_lines ? host_lines : "");
  int ok = answers(port, raw, 400, NULL);
  if (!ok) printf("  with %s\n", host_lines ? host_lines : "no Host");
  return ok;
}

/* "evil" got these with request.url naming victim.test or 127.0.0.1, the
 * victim's hosts; two Hosts made the router take the first while the
 * worker's Headers joined both; with none, request.url said localhost. */
TEST(serve_host_with_userinfo_or_aliases_cannot_pose_as_another_tenant) {
  test_server_t s = {0};
  CHECK(start_tenants(&s) == 0);
  CHECK(host_refused(s.port, "Host: evil.test:1@victim.test\r\n"));
  CHECK(host_refused(s.port, "Host: evil.test@victim.test\r\n"));
  CHECK(host_refused(s.port, "Host: %76ictim.test\r\n"));
  CHECK(host_refused(s.port, "Host: 2130706433\r\n"));
  CHECK(host_refused(s.port, "Host: 127.1\r\n"));
  CHECK(host_refused(s.port, "Host: evil.test\r\nHost: victim.test\r\n"));
  CHECK(host_refused(s.port, NULL));
  /* the victim still gets its own requests, and nothing reached a worker */
  CHECK(
      answers(s.port, "GET /x HTTP/1.1\r\nHost: victim.test\r\n\r\n", 200, "victim victim.test http://victim.test/x"));
  char *out = test_server_output(&s);
  int evil_ran = out && strstr(out, "tenant=evil") != NULL;
  if (evil_ran) printf("%s\n", out);
  free(out);
  CHECK_MSG(!evil_ran, "a refused request reached the evil tenant");
  CHECK_EQ_INT(test_server_stop(&s), 0);
}

/* An absolute-form target was routed by the Host header (and by a path
 * that was the whole URL, which matched no route) while request.url was
 * the target. Now it must name the Host's host and is routed and shown by
 * its path. "OPTIONS *" was routed by the path "*" (no route) with
 * request.url naming the Host: now a 501. */
TEST(serve_absolute_or_asterisk_target_cannot_reach_another_tenant) {
  test_server_t s = {0};
  CHECK(start_tenants(&s) == 0);
  CHECK(answers(s.port, "GET http://victim.test/x HTTP/1.1\r\nHost: evil.test\r\n\r\n", 400, NULL));
  CHECK(answers(s.port, "GET http://evil.test@victim.test/x HTTP/1.1\r\nHost: victim.test\r\n\r\n", 400, NULL));
  CHECK(answers(s.port, "GET http://victim.test/x?y=1 HTTP/1.1\r\nHost: victim.test\r\n\r\n", 200,
                "victim victim.test http://victim.test/x?y=1"));
  CHECK(answers(s.port, "GET http://evil.test HTTP/1.1\r\nHost: evil.test\r\n\r\n", 200,
                "evil evil.test http://evil.test/"));
  CHECK(answers(s.port, "OPTIONS * HTTP/1.1\r\nHost: victim.test\r\n\r\n", 501, NULL));
  CHECK_EQ_INT(test_server_stop(&s), 0);
}

/* For every Host the server lets through, the tenant the router picked is
 * the one whose route names request.url's hostname. */
TEST(serve_request_url_host_is_the_host_the_router_matched) {
  static const struct {
    const char *host, *tenant, *hostname;
  } cases[] = {
      {"victim.test", "victim", "victim.test"},
      {"VICTIM.Test:8080", "victim", "victim.test"},
      {"victim.test \t", "victim", "victim.test"}, /* blanks after the value are not part of it */
      {"127.0.0.1", "victim", "127.0.0.1"},
      {"127.0.0.1:8787", "victim", "127.0.0.1"},
      {"other.test", "evil", "other.test"},
      {"www.victim.test", "evil", "www.victim.test"},
      {"[::1]:8080", "evil", "[::1]"},
      {"a-b_c~d.test", "evil", "a-b_c~d.test"},
  };
  test_server_t s = {0};
  CHECK(start_tenants(&s) == 0);
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    char raw[256];
    snprintf(raw, sizeof(raw), "GET /p HTTP/1.1\r\nHost: %s\r\n\r\n", cases[i].host);
    test_http_resp_t r = {0};
    int rc = test_http_request(s.port, raw, &r);
    char want[256];
    int n = snprintf(want, sizeof(want), "%s %s ", cases[i].tenant, cases[i].hostname);
    int ok = rc == 0 && r.status == 200 && r.body && strncmp(r.body, want, (size_t)n) == 0;
    if (!ok)
      printf("  Host: %s: want \"%s...\", got %d \"%s\" (read %d)\n", cases[i].host, want, r.status,
             r.body ? r.body : "", rc);
    test_http_resp_free(&r);
    CHECK(ok);
  }
  CHECK_EQ_INT(test_server_stop(&s), 0);
}
