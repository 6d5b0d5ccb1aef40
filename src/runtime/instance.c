/*
 * instance.c - a live isolate of one worker on one event loop, and the one
 * way in: isl_rt__inst_call.
 *
 * Every entry (a request, a body chunk, a due timer) freezes Date.now() at
 * the wall clock of the event that caused it, calls into JS, runs the
 * promise jobs it queued, and charges the thread CPU time it used to the
 * request it ran for. When nobody in particular caused it (a timer), the
 * time is shared by the requests in flight.
 *
 * Failures that leave the isolate in an unknown state - CPU deadline,
 * memory cap, trap - poison the instance: every request in flight gets 503,
 * the tenant's log says why, and the instance is freed as soon as the C
 * stack has unwound out of it. The pool then makes a fresh clone for the
 * next request; other tenants never notice.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/internal.h"

static void abandon_turn(isl_rt_inst_t *inst);

int isl_rt__inst_new(isl_rt_worker_t *w, uv_loop_t *loop, isl_rt_pool_t *pool, isl_rt_inst_t **out, isl_err_t *err) {
  isl_rt_inst_t *inst = calloc(1, sizeof(*inst));
  if (!inst) return isl_err_set(err, ISL_ENOMEM, "out of memory");
  int rc = isl_iso_new_from_snapshot(w->snap, &inst->iso, err);
  if (rc < 0) {
    free(inst);
    return rc;
  }
  inst->worker = w;
  inst->loop = loop;
  inst->pool = pool;
  inst->fetch = pool ? pool->fetch : NULL;
  inst->next_exchange_id = 1;
  inst->base_bytes = isl_iso_memory_bytes(inst->iso);
  isl_iso_set_data(inst->iso, inst);
  *out = inst;
  return 0;
}

void isl_rt__inst_free(isl_rt_inst_t *inst) {
  if (!inst) return;
  abandon_turn(inst);
  while (inst->exchanges) {
    isl_rt__exchange_fail(inst->exchanges, 503, "The worker was stopped before it answered.\n");
    isl_rt__exchange_finish(inst->exchanges);
  }
  isl_rt__timers_close(inst);
  isl_rt__subs_abort(inst);
  isl_rt__bodies_free(inst);
  if (inst->pool) isl_rt__pool_remove(inst->pool, inst);
  isl_iso_free(inst->iso);
  free(inst);
}

/* Why the instance cannot go on, for the client and the tenant's log. */
static void poison(isl_rt_inst_t *inst, int rc) {
  const isl_iso_error_t *e = isl_iso_last_error(inst->iso);
  char why[1200];
  if (rc == ISL_ETIMEOUT) {
    snprintf(why, sizeof(why), "CPU time limit of %u ms exceeded; the isolate was reset", inst->worker->limits.cpu_ms);
  } else if (rc == ISL_EMEMLIMIT) {
    snprintf(why, sizeof(why), "memory limit of %u MiB exceeded; the isolate was reset",
             inst->worker->limits.memory_max_mb);
  } else {
    snprintf(why, sizeof(why), "the isolate crashed (%s: %s) and was reset", isl_err_name(rc), e->message);
  }
  isl_rt__tenant_log(inst->worker, "error", why, strlen(why));
  if (inst->pool) {
    isl_rt__log("runtime tenant=%s event=reset reason=%s", inst->worker->name, isl_err_name(rc));
  } else {
    inst->failed = 1;
  }
  inst->poisoned = 1;
  char body[1300];
  snprintf(body, sizeof(body), "Worker exceeded a resource limit: %s.\n", why);
  for (isl_rt_exchange_t *x = inst->exchanges; x; x = x->next) isl_rt__exchange_fail(x, 503, body);
  while (inst->exchanges) isl_rt__exchange_finish(inst->exchanges);
  isl_rt__timers_close(inst);
  isl_rt__subs_abort(inst);
  isl_rt__bodies_free(inst);
  if (inst->pool) isl_rt__pool_remove(inst->pool, inst);
}

/* An exception escaped an entry function: the prelude catches everything a
 * tenant throws, so this is the tenant's top-level code in `isolde run` or
 * a bug in the prelude. Either way the tenant's log gets it. */
