/*
 * runtime.c - the runtime's HTTP handler: route, find the instance, hand
 * the request to JS (entry.dispatch), stream its body in, and tidy up.
 *
 * The JS side answers through host_http.c; this file only starts things
 * and reacts to the HTTP layer (body bytes, end of body, client gone).
 */
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "api/api.h"
#include "cache/cache.h"
#include "fetch/fetch.h"
#include "runtime/internal.h"
#include "runtime/router.h"

void isl_rt__log(const char *fmt, ...) {
  char line[2048], out[sizeof(line) * 4 + 8];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(line, sizeof(line), fmt, ap);
  va_end(ap);
  if (n < 0) return;
  if ((size_t)n >= sizeof(line)) n = (int)sizeof(line) - 1;
  /* One line, whatever it quotes (a path, an error message): control
   * characters show as \xHH. Through the log writer: never blocks. */
  size_t o = 0;
  for (int i = 0; i < n; i++) {
    unsigned char c = (unsigned char)line[i];
    if (c < 0x20 || c == 0x7F) {
      o += (size_t)snprintf(out + o, 5, "\\x%02x", c);
    } else {
      out[o++] = (char)c;
    }
  }
  out[o++] = '\n';
  isl_rt__log_write(2, out, o);
}

int isl_rt_new(const isl_rt_config_t *cfg, isl_rt_t **out) {
  isl_rt_t *rt = calloc(1, sizeof(*rt));
  if (!rt) return ISL_ENOMEM;
  if (cfg) rt->cfg = *cfg;
  isl_rt_router_t *r;
  int rc = isl_rt_router_new(&r);
  if (rc < 0) {
    free(rt);
    return rc;
  }
  rt->router = r;
  /* The log writer's thread starts here, before the loops and the preload
   * thread (which may hold the loader's lock in dlopen) exist. */
  isl_rt__log_start();
  pthread_mutex_init(&rt->preload_mu, NULL);
  pthread_cond_init(&rt->preload_cv, NULL);
  if (rt->cfg.cache_mb) isl_cache_set_limit(isl_cache_process(), (size_t)rt->cfg.cache_mb << 20, 0);
  *out = rt;
  return 0;
}

/* dlopen holds the dynamic loader's lock, which pthread_create (the HTTP
 * loops' threads) and exit() need too: the thread waits until the server
 * has started its loops, and runs at normal priority (at nice 19, busy
 * neighbours starved it for seconds while it held the lock, and the
 * server hung in pthread_create). */
#define PRELOAD_DELAY_MS 200

static void *preload_main(void *arg) {
  isl_rt_t *rt = arg;
  struct timespec until;
  clock_gettime(CLOCK_REALTIME, &until);
  until.tv_nsec += PRELOAD_DELAY_MS * 1000000L;
  until.tv_sec += until.tv_nsec / 1000000000L;
  until.tv_nsec %= 1000000000L;
  pthread_mutex_lock(&rt->preload_mu);
  while (!rt->preload_cancel && pthread_cond_timedwait(&rt->preload_cv, &rt->preload_mu, &until) == 0) {
  }
  int cancel = rt->preload_cancel;
  pthread_mutex_unlock(&rt->preload_mu);
  if (!cancel) isl_fetch_preload(NULL); /* a failure is reported again by the first fetch */
  return NULL;
}

void isl_rt_preload(isl_rt_t *rt) {
  /* Joined by isl_rt_free: a process must not exit while the thread is
   * inside dlopen or curl_global_init. */
  if (!rt->preloading) rt->preloading = pthread_create(&rt->preload, NULL, preload_main, rt) == 0;
}

void isl_rt_free(isl_rt_t *rt) {
  if (rt && rt->preloading) {
    pthread_mutex_lock(&rt->preload_mu);
    rt->preload_cancel = 1;
    pthread_cond_signal(&rt->preload_cv);
    pthread_mutex_unlock(&rt->preload_mu);
    pthread_join(rt->preload, NULL);
  }
  if (!rt) return;
  for (size_t i = 0; i < rt->n_workers; i++) isl_rt_worker_free(rt->workers[i]);
  free(rt->workers);
  for (size_t i = 0; i < rt->n_routes; i++) {
    free(rt->routes[i]->origin);
    free(rt->routes[i]);
  }
  free(rt->routes);
  isl_rt_router_free(rt->router);
  pthread_mutex_destroy(&rt->preload_mu);
  pthread_cond_destroy(&rt->preload_cv);
  free(rt);
}

/* A route: its worker (NULL: straight to the origin) and origin (NULL:
 * none). A NULL pattern is the fallback that takes what no route claims. */
