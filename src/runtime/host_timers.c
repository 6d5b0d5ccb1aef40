/*
 * host_timers.c - host.timerStart/timerStop/timersDropped, the clock behind
 * setTimeout and setInterval (timers.js). Host timers are one-shot libuv
 * timers on the instance's loop; timers.js re-arms intervals itself. A due
 * timer calls entry.timer(id) through isl_rt__inst_call, so it gets the
 * same time freeze, CPU accounting and failure handling as any other entry.
 *
 * Ownership (Workers' rules): a timer belongs to the request whose code
 * set it (isl_rt__exchange_owner: the request the current call runs for,
 * which for a timer's own callback is that timer's owner). Its callback is
 * entered for that request, so its CPU time is charged there and counts
 * against that request's CPU limit, and subrequests made from it count
 * against that request's subrequest limit. When the request finishes
 * (response sent and waitUntil work settled) or is cut, its timers are
 * stopped (isl_rt__timers_cancel) and JS is told their ids on its next
 * timerStart (the return value says some are waiting; timersDropped gives
 * them), so timers.js does not keep their callbacks for ever. A timer set
 * with no live request to own it (its request finished) is dropped:
 * timerStart returns 0 and it never fires.
 *
 * Yielding to I/O, always:
 *   - no timer starts with less than 1 ms, and timers nested more than 5
 *     deep (a timer set from a timer's callback, counted through the
 *     chain, as HTML and Workers count it) get at least 4 ms;
 *   - a delay counts from now, not from libuv's cached loop time (stale
 *     after a long call): the lag is added to the delay. The loop time
 *     itself is left alone (uv_update_time in the middle of libuv's timer
 *     pass would make other timers of that pass due again);
 *   - a due timer never runs JS inside libuv's timer pass: timer_due only
 *     queues it, and an idle handle runs the queue after the pass (libuv
 *     1.44 runs due timers until none is due, against a loop time it does
 *     not update, so a timer re-armed from its own callback would run
 *     again in the same pass, for ever, and I/O would never be polled).
 *     A timer armed while the queue runs is due at the earliest in the
 *     next loop iteration, after libuv has polled I/O (the active idle
 *     handle makes that poll non-blocking). An instance whose turn is
 *     paused (sched.c) keeps its due timers queued until the turn ends.
 *
 * Timers live in a list per instance: a worker seldom has more than a
 * handful at once, and a list keeps discard simple (close them all).
 */
#include <stdio.h>
#include <stdlib.h>

#include "runtime/internal.h"

#define MAX_TIMERS 10000
#define NESTING_CLAMP_LEVEL 5 /* HTML: nested deeper than this, a timer waits at least NESTING_MIN_MS */
#define NESTING_MIN_MS 4
#define NESTING_MAX 1000 /* levels counted (no overflow) */

struct isl_rt_timer_s {
  uv_timer_t handle;
  isl_rt_inst_t *inst;      /* NULL once the instance has let go of the timer */
  isl_rt_exchange_t *owner; /* the request it belongs to; NULL under `isolde run` */
  double id;
  unsigned nesting;      /* 1 for a timer set outside any timer's callback */
  int ready;             /* due: in the instance's ready queue */
  isl_rt_timer_t *next;  /* inst->timers */
  isl_rt_timer_t *rnext; /* the ready queue */
};

/* Per instance, made with its first timer. */
typedef struct isl_rt_timerq_s {
  uv_idle_t idle;              /* active while timers are ready */
  isl_rt_inst_t *inst;         /* NULL once closed */
  isl_rt_timer_t *head, *tail; /* due, in the order they fell due */
  isl_rt_ids_t dropped;        /* cancelled timers JS has not been told of */
} timerq_t;

static void run_ready(uv_idle_t *h);

static void timer_closed(uv_handle_t *h) {
  free(h->data);
}

static void queue_closed(uv_handle_t *h) {
  free(h->data);
}

