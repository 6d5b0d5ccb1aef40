/*
 * proxy.c - a route with an origin and no worker: the request goes
 * straight to the origin and its answer straight back, streamed both
 * ways through src/fetch, with no isolate involved.
 *
 * The request body is collected first (the HTTP layer caps its size) and
 * sent in one go; the response is streamed, and the transfer is paused
 * while more than PROXY_QUEUE_HIGH bytes wait for a slow client (polled
 * every 2 ms: the HTTP layer has no drain event).
 *
 * The origin is the operator's, so its address may be private, but that
 * is all the config allows: the subrequest runs under the same address
 * policy as a worker's fetch() with the route's origin as its one allowed
 * origin, so no other private address, nor any of this machine's own, is
 * ever connected to for it. Redirects are not followed but passed to the
 * client, as a reverse proxy does: a 3xx is the origin's answer to the
 * client (its Location and Set-Cookie are meant for the client), and a
 * Location pointing inside would otherwise be fetched from in here. And
 * like every subrequest it counts as a hop (CDN-Loop, docs/fetch.md): a
 * route whose origin leads back to this server stops after
 * ISL_FETCH_MAX_HOPS with 508 instead of proxying to itself for ever.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "fetch/fetch.h"
#include "runtime/internal.h"

#define PROXY_QUEUE_HIGH (1u << 20)
#define PROXY_QUEUE_LOW (256u << 10)

typedef struct {
  int kind; /* ISL_RT_KIND_PROXY */
  isl_rt_t *rt;
  isl_http_req_t *req; /* NULL once released */
  isl_fetch_t *f;      /* NULL when not in flight */
  isl_fetch_client_t *client;
  char *url, *method, *path, *origin;
  char *body;
  size_t body_len, body_cap;
  uv_timer_t resume;
  int paused, status, closing;
  unsigned hops; /* hops the request arrived with */
  uint64_t start_ns;
} proxy_t;

static void proxy_closed(uv_handle_t *h) {
  proxy_t *p = h->data;
  free(p->url);
  free(p->origin);
  free(p->method);
  free(p->path);
  free(p->body);
  free(p);
}

/* Ends the exchange: releases the request, logs it, frees p once its timer has closed. */
static void proxy_finish(proxy_t *p) {
  if (p->closing) return;
  p->closing = 1;
  if (p->f) isl_fetch_abort(p->f);
  p->f = NULL;
  if (p->req) {
    p->req->data = NULL;
    isl_http_req_release(p->req);
    p->req = NULL;
  }
  if (!p->rt->cfg.quiet)
    isl_rt__log("request tenant=- origin=1 method=%s path=%s status=%d wall_us=%llu", p->method, p->path, p->status,
                (unsigned long long)((isl_rt__now_ns() - p->start_ns) / 1000u));
  uv_close((uv_handle_t *)&p->resume, proxy_closed);
}

static int hop_by_hop(const char *name, size_t len) {
  static const char *const names[] = {"connection", "keep-alive",       "transfer-encoding", "te", "trailer",
                                      "upgrade",    "proxy-connection", "content-length",    NULL};
  for (int i = 0; names[i]; i++)
    if (strlen(names[i]) == len && strncasecmp(names[i], name, len) == 0) return 1;
  return 0;
}

static void on_response(isl_fetch_t *f, int status, const char *status_text, const isl_http_header_t *headers, size_t n,
                        const char *final_url) {
  proxy_t *p = isl_fetch_data(f);
  (void)final_url;
  if (!p->req) return;
  isl_http_header_t *out = calloc(n ? n : 1, sizeof(*out));
  int64_t length = -1;
  size_t k = 0;
  for (size_t i = 0; out && i < n; i++) {
    if (headers[i].name_len == 14 && strncasecmp(headers[i].name, "content-length", 14) == 0)
      length = strtoll(headers[i].value, NULL, 10);
    if (!hop_by_hop(headers[i].name, headers[i].name_len)) out[k++] = headers[i];
  }
  p->status = status;
  isl_http_res_start(p->req, status, status_text && status_text[0] ? status_text : NULL, out, k, length);
  free(out);
}

static void resume_poll(uv_timer_t *t) {
  proxy_t *p = t->data;
  if (!p->req || !p->f) return;
  if (isl_http_req_pending_bytes(p->req) <= PROXY_QUEUE_LOW) {
    uv_timer_stop(t);
    p->paused = 0;
    isl_fetch_pause(p->f, 0);
  }
}

static void on_body(isl_fetch_t *f, const char *data, size_t len) {
  proxy_t *p = isl_fetch_data(f);
  if (!p->req) return;
  isl_http_res_write(p->req, data, len);
  if (!p->paused && isl_http_req_pending_bytes(p->req) > PROXY_QUEUE_HIGH) {
    p->paused = 1;
    isl_fetch_pause(f, 1);
    uv_timer_start(&p->resume, resume_poll, 2, 2);
  }
}