static int add_route(isl_rt_t *rt, isl_rt_worker_t *w, const isl_rt_route_t *r, isl_err_t *err) {
  isl_rt__route_t **rs = realloc(rt->routes, (rt->n_routes + 1) * sizeof(*rs));
  if (!rs) return isl_err_set(err, ISL_ENOMEM, "out of memory");
  rt->routes = rs;
  isl_rt__route_t *route = calloc(1, sizeof(*route));
  if (!route || (r->origin && !(route->origin = strdup(r->origin)))) {
    free(route);
    return isl_err_set(err, ISL_ENOMEM, "out of memory");
  }
  route->worker = w;
  int rc = r->pattern ? isl_rt_router_add(rt->router, r->pattern, route, err) : 0;
  if (rc < 0) {
    free(route->origin);
    free(route);
    return rc;
  }
  if (!r->pattern) rt->fallback = route;
  rt->routes[rt->n_routes++] = route;
  return 0;
}

static int add(isl_rt_t *rt, isl_rt_worker_t *w, const isl_rt_route_t *routes, size_t n, isl_err_t *err) {
  isl_rt_worker_t **ws = realloc(rt->workers, (rt->n_workers + 1) * sizeof(*ws));
  if (!ws) return isl_err_set(err, ISL_ENOMEM, "out of memory");
  rt->workers = ws;
  static const isl_rt_route_t everything = {NULL, NULL};
  if (!n) {
    routes = &everything;
    n = 1;
  }
  for (size_t i = 0; i < n; i++) {
    int rc = add_route(rt, w, &routes[i], err);
    if (rc < 0) return rc;
  }
  w->index = (unsigned)rt->n_workers;
  rt->workers[rt->n_workers++] = w;
  return 0;
}

int isl_rt_add_worker(isl_rt_t *rt, isl_rt_worker_t *w, const isl_rt_route_t *routes, size_t n, isl_err_t *err) {
  int rc = add(rt, w, routes, n, err);
  if (rc < 0) isl_rt_worker_free(w);
  return rc;
}

int isl_rt_add_pass_route(isl_rt_t *rt, const isl_rt_route_t *route, isl_err_t *err) {
  if (!route->origin) return isl_err_set(err, ISL_EINVAL, "a route with no worker needs an origin");
  return add_route(rt, NULL, route, err);
}

int isl_rt_add_broken(isl_rt_t *rt, const char *name, const char *reason, const isl_rt_route_t *routes, size_t n,
                      isl_err_t *err) {
  isl_rt_worker_t *w = calloc(1, sizeof(*w));
  if (!w) return isl_err_set(err, ISL_ENOMEM, "out of memory");
  w->name = strdup(name);
  w->broken = strdup(reason);
  w->log_fd = -1;
  if (!w->name || !w->broken) {
    isl_rt_worker_free(w);
    return isl_err_set(err, ISL_ENOMEM, "out of memory");
  }
  return isl_rt_add_worker(rt, w, routes, n, err);
}

/* ---- the HTTP handler ------------------------------------------------------------- */

static void on_loop_start(isl_http_loop_t *loop) {
  isl_rt_t *rt = isl_http_server_handler_data(isl_http_loop_server(loop));
  isl_rt_pool_t *pool = NULL;
  if (isl_rt__pool_new(rt, isl_http_loop_uv(loop), &pool) < 0) isl_rt__log("runtime event=pool_failed");
  loop->data = pool;
}

static void on_loop_stop(isl_http_loop_t *loop) {
  isl_rt__pool_free(loop->data);
  loop->data = NULL;
}

static void after_entry(isl_rt_inst_t *inst) {
  isl_rt_pool_t *pool = inst->pool;
  isl_rt__inst_maybe_discard(inst);
  isl_rt__pool_trim(pool);
}

/* "name: value\n" for every request header, in order, then
 * CF-Connecting-IP with the client's address as Workers has it; a client's
 * own CF-Connecting-IP is dropped so that it cannot pose as another.
 * headers.js (entriesFromHost) takes the lines as they are: so every name
 * here is a token and every value has no NUL, CR or LF and no surrounding
 * whitespace (the HTTP parser refuses such requests; a header that still
 * broke these rules would be left out, as Headers would refuse it). */
static char *header_text(isl_http_req_t *req) {
  static const char ip_name[] = "cf-connecting-ip";
  const char *ip = isl_http_req_remote_addr(req);
  size_t n = isl_http_req_header_count(req), len = sizeof(ip_name) + strlen(ip) + 4;
  for (size_t i = 0; i < n; i++) {
    const isl_http_header_t *h = isl_http_req_header(req, i);
    len += 2 * (h->name_len + h->value_len) + 3;
  }
  char *s = malloc(len), *p = s;
  if (!s) return NULL;
  for (size_t i = 0; i < n; i++) {
    const isl_http_header_t *h = isl_http_req_header(req, i);
    if (h->name_len == sizeof(ip_name) - 1 && strncasecmp(h->name, ip_name, h->name_len) == 0) continue;
    p += isl_api_header_line(p, h->name, h->name_len, h->value, h->value_len); /* the one codec (api.h) */
  }
  p += sprintf(p, "%s: %s\n", ip_name, ip);
  return s;
}

