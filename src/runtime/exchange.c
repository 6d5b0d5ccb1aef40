/*
 * exchange.c - one HTTP request being answered by an instance.
 *
 * The JS side knows a request by a number (reqId); the host keeps the
 * exchange that ties it to the HTTP layer's request. An exchange lives
 * from dispatch until JS reports it done (response sent and every
 * ctx.waitUntil promise settled), or until its instance is reset. The
 * request log line is written once, when the response has ended.
 *
 * Work after the response follows Workers' rules: an exchange owns the
 * timers and subrequests its code started (host_timers.c, host_fetch.c),
 * whose callbacks are entered for it, so their CPU time and subrequests
 * count against its limits. Only ctx.waitUntil keeps it alive after its
 * response; when it finishes or is cut, its outstanding work is cancelled,
 * and code that runs for no live request can start none.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/internal.h"

isl_rt_exchange_t *isl_rt__exchange_find(isl_rt_inst_t *inst, uint32_t id) {
  for (isl_rt_exchange_t *x = inst->exchanges; x; x = x->next)
    if (x->id == id) return x;
  return NULL;
}

void isl_rt__exchange_log(isl_rt_exchange_t *x) {
  if (x->logged) return;
  /* Inside a call the CPU time is not charged yet: the call logs it after. */
  if (x->inst->turn) {
    x->log_pending = 1;
    return;
  }
  x->logged = 1;
  isl_rt_inst_t *inst = x->inst;
  if (inst->pool && inst->pool->rt->cfg.quiet) return;
  uint64_t wall_us = (isl_rt__now_ns() - x->start_ns) / 1000u;
  isl_rt__log("request tenant=%s method=%s path=%s status=%d cpu_us=%llu wall_us=%llu", inst->worker->name, x->method,
              x->path, x->status, (unsigned long long)(x->cpu_ns / 1000u), (unsigned long long)wall_us);
}

void isl_rt__exchange_release_req(isl_rt_exchange_t *x) {
  if (x->body) {
    /* The client's upload has not ended: its reader must not see an end. */
    isl_rt__body_detach_req(x->body, "the response was sent (or the request cut) before the request body was read");
    x->body = NULL;
  }
  if (!x->req) return;
  x->req->data = NULL;
  isl_http_req_release(x->req);
  x->req = NULL;
}

void isl_rt__exchange_fail(isl_rt_exchange_t *x, int status, const char *body) {
  if (x->ended) return;
  if (x->req && !x->status) {
    isl_http_res_simple(x->req, status, "text/plain; charset=utf-8", body);
  }
  /* Released before its end, a started response is cut short (the
   * connection closes), which is all a client can be told by now. */
  isl_rt__exchange_release_req(x);
  if (!x->status) x->status = status;
  x->ended = 1;
  x->ended_ns = isl_rt__now_ns();
  isl_rt__exchange_log(x);
}

int isl_rt__exchange_owner(isl_rt_inst_t *inst, isl_rt_exchange_t **owner) {
  isl_rt_exchange_t *x = inst->current;
  *owner = x;
  if (!inst->pool) return 0; /* `isolde run`: no requests, the script owns its work */
  return x && !x->finished && !x->cancelled ? 0 : -1;
}

void isl_rt__exchange_cancel_work(isl_rt_exchange_t *x) {
  x->cancelled = 1;
  isl_rt__timers_cancel(x->inst, x);
  isl_rt__subs_cancel(x->inst, x);
}

void isl_rt__exchange_check_cpu(isl_rt_inst_t *inst, uint32_t id) {
  isl_rt_exchange_t *x = inst->poisoned ? NULL : isl_rt__exchange_find(inst, id);
  uint64_t limit_ns = (uint64_t)inst->worker->limits.cpu_ms * 1000000u;
  if (!x || x->finished || !limit_ns || x->cpu_ns < limit_ns) return;
  char why[600];
  snprintf(why, sizeof(why), "%s %s exceeded its CPU time limit of %u ms%s; its timers and subrequests were cancelled",
           x->method, x->path, inst->worker->limits.cpu_ms, x->ended ? " in work after its response" : "");
  isl_rt__tenant_log(inst->worker, "error", why, strlen(why));
  isl_rt__exchange_fail(x, 503, "Worker exceeded its CPU time limit.\n");
  isl_rt__exchange_finish(x);
}

void isl_rt__exchange_finish(isl_rt_exchange_t *x) {
  isl_rt_inst_t *inst = x->inst;
  /* As in Workers, timers and subrequests do not outlive the request that
   * started them (an idle tenant's setInterval must not burn CPU for
   * nobody): cancelled at once, even inside a call. */
  if (!x->cancelled) isl_rt__exchange_cancel_work(x);
  if (inst->turn) {
    x->finished = 1; /* freed once the call has charged its CPU time */
    return;
  }
  for (isl_rt_exchange_t **p = &inst->exchanges; *p; p = &(*p)->next)
    if (*p == x) {
      *p = x->next;
      inst->n_exchanges--;
      break;
    }
  if (!x->ended) isl_rt__exchange_fail(x, 500, "The worker finished without a response.\n");
  isl_rt__exchange_log(x);
  isl_rt__exchange_release_req(x);
  isl_rt__bodies_owner_gone(inst, x);
  free(x->method);
  free(x->path);
  free(x->host);
  free(x);
}

isl_rt_exchange_t *isl_rt__exchange_new(isl_rt_inst_t *inst, isl_http_req_t *req) {
  isl_rt_exchange_t *x = calloc(1, sizeof(*x));
  if (!x) return NULL;
  x->kind = ISL_RT_KIND_EXCHANGE;
  x->id = inst->next_exchange_id++;
  if (!inst->next_exchange_id) inst->next_exchange_id = 1;
  x->inst = inst;
  x->req = req;
  x->start_ns = isl_rt__now_ns();
  x->method = strdup(isl_http_req_method(req));
  const char *host = isl_http_req_header_get(req, "host");
  x->host = strdup(host ? host : "");
  const char *target = isl_http_req_target(req);
  size_t n = strcspn(target, "?");
  x->path = strndup(target, n);
  if (!x->method || !x->path || !x->host) {
    free(x->method);
    free(x->path);
    free(x->host);
    free(x);
    return NULL;
  }
  x->next = inst->exchanges;
  inst->exchanges = x;
  inst->n_exchanges++;
  req->data = x;
  return x;
}

void isl_rt__ids_push(isl_rt_ids_t *l, double id) {
  if (l->n == l->cap) {
    size_t cap = l->cap ? l->cap * 2 : 16;
    double *d = realloc(l->ids, cap * sizeof(*d));
    if (!d) return;
    l->ids = d;
    l->cap = cap;
  }
  l->ids[l->n++] = id;
}

int isl_rt__ids_take(isl_iso_t *iso, isl_rt_ids_t *l, isl_val_t *ret) {
  if (!l->n) return isl_iso_new_string(iso, "", ret);
  char *s = malloc(l->n * 24 + 1), *p = s;
  if (!s) return isl_iso_throw(iso, "Error", "host out of memory");
  *p = 0;
  for (size_t i = 0; i < l->n; i++) p += sprintf(p, i ? ",%.0f" : "%.0f", l->ids[i]);
  l->n = 0;
  int rc = isl_iso_new_string(iso, s, ret);
  free(s);
  return rc;
}

void isl_rt__ids_free(isl_rt_ids_t *l) {
  free(l->ids);
  *l = (isl_rt_ids_t){0};
}
