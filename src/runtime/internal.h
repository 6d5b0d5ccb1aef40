/*
 * internal.h - private to src/runtime: the structures shared by its files.
 *
 * The pieces, bottom up:
 *   prelude.c   the base snapshot: a fresh isolate with the host functions
 *               and the JS prelude (src/runtime/js) evaluated, made at build
 *               time and mapped from a file; every worker starts as a clone.
 *   worker.c    a loaded worker: a clone of the base that ran the tenant's
 *               script, snapshotted again (isl_rt_worker_t).
 *   instance.c  a live isolate of one worker on one event loop, and every
 *               entry into it (time freeze, CPU accounting, jobs, failures).
 *   host_*.c    the host functions the prelude calls (host.js lists them).
 *   exchange.c  one HTTP request inside an instance (request id <-> http req).
 *   pool.c      the instances of one loop: lookup, LRU eviction, recycling.
 *   server.c    the HTTP handler that routes requests to instances.
 */
#ifndef ISL_RUNTIME_INTERNAL_H
#define ISL_RUNTIME_INTERNAL_H

#include <pthread.h>
#include <stdint.h>
#include <uv.h>

#include "common/clock.h"
#include "common/log.h"
#include "http/http.h"
#include "isolate/isolate.h"
#include "runtime/runtime.h"

typedef struct isl_rt_inst_s isl_rt_inst_t;
typedef struct isl_rt_sub_s isl_rt_sub_t; /* a subrequest (host_fetch.c) */
struct isl_fetch_s;

/* Ids of timers or subrequests the host dropped (their request ended) that
 * JS has not been told of yet, so that it can forget them (exchange.c). */
typedef struct {
  double *ids;
  size_t n, cap;
} isl_rt_ids_t;
/* Adds id; on allocation failure it is left out (JS then keeps that
 * entry's state until the isolate is recycled, nothing worse). */
void isl_rt__ids_push(isl_rt_ids_t *l, double id);
/* *ret = "id,id,..." (or "") and empties l: what host.timersDropped and
 * host.fetchesDropped return. */
int isl_rt__ids_take(isl_iso_t *iso, isl_rt_ids_t *l, isl_val_t *ret);
void isl_rt__ids_free(isl_rt_ids_t *l);
typedef struct isl_rt_exchange_s isl_rt_exchange_t;
typedef struct isl_rt_pool_s isl_rt_pool_t;

/* Where a route leads: a worker, an origin, or a worker in front of an origin. */
typedef struct {
  isl_rt_worker_t *worker; /* NULL: the request goes straight to the origin */
  char *origin;            /* "http://host:port", or NULL */
} isl_rt__route_t;

/* Handles into the prelude's entry object (entry.js), valid in every clone
 * of the base snapshot because they were made before it was taken. */
typedef struct {
  isl_val_t entry;
  isl_val_t timer, set_env, register_module, dispatch, body_ready, abort, writable;
  isl_val_t fetch_response, fetch_done;
} isl_rt_entry_t;

/* A host function the prelude calls, by the name it has on the host object.
 * Each host_*.c file exports a table of them, ended by {NULL, NULL}. */
typedef struct {
  const char *name;
  isl_iso_host_fn fn;
} isl_rt_host_fn_t;

/* ---- prelude.c --------------------------------------------------------------- */
/* The process-wide base snapshot, mapped on first use (isl_rt_base_open);
 * NULL with *err on failure. */
const isl_iso_snapshot_t *isl_rt__base(const isl_rt_entry_t **entry, isl_err_t *err);

/* ---- host_*.c: each file's functions for the host object (prelude.c joins them) */
extern const isl_rt_host_fn_t isl_rt__console_fns[], isl_rt__crypto_fns[], isl_rt__timer_fns[], isl_rt__http_fns[],
    isl_rt__cache_fns[], isl_rt__fetch_fns[], isl_rt__body_fns[];