/* The host a request is routed by and that request.url shows: the Host
 * header (src/http has checked it is host[:port] and turned an absolute
 * target into origin form), or "localhost" for HTTP/1.0 without one. */
static const char *request_host(isl_http_req_t *req) {
  const char *host = isl_http_req_header_get(req, "host");
  return host && host[0] ? host : "localhost";
}

static char *request_url(isl_http_req_t *req) {
  const char *target = isl_http_req_target(req);
  const char *host = request_host(req);
  if (target[0] != '/') target = "/";
  size_t len = strlen(host) + strlen(target) + 8;
  char *url = malloc(len);
  if (url) snprintf(url, len, "http://%s%s", host, target);
  return url;
}

/* Answers a request no worker runs, with its request log line (the path
 * without its query, which may carry secrets). */
static void refuse(const isl_rt_t *rt, isl_http_req_t *req, const char *tenant, int status, const char *body) {
  if (!rt->cfg.quiet) {
    const char *target = isl_http_req_target(req);
    isl_rt__log("request tenant=%s method=%s path=%.*s status=%d", tenant, isl_http_req_method(req),
                (int)strcspn(target, "?"), target, status);
  }
  isl_http_res_simple(req, status, "text/plain; charset=utf-8", body);
  isl_http_req_release(req);
}

unsigned isl_rt__req_hops(const isl_http_req_t *req) {
  unsigned hops = 0;
  size_t n = isl_http_req_header_count(req);
  for (size_t i = 0; i < n; i++) {
    const isl_http_header_t *h = isl_http_req_header(req, i);
    if (h->name_len != sizeof(ISL_FETCH_LOOP_HEADER) - 1 || strncasecmp(h->name, ISL_FETCH_LOOP_HEADER, h->name_len))
      continue;
    unsigned k = isl_fetch_hops_parse(h->value, h->value_len);
    if (k > hops) hops = k;
  }
  return hops;
}

void isl_rt__refuse_loop(const isl_rt_t *rt, isl_http_req_t *req, unsigned hop) {
  char body[200];
  int n = snprintf(body, sizeof(body),
                   "Loop detected: hop %u of this request through Isolde (counted in its CDN-Loop header) is "
                   "over the limit of %d.\n",
                   hop, ISL_FETCH_MAX_HOPS);
  if (!rt->cfg.quiet) {
    const char *target = isl_http_req_target(req);
    isl_rt__log("request tenant=- method=%s path=%.*s status=508 hops=%u", isl_http_req_method(req),
                (int)strcspn(target, "?"), target, hop);
  }
  static const isl_http_header_t type = {"Content-Type", 12, "text/plain; charset=utf-8", 25};
  isl_http_res_start(req, 508, "Loop Detected", &type, 1, n);
  isl_http_res_write(req, body, (size_t)n);
  isl_http_res_end(req);
  isl_http_req_release(req);
}