static void on_done(isl_fetch_t *f, int err, const char *msg) {
  proxy_t *p = isl_fetch_data(f);
  p->f = NULL;
  if (p->req) {
    if (err && !p->status) {
      char body[700];
      snprintf(body, sizeof(body), "Bad gateway: the origin could not be reached (%s).\n", msg ? msg : "error");
      p->status = 502;
      isl_http_res_simple(p->req, 502, "text/plain; charset=utf-8", body);
    } else if (!err) {
      isl_http_res_end(p->req);
    } /* else: cut short, the release closes the connection */
  }
  proxy_finish(p);
}

static void start(proxy_t *p) {
  isl_http_req_t *req = p->req;
  size_t n = isl_http_req_header_count(req);
  isl_http_header_t *hdrs = calloc(n ? n : 1, sizeof(*hdrs));
  size_t k = 0;
  for (size_t i = 0; hdrs && i < n; i++) {
    const isl_http_header_t *h = isl_http_req_header(req, i);
    if (!hop_by_hop(h->name, h->name_len)) hdrs[k++] = *h;
  }
  /* The origin is the operator's: allowed even at a private address or
   * one of this machine's, and nothing else is (see the top). */
  const char *origin = p->origin;
  isl_fetch_policy_t policy = {.allowed_origins = &origin, .n_allowed = 1};
  isl_fetch_request_t rq = {.method = p->method,
                            .url = p->url,
                            .headers = hdrs,
                            .n_headers = k,
                            .body = p->body,
                            .body_len = p->body_len,
                            .redirect = ISL_FETCH_REDIRECT_MANUAL,
                            .hops = p->hops + 1};
  isl_fetch_callbacks_t cb = {on_response, on_body, on_done, p};
  isl_err_t err = {0};
  int rc = hdrs ? isl_fetch_start(p->client, &rq, &policy, &cb, &p->f, &err) : ISL_ENOMEM;
  free(hdrs);
  if (rc < 0) {
    p->status = 502;
    isl_http_res_simple(req, 502, "text/plain; charset=utf-8", "Bad gateway: the origin could not be reached.\n");
    proxy_finish(p);
  }
}

void isl_rt__proxy(isl_rt_t *rt, isl_http_req_t *req, const char *origin) {
  isl_http_loop_t *loop = isl_http_req_loop(req);
  isl_rt_pool_t *pool = loop->data;
  unsigned hops = isl_rt__req_hops(req);
  if (hops + 1 > ISL_FETCH_MAX_HOPS) return isl_rt__refuse_loop(rt, req, hops + 1);
  proxy_t *p = calloc(1, sizeof(*p));
  const char *target = isl_http_req_target(req);
  if (target[0] != '/') target = "/";
  size_t len = strlen(origin) + strlen(target) + 1;
  if (!p || !pool || !pool->fetch || !(p->url = malloc(len)) || !(p->origin = strdup(origin))) {
    if (p) free(p->url);
    free(p);
    isl_http_res_simple(req, 503, "text/plain; charset=utf-8", "The server is out of memory.\n");
    isl_http_req_release(req);
    return;
  }
  snprintf(p->url, len, "%s%s", origin, target);
  p->kind = ISL_RT_KIND_PROXY;
  p->rt = rt;
  p->req = req;
  p->client = pool->fetch;
  p->hops = hops;
  p->start_ns = isl_rt__now_ns();
  p->method = strdup(isl_http_req_method(req));
  p->path = strndup(target, strcspn(target, "?"));
  uv_timer_init(pool->loop, &p->resume);
  p->resume.data = p;
  req->data = p;
  if (!isl_http_req_has_body(req)) start(p);
}

void isl_rt__proxy_body(isl_http_req_t *req, const char *data, size_t len) {
  proxy_t *p = req->data;
  if (p->body_len + len > p->body_cap) {
    size_t cap = p->body_cap ? p->body_cap * 2 : 16384;
    while (cap < p->body_len + len) cap *= 2;
    char *b = realloc(p->body, cap);
    if (!b) return;
    p->body = b;
    p->body_cap = cap;
  }
  memcpy(p->body + p->body_len, data, len);
  p->body_len += len;
}

void isl_rt__proxy_body_end(isl_http_req_t *req) {
  proxy_t *p = req->data;
  if (!p->f && !p->closing && isl_http_req_has_body(req)) start(p);
}

void isl_rt__proxy_abort(isl_http_req_t *req) {
  proxy_t *p = req->data;
  proxy_finish(p);
}