/* host_lazy.c: lazySource, the prelude chunks kept out of the base snapshot. */
extern const isl_rt_host_fn_t isl_rt__lazy_fns[];
/* Stops and frees every timer of an instance (when it is discarded). */
void isl_rt__timers_close(isl_rt_inst_t *inst);
/* Aborts every subrequest of an instance (when it is discarded). */
void isl_rt__subs_abort(isl_rt_inst_t *inst);
/* Stops the timers / aborts the subrequests that belong to request x (it
 * finished or was cut); JS is told their ids on its next timer or fetch()
 * start (host.timersDropped / host.fetchesDropped), so it can forget them.
 * Safe inside a call. */
void isl_rt__timers_cancel(isl_rt_inst_t *inst, const isl_rt_exchange_t *x);
void isl_rt__subs_cancel(isl_rt_inst_t *inst, const isl_rt_exchange_t *x);
/* host_fetch.c, for a subrequest's response body (host_body.c): pause or
 * resume its transfer; abort it (the reader cancelled; no callback after,
 * sub is freed); take it out of its instance (its body is piped to a
 * client and outlives the instance's interest in it). */
void isl_rt__sub_pause(isl_rt_sub_t *sub, int paused);
void isl_rt__sub_cancel(isl_rt_sub_t *sub);
void isl_rt__sub_detach(isl_rt_sub_t *sub);

/* ---- host_body.c: bodies the host holds (see the top of the file) ------------ */
typedef struct isl_rt_body_s isl_rt_body_t;
/* A new body of inst read for request owner (may be NULL), length -1 if unknown. */
isl_rt_body_t *isl_rt__body_new(isl_rt_inst_t *inst, isl_rt_exchange_t *owner, int64_t length);
uint32_t isl_rt__body_id(const isl_rt_body_t *b);
int64_t isl_rt__body_length(const isl_rt_body_t *b);
/* The source's side: bytes (copied), and the end (error NULL: whole).
 * After body_end the source is no longer the body's. b may be freed by
 * either (a reader woken, a pipe ended). Never inside a call. */
void isl_rt__body_push(isl_rt_body_t *b, const char *data, size_t len);
void isl_rt__body_end(isl_rt_body_t *b, const char *error);
/* The exchange lets its client's request go before the upload ended: the
 * body fails with why (unless piped, which holds the request itself). */
void isl_rt__body_detach_req(isl_rt_body_t *b, const char *why);
/* A body JS has not touched, by id, for host.respondBody, or NULL. */
isl_rt_body_t *isl_rt__body_find(isl_rt_inst_t *inst, double id);
/* b feeds out's response (started) from now on, outside the instance: out->data becomes b. */
void isl_rt__body_pipe(isl_rt_body_t *b, isl_http_req_t *out);
/* A piped body's own client request (req->data is b): its upload's bytes
 * and end, when b's source is that upload (else dropped). */
void isl_rt__body_push_req(isl_rt_body_t *b, isl_http_req_t *req, const char *data, size_t len);
void isl_rt__body_end_req(isl_rt_body_t *b, isl_http_req_t *req);
/* b's source is the client's upload of req (runtime.c). */
void isl_rt__body_set_req(isl_rt_body_t *b, isl_http_req_t *req);
/* b's source is subrequest sub's response (host_fetch.c). */
void isl_rt__body_set_source(isl_rt_body_t *b, isl_rt_sub_t *sub);
/* b's source is being freed with its instance, silently. */
void isl_rt__body_forget_source(isl_rt_body_t *b);
/* b (untouched by JS, isl_rt__body_find) is the request body of a
 * subrequest started with body_stream: it feeds up from now on; the
 * subrequest tells it when up drains and when it is gone (done or aborted:
 * the rest of the source is dropped). */
void isl_rt__body_upload(isl_rt_body_t *b, struct isl_fetch_s *up);
void isl_rt__body_upload_drain(isl_rt_body_t *b);
void isl_rt__body_upload_gone(isl_rt_body_t *b);
/* upload (the client's request body, being sent as a subrequest's) and
 * the pipe that answers the same request: the request's events go to
 * the pipe, which hands the upload's on (host.respondBody). */