static void report_uncaught(isl_rt_inst_t *inst) {
  const isl_iso_error_t *e = isl_iso_last_error(inst->iso);
  char text[6000];
  if (e->stack[0]) {
    snprintf(text, sizeof(text), "Uncaught %s%s%s\n%s", e->name, e->name[0] ? ": " : "", e->message, e->stack);
  } else {
    snprintf(text, sizeof(text), "Uncaught %s%s%s", e->name, e->name[0] ? ": " : "", e->message);
  }
  size_t n = strlen(text);
  while (n && text[n - 1] == '\n') n--;
  isl_rt__tenant_log(inst->worker, "error", text, n);
  inst->failed = 1;
}

/* Logs and frees the exchanges that ended or finished during a call. */
static void settle_exchanges(isl_rt_inst_t *inst) {
  for (isl_rt_exchange_t *x = inst->exchanges, *next; x; x = next) {
    next = x->next;
    if (x->log_pending) isl_rt__exchange_log(x);
    if (x->finished) isl_rt__exchange_finish(x);
  }
}

/*
 * With no timer left, no host operation under way, no request body still
 * arriving and no job queued,
 * nothing can ever run in this isolate again until a new request comes:
 * a handler promise still pending now will never settle on its own, nor
 * will waitUntil work. As Workers cancels such "hung" promises, answer
 * 500 and let the exchanges go instead of leaving clients waiting for
 * ever. (A promise that only a later request could settle is cancelled
 * too, as in Workers, where one request cannot do I/O for another.)
 */
static void cancel_hung(isl_rt_inst_t *inst) {
  if (!inst->pool || inst->n_timers || inst->n_pending_io || !inst->n_exchanges || inst->poisoned || inst->queue_head)
    return;
  for (isl_rt_exchange_t *x = inst->exchanges; x; x = x->next)
    if (x->body || x->draining) return; /* its request body is still arriving, or its response waits */
  for (isl_rt_exchange_t *x = inst->exchanges, *next; x; x = next) {
    next = x->next;
    char why[600];
    if (!x->ended) {
      snprintf(why, sizeof(why),
               "%s %s: the handler's promise can never settle (no timer, body or other event is pending); answered 500",
               x->method, x->path);
      isl_rt__tenant_log(inst->worker, "error", why, strlen(why));
      isl_rt__exchange_fail(x, 500, "The worker's script will never generate a response.\n");
    } else {
      snprintf(why, sizeof(why), "%s %s: waitUntil work can never settle; cancelled", x->method, x->path);
      isl_rt__tenant_log(inst->worker, "warn", why, strlen(why));
    }
    isl_rt__exchange_finish(x);
  }
}

/* ---- turns ------------------------------------------------------------------
 * One entry runs as one turn: the call, then the promise jobs it queued,
 * under one CPU budget (isl_iso_turn_begin): what is left of the limit of
 * the request it runs for. On a serving loop the turn runs on a fiber and
 * may pause at slice ends (sched.c); entries that arrive meanwhile wait in
 * the instance's queue, in order. */

#define MAX_ARGS 8

struct isl_rt_turn_s {
  isl_rt_inst_t *inst;
  isl_val_t fn;
  int argc;
  isl_val_t args[MAX_ARGS];
  isl_rt_exchange_t *charge;
  isl_iso_fiber_t *fiber; /* NULL: on the loop's own stack */
  int running;            /* in a slice now (not paused) */
  int rc, mem_cap;
  uint64_t cpu_ns; /* thread CPU of its slices so far */
};

typedef struct isl_rt_queued_s {
  isl_val_t fn;
  int argc;
  isl_val_t args[MAX_ARGS];
  uint32_t charge_id; /* the request it runs for, if still there when it runs; 0 = none */
  struct isl_rt_queued_s *next;
} queued_t;

