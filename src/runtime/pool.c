/*
 * pool.c - the isolates of one event loop.
 *
 * Each loop keeps at most one live instance per worker, made on the
 * worker's first request there and shared by all its requests on that
 * loop. Instances sit in a list, most recently used first.
 *
 * memory_budget_mb is one number for the whole process, however many
 * loops the HTTP server runs (it decides that number; the runtime never
 * needs it). The process keeps one account, rt->idle_bytes, of what the
 * instances of all loops cost when no turn runs in them; each instance
 * remembers its part of it (inst->counted). After each request, and once a
 * second, a loop brings its own instances' parts up to date and then, while
 * the process's total is over the budget, frees its own least recently
 * used idle instances (no request in flight); a later request makes a
 * fresh clone. A loop never touches another loop's instances: a loop that
 * holds nothing idle leaves the excess to the others, which give up theirs
 * at their next request or within a second. Two loops trimming at once may
 * each free one instance more than needed, never fewer.
 *
 * An instance's cost is what it grew beyond its snapshot plus a fixed
 * ISL_RT_INSTANCE_COST for the pages a clone dirties (about 130 KB RSS
 * measured, see docs/isolate.md): the linear memory size itself counts the
 * snapshot's shared pages, which cost nothing per clone.
 *
 * The loop's parts are recomputed by walking its list: it is a few
 * thousand loads at most and happens once per request, which is cheaper
 * than tracking every growth; an instance that is freed (evicted, reset,
 * recycled) takes its part out of the account at once.
 */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fetch/fetch.h"
#include "runtime/internal.h"

/* Once a second: a response that ended more than ISL_RT_WAIT_UNTIL_MS ago
 * but whose ctx.waitUntil work has not settled is let go (its timers and
 * subrequests cancelled with it), so a promise that never settles cannot
 * pin its isolate for ever. A request that was cut (its work cancelled,
 * isl_rt__exchange_cancel_work) and has answered is let go at once:
 * nothing of its own can run again. */
static void sweep(uv_timer_t *t) {
  isl_rt_pool_t *p = t->data;
  uint64_t now = isl_rt__now_ns(), limit = (uint64_t)ISL_RT_WAIT_UNTIL_MS * 1000000u;
  for (isl_rt_inst_t *i = p->lru_head, *next; i; i = next) {
    next = i->lru_next;
    for (isl_rt_exchange_t *x = i->exchanges, *xn; x; x = xn) {
      xn = x->next;
      if (!x->ended || i->turn) continue;
      if (x->cancelled) {
        isl_rt__exchange_finish(x);
        continue;
      }
      if (now - x->ended_ns < limit) continue;
      char why[600];
      snprintf(why, sizeof(why), "waitUntil work of %s %s was cut off %d s after the response", x->method, x->path,
               ISL_RT_WAIT_UNTIL_MS / 1000);
      isl_rt__tenant_log(i->worker, "warn", why, strlen(why));
      isl_rt__exchange_finish(x);
    }
  }
  /* A loop that gets no requests still gives up its idle instances when
   * the other loops' push the process over the budget. */
  isl_rt__pool_trim(p);
}

int isl_rt__pool_new(isl_rt_t *rt, uv_loop_t *loop, isl_rt_pool_t **out) {
  isl_rt_pool_t *p = calloc(1, sizeof(*p));
  if (!p) return ISL_ENOMEM;
  p->by_worker = calloc(rt->n_workers ? rt->n_workers : 1, sizeof(*p->by_worker));
  if (!p->by_worker) {
    free(p);
    return ISL_ENOMEM;
  }
  p->rt = rt;
  p->loop = loop;
  uint32_t mb = rt->cfg.memory_budget_mb ? rt->cfg.memory_budget_mb : ISL_RT_MEMORY_BUDGET_MB;
  p->budget_bytes = (size_t)mb << 20;
  if (isl_fetch_client_new(loop, &p->fetch) < 0) p->fetch = NULL;
  uv_timer_init(loop, &p->sweep);
  p->sweep.data = p;
  uv_timer_start(&p->sweep, sweep, 1000, 1000);
  uv_unref((uv_handle_t *)&p->sweep);
  *out = p;
  return 0;
}