void isl_rt__body_pair(isl_rt_body_t *pipe, isl_rt_body_t *upload);
/* 1 when b feeds a subrequest's upload that has not ended. */
int isl_rt__body_uploading(const isl_rt_body_t *b);
/* The client of a pipe went away (on_abort of out). */
void isl_rt__body_abort_pipe(isl_rt_body_t *b);
/* Every body of inst (it is being freed); an exchange that goes. */
void isl_rt__bodies_free(isl_rt_inst_t *inst);
void isl_rt__bodies_owner_gone(isl_rt_inst_t *inst, const isl_rt_exchange_t *x);

/* ---- worker.c ---------------------------------------------------------------- */
struct isl_rt_worker_s {
  char *name;
  char *dir; /* realpath of main's folder: modules may not leave it */
  char *main_path;
  isl_iso_limits_t limits;  /* of each request */
  isl_iso_limits_t startup; /* of the top-level code when it loads */
  isl_iso_snapshot_t *snap;
  const isl_rt_entry_t *entry;
  int log_fd;           /* the tenant's log sink; < 0 = stdout/stderr */
  char *broken;         /* failed to load: the reason, answered with 503 */
  unsigned index;       /* position in the runtime's worker table */
  unsigned subrequests; /* fetch() calls per request */
  int hot_tried;        /* atomic: an instance has tried to teach snap its hot set */
  char **allow_origins; /* private origins fetch() may reach */
  size_t n_allow_origins;
};
/* Writes one line to the tenant's log: "[name] level: text". */
void isl_rt__tenant_log(const isl_rt_worker_t *w, const char *level, const char *text, size_t len);

/* ---- instance.c -------------------------------------------------------------- */
typedef struct isl_rt_timer_s isl_rt_timer_t;

struct isl_rt_inst_s {
  isl_rt_worker_t *worker;
  isl_rt_pool_t *pool; /* NULL for `isolde run` */
  uv_loop_t *loop;
  isl_iso_t *iso;
  isl_rt_exchange_t *exchanges; /* in flight, newest first */
  unsigned n_exchanges;
  isl_rt_timer_t *timers;
  unsigned n_timers;
  unsigned n_pending_io; /* host operations that will call back (subrequests, KV) */
  isl_rt_sub_t *subs;    /* subrequests in flight (host_fetch.c) */
  uint32_t next_sub_id;
  struct isl_fetch_client_s *fetch; /* the loop's HTTP client, or NULL */
  isl_rt_exchange_t *current;       /* the request the current call runs for, if known */
  uint64_t io_ns;                   /* CPU the host spent on I/O during the current call: not charged */
  uint32_t next_exchange_id;
  uint64_t last_used_ms;
  isl_rt_inst_t *lru_prev, *lru_next;
  int poisoned;      /* hit a limit or trapped: discard once the stack unwinds */
  int failed;        /* `isolde run`: an uncaught error was reported */
  size_t base_bytes; /* linear memory when cloned */
  size_t counted;    /* pool.c: its share of the process's idle_bytes (0 while in a turn) */
  /* The turn running or paused (sched.c), or NULL: while there is one,
   * the instance is inside a call (exchanges it ends are logged and freed
   * after it, nothing evicts it); entries that came while it was paused
   * wait in order and run when it ends. */
  struct isl_rt_turn_s *turn;
  struct isl_rt_queued_s *queue_head, *queue_tail;
  isl_rt_inst_t *paused_next; /* in its loop's list of paused instances */
  /* host_timers.c: due timers waiting for the loop to poll I/O before they
   * run, and the ids of dropped timers JS has not been told of. */
  struct isl_rt_timerq_s *timerq;
  unsigned timer_nesting;       /* while a timer's callback is entered: its nesting level (HTML), else 0 */
  isl_rt_ids_t dropped_subs;    /* host_fetch.c: cancelled subrequests JS has not been told of */
  struct isl_rt_body_s *bodies; /* host_body.c: bodies JS may read */
  uint32_t next_body_id;
};