/* On the fiber (or the loop's stack): the call and its jobs. */
static void turn_body(void *arg) {
  struct isl_rt_turn_s *t = arg;
  isl_rt_inst_t *inst = t->inst;
  isl_val_t result = 0;
  int rc = isl_iso_call(inst->iso, t->fn, 0, t->argc, t->args, &result);
  for (int i = 0; i < t->argc; i++) isl_iso_release(inst->iso, t->args[i]);
  isl_iso_release(inst->iso, result);
  if (rc == ISL_EJS) {
    report_uncaught(inst);
    rc = 0;
  }
  int mem_cap = !isl_iso_is_dead(inst->iso) && isl_iso_hit_memory_cap(inst->iso);
  if (rc == 0 && !mem_cap) {
    /* Jobs run until none is left, all within the turn's budget; an
     * exception in one is the tenant's. */
    for (int round = 0; round < 1000 && isl_iso_has_jobs(inst->iso); round++) {
      rc = isl_iso_run_jobs(inst->iso, NULL);
      mem_cap = !isl_iso_is_dead(inst->iso) && isl_iso_hit_memory_cap(inst->iso);
      if (rc == ISL_EJS) {
        report_uncaught(inst);
        rc = 0;
      }
      if (rc < 0 || mem_cap) break;
    }
  }
  t->rc = rc;
  t->mem_cap = mem_cap;
}

static void drop_queue(isl_rt_inst_t *inst) {
  while (inst->queue_head) {
    queued_t *q = inst->queue_head;
    inst->queue_head = q->next;
    for (int i = 0; i < q->argc; i++) isl_iso_release(inst->iso, q->args[i]);
    free(q);
  }
  inst->queue_tail = NULL;
}

/* Gives up a turn that is paused (its instance is being freed). */
static void abandon_turn(isl_rt_inst_t *inst) {
  struct isl_rt_turn_s *t = inst->turn;
  if (inst->pool) isl_rt__sched_unpark(inst->pool->sched, inst); /* parked with a queue only, perhaps */
  if (!t) {
    drop_queue(inst);
    return;
  }
  if (inst->pool) isl_rt__sched_fiber_done(inst->pool->sched, t->fiber, 0);
  isl_iso_turn_end(inst->iso);
  inst->turn = NULL;
  inst->current = NULL;
  free(t);
  drop_queue(inst);
}

static int end_turn(isl_rt_inst_t *inst);

/* Runs (the rest of) a turn's first slice: returns 1 when it ended. */
static int run_slice(isl_rt_inst_t *inst, int resume) {
  struct isl_rt_turn_s *t = inst->turn;
  uint64_t cpu0 = isl_rt__thread_cpu_ns();
  int done;
  t->running = 1;
  if (resume) {
    done = isl_iso_fiber_resume(t->fiber);
  } else if (t->fiber) {
    done = isl_iso_fiber_start(t->fiber, turn_body, t);
  } else {
    turn_body(t);
    done = 1;
  }
  if (done < 0) { /* the fiber could not run it: run it here, unpaused */
    isl_rt__sched_fiber_done(inst->pool->sched, t->fiber, 1);
    t->fiber = NULL;
    turn_body(t);
    done = 1;
  }
  t->running = 0;
  t->cpu_ns += isl_rt__thread_cpu_ns() - cpu0;
  if (!done) isl_rt__sched_park(inst->pool->sched, inst);
  return done;
}

/* The CPU time the request `charge` may still use, 0 when it has none
 * left; with no request, the instance's own limit. */
static uint64_t budget_of(const isl_rt_inst_t *inst, const isl_rt_exchange_t *charge) {
  /* `isolde run` has no request limit: its own script gets the trusted one. */
  uint32_t ms = inst->worker->limits.cpu_ms ? inst->worker->limits.cpu_ms : ISL_RT_TRUSTED_CPU_MS;
  uint64_t limit = (uint64_t)ms * 1000000u;
  if (!charge) return limit;
  return charge->cpu_ns < limit ? limit - charge->cpu_ns : 0;
}

static void cut_over_limit(isl_rt_inst_t *inst, isl_rt_exchange_t *x) {
  char why[600];
  snprintf(why, sizeof(why), "request %s %s exceeded its CPU time limit of %u ms", x->method, x->path,
           inst->worker->limits.cpu_ms);
  isl_rt__tenant_log(inst->worker, "error", why, strlen(why));
  isl_rt__exchange_fail(x, 503, "Worker exceeded its CPU time limit.\n");
  isl_rt__exchange_cancel_work(x); /* and its timers and subrequests with it */
}

