/*
 * sched.c - how a loop thread's time is shared between tenants.
 *
 * Every entry into an instance on a serving loop runs as a turn on a fiber
 * (src/isolate/fiber.c). A turn that computes for more than a slice
 * (ISL_ISO_SLICE_US of CPU) pauses at the engine's next interrupt check and
 * its instance is parked here; the loop thread goes back to libuv, which
 * polls I/O (an active idle handle makes the poll non-blocking) and serves
 * other tenants' events, then runs the idle callback, which resumes the
 * parked turn at the head of the list for one more slice. Parked turns are
 * resumed in turn, one slice per loop iteration, so a tenant that computes
 * delays another tenant's event by about one slice per parked turn, not by
 * its whole computation.
 *
 * Requests of one instance stay serialized: while its turn is paused, new
 * entries for it wait in its queue (instance.c) and run when the turn ends.
 *
 * Fibers are kept for reuse: a loop needs as many as it has turns paused at
 * once, plus one. Past ISL_RT_MAX_FIBERS, turns run on the loop's own stack
 * and cannot pause (the old behaviour, never a failure).
 */
#include <sched.h>
#include <stdlib.h>

#include "runtime/internal.h"

#ifndef ISL_RT_MAX_FIBERS
#define ISL_RT_MAX_FIBERS 64
#endif

struct isl_rt_sched_s {
  uv_idle_t idle;
  isl_iso_fiber_t *free_fibers[ISL_RT_MAX_FIBERS];
  unsigned n_free, n_fibers;
  isl_rt_inst_t *head, *tail; /* parked instances, the next to resume first */
};

isl_rt_sched_t *isl_rt__sched(isl_rt_pool_t *pool) {
  if (pool->sched) return pool->sched;
  isl_rt_sched_t *s = calloc(1, sizeof(*s));
  if (!s) return NULL;
  uv_idle_init(pool->loop, &s->idle);
  s->idle.data = s;
  pool->sched = s;
  return s;
}

static void sched_closed(uv_handle_t *h) {
  isl_rt_sched_t *s = h->data;
  for (unsigned i = 0; i < s->n_free; i++) isl_iso_fiber_free(s->free_fibers[i]);
  free(s);
}

void isl_rt__sched_free(isl_rt_sched_t *s) {
  if (s) uv_close((uv_handle_t *)&s->idle, sched_closed);
}

isl_iso_fiber_t *isl_rt__sched_fiber(isl_rt_sched_t *s) {
  if (!s) return NULL;
  if (s->n_free) return s->free_fibers[--s->n_free];
  if (s->n_fibers >= ISL_RT_MAX_FIBERS) return NULL;
  isl_iso_fiber_t *f;
  if (isl_iso_fiber_new(&f) < 0) return NULL;
  s->n_fibers++;
  return f;
}

void isl_rt__sched_fiber_done(isl_rt_sched_t *s, isl_iso_fiber_t *f, int reusable) {
  if (!f) return;
  if (reusable && s->n_free < ISL_RT_MAX_FIBERS) {
    s->free_fibers[s->n_free++] = f;
    return;
  }
  /* A fiber abandoned while paused holds a dead turn's frames: not reused. */
  isl_iso_fiber_free(f);
  s->n_fibers--;
}

static void on_idle(uv_idle_t *h) {
  isl_rt_sched_t *s = h->data;
  isl_rt_inst_t *inst = s->head;
  if (!inst) {
    uv_idle_stop(&s->idle);
    return;
  }
  s->head = inst->paused_next;
  if (!s->head) s->tail = NULL;
  inst->paused_next = NULL;
  if (!s->head) uv_idle_stop(&s->idle); /* parking again restarts it */
  /* Between two slices of a computation, the core goes to whatever else
   * is runnable first (the other loops, the clients on this machine, the
   * kernel's network work): a computing tenant keeps its loop thread on
   * the CPU only as long as nothing else wants it. */
  sched_yield();
  isl_rt__inst_resume(inst);
}

void isl_rt__sched_park(isl_rt_sched_t *s, isl_rt_inst_t *inst) {
  inst->paused_next = NULL;
  if (s->tail) {
    s->tail->paused_next = inst;
  } else {
    s->head = inst;
  }
  s->tail = inst;
  uv_idle_start(&s->idle, on_idle);
}

void isl_rt__sched_unpark(isl_rt_sched_t *s, isl_rt_inst_t *inst) {
  if (!s) return;
  isl_rt_inst_t *prev = NULL;
  for (isl_rt_inst_t *i = s->head; i; prev = i, i = i->paused_next) {
    if (i != inst) continue;
    if (prev) {
      prev->paused_next = i->paused_next;
    } else {
      s->head = i->paused_next;
    }
    if (s->tail == i) s->tail = prev;
    i->paused_next = NULL;
    break;
  }
  if (!s->head) uv_idle_stop(&s->idle);
}
