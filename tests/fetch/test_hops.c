/*
 * test_hops.c - the hop count behind loop detection (issue 10, hole 3) at
 * the level of src/fetch: how a CDN-Loop value is read back
 * (isl_fetch_hops_parse), and that a subrequest with a hop count sends it
 * on the wire, after whatever CDN-Loop lines its caller gave, to a real
 * origin on loopback (origin.h's /echo shows the request's headers).
 */
#include <stdio.h>
#include <string.h>

#include "fetch/fetch.h"
#include "fetch/origin.h"
#include "test.h"

static unsigned hops_of(const char *v) {
  return isl_fetch_hops_parse(v, strlen(v));
}

TEST(ssrf_cdn_loop_count_can_be_raised_never_lowered) {
  CHECK_EQ_INT(hops_of(""), 0);
  CHECK_EQ_INT(hops_of("cloudflare; loops=3"), 0);
  CHECK_EQ_INT(hops_of("isolde; loops=3"), 3);
  CHECK_EQ_INT(hops_of("ISOLDE ;LOOPS = 7"), 7);
  CHECK_EQ_INT(hops_of("isolde; loops=\"5\""), 5);
  CHECK_EQ_INT(hops_of("isolde"), 1); /* it came through us once, at least */
  CHECK_EQ_INT(hops_of("isolde; loops=abc"), 1);
  CHECK_EQ_INT(hops_of("isolde; foo=1; loops=4"), 4);
  CHECK_EQ_INT(hops_of("isolde.example; loops=9, isoldex; loops=9"), 0); /* other cdn-ids */
  /* the largest entry counts: a smaller one written next to ours changes nothing */
  CHECK_EQ_INT(hops_of("isolde; loops=0, isolde; loops=6"), 6);
  CHECK_EQ_INT(hops_of("isolde; loops=6, isolde; loops=1"), 6);
  /* an unbalanced quote before our entry (lines joined by an intermediary)
   * does not hide it */
  CHECK_EQ_INT(hops_of("other; x=\", isolde; loops=6"), 6);
  CHECK_EQ_INT(hops_of("foo,isolde; loops=2,bar"), 2);
  /* huge numbers saturate: N + 1 never wraps around to a small count */
  CHECK_EQ_INT(hops_of("isolde; loops=99999999999999999999"), ISL_FETCH_HOPS_CAP);
  CHECK_EQ_INT(isl_fetch_hops_parse(NULL, 0), 0);
}

/* ---- on the wire ---------------------------------------------------------------------- */

typedef struct {
  int dones, err;
  char body[4096];
  size_t len;
} echo_t;

static void on_body(isl_fetch_t *f, const char *data, size_t len) {
  echo_t *e = isl_fetch_data(f);
  if (len > sizeof e->body - 1 - e->len) len = sizeof e->body - 1 - e->len;
  memcpy(e->body + e->len, data, len);
  e->len += len;
  e->body[e->len] = '\0';
}

static void on_done(isl_fetch_t *f, int err, const char *msg) {
  echo_t *e = isl_fetch_data(f);
  (void)msg;
  e->dones++;
  e->err = err;
}

static void on_tick(uv_timer_t *t) {
  (void)t;
}

TEST(ssrf_every_subrequest_carries_its_hop_count) {
  uv_loop_t loop;
  uv_timer_t tick;
  isl_fetch_client_t *c;
  origin_t o;
  CHECK(uv_loop_init(&loop) == 0);
  uv_timer_init(&loop, &tick);
  uv_timer_start(&tick, on_tick, 5, 5);
  CHECK(isl_fetch_client_new(&loop, &c) == 0);
  CHECK(origin_start(&o) == 0);
  char url[128];
  snprintf(url, sizeof url, "http://127.0.0.1:%d/echo", o.port);
  const isl_fetch_policy_t open = {1, NULL, 0, NULL, 0};
  /* the caller's own CDN-Loop line (another CDN's, and a forged count) stays; ours comes last */
  isl_http_header_t mine = {"CDN-Loop", 8, "other-cdn, isolde; loops=0", 26};
  echo_t e[2] = {{0}};
  isl_fetch_request_t with = {.url = url, .headers = &mine, .n_headers = 1, .hops = 3};
  isl_fetch_request_t without = {.url = url};
  isl_fetch_callbacks_t cb0 = {NULL, on_body, on_done, &e[0], NULL}, cb1 = {NULL, on_body, on_done, &e[1], NULL};
  CHECK_EQ_INT(isl_fetch_start(c, &with, &open, &cb0, NULL, NULL), 0);
  CHECK_EQ_INT(isl_fetch_start(c, &without, &open, &cb1, NULL, NULL), 0);
  long long end = test_http_now_ms() + 10000;
  while ((!e[0].dones || !e[1].dones) && test_http_now_ms() < end) uv_run(&loop, UV_RUN_ONCE);
  CHECK_EQ_INT(e[0].err, 0);
  CHECK_EQ_INT(e[1].err, 0);
  const char *theirs = strstr(e[0].body, "CDN-Loop: other-cdn, isolde; loops=0\n");
  const char *ours = strstr(e[0].body, "CDN-Loop: isolde; loops=3\n");
  CHECK_MSG(theirs && ours && theirs < ours, "the origin saw:\n%s", e[0].body);
  CHECK_MSG(!strstr(e[1].body, "CDN-Loop"), "hops 0 sent a CDN-Loop header:\n%s", e[1].body);
  isl_fetch_client_free(c);
  uv_close((uv_handle_t *)&tick, NULL);
  uv_run(&loop, UV_RUN_DEFAULT);
  CHECK_EQ_INT(uv_loop_close(&loop), 0);
  CHECK_EQ_INT(origin_stop(&o), 0);
}
