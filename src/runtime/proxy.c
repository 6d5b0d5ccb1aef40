/*
 * proxy.c - a route with an origin and no worker: the request goes
 * straight to the origin and its answer straight back, streamed both
 * ways through src/fetch, with no isolate involved.
 *
 * Both bodies stream with back-pressure and nothing is held whole: the
 * request body goes to the origin as it arrives (src/fetch's streamed
 * upload; the client's socket is not read while the upload's queue is
 * full), the response goes to the client as it arrives (the transfer is
 * paused while the client's queue is full, until the HTTP layer's drain
 * callback). An upload the client cuts reaches the origin cut (the
 * subrequest is aborted), never as a shorter complete body.
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

typedef struct {
  int kind; /* ISL_RT_KIND_PROXY */
  isl_rt_t *rt;
  isl_http_req_t *req; /* NULL once released */
  isl_fetch_t *f;      /* NULL when not in flight */
  isl_fetch_client_t *client;
  char *url, *method, *path, *origin;
  int status, closing;
  unsigned hops; /* hops the request arrived with */
  uint64_t start_ns;
} proxy_t;

/* Ends the exchange: releases the request, logs it, frees p. */
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
  free(p->url);
  free(p->origin);
  free(p->method);
  free(p->path);
  free(p);
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

/* The client's queue drained: the origin's transfer goes on. */
static void client_drained(isl_http_req_t *req, void *arg) {
  (void)req;
  proxy_t *p = arg;
  if (p->f) isl_fetch_pause(p->f, 0);
}

static void on_body(isl_fetch_t *f, const char *data, size_t len) {
  proxy_t *p = isl_fetch_data(f);
  if (!p->req) return;
  isl_http_res_write(p->req, data, len);
  if (isl_http_req_write_state(p->req) > 0) {
    isl_fetch_pause(f, 1);
    isl_http_req_on_drain(p->req, client_drained, p);
  }
}

/* The upload's queue has room: read the client's body on. */
static void upload_drained(isl_fetch_t *f) {
  proxy_t *p = isl_fetch_data(f);
  if (p->req) isl_http_req_pause_body(p->req, 0);
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
                            .body_stream = isl_http_req_has_body(req),
                            .body_stream_length = isl_http_req_body_length(req),
                            .redirect = ISL_FETCH_REDIRECT_MANUAL,
                            .hops = p->hops + 1};
  isl_fetch_callbacks_t cb = {on_response, on_body, on_done, p, upload_drained};
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
  req->data = p;
  start(p);
}

void isl_rt__proxy_body(isl_http_req_t *req, const char *data, size_t len) {
  proxy_t *p = req->data;
  if (!p->f) return; /* the origin already answered whole, or failed: the rest is dropped */
  if (isl_fetch_body_write(p->f, data, len) == 1) isl_http_req_pause_body(req, 1);
}

void isl_rt__proxy_body_end(isl_http_req_t *req) {
  proxy_t *p = req->data;
  if (p->f) isl_fetch_body_end(p->f, 0);
}

/* The client went away: an upload under way is aborted with the
 * subrequest, so the origin sees it cut. */
void isl_rt__proxy_abort(isl_http_req_t *req) {
  proxy_t *p = req->data;
  proxy_finish(p);
}
