/*
 * router.c - fuzz target: Workers route patterns (src/runtime/router.c),
 * differential against a naive reference written from router.h alone.
 *
 * Input: lines. A line starting with '?' is a query "?HOST\x01PATH" (a
 * Host header value and a request target); every other line is a pattern,
 * added in order. The reference keeps the routes in a plain list: it
 * accepts or refuses each pattern by the syntax router.h describes
 * (duplicates included: same scheme-less pattern up to host case), and
 * answers a query by testing every route and keeping the most specific
 * match by router.h's precedence (exact host, then the longer wildcard
 * suffix, "*." before "*", then the exact path, then the longer prefix).
 * Besides the input's own queries, every accepted pattern adds a few
 * derived ones (its host and path, a subdomain, upper case, a port, a
 * trailing dot, a query string), so that matches are common.
 *
 * What must hold: the router accepts exactly the patterns the reference
 * accepts (and says why when it refuses: the message starts with "route"),
 * counts them alike, and every query finds the same route; ASan, UBSan and
 * LeakSanitizer stay quiet.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "fuzz/common/fuzz.h"
#include "runtime/router.h"

#define MAX_ROUTES 256

typedef struct {
  char host[300]; /* lowercase: exact host, or the wildcard's suffix */
  int wild;       /* 0 exact, 1 "*", 2 "*." */
  char *path;     /* without a trailing '*' */
  size_t path_len;
  int prefix;
  int id;
} ref_route_t;

static ref_route_t routes[MAX_ROUTES];
static int n_routes;

static void die(const char *what, const char *a, const char *b) __attribute__((noreturn));
static void die(const char *what, const char *a, const char *b) {
  fprintf(stderr, "\n==== router fuzz check failed: %s\n  [%s]\n  [%s]\n", what, a ? a : "", b ? b : "");
  abort();
}

/* ---- the reference ------------------------------------------------------------------ */

static int host_char(unsigned char c) {
  return isalnum(c) || c == '-' || c == '_';
}

/* Parses pattern as router.h says; 0 and *out filled, or -1. */
static int ref_parse(const char *pattern, ref_route_t *out) {
  size_t len = strlen(pattern);
  if (len == 0 || len > ISL_RT_ROUTE_MAX_LEN) return -1;
  for (size_t i = 0; i < len; i++) {
    unsigned char c = (unsigned char)pattern[i];
    if (c <= ' ' || c == 0x7f) return -1;
  }
  const char *s = pattern;
  if (strncasecmp(s, "https://", 8) == 0) {
    s += 8;
  } else if (strncasecmp(s, "http://", 7) == 0) {
    s += 7;
  }
  if (strstr(s, "://") || strchr(s, '?') || strchr(s, '#')) return -1;
  const char *slash = strchr(s, '/');
  if (!slash || slash == s) return -1;
  const char *h = s;
  out->wild = 0;
  if (h[0] == '*' && h[1] == '.') {
    out->wild = 2;
    h += 2;
  } else if (h[0] == '*') {
    out->wild = 1;
    h += 1;
  }
  if (h >= slash) return -1;
  size_t hn = (size_t)(slash - h);
  if (hn > 253) return -1;
  size_t label = 0;
  for (size_t i = 0; i < hn; i++) {
    if (h[i] == '.') {
      if (!label) return -1;
      label = 0;
    } else if (!host_char((unsigned char)h[i]) || ++label > 63) {
      return -1;
    }
  }
  if (!label) return -1;
  for (size_t i = 0; i < hn; i++) out->host[i] = (char)tolower((unsigned char)h[i]);
  out->host[hn] = 0;
  const char *path = slash;
  size_t pn = strlen(path);
  const char *star = strchr(path, '*');
  if (star && star != path + pn - 1) return -1;
  out->prefix = star != NULL;
  out->path_len = pn - (size_t)out->prefix;
  out->path = strndup(path, out->path_len);
  if (!out->path) abort();
  return 0;
}

static int same_route(const ref_route_t *a, const ref_route_t *b) {
  return a->wild == b->wild && a->prefix == b->prefix && strcmp(a->host, b->host) == 0 && strcmp(a->path, b->path) == 0;
}

/* The Host value as router.h reads it: no port, no trailing dot, lower
 * case; "" when unusable. */
static void ref_host(const char *v, char *out) {
  while (*v == ' ' || *v == '\t') v++;
  size_t n;
  if (*v == '[') {
    const char *e = strchr(v, ']');
    n = e ? (size_t)(e - v) + 1 : 0;
  } else {
    n = strcspn(v, ": \t");
  }
  if (n && v[n - 1] == '.') n--;
  if (n > 253) n = 0;
  for (size_t i = 0; i < n; i++) out[i] = (char)tolower((unsigned char)v[i]);
  out[n] = 0;
}