static timerq_t *queue_of(isl_rt_inst_t *inst) {
  if (inst->timerq) return inst->timerq;
  timerq_t *q = calloc(1, sizeof(*q));
  if (!q) return NULL;
  uv_idle_init(inst->loop, &q->idle);
  q->idle.data = q;
  q->inst = inst;
  inst->timerq = q;
  return q;
}

static void ready_remove(timerq_t *q, isl_rt_timer_t *t) {
  isl_rt_timer_t *prev = NULL;
  for (isl_rt_timer_t *r = q->head; r; prev = r, r = r->rnext)
    if (r == t) {
      if (prev) {
        prev->rnext = t->rnext;
      } else {
        q->head = t->rnext;
      }
      if (q->tail == t) q->tail = prev;
      break;
    }
  t->ready = 0;
  t->rnext = NULL;
}

static void timer_unlink(isl_rt_timer_t *t) {
  isl_rt_inst_t *inst = t->inst;
  if (t->ready && inst->timerq) ready_remove(inst->timerq, t);
  for (isl_rt_timer_t **p = &inst->timers; *p; p = &(*p)->next)
    if (*p == t) {
      *p = t->next;
      inst->n_timers--;
      break;
    }
  t->inst = NULL;
  uv_close((uv_handle_t *)&t->handle, timer_closed);
}

/* In libuv's timer pass: only queue it (see the top). */
static void timer_due(uv_timer_t *h) {
  isl_rt_timer_t *t = h->data;
  timerq_t *q = t->inst ? t->inst->timerq : NULL;
  if (!q || t->ready) return;
  t->ready = 1;
  t->rnext = NULL;
  if (q->tail) {
    q->tail->rnext = t;
  } else {
    q->head = t;
  }
  q->tail = t;
  uv_idle_start(&q->idle, run_ready);
}

/* After the timer pass: runs the timers that fell due, oldest first. A
 * timer a callback arms cannot be due before the next loop iteration. */
static void run_ready(uv_idle_t *h) {
  timerq_t *q = h->data;
  isl_rt_inst_t *inst = q->inst;
  if (!inst || inst->turn) return; /* a paused turn: its timers wait until it ends */
  isl_rt_pool_t *pool = inst->pool;
  isl_rt_timer_t *t;
  while (q->inst && !inst->turn && (t = q->head)) {
    q->head = t->rnext;
    if (!q->head) q->tail = NULL;
    t->ready = 0;
    t->rnext = NULL;
    isl_rt_exchange_t *owner = t->owner;
    uint32_t owner_id = owner ? owner->id : 0;
    unsigned nesting = t->nesting;
    double id = t->id;
    timer_unlink(t);
    isl_val_t arg;
    if (isl_iso_new_number(inst->iso, id, &arg) < 0) continue;
    inst->timer_nesting = nesting;
    isl_rt__inst_call(inst, inst->worker->entry->timer, 1, &arg, owner);
    inst->timer_nesting = 0;
    if (owner_id) isl_rt__exchange_check_cpu(inst, owner_id);
    if (isl_rt__inst_maybe_discard(inst)) return; /* closed the queue */
  }
  if (q->inst && !q->head) uv_idle_stop(&q->idle);
  if (pool) isl_rt__pool_trim(pool);
}

/* Milliseconds the loop's cached time is behind the clock: a delay counts
 * from now. uv_now is CLOCK_MONOTONIC(_COARSE), uv_hrtime CLOCK_MONOTONIC:
 * the same epoch. */
static uint64_t loop_lag_ms(uv_loop_t *loop) {
  uint64_t now = uv_hrtime() / 1000000u, cached = uv_now(loop);
  return now > cached ? now - cached : 0;
}

/* host.timerStart(id, ms): bit 1 of the result says the timer was armed
 * (0: dropped, no live request owns it), bit 2 that dropped ids wait for
 * host.timersDropped(). */