/* Wraps a clone of the worker's snapshot. */
int isl_rt__inst_new(isl_rt_worker_t *w, uv_loop_t *loop, isl_rt_pool_t *pool, isl_rt_inst_t **out, isl_err_t *err);
void isl_rt__inst_free(isl_rt_inst_t *inst);
/*
 * Calls fn(argv) in the instance with Date.now() frozen at the current
 * time, then runs promise jobs. CPU time is charged to `charge` (or shared
 * by the exchanges in flight when NULL). On a CPU, memory or trap failure
 * every exchange in flight gets 503 and the instance is poisoned. Returns
 * 0 or the failure's code; `args` are released.
 */
int isl_rt__inst_call(isl_rt_inst_t *inst, isl_val_t fn, int argc, isl_val_t *args, isl_rt_exchange_t *charge);
/* At load time (a worker's top-level code, or the prelude at build time)
 * there is no request: I/O, timers and random values are refused, as
 * Workers refuses them in global scope (a value made then would be frozen
 * into the snapshot and replayed by every clone). Returns 1 and makes the
 * current host function throw Workers' error when iso is loading. */
int isl_rt__refuse_in_global_scope(isl_iso_t *iso);
/* Frees the instance if it is poisoned (or idle and due for recycling) and
 * nothing holds it; returns 1 if it was freed. */
int isl_rt__inst_maybe_discard(isl_rt_inst_t *inst);
/* 1 while a call of inst runs (a host function of it is on the stack). */
int isl_rt__inst_in_call(const isl_rt_inst_t *inst);

/* ---- sched.c: the threads' time shared between tenants ------------------------ */
/* The running state of one turn: an entry's call and the promise jobs it
 * queued, run on a fiber of the loop so that it can pause at a slice end
 * (src/isolate/fiber.c) and let the loop serve other tenants. */
typedef struct isl_rt_sched_s isl_rt_sched_t;
/* The loop's scheduler, made on first use; NULL if it cannot be made (turns then run unpaused). */
isl_rt_sched_t *isl_rt__sched(isl_rt_pool_t *pool);
void isl_rt__sched_free(isl_rt_sched_t *s);
/* An idle fiber of the loop, or NULL (the turn then runs on the loop's own stack). */
isl_iso_fiber_t *isl_rt__sched_fiber(isl_rt_sched_t *s);
void isl_rt__sched_fiber_done(isl_rt_sched_t *s, isl_iso_fiber_t *f, int reusable);
/* inst's turn paused: resume it (isl_rt__inst_resume) once the loop has polled I/O. */
void isl_rt__sched_park(isl_rt_sched_t *s, isl_rt_inst_t *inst);
/* Forgets inst if it is parked. */
void isl_rt__sched_unpark(isl_rt_sched_t *s, isl_rt_inst_t *inst);
/* instance.c: runs inst's paused turn for another slice. */
void isl_rt__inst_resume(isl_rt_inst_t *inst);

/* ---- exchange.c --------------------------------------------------------------- */
/* What req->data of an HTTP request points to: an exchange (a worker
 * answers) or a proxy (an origin answers); both start with their kind. */
enum { ISL_RT_KIND_EXCHANGE = 1, ISL_RT_KIND_PROXY = 2, ISL_RT_KIND_BODY = 3, ISL_RT_KIND_PIPE = 4 };

struct isl_rt_exchange_s {
  int kind; /* ISL_RT_KIND_EXCHANGE */
  uint32_t id;
  isl_rt_inst_t *inst;
  isl_http_req_t *req; /* NULL once released (aborted or done) */
  isl_rt_exchange_t *next;
  uint64_t start_ns; /* monotonic */
  uint64_t cpu_ns;   /* charged CPU time */
  uint64_t ended_ns; /* monotonic, when the response ended */
  int status;        /* sent status, 0 before respond */
  int ended;         /* response ended */
  int done;          /* JS said its waitUntil work is over */
  char *method, *path;
  int logged;                   /* the request log line was written */
  int log_pending;              /* ended inside a call: log once its CPU time is in */
  int finished;                 /* done inside a call: free once its CPU time is in */
  struct isl_rt_body_s *body;   /* its request body while the client sends it, or NULL */
  int draining;                 /* its response waits for the client's queue to drain */
  const isl_rt__route_t *route; /* the route it came by (its origin) */
  char *host;                   /* the request's Host header, "" if none */
  unsigned subrequests;         /* fetch() calls made for it */
  unsigned hops;                /* hops it arrived with (CDN-Loop); its fetch() calls are hop hops + 1 */
  int cancelled;                /* its timers and subrequests were cancelled: it may start none */
};
isl_rt_exchange_t *isl_rt__exchange_new(isl_rt_inst_t *inst, isl_http_req_t *req);
void isl_rt__exchange_log(isl_rt_exchange_t *x);
isl_rt_exchange_t *isl_rt__exchange_find(isl_rt_inst_t *inst, uint32_t id);
/* Lets x's HTTP request go (req->data cleared, released), failing its
 * request body's reader if the upload had not ended. */
