/*
 * origin.c - the origin server of origin.h. Each request gets an oreq_t
 * in req->data; routes that answer later own a uv timer on the request's
 * loop and release the request from the timer's close callback.
 */
#include "origin.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
  origin_t *o;
  isl_http_req_t *req;
  uv_timer_t timer;
  int timer_open;
  int finishing; /* finish() ran: done() follows (now or when the timer has closed) */
  char *body;
  size_t len, cap;
  uint64_t left; /* /big: bytes still to write */
  int slow;      /* counted in o->slow_waiting */
} oreq_t;

/* Written by the origin's one loop thread only; the test thread reads them. */
static void slow_enter(oreq_t *x) {
  x->slow = 1;
  int now = atomic_fetch_add(&x->o->slow_waiting, 1) + 1;
  if (now > atomic_load(&x->o->slow_peak)) atomic_store(&x->o->slow_peak, now);
}

static void slow_leave(oreq_t *x) {
  if (x->slow) atomic_fetch_sub(&x->o->slow_waiting, 1);
  x->slow = 0;
}

static void done(oreq_t *x) {
  slow_leave(x);
  atomic_fetch_add(&x->o->released, 1);
  isl_http_req_release(x->req);
  free(x->body);
  free(x);
}

static void timer_closed(uv_handle_t *h) {
  done(h->data);
}

/* Once per request: the server may also report an abort (on_abort) for an
 * exchange this origin has begun to finish (its timer closing), before it
 * is released. */
static void finish(oreq_t *x) {
  if (x->finishing) return;
  x->finishing = 1;
  if (!x->timer_open) {
    done(x);
    return;
  }
  x->timer_open = 0;
  uv_timer_stop(&x->timer);
  uv_close((uv_handle_t *)&x->timer, timer_closed);
}

static void start_timer(oreq_t *x, uv_timer_cb cb, int ms, int repeat) {
  uv_timer_init(isl_http_loop_uv(isl_http_req_loop(x->req)), &x->timer);
  x->timer.data = x;
  x->timer_open = 1;
  uv_timer_start(&x->timer, cb, (uint64_t)ms, repeat ? (uint64_t)ms : 0);
}

static void append(oreq_t *x, const char *data, size_t len) {
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

static void on_slow(uv_timer_t *t) {
  oreq_t *x = t->data;
  slow_leave(x);
  isl_http_res_simple(x->req, 200, NULL, "slow");
  finish(x);
}

static void on_big_tick(uv_timer_t *t) {
  static char chunk[64 << 10];
  oreq_t *x = t->data;
  if (!chunk[0]) memset(chunk, 'x', sizeof chunk);
  while (x->left && isl_http_req_pending_bytes(x->req) < (1u << 20)) {
    size_t n = x->left < sizeof chunk ? (size_t)x->left : sizeof chunk;
    isl_http_res_write(x->req, chunk, n);
    x->left -= n;
  }
  if (!x->left) {
    isl_http_res_end(x->req);
    finish(x);
  }
}

static void on_request(isl_http_req_t *req) {
  origin_t *o = isl_http_server_handler_data(isl_http_loop_server(isl_http_req_loop(req)));
  oreq_t *x = calloc(1, sizeof *x);
  if (!x) abort();
  x->o = o;
  x->req = req;
  req->data = x;
  atomic_fetch_add(&o->requests, 1);
}

static void on_body(isl_http_req_t *req, const char *data, size_t len) {
  append(req->data, data, len);
}

static void on_body_end(isl_http_req_t *req) {
  oreq_t *x = req->data;
  const char *t = isl_http_req_target(req);
  if (test_http_path_is(t, "/slow")) {
    slow_enter(x);
    start_timer(x, on_slow, test_http_query_int(t, "ms", 200), 0);
    return;
  }
  if (test_http_path_is(t, "/big")) {
    x->left = (uint64_t)test_http_query_int(t, "mb", 1) << 20;
    isl_http_res_start(req, 200, NULL, NULL, 0, (int64_t)x->left);
    start_timer(x, on_big_tick, 1, 1);
    return;
  }
  if (test_http_path_is(t, "/redirect") || test_http_path_is(t, "/loop")) {
    const char *to = strstr(t, "to=");
    to = test_http_path_is(t, "/loop") ? "/loop" : to ? to + 3 : "/echo";
    isl_http_header_t h = {"Location", 8, to, strlen(to)};
    isl_http_res_start(req, test_http_query_int(t, "code", 302), NULL, &h, 1, 0);
    isl_http_res_end(req);
  } else if (test_http_path_is(t, "/status")) {
    isl_http_res_simple(req, test_http_query_int(t, "code", 200), NULL, "status");
  } else if (test_http_path_is(t, "/set-cookie")) {
    isl_http_header_t h[] = {
        {"Set-Cookie", 10, "a=1; Path=/", 11}, {"X-Between", 9, "yes", 3}, {"Set-Cookie", 10, "b=2", 3}};
    isl_http_res_start(req, 200, "Fine Thanks", h, 3, 2);
    isl_http_res_write(req, "ok", 2);
    isl_http_res_end(req);
  } else {
    oreq_t out = {0};
    char line[1024];
    snprintf(line, sizeof line, "%s %s\n", isl_http_req_method(req), t);
    append(&out, line, strlen(line));
    for (size_t i = 0; i < isl_http_req_header_count(req); i++) {
      const isl_http_header_t *h = isl_http_req_header(req, i);
      snprintf(line, sizeof line, "%s: %s\n", h->name, h->value);
      append(&out, line, strlen(line));
    }
    append(&out, "\n", 1);
    if (x->len) append(&out, x->body, x->len);
    isl_http_res_start(req, 200, NULL, NULL, 0, (int64_t)out.len);
    isl_http_res_write(req, out.body, out.len);
    isl_http_res_end(req);
    free(out.body);
  }
  finish(x);
}

static void on_abort(isl_http_req_t *req) {
  oreq_t *x = req->data;
  atomic_fetch_add(&x->o->aborts, 1);
  finish(x);
}

int origin_start(origin_t *o) {
  isl_http_handler_t h = {0};
  isl_http_config_t cfg = {0};
  isl_err_t err = {0};
  atomic_store(&o->requests, 0);
  atomic_store(&o->released, 0);
  atomic_store(&o->aborts, 0);
  atomic_store(&o->slow_waiting, 0);
  atomic_store(&o->slow_peak, 0);
  h.on_request = on_request;
  h.on_body = on_body;
  h.on_body_end = on_body_end;
  h.on_abort = on_abort;
  h.data = o;
  cfg.threads = 1;
  cfg.drain_timeout_ms = 500;
  int rc = test_http_server_start(&o->srv, &cfg, &h, &err);
  if (rc != 0) {
    fprintf(stderr, "origin: %s\n", err.msg);
    return rc;
  }
  o->port = o->srv.port;
  return 0;
}

int origin_stop(origin_t *o) {
  test_http_server_stop(&o->srv);
  return atomic_load(&o->released) == atomic_load(&o->requests) ? 0 : -1;
}