static int timer_start(isl_iso_t *iso, void *data, int argc, const isl_val_t *argv, isl_val_t *ret) {
  (void)data;
  *ret = 0;
  isl_rt_inst_t *inst = isl_iso_get_data(iso);
  if (isl_rt__refuse_in_global_scope(iso)) return ISL_EJS;
  if (argc < 2) return isl_iso_throw(iso, "TypeError", "host.timerStart: expected (id, ms)");
  timerq_t *q = queue_of(inst);
  if (!q) return isl_iso_throw(iso, "Error", "host out of memory");
  int pending = q->dropped.n ? 2 : 0;
  isl_rt_exchange_t *owner;
  if (isl_rt__exchange_owner(inst, &owner) < 0) return isl_iso_new_number(iso, pending, ret);
  if (inst->n_timers >= MAX_TIMERS) return isl_iso_throw(iso, "RangeError", "too many timers (10000)");
  double id = isl_iso_to_number(iso, argv[0]);
  double ms = isl_iso_to_number(iso, argv[1]);
  if (!(ms >= 1)) ms = 1;
  if (ms > 2147483647.0) ms = 2147483647.0;
  unsigned level = inst->timer_nesting; /* of the timer whose callback runs, else 0 */
  if (level > NESTING_CLAMP_LEVEL && ms < NESTING_MIN_MS) ms = NESTING_MIN_MS;
  isl_rt_timer_t *t = calloc(1, sizeof(*t));
  if (!t) return isl_iso_throw(iso, "Error", "host out of memory");
  uv_timer_init(inst->loop, &t->handle);
  t->handle.data = t;
  t->inst = inst;
  t->owner = owner;
  t->id = id;
  t->nesting = level < NESTING_MAX ? level + 1 : NESTING_MAX;
  t->next = inst->timers;
  inst->timers = t;
  inst->n_timers++;
  uv_timer_start(&t->handle, timer_due, (uint64_t)ms + loop_lag_ms(inst->loop), 0);
  return isl_iso_new_number(iso, 1 | pending, ret);
}

static int timer_stop(isl_iso_t *iso, void *data, int argc, const isl_val_t *argv, isl_val_t *ret) {
  (void)data;
  *ret = 0;
  isl_rt_inst_t *inst = isl_iso_get_data(iso);
  if (!inst || argc < 1) return 0;
  double id = isl_iso_to_number(iso, argv[0]);
  for (isl_rt_timer_t *t = inst->timers; t; t = t->next)
    if (t->id == id) {
      timer_unlink(t);
      break;
    }
  return 0;
}

/* host.timersDropped(): "id,id,..." of the timers the host cancelled since
 * the last call, or "". */
static int timers_dropped(isl_iso_t *iso, void *data, int argc, const isl_val_t *argv, isl_val_t *ret) {
  (void)data;
  (void)argc;
  (void)argv;
  *ret = 0;
  isl_rt_inst_t *inst = isl_iso_get_data(iso);
  timerq_t *q = inst ? inst->timerq : NULL;
  if (!q) return isl_iso_new_string(iso, "", ret);
  return isl_rt__ids_take(iso, &q->dropped, ret);
}

void isl_rt__timers_cancel(isl_rt_inst_t *inst, const isl_rt_exchange_t *x) {
  timerq_t *q = inst->timerq;
  for (isl_rt_timer_t *t = inst->timers, *next; t; t = next) {
    next = t->next;
    if (t->owner != x) continue;
    if (q) isl_rt__ids_push(&q->dropped, t->id);
    timer_unlink(t);
  }
}

void isl_rt__timers_close(isl_rt_inst_t *inst) {
  while (inst->timers) timer_unlink(inst->timers);
  timerq_t *q = inst->timerq;
  if (!q) return;
  inst->timerq = NULL;
  q->inst = NULL;
  isl_rt__ids_free(&q->dropped);
  uv_idle_stop(&q->idle);
  uv_close((uv_handle_t *)&q->idle, queue_closed);
}

const isl_rt_host_fn_t isl_rt__timer_fns[] = {
    {"timerStart", timer_start}, {"timerStop", timer_stop}, {"timersDropped", timers_dropped}, {NULL, NULL}};