void isl_rt__exchange_release_req(isl_rt_exchange_t *x);
/* Answers with `status` and a plain body if nothing was sent yet, else cuts the response. */
void isl_rt__exchange_fail(isl_rt_exchange_t *x, int status, const char *body);
/* Removes x from its instance and frees it (writes the request log line if
 * not yet); its timers and subrequests are cancelled at once. */
void isl_rt__exchange_finish(isl_rt_exchange_t *x);
/*
 * Work after the response follows Workers' rules: every timer and
 * subrequest belongs to the request whose code started it, that is the
 * request the current call runs for (inst->current: a timer's or a
 * subrequest's callback is entered for its owner), and ends with it.
 * isl_rt__exchange_owner gives the owner of work started now: 0 with
 * *owner (NULL under `isolde run`, which has no requests), or -1 when the
 * call runs for no live request (it finished, was cut, or there is none):
 * no work may start then.
 */
int isl_rt__exchange_owner(isl_rt_inst_t *inst, isl_rt_exchange_t **owner);
/* Stops x's timers, aborts its subrequests and refuses it new ones, as
 * Workers cancels the outstanding work of a request that finished or was
 * cut (CPU limit, waitUntil cut-off). Idempotent; safe inside a call. */
void isl_rt__exchange_cancel_work(isl_rt_exchange_t *x);
/* After a timer's or a subrequest's callback ran for request `id` (looked
 * up again: the call may have freed it): a request over its CPU limit,
 * whether its response was sent or not (waitUntil work keeps its
 * request's limit), is cut: 503 if nothing was sent, its work cancelled,
 * and it is let go. */
void isl_rt__exchange_check_cpu(isl_rt_inst_t *inst, uint32_t id);

/* ---- pool.c ------------------------------------------------------------------- */
/* The runtime's state on one HTTP loop. */
struct isl_rt_pool_s {
  isl_rt_t *rt;
  uv_loop_t *loop;
  isl_rt_inst_t **by_worker;          /* one live instance per worker, or NULL */
  isl_rt_inst_t *lru_head, *lru_tail; /* most recently used first */
  size_t budget_bytes;                /* memory_budget_mb: the whole process's, not split per loop */
  uint64_t cold_starts, evictions;
  uv_timer_t sweep;                 /* cuts off overdue waitUntil work */
  struct isl_fetch_client_s *fetch; /* subrequests of this loop's instances */
  struct isl_rt_sched_s *sched;     /* fibers and paused turns (sched.c), made on first use */
};
#ifndef ISL_RT_WAIT_UNTIL_MS
#define ISL_RT_WAIT_UNTIL_MS 30000 /* waitUntil work allowed after the response, as in Workers */
#endif
#ifndef ISL_RT_INSTANCE_COST
#define ISL_RT_INSTANCE_COST (256u << 10) /* bytes a clone costs before it grows */
#endif
size_t isl_rt__inst_cost(const isl_rt_inst_t *inst);
int isl_rt__pool_new(isl_rt_t *rt, uv_loop_t *loop, isl_rt_pool_t **out);
void isl_rt__pool_free(isl_rt_pool_t *pool);
/* The worker's instance on this loop, created from its snapshot if needed. */
int isl_rt__pool_get(isl_rt_pool_t *pool, isl_rt_worker_t *w, isl_rt_inst_t **out, isl_err_t *err);
void isl_rt__pool_touch(isl_rt_pool_t *pool, isl_rt_inst_t *inst);
/* Forgets inst (it is being freed). */
void isl_rt__pool_remove(isl_rt_pool_t *pool, isl_rt_inst_t *inst);
/* Brings this loop's part of rt->idle_bytes up to date, then evicts this
 * loop's idle instances, least recently used first, while the process's
 * total is over the budget. */