static void pool_closed(uv_handle_t *h) {
  isl_rt_pool_t *p = h->data;
  free(p->by_worker);
  free(p);
}

void isl_rt__pool_free(isl_rt_pool_t *p) {
  if (!p) return;
  while (p->lru_head) isl_rt__inst_free(p->lru_head); /* unlinks itself */
  isl_rt__sched_free(p->sched);
  isl_fetch_client_free(p->fetch);
  uv_close((uv_handle_t *)&p->sweep, pool_closed);
}

static void lru_unlink(isl_rt_pool_t *p, isl_rt_inst_t *inst) {
  if (inst->lru_prev) {
    inst->lru_prev->lru_next = inst->lru_next;
  } else if (p->lru_head == inst) {
    p->lru_head = inst->lru_next;
  }
  if (inst->lru_next) {
    inst->lru_next->lru_prev = inst->lru_prev;
  } else if (p->lru_tail == inst) {
    p->lru_tail = inst->lru_prev;
  }
  inst->lru_prev = inst->lru_next = NULL;
}

void isl_rt__pool_touch(isl_rt_pool_t *p, isl_rt_inst_t *inst) {
  lru_unlink(p, inst);
  inst->lru_next = p->lru_head;
  if (p->lru_head) p->lru_head->lru_prev = inst;
  p->lru_head = inst;
  if (!p->lru_tail) p->lru_tail = inst;
}

/* Sets inst's part of the process's account to `cost`. */
static void account(isl_rt_pool_t *p, isl_rt_inst_t *inst, size_t cost) {
  if (cost > inst->counted) {
    atomic_fetch_add_explicit(&p->rt->idle_bytes, cost - inst->counted, memory_order_relaxed);
  } else if (cost < inst->counted) {
    atomic_fetch_sub_explicit(&p->rt->idle_bytes, inst->counted - cost, memory_order_relaxed);
  }
  inst->counted = cost;
}

void isl_rt__pool_remove(isl_rt_pool_t *p, isl_rt_inst_t *inst) {
  account(p, inst, 0); /* called twice for a poisoned instance: the second is a no-op */
  lru_unlink(p, inst);
  if (p->by_worker[inst->worker->index] == inst) p->by_worker[inst->worker->index] = NULL;
}

int isl_rt__pool_get(isl_rt_pool_t *p, isl_rt_worker_t *w, isl_rt_inst_t **out, isl_err_t *err) {
  isl_rt_inst_t *inst = p->by_worker[w->index];
  if (!inst) {
    int rc = isl_rt__inst_new(w, p->loop, p, &inst, err);
    if (rc < 0) return rc;
    p->by_worker[w->index] = inst;
    p->cold_starts++;
  }
  isl_rt__pool_touch(p, inst);
  *out = inst;
  return 0;
}

size_t isl_rt__inst_cost(const isl_rt_inst_t *inst) {
  return isl_iso_memory_bytes(inst->iso) - inst->base_bytes + ISL_RT_INSTANCE_COST;
}

void isl_rt__pool_trim(isl_rt_pool_t *p) {
  /* A turn still under way counts once it ends (it is trimmed then): it
   * must not push out idle neighbours by growing midway. */
  for (isl_rt_inst_t *i = p->lru_head; i; i = i->lru_next) account(p, i, i->turn ? 0 : isl_rt__inst_cost(i));
  for (isl_rt_inst_t *i = p->lru_tail; i;) {
    if (atomic_load_explicit(&p->rt->idle_bytes, memory_order_relaxed) <= p->budget_bytes) break;
    isl_rt_inst_t *prev = i->lru_prev;
    if (!i->n_exchanges && !i->turn && !i->queue_head) {
      size_t cost = i->counted;
      const char *name = i->worker->name; /* the worker outlives its instances */
      p->evictions++;
      isl_rt__inst_free(i); /* takes its part out of the account */
      isl_rt__log("runtime tenant=%s event=evict cost_kb=%zu idle_kb=%zu budget_kb=%zu", name, cost >> 10,
                  atomic_load_explicit(&p->rt->idle_bytes, memory_order_relaxed) >> 10, p->budget_bytes >> 10);
    }
    i = prev;
  }
}