static int start_turn(isl_rt_inst_t *inst, isl_val_t fn, int argc, isl_val_t *args, isl_rt_exchange_t *charge) {
  uint64_t budget = budget_of(inst, charge);
  struct isl_rt_turn_s *t = budget ? calloc(1, sizeof(*t)) : NULL;
  if (!t) {
    for (int i = 0; i < argc; i++) isl_iso_release(inst->iso, args[i]);
    if (budget) return ISL_ENOMEM;
    /* The request used its whole limit already: its code runs no more. */
    if (!charge->ended) {
      cut_over_limit(inst, charge);
    } else {
      char why[600];
      snprintf(why, sizeof(why), "waitUntil work of %s %s exceeded the request's CPU time limit of %u ms; cancelled",
               charge->method, charge->path, inst->worker->limits.cpu_ms);
      isl_rt__tenant_log(inst->worker, "warn", why, strlen(why));
      isl_rt__exchange_finish(charge);
    }
    return ISL_ETIMEOUT;
  }
  t->inst = inst;
  t->fn = fn;
  t->argc = argc;
  memcpy(t->args, args, (size_t)argc * sizeof(*args));
  t->charge = charge;
  inst->turn = t;
  inst->io_ns = 0;
  inst->current = charge;
  isl_iso_set_time(inst->iso, isl_clock_wall_ms());
  isl_iso_turn_begin(inst->iso, budget);
  t->fiber = inst->pool ? isl_rt__sched_fiber(isl_rt__sched(inst->pool)) : NULL;
  return run_slice(inst, 0) ? end_turn(inst) : 0;
}

int isl_rt__inst_call(isl_rt_inst_t *inst, isl_val_t fn, int argc, isl_val_t *args, isl_rt_exchange_t *charge) {
  int rc = inst->poisoned ? ISL_EDEAD : argc > MAX_ARGS ? ISL_EINVAL : 0;
  if (rc == 0 && !(inst->turn && inst->turn->running) && (inst->turn || inst->queue_head)) {
    /* Its turn is paused, or earlier entries wait: this one waits too. */
    queued_t *q = calloc(1, sizeof(*q));
    if (q) {
      q->fn = fn;
      q->argc = argc;
      memcpy(q->args, args, (size_t)argc * sizeof(*args));
      q->charge_id = charge ? charge->id : 0;
      if (inst->queue_tail) {
        inst->queue_tail->next = q;
      } else {
        inst->queue_head = q;
      }
      inst->queue_tail = q;
      return 0;
    }
    rc = ISL_ENOMEM;
  } else if (rc == 0 && inst->turn) {
    rc = ISL_EINVAL; /* a host function may not re-enter */
  }
  if (rc < 0) {
    for (int i = 0; i < argc; i++) isl_iso_release(inst->iso, args[i]);
    return rc;
  }
  return start_turn(inst, fn, argc, args, charge);
}

int isl_rt__inst_in_call(const isl_rt_inst_t *inst) {
  return inst->turn && inst->turn->running;
}

/* Starts the first entry that waited for a turn to end. */
static void run_next(isl_rt_inst_t *inst) {
  queued_t *q = inst->queue_head;
  if (!q || inst->turn || inst->poisoned) return;
  inst->queue_head = q->next;
  if (!inst->queue_head) inst->queue_tail = NULL;
  start_turn(inst, q->fn, q->argc, q->args, q->charge_id ? isl_rt__exchange_find(inst, q->charge_id) : NULL);
  free(q);
}

/* From the loop's idle callback (sched.c): a parked instance gets one
 * slice of its paused turn, or starts the next entry of its queue. Either
 * way the loop polls I/O before this instance runs again: a computing
 * tenant whose requests queue up does not run one turn's end and the next
 * turn's first slice back to back while its neighbours wait. */