static void on_request(isl_http_req_t *req) {
  isl_http_loop_t *loop = isl_http_req_loop(req);
  isl_rt_pool_t *pool = loop->data;
  isl_rt_t *rt = isl_http_server_handler_data(isl_http_loop_server(loop));
  if (!pool) return refuse(rt, req, "-", 503, "The server is out of memory.\n");
  /* More hops than any Isolde host sends: a loop (docs/fetch.md). */
  unsigned hops = isl_rt__req_hops(req);
  if (hops > ISL_FETCH_MAX_HOPS) return isl_rt__refuse_loop(rt, req, hops);
  const char *host = request_host(req);
  const char *target = isl_http_req_target(req);
  isl_rt__route_t *route = isl_rt_router_match(rt->router, host, target);
  if (!route) route = rt->fallback;
  isl_rt_worker_t *w = route ? route->worker : NULL;
  char msg[1024];
  if (route && !w) return isl_rt__proxy(rt, req, route->origin);
  if (!w) {
    snprintf(msg, sizeof(msg), "No worker is routed for %s%s.\n", host ? host : "", target);
    return refuse(rt, req, "-", 404, msg);
  }
  if (w->broken) {
    snprintf(msg, sizeof(msg), "Worker \"%s\" failed to load.\n", w->name);
    return refuse(rt, req, w->name, 503, msg);
  }
  isl_rt_inst_t *inst;
  isl_err_t err = {0};
  if (isl_rt__pool_get(pool, w, &inst, &err) < 0) {
    isl_rt__log("runtime tenant=%s event=clone_failed error=\"%s\"", w->name, err.msg);
    return refuse(rt, req, w->name, 503, "The worker could not be started.\n");
  }
  isl_rt_exchange_t *x = isl_rt__exchange_new(inst, req);
  if (x) {
    x->route = route;
    x->hops = hops;
    if (isl_http_req_has_body(req) && (x->body = isl_rt__body_new(inst, x, isl_http_req_body_length(req))) != NULL)
      isl_rt__body_set_req(x->body, req);
  }
  char *url = request_url(req);
  char *headers = header_text(req);
  isl_val_t args[6] = {0};
  int rc = x && url && headers && (x->body || !isl_http_req_has_body(req)) ? 0 : ISL_ENOMEM;
  if (rc == 0 && (rc = isl_iso_new_number(inst->iso, x->id, &args[0])) == 0 &&
      (rc = isl_iso_new_string(inst->iso, isl_http_req_method(req), &args[1])) == 0 &&
      (rc = isl_iso_new_string(inst->iso, url, &args[2])) == 0 &&
      (rc = isl_iso_new_string(inst->iso, headers, &args[3])) == 0)
    if ((rc = isl_iso_new_number(inst->iso, x->body ? isl_rt__body_id(x->body) : 0, &args[4])) == 0)
      rc = isl_iso_new_number(inst->iso, x->body ? (double)isl_rt__body_length(x->body) : -1, &args[5]);
  free(url);
  free(headers);
  if (rc < 0) {
    for (int i = 0; i < 6; i++) isl_iso_release(inst->iso, args[i]);
    if (x) {
      isl_rt__exchange_fail(x, 503, "The worker could not be started.\n");
      isl_rt__exchange_finish(x);
    } else {
      refuse(rt, req, w->name, 503, "The worker could not be started.\n");
    }
    return after_entry(inst);
  }
  isl_rt__inst_call(inst, w->entry->dispatch, 6, args, x);
  after_entry(inst);
}

/* Request body bytes go to the exchange's host body (host_body.c), which
 * holds them until the handler reads and pauses the client when it holds
 * enough; or, piped, straight to the response that echoes them. */
static void on_body(isl_http_req_t *req, const char *data, size_t len) {
  int *kind = req->data;
  if (!kind) return;
  if (*kind == ISL_RT_KIND_PROXY) return isl_rt__proxy_body(req, data, len);
  if (*kind == ISL_RT_KIND_PIPE) return isl_rt__body_push_req((isl_rt_body_t *)(void *)kind, req, data, len);
  isl_rt_exchange_t *x = (isl_rt_exchange_t *)(void *)kind;
  if (!x->body) return;
  isl_rt_inst_t *inst = x->inst;
  isl_rt__body_push(x->body, data, len);
  after_entry(inst);
}

static void on_body_end(isl_http_req_t *req) {
  int *kind = req->data;
  if (!kind) return;
  if (*kind == ISL_RT_KIND_PROXY) return isl_rt__proxy_body_end(req);
  if (*kind == ISL_RT_KIND_PIPE) return isl_rt__body_end_req((isl_rt_body_t *)(void *)kind, req);
  isl_rt_exchange_t *x = (isl_rt_exchange_t *)(void *)kind;
  isl_rt_body_t *b = x->body;
  if (!b) return;
  isl_rt_inst_t *inst = x->inst;
  x->body = NULL;
  isl_rt__body_end(b, NULL);
  after_entry(inst);
}

/* The client went away: a body still arriving fails (its read rejects),
 * and the request's AbortSignal fires (entry.abort). */
static void on_abort(isl_http_req_t *req) {
  int *kind = req->data;
  if (!kind) return;
  if (*kind == ISL_RT_KIND_PROXY) return isl_rt__proxy_abort(req);
  if (*kind == ISL_RT_KIND_PIPE) return isl_rt__body_abort_pipe((isl_rt_body_t *)(void *)kind);
  isl_rt_exchange_t *x = (isl_rt_exchange_t *)(void *)kind;
  isl_rt_inst_t *inst = x->inst;
  uint32_t id = x->id;
  isl_rt_body_t *b = x->body;
  if (b) {
    x->body = NULL;
    isl_rt__body_end(b, "Network connection lost: the client disconnected before the request body was complete");
    if (inst->poisoned || !(x = isl_rt__exchange_find(inst, id))) return after_entry(inst);
  }
  isl_val_t v;
  if (isl_iso_new_number(inst->iso, id, &v) < 0) return;
  isl_rt__inst_call(inst, inst->worker->entry->abort, 1, &v, x);
  after_entry(inst);
}

void isl_rt_http_handler(isl_rt_t *rt, isl_http_handler_t *h) {
  memset(h, 0, sizeof(*h));
  h->on_loop_start = on_loop_start;
  h->on_loop_stop = on_loop_stop;
  h->on_request = on_request;
  h->on_body = on_body;
  h->on_body_end = on_body_end;
  h->on_abort = on_abort;
  h->data = rt;
}
