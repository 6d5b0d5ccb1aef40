/*
 * echo_handler.c - the test handler of echo_handler.h. Each request gets
 * an xreq_t in req->data; handlers that answer later own a uv timer on the
 * request's loop and release the request from the timer's close callback.
 */
#include "echo_handler.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct {
  echo_ctx_t *ctx;
  isl_http_req_t *req;
  uv_timer_t timer;
  int timer_open;
  char *body;
  size_t len, cap;
  int n, i, ms;
  int aborted;
} xreq_t;

static echo_ctx_t *ctx_of(isl_http_req_t *req) {
  return isl_http_server_handler_data(isl_http_loop_server(isl_http_req_loop(req)));
}

static void xreq_done(xreq_t *x) {
  atomic_fetch_add(&x->ctx->released, 1);
  isl_http_req_release(x->req);
  free(x->body);
  free(x);
}

static void on_timer_closed(uv_handle_t *h) {
  xreq_done(h->data);
}

static void close_timer(xreq_t *x) {
  if (!x->timer_open) {
    xreq_done(x);
    return;
  }
  x->timer_open = 0;
  uv_timer_stop(&x->timer);
  uv_close((uv_handle_t *)&x->timer, on_timer_closed);
}

static void start_timer(xreq_t *x, uv_timer_cb cb, int ms, int repeat) {
  uv_timer_init(isl_http_loop_uv(isl_http_req_loop(x->req)), &x->timer);
  x->timer.data = x;
  x->timer_open = 1;
  uv_timer_start(&x->timer, cb, (uint64_t)ms, repeat ? (uint64_t)ms : 0);
}

static void on_stream_tick(uv_timer_t *t) {
  xreq_t *x = t->data;
  if (x->i < x->n) {
    char chunk[32];
    int len = snprintf(chunk, sizeof(chunk), "chunk %d\n", x->i++);
    isl_http_res_write(x->req, chunk, (size_t)len);
    return;
  }
  isl_http_res_end(x->req);
  close_timer(x);
}

static void on_slow_fire(uv_timer_t *t) {
  xreq_t *x = t->data;
  size_t n = (size_t)x->n;
  char *body = malloc(n + 1);
  memset(body, 'x', n);
  isl_http_header_t h = {"Content-Type", 12, "text/plain", 10};
  isl_http_res_start(x->req, 200, NULL, &h, 1, (int64_t)n);
  /* in two writes, to exercise streaming with a fixed length */
  isl_http_res_write(x->req, body, n / 2);
  isl_http_res_write(x->req, body + n / 2, n - n / 2);
  isl_http_res_end(x->req);
  free(body);
  close_timer(x);
}

static void append(xreq_t *x, const char *data, size_t len) {
  if (x->len + len + 1 > x->cap) {
    size_t cap = x->cap ? x->cap : 256;
    while (cap < x->len + len + 1) cap *= 2;
    x->body = realloc(x->body, cap);
    if (!x->body) abort();
    x->cap = cap;
  }
  memcpy(x->body + x->len, data, len);
  x->len += len;
  x->body[x->len] = '\0';
}

static void echo(xreq_t *x) {
  isl_http_req_t *req = x->req;
  xreq_t out = {0};
  char line[512];
  snprintf(line, sizeof(line), "%s %s\n", isl_http_req_method(req), isl_http_req_target(req));
  append(&out, line, strlen(line));
  for (size_t i = 0; i < isl_http_req_header_count(req); i++) {
    const isl_http_header_t *h = isl_http_req_header(req, i);
    append(&out, h->name, h->name_len);
    append(&out, ": ", 2);
    append(&out, h->value, h->value_len);
    append(&out, "\n", 1);
  }
  snprintf(line, sizeof(line), "remote: %s\n\n", isl_http_req_remote_addr(req));
  append(&out, line, strlen(line));
  if (x->len) append(&out, x->body, x->len);
  char loop[16];
  snprintf(loop, sizeof(loop), "%u", isl_http_loop_index(isl_http_req_loop(req)));
  isl_http_header_t hs[] = {
      {"Content-Type", 12, "text/plain", 10},
      {"X-Loop", 6, loop, strlen(loop)},
      {"Content-Length", 14, "999", 3}, /* dropped by the server */
  };
  isl_http_res_start(req, 200, NULL, hs, 3, (int64_t)out.len);
  isl_http_res_write(req, out.body, out.len);
  isl_http_res_end(req);
  free(out.body);
}

/* Wrong calls get ISL_EINVAL and change nothing; answers "misuse ok". */
static void misuse(isl_http_req_t *req) {
  int ok = 1;
  isl_http_header_t bad = {"X-Bad", 5, "a\r\nInjected: yes", 17};
  isl_http_header_t badname = {"X Bad", 5, "a", 1};
  ok &= isl_http_res_write(req, "x", 1) == ISL_EINVAL;
  ok &= isl_http_res_end(req) == ISL_EINVAL;
  ok &= isl_http_res_start(req, 99, NULL, NULL, 0, 0) == ISL_EINVAL;
  ok &= isl_http_res_start(req, 200, NULL, &bad, 1, 0) == ISL_EINVAL;
  ok &= isl_http_res_start(req, 200, NULL, &badname, 1, 0) == ISL_EINVAL;
  ok &= isl_http_res_start(req, 200, "Fine\r\n", NULL, 0, 0) == ISL_EINVAL;
  ok &= isl_http_res_start(req, 200, "Fine", NULL, 0, 10) == 0;
  ok &= isl_http_res_start(req, 200, NULL, NULL, 0, 10) == ISL_EINVAL;
  ok &= isl_http_res_write(req, "0123456789abc", 13) == ISL_EINVAL;
  ok &= isl_http_res_write(req, ok ? "misuse ok!" : "misuse bad", 10) == 0;
  ok &= isl_http_res_end(req) == 0;
  ok &= isl_http_res_end(req) == ISL_EINVAL;
  (void)ok;
}