void isl_rt__inst_resume(isl_rt_inst_t *inst) {
  isl_rt_pool_t *pool = inst->pool;
  if (inst->turn) {
    if (!run_slice(inst, 1)) return; /* parked again */
    end_turn(inst);
  } else {
    run_next(inst);
  }
  if (inst->turn) return; /* a new turn paused: parked by run_slice */
  if (inst->poisoned) drop_queue(inst);
  if (inst->queue_head) {
    isl_rt__sched_park(isl_rt__sched(pool), inst);
    return;
  }
  if (!isl_rt__inst_maybe_discard(inst)) isl_rt__pool_trim(pool);
}

/* After the turn's last slice: charge it, settle what it ended, and check
 * the limits. Returns 0 or the failure's code. */
static int end_turn(isl_rt_inst_t *inst) {
  struct isl_rt_turn_s *t = inst->turn;
  int rc = t->rc, mem_cap = t->mem_cap;
  isl_rt_exchange_t *charge = t->charge;
  isl_iso_turn_end(inst->iso);
  if (inst->pool) isl_rt__sched_fiber_done(inst->pool->sched, t->fiber, 1);
  /* Time the host spent sending the tenant's bytes is I/O, which Workers
   * does not count as CPU time either. */
  uint64_t cpu = t->cpu_ns > inst->io_ns ? t->cpu_ns - inst->io_ns : 0;
  free(t);
  inst->turn = NULL;
  inst->io_ns = 0;
  inst->current = NULL;
  /* With no request in flight, a turn had cpu_ms of its own and is charged
   * to no one (work after a response belongs to its request, so such turns
   * are rare: docs/runtime.md). */
  if (charge) {
    charge->cpu_ns += cpu;
  } else if (inst->n_exchanges) {
    for (isl_rt_exchange_t *x = inst->exchanges; x; x = x->next) x->cpu_ns += cpu / inst->n_exchanges;
  }
  if (rc < 0 || mem_cap) {
    poison(inst, rc < 0 ? rc : ISL_EMEMLIMIT);
    drop_queue(inst);
    return rc < 0 ? rc : ISL_EMEMLIMIT;
  }
  settle_exchanges(inst);
  cancel_hung(inst);
  /* The first call of a worker's first instance (on any loop) shows which
   * pages a request writes: the snapshot learns them as its hot set, so
   * later clones copy them at once (src/isolate). Host work, done after
   * the call's CPU time was taken; a failure only loses the prefetch. */
  if (inst->pool && !__atomic_exchange_n(&inst->worker->hot_tried, 1, __ATOMIC_RELAXED)) {
    int learned = isl_iso_snapshot_learn_hot(inst->worker->snap, inst->iso);
    isl_rt__log("runtime tenant=%s event=hot_set pages=%zu status=%s", inst->worker->name,
                isl_iso_snapshot_hot_pages(inst->worker->snap), learned < 0 ? isl_err_name(learned) : "OK");
  }
  /* The per-request CPU budget is cumulative over all its entries. */
  uint64_t limit_ns = (uint64_t)inst->worker->limits.cpu_ms * 1000000u;
  for (isl_rt_exchange_t *x = inst->exchanges; x; x = x->next)
    if (!x->ended && x->cpu_ns >= limit_ns && x->req) cut_over_limit(inst, x);
  return 0;
}

int isl_rt__refuse_in_global_scope(isl_iso_t *iso) {
  const isl_rt_inst_t *inst = isl_iso_get_data(iso);
  if (inst && inst->loop) return 0;
  isl_iso_throw(iso, "Error",
                "Disallowed operation called within global scope. Asynchronous I/O (ex: fetch() or connect()), "
                "setting a timeout, and generating random values are not allowed within global scope. To fix this "
                "error, perform this operation within a handler.");
  return 1;
}

int isl_rt__inst_maybe_discard(isl_rt_inst_t *inst) {
  if (inst->turn || !inst->pool || (inst->queue_head && !inst->poisoned)) return 0;
  if (inst->poisoned || (!inst->n_exchanges && isl_iso_needs_recycle(inst->iso))) {
    isl_rt__inst_free(inst);
    return 1;
  }
  return 0;
}