/* Specificity of a matching route, compared lexicographically. */
static void rank(const ref_route_t *r, long long key[3]) {
  key[0] = r->wild == 0 ? 100000 : (long long)strlen(r->host) * 4 + (r->wild == 2 ? 1 : 0);
  key[1] = r->prefix ? 0 : 1;
  key[2] = (long long)r->path_len;
}

static int ref_match(const char *host_value, const char *target) {
  char h[300];
  ref_host(host_value, h);
  size_t hn = strlen(h);
  if (hn == 0) return 0;
  size_t pn = strcspn(target, "?#");
  const char *path = target;
  if (pn == 0) path = "/", pn = 1;
  int best = 0;
  long long bk[3] = {-1, -1, -1};
  for (int i = 0; i < n_routes; i++) {
    const ref_route_t *r = &routes[i];
    size_t sn = strlen(r->host);
    int host_ok;
    if (r->wild == 0) {
      host_ok = strcmp(h, r->host) == 0;
    } else {
      int apex = strcmp(h, r->host) == 0;
      int sub = hn > sn && strcmp(h + hn - sn, r->host) == 0 && h[hn - sn - 1] == '.';
      host_ok = sub || (apex && r->wild == 1);
    }
    if (!host_ok) continue;
    if (r->prefix ? pn < r->path_len : pn != r->path_len) continue;
    if (memcmp(path, r->path, r->path_len) != 0) continue;
    long long k[3];
    rank(r, k);
    /* an exact path outranks any prefix; among prefixes, the longer */
    long long a = k[1] ? 1000000 : k[2], b = bk[1] ? 1000000 : bk[2];
    if (k[0] > bk[0] || (k[0] == bk[0] && a > b)) {
      best = r->id;
      memcpy(bk, k, sizeof(bk));
    }
  }
  return best;
}

/* ---- the target ------------------------------------------------------------------------ */

static void query(isl_rt_router_t *rt, const char *host, const char *target) {
  void *got = isl_rt_router_match(rt, host, target);
  int want = ref_match(host, target);
  if ((int)(intptr_t)got != want) {
    char msg[160];
    snprintf(msg, sizeof(msg), "a query found route %d, the reference route %d", (int)(intptr_t)got, want);
    die(msg, host, target);
  }
}

static void derived_queries(isl_rt_router_t *rt, const ref_route_t *r) {
  char host[400], path[2200];
  snprintf(host, sizeof(host), "%s", r->host);
  snprintf(path, sizeof(path), "%s", r->path);
  query(rt, host, path);
  snprintf(host, sizeof(host), "www.%s", r->host);
  query(rt, host, path);
  snprintf(path, sizeof(path), "%sx/y?q#f", r->path);
  query(rt, host, path);
  for (char *c = host; *c; c++) *c = (char)toupper((unsigned char)*c);
  query(rt, host, path);
  snprintf(host, sizeof(host), "%s.:8080", r->host);
  query(rt, host, r->path);
  snprintf(host, sizeof(host), " a.%s", r->host);
  query(rt, host, "");
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc;
  (void)argv;
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char *text = malloc(size + 1);
  if (!text) abort();
  memcpy(text, data, size);
  text[size] = 0;
  isl_rt_router_t *rt;
  if (isl_rt_router_new(&rt) != 0) abort();
  n_routes = 0;
  char *save = NULL;
  /* strtok_r would merge empty lines; they are patterns too (refused). */
  for (char *line = text, *next; line; line = next) {
    next = memchr(line, '\n', (size_t)(text + size - line));
    if (next) *next++ = 0;
    if (line[0] == '?') {
      char *sep = strchr(line + 1, '\x01');
      if (sep) *sep = 0;
      query(rt, line + 1, sep ? sep + 1 : "/");
      continue;
    }
    ref_route_t r = {0};
    int ref_ok = ref_parse(line, &r) == 0;
    if (ref_ok) {
      for (int i = 0; i < n_routes; i++)
        if (same_route(&routes[i], &r)) ref_ok = 0;
      if (!ref_ok || n_routes == MAX_ROUTES) {
        free(r.path);
        if (ref_ok) break; /* enough routes for one input */
      }
    }
    r.id = n_routes + 1;
    isl_err_t err = {0};
    int rc = isl_rt_router_add(rt, line, (void *)(intptr_t)r.id, &err);
    if ((rc == 0) != ref_ok) die(rc == 0 ? "a pattern the reference refuses was added" : err.msg, line, NULL);
    if (rc != 0 && (rc != ISL_EINVAL || strncmp(err.msg, "route", 5) != 0))
      die("a refusal without a route message", line, err.msg);
    if (rc == 0) routes[n_routes++] = r;
  }
  (void)save;
  if ((int)isl_rt_router_count(rt) != n_routes) die("the route count differs", NULL, NULL);
  for (int i = 0; i < n_routes; i++) derived_queries(rt, &routes[i]);
  isl_rt_router_free(rt);
  for (int i = 0; i < n_routes; i++) free(routes[i].path);
  free(text);
  return 0;
}