void isl_rt__pool_trim(isl_rt_pool_t *pool);

int isl_rt__looks_like_module(const char *src);
/* A whole script file of at most 16 MiB holding no NUL, NUL-terminated,
 * from malloc (owned); NULL with err set. */
char *isl_rt__read_script(const char *path, isl_err_t *err);
/* The name w's main module has in its isolate: its path relative to w's
 * folder (a borrowed pointer into w->main_path). */
const char *isl_rt__module_name(const isl_rt_worker_t *w);
/* Lets iso import modules from w's folder, named relative to it. */
void isl_rt__set_loader(isl_iso_t *iso, isl_rt_worker_t *w);

/* ---- runtime.c ---------------------------------------------------------------- */
struct isl_rt_s {
  isl_rt_config_t cfg;
  isl_rt_worker_t **workers;
  size_t n_workers;
  void *router;             /* isl_rt_router_t, to isl_rt__route_t */
  isl_rt__route_t **routes; /* every route, to free them */
  size_t n_routes;
  isl_rt__route_t *fallback; /* takes what no route claims (`isolde dev`), or NULL */
  pthread_t preload;         /* isl_rt_preload's thread, joined by isl_rt_free */
  int preloading;
  pthread_mutex_t preload_mu; /* with preload_cv: isl_rt_free cancels a preload still waiting */
  pthread_cond_t preload_cv;
  int preload_cancel;
  /* pool.c: what the idle instances of all loops cost, the number
   * memory_budget_mb bounds; each loop adds and removes its own. */
  _Atomic size_t idle_bytes;
};
/* header_text.c: splits "name: value\n" text in place into at most cap
 * headers pointing into it; returns how many. */
size_t isl_rt__headers_parse(char *text, isl_http_header_t *hdrs, size_t cap);
/* proxy.c: answers req from origin, with no worker (a route with only an origin). */
void isl_rt__proxy(isl_rt_t *rt, isl_http_req_t *req, const char *origin);
void isl_rt__proxy_body(isl_http_req_t *req, const char *data, size_t len);
void isl_rt__proxy_body_end(isl_http_req_t *req);
void isl_rt__proxy_abort(isl_http_req_t *req);
/* runtime.c: the hop count a request arrived with, the largest in its
 * CDN-Loop headers (isl_fetch_hops_parse). */
unsigned isl_rt__req_hops(const isl_http_req_t *req);
/* runtime.c: answers 508 Loop Detected (hop is the one over
 * ISL_FETCH_MAX_HOPS), logs it and releases req. */
void isl_rt__refuse_loop(const isl_rt_t *rt, isl_http_req_t *req, unsigned hop);
/* Host log (stderr), one key=value line. */
void isl_rt__log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* The clocks are src/common's (clock.h); these are their names here. */
#define isl_rt__now_ns isl_clock_mono_ns              /* monotonic */
#define isl_rt__thread_cpu_ns isl_clock_thread_cpu_ns /* this thread's CPU time */

/* The log writer is src/common's (log.h); these are its names here. */
#define isl_rt__log_write isl_log_write
#define isl_rt__log_start isl_log_start
#define isl_rt__log_flush isl_log_flush
#define isl_rt__log_set_raw isl_log_set_raw
#define isl_rt__log_is_raw isl_log_is_raw
#define isl_rt__log_escape isl_log_escape
#define ISL_RT_LOG_QUEUE_BYTES ISL_LOG_QUEUE_BYTES
#define ISL_RT_LOG_TEXT_MAX ISL_LOG_TEXT_MAX
#define ISL_RT_LOG_EXIT_WAIT_MS ISL_LOG_EXIT_WAIT_MS

#endif
