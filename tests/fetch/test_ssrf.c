/*
 * test_ssrf.c - src/fetch's address policy against this machine's own
 * non-loopback addresses (issue 10, hole 2), over real sockets: an
 * "internal service" listens on every address (ssrf_target.h), and a
 * subrequest with no policy must reach it neither directly at one of the
 * machine's addresses, nor through a redirect from an allowed origin, nor
 * on a connection another fetch with a looser policy left in the cache.
 * The addresses are looked up with getifaddrs; a family the machine has no
 * such address of is skipped, and the test says so.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fetch/fetch.h"
#include "fetch/origin.h"
#include "fetch/ssrf_target.h"
#include "test.h"

/* ---- fixture: a loop and a client on the test thread ------------------------------ */

typedef struct {
  uv_loop_t loop;
  uv_timer_t tick; /* keeps UV_RUN_ONCE returning */
  isl_fetch_client_t *c;
} loop_t;

typedef struct {
  int dones, status, err;
  char msg[512];
  char body[4096];
  size_t len;
} got_t;

static void on_tick(uv_timer_t *t) {
  (void)t;
}

static void got_response(isl_fetch_t *f, int status, const char *text, const isl_http_header_t *h, size_t n,
                         const char *url) {
  got_t *g = isl_fetch_data(f);
  (void)text, (void)h, (void)n, (void)url;
  g->status = status;
}

static void got_body(isl_fetch_t *f, const char *data, size_t len) {
  got_t *g = isl_fetch_data(f);
  size_t room = sizeof g->body - 1 - g->len;
  if (len > room) len = room;
  memcpy(g->body + g->len, data, len);
  g->len += len;
  g->body[g->len] = '\0';
}

static void got_done(isl_fetch_t *f, int err, const char *msg) {
  got_t *g = isl_fetch_data(f);
  g->dones++;
  g->err = err;
  snprintf(g->msg, sizeof g->msg, "%s", msg);
}

/* Fetches url under pol (NULL = public addresses only) and waits for the end. */
static void fetch_url(loop_t *l, got_t *g, const char *url, const isl_fetch_policy_t *pol) {
  isl_fetch_request_t req = {.url = url, .timeout_ms = 5000};
  isl_fetch_callbacks_t cb = {got_response, got_body, got_done, g, NULL};
  isl_err_t err = {0};
  memset(g, 0, sizeof *g);
  if (isl_fetch_start(l->c, &req, pol, &cb, NULL, &err) != 0) {
    g->dones = 1;
    g->err = -1;
    snprintf(g->msg, sizeof g->msg, "%s", err.msg);
    return;
  }
  long long end = test_http_now_ms() + 10000;
  while (!g->dones && test_http_now_ms() < end) uv_run(&l->loop, UV_RUN_ONCE);
}

static int loop_start(loop_t *l) {
  memset(l, 0, sizeof *l);
  if (uv_loop_init(&l->loop) != 0) return -1;
  uv_timer_init(&l->loop, &l->tick);
  uv_timer_start(&l->tick, on_tick, 5, 5);
  return isl_fetch_client_new(&l->loop, &l->c);
}

static int loop_stop(loop_t *l) {
  isl_fetch_client_free(l->c);
  uv_close((uv_handle_t *)&l->tick, NULL);
  uv_run(&l->loop, UV_RUN_DEFAULT);
  return uv_loop_close(&l->loop);
}

/* ---- the attacks -------------------------------------------------------------------- */

/* One address of this machine (host as in a URL): refused with no policy,
 * through a redirect from an allowed origin, and on a cached connection;
 * allowed when its origin is. CHECKs; the caller reads test__failed. */
static void own_address_is_refused(loop_t *l, ssrf_target_t *t, origin_t *o, const char *host) {
  char url[320], origin[256], redir[512], loopback[128];
  got_t g = {0};
  snprintf(origin, sizeof origin, "http://%s:%d", host, t->port);
  snprintf(url, sizeof url, "%s/secret", origin);
  int before = atomic_load(&t->requests);
  printf("  %s:\n", url);

  /* 1. straight to it, with no policy: refused before any connection */
  fetch_url(l, &g, url, NULL);
  printf("    no policy -> err %d %s (%s)\n", g.err, isl_fetch_err_name(g.err), g.msg);
  CHECK_MSG(g.err == ISL_FETCH_EBLOCKED, "fetching %s with no policy gave %d \"%s\" %s", url, g.err, g.msg, g.body);
  CHECK_MSG(strstr(g.msg, "blocked: ") == g.msg, "%s", g.msg);
  CHECK_EQ_INT(atomic_load(&t->requests), before);

  /* 2. through a redirect from an origin that is allowed (on loopback) */
  snprintf(loopback, sizeof loopback, "http://127.0.0.1:%d", o->port);
  snprintf(redir, sizeof redir, "%s/redirect?to=%s", loopback, url);
  const char *only_origin[] = {loopback};
  isl_fetch_policy_t origin_only = {0, only_origin, 1, NULL, 0};
  fetch_url(l, &g, redir, &origin_only);
  printf("    redirect from an allowed origin -> err %d (%s)\n", g.err, g.msg);
  CHECK_MSG(g.err == ISL_FETCH_EBLOCKED, "the redirect to %s gave %d \"%s\" %s", url, g.err, g.msg, g.body);
  CHECK_EQ_INT(atomic_load(&t->requests), before);

  /* 3. the config allows this very origin: reached */
  const char *allowed[] = {origin};
  isl_fetch_policy_t open = {0, allowed, 1, NULL, 0};
  fetch_url(l, &g, url, &open);
  CHECK_MSG(g.err == 0 && g.status == 200, "allowed origin %s: %d \"%s\"", origin, g.err, g.msg);
  CHECK_EQ_STR(g.body, SSRF_SECRET);
  CHECK_EQ_INT(atomic_load(&t->requests), before + 1);

  /* 4. the connection step 3 left in the cache, reused with no policy */
  fetch_url(l, &g, url, NULL);
  CHECK_MSG(g.err == ISL_FETCH_EBLOCKED, "reusing the connection to %s gave %d \"%s\"", url, g.err, g.msg);
  CHECK_EQ_INT(atomic_load(&t->requests), before + 1);
}

TEST(ssrf_fetch_to_the_machines_own_address_is_refused_like_loopback) {
  loop_t l;
  ssrf_target_t t;
  origin_t o;
  ssrf_local_addrs_t a;
  CHECK(loop_start(&l) == 0);
  CHECK(ssrf_target_start(&t) == 0);
  CHECK(origin_start(&o) == 0);
  ssrf_local_addrs(&a);
  int failed = test__failed;
  if (a.v4[0]) {
    own_address_is_refused(&l, &t, &o, a.v4);
  } else {
    printf("  skipped IPv4: this machine has no non-loopback IPv4 address\n");
  }
  if (test__failed == failed) {
    if (a.v6[0] && t.v6) {
      own_address_is_refused(&l, &t, &o, a.v6);
    } else {
      printf("  skipped IPv6: this machine has %s\n",
             a.v6[0] ? "no IPv6 socket to listen on" : "no non-loopback, non-link-local IPv6 address");
    }
  }
  CHECK_EQ_INT(loop_stop(&l), 0);
  CHECK_EQ_INT(origin_stop(&o), 0);
  CHECK_EQ_INT(ssrf_target_stop(&t), 0);
  CHECK_EQ_INT(test__failed, failed);
}