static void on_request(isl_http_req_t *req) {
  echo_ctx_t *ctx = ctx_of(req);
  if (ctx->observe) ctx->observe(req);
  atomic_fetch_add(&ctx->requests, 1);
  unsigned li = isl_http_loop_index(isl_http_req_loop(req));
  if (li < 8) atomic_fetch_add(&ctx->loop_seen[li], 1);
  xreq_t *x = calloc(1, sizeof(*x));
  if (!x) abort();
  x->ctx = ctx;
  x->req = req;
  req->data = x;
  if (test_http_path_is(isl_http_req_target(req), "/early")) isl_http_res_simple(req, 200, NULL, "early");
}

static void on_body(isl_http_req_t *req, const char *data, size_t len) {
  xreq_t *x = req->data;
  if (x->len < (1u << 20)) append(x, data, len);
}

static void on_body_end(isl_http_req_t *req) {
  xreq_t *x = req->data;
  atomic_fetch_add(&x->ctx->body_ends, 1);
  const char *t = isl_http_req_target(req);
  if (test_http_path_is(t, "/stream")) {
    x->n = test_http_query_int(t, "n", 5);
    isl_http_header_t h = {"Content-Type", 12, "text/plain", 10};
    isl_http_res_start(req, 200, NULL, &h, 1, -1);
    start_timer(x, on_stream_tick, test_http_query_int(t, "ms", 5), 1);
  } else if (test_http_path_is(t, "/slow")) {
    x->n = test_http_query_int(t, "n", 100000);
    start_timer(x, on_slow_fire, test_http_query_int(t, "ms", 200), 0);
  } else if (test_http_path_is(t, "/early")) {
    xreq_done(x);
  } else if (test_http_path_is(t, "/release")) {
    xreq_done(x); /* no response: the server answers 500 */
  } else if (test_http_path_is(t, "/misuse")) {
    misuse(req);
    xreq_done(x);
  } else if (test_http_path_is(t, "/none")) {
    /* waits for on_abort */
  } else if (test_http_path_is(t, "/status")) {
    isl_http_res_simple(req, test_http_query_int(t, "code", 200), NULL, "status");
    xreq_done(x);
  } else {
    echo(x);
    xreq_done(x);
  }
}

static void on_abort(isl_http_req_t *req) {
  xreq_t *x = req->data;
  atomic_fetch_add(&x->ctx->aborts, 1);
  x->aborted = 1;
  /* allowed after abort, and a no-op */
  isl_http_res_simple(req, 500, NULL, "ignored");
  close_timer(x);
}

static void on_loop_start(isl_http_loop_t *loop) {
  echo_ctx_t *ctx = isl_http_server_handler_data(isl_http_loop_server(loop));
  loop->data = ctx;
  atomic_fetch_add(&ctx->loops_started, 1);
}

static void on_loop_stop(isl_http_loop_t *loop) {
  echo_ctx_t *ctx = loop->data;
  atomic_fetch_add(&ctx->loops_stopped, 1);
}

void echo_handler(isl_http_handler_t *h, echo_ctx_t *ctx) {
  memset(ctx, 0, sizeof(*ctx));
  memset(h, 0, sizeof(*h));
  h->on_loop_start = on_loop_start;
  h->on_loop_stop = on_loop_stop;
  h->on_request = on_request;
  h->on_body = on_body;
  h->on_body_end = on_body_end;
  h->on_abort = on_abort;
  h->data = ctx;
}

int echo_wait(atomic_int *counter, int want, int timeout_ms) {
  for (int waited = 0;; waited += 5) {
    int v = atomic_load(counter);
    if (v >= want || waited >= timeout_ms) return v;
    struct timespec ts = {0, 5 * 1000 * 1000};
    nanosleep(&ts, NULL);
  }
}

int echo_server_start(test_http_server_t *t, echo_ctx_t *ctx, const isl_http_config_t *cfg) {
  return echo_server_start_observed(t, ctx, cfg, NULL);
}

int echo_server_start_observed(test_http_server_t *t, echo_ctx_t *ctx, const isl_http_config_t *cfg,
                               void (*observe)(isl_http_req_t *req)) {
  static const isl_http_config_t defaults = {.threads = 1, .drain_timeout_ms = 2000};
  isl_http_handler_t h;
  echo_handler(&h, ctx);
  ctx->observe = observe;
  isl_err_t err;
  int rc = test_http_server_start(t, cfg ? cfg : &defaults, &h, &err);
  if (rc) printf("  server: %s\n", err.msg);
  return rc;
}

int echo_still_serving(int port) {
  test_http_resp_t r;
  int rc = test_http_request(port, "GET /ok HTTP/1.1\r\nHost: x\r\n\r\n", &r);
  int ok = rc == 0 && r.status == 200 && strstr(r.body, "GET /ok\n") == r.body;
  test_http_resp_free(&r);
  return ok;
}
