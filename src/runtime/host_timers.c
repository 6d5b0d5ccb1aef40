/*
 * host_timers.c - host.timerStart/timerStop, the clock behind setTimeout
 * and setInterval (timers.js). Host timers are one-shot libuv timers on the
 * instance's loop; timers.js re-arms intervals itself. A due timer calls
 * entry.timer(id) through isl_rt__inst_call, so it gets the same time
 * freeze, CPU accounting and failure handling as any other entry.
 *
 * Timers live in a list per instance: a worker seldom has more than a
 * handful at once, and a list keeps discard simple (close them all).
 */
#include <stdlib.h>

#include "runtime/internal.h"

struct isl_rt_timer_s {
  uv_timer_t handle;
  isl_rt_inst_t *inst; /* NULL once the instance has let go of the timer */
  double id;
  isl_rt_timer_t *next;
};

static void timer_closed(uv_handle_t *h) {
  free(h->data);
}

static void timer_unlink(isl_rt_timer_t *t) {
  isl_rt_inst_t *inst = t->inst;
  for (isl_rt_timer_t **p = &inst->timers; *p; p = &(*p)->next)
    if (*p == t) {
      *p = t->next;
      inst->n_timers--;
      break;
    }
  t->inst = NULL;
  uv_close((uv_handle_t *)&t->handle, timer_closed);
}

static void timer_due(uv_timer_t *h) {
  isl_rt_timer_t *t = h->data;
  isl_rt_inst_t *inst = t->inst;
  double id = t->id;
  timer_unlink(t);
  isl_val_t arg;
  if (isl_iso_new_number(inst->iso, id, &arg) < 0) return;
  isl_rt__inst_call(inst, inst->worker->entry->timer, 1, &arg, NULL);
  isl_rt__inst_maybe_discard(inst);
}

static int timer_start(isl_iso_t *iso, void *data, int argc, const isl_val_t *argv, isl_val_t *ret) {
  (void)data;
  *ret = 0;
  isl_rt_inst_t *inst = isl_iso_get_data(iso);
  if (isl_rt__refuse_in_global_scope(iso)) return ISL_EJS;
  if (argc < 2) return isl_iso_throw(iso, "TypeError", "host.timerStart: expected (id, ms)");
  if (inst->n_timers >= 10000) return isl_iso_throw(iso, "RangeError", "too many timers (10000)");
  double id = isl_iso_to_number(iso, argv[0]);
  double ms = isl_iso_to_number(iso, argv[1]);
  if (!(ms >= 0)) ms = 0;
  if (ms > 2147483647.0) ms = 2147483647.0;
  isl_rt_timer_t *t = calloc(1, sizeof(*t));
  if (!t) return isl_iso_throw(iso, "Error", "host out of memory");
  uv_timer_init(inst->loop, &t->handle);
  t->handle.data = t;
  t->inst = inst;
  t->id = id;
  t->next = inst->timers;
  inst->timers = t;
  inst->n_timers++;
  uv_timer_start(&t->handle, timer_due, (uint64_t)ms, 0);
  return 0;
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

void isl_rt__timers_close(isl_rt_inst_t *inst) {
  while (inst->timers) timer_unlink(inst->timers);
}

const isl_rt_host_fn_t isl_rt__timer_fns[] = {{"timerStart", timer_start}, {"timerStop", timer_stop}, {NULL, NULL}};
