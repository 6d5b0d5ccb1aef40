/*
 * snapshot.c - templates and copy-on-write clones of isolates.
 *
 * A snapshot holds everything that makes an isolate what it is: its linear
 * memory (sealed in a memfd), the engine's stack pointer (the module's only
 * mutable global), its function table, and the host side (host functions,
 * module loader, log sink, limits). A clone maps the memfd MAP_PRIVATE into
 * a fresh reservation and copies the rest, without running any engine code:
 * wasm2c's instantiate would rewrite the data segments and dirty pages the
 * clone should share.
 *
 * Layers: a snapshot of an isolate that was itself cloned from snapshot P
 * stores only the pages that differ from P (memory.c says how they are
 * found) and keeps a reference to P; its clones map P's image and then its
 * own pages over it. The runtime's worker snapshots (base + one tenant's
 * script) thus cost what the script changed, not the 5 MB base again.
 * A snapshot is always layered when it can be: it never holds more than a
 * full one would (its runs are a subset of the memory, holes are free), and
 * the runs per layer and layers per chain are bounded (internal.h), which
 * bounds a clone's mmaps and VMAs. Past ISL_SNAP_MAX_DEPTH layers, or if
 * layering fails, the snapshot is full.
 *
 * Hot sets: the first request of a fresh clone takes a copy-on-write fault
 * for each page it writes (~290 for a trivial request: QuickJS updates the
 * reference count of every object it touches), ~2-3 us each on the VM this
 * was measured on. A snapshot may learn the pages a clone that ran a
 * representative workload wrote (isl_iso_snapshot_learn_hot); every later
 * clone then gets its own copies of them at once, with one
 * madvise(MADV_POPULATE_WRITE) per run. That is the same copy-on-write a
 * fault would do, so clones share no writable page; it only skips the
 * fault's trap and runs the kernel's work back to back, and it adds no
 * mapping (no VMA), unlike a private mapping per run. docs/isolate.md has
 * the numbers.
 *
 * Lifetime: snapshots are reference-counted (internal.h). A clone holds its
 * snapshot so that a snapshot of the clone can layer over it; the memory a
 * clone maps would stay valid without it (mappings pin the memfds).
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "isolate/internal.h"

isl_iso_snapshot_t *isl_iso__snapshot_dup(const isl_iso_snapshot_t *cs) {
  /* The count is the one mutable field of an otherwise immutable object. */
  isl_iso_snapshot_t *s = (isl_iso_snapshot_t *)cs;
  __atomic_add_fetch(&s->refs, 1, __ATOMIC_RELAXED);
  return s;
}

/* Takes the memory image into s. */
static void take_image(isl_iso_snapshot_t *s, isl_mem_image_t *img) {
  s->fd = img->fd;
  s->runs = img->runs;
  s->n_runs = img->n_runs;
  s->bytes = img->bytes;
  s->nonzero = img->nonzero;
}

int isl_iso_snapshot_new(isl_iso_t *iso, isl_iso_snapshot_t **out, isl_err_t *err) {
  if (iso->dead) return isl_err_set(err, ISL_EDEAD, "cannot snapshot a dead isolate");
  if (isl_sbx__tls.top) return isl_err_set(err, ISL_EINVAL, "cannot snapshot an isolate from inside a call");
  isl_iso_snapshot_t *s = calloc(1, sizeof(*s));
  if (!s) return isl_err_set(err, ISL_ENOMEM, "out of memory");
  s->refs = 1;
  isl_mem_image_t img;
  isl_iso_snapshot_t *parent = iso->src;
  /* Layered if it can be; a layer that cannot be written (say, no room for
   * the scratch mapping of the fallback) leaves a full snapshot to try. */
  int rc = ISL_EINVAL;
  if (parent && parent->depth < ISL_SNAP_MAX_DEPTH) rc = isl_mem__layer_memfd(&iso->mem, parent, &img);
  if (rc == 0) {
    s->parent = isl_iso__snapshot_dup(parent);
    s->depth = parent->depth + 1;
  } else {
    rc = isl_mem__to_memfd(&iso->mem, &img);
  }
  if (rc < 0) {
    free(s);
    return isl_err_set(err, rc, "cannot write the snapshot: %s", isl_strerror(rc));
  }
  take_image(s, &img);
  s->pages = iso->mem.pages;
  s->max_pages = iso->max_pages;
  s->rt = iso->rt;
  s->ctx = iso->ctx;
  s->scratch = iso->scratch;
  s->g0 = iso->inst.w2c_g0;
  s->limits = iso->limits;
  s->loader = iso->loader;
  s->loader_data = iso->loader_data;
  s->log = iso->log;
  s->log_data = iso->log_data;
  const wasm_rt_funcref_table_t *t = &iso->inst.w2c_T0;
  s->table = *t;
  s->table.data = malloc((t->size ? t->size : 1) * sizeof(wasm_rt_funcref_t));
  s->fns = malloc((iso->n_fns ? iso->n_fns : 1) * sizeof(isl_iso_fn_t));
  if (!s->table.data || !s->fns) {
    isl_iso_snapshot_free(s);
    return isl_err_set(err, ISL_ENOMEM, "out of memory");
  }
  memcpy(s->table.data, t->data, t->size * sizeof(wasm_rt_funcref_t));
  memcpy(s->fns, iso->fns, iso->n_fns * sizeof(isl_iso_fn_t));
  s->n_fns = iso->n_fns;
  *out = s;
  return 0;
}

void isl_iso_snapshot_free(isl_iso_snapshot_t *s) {
  /* Dropping the last reference to a layer drops its reference to its
   * parent, and so on down the chain: a loop, not recursion. */
  while (s && __atomic_sub_fetch(&s->refs, 1, __ATOMIC_ACQ_REL) == 0) {
    isl_iso_snapshot_t *parent = s->parent;
    if (s->fd >= 0) close(s->fd);
    free(s->runs);
    free(s->nonzero);
    free(s->hot);
    free(s->table.data);
    free(s->fns);
    free(s);
    s = parent;
  }
}

size_t isl_iso_snapshot_bytes(const isl_iso_snapshot_t *s) {
  return s->bytes;
}

int isl_iso_snapshot_learn_hot(isl_iso_snapshot_t *s, isl_iso_t *iso) {
  if (!s || !iso || iso->src != s || iso->dead || isl_sbx__tls.top) return ISL_EINVAL;
  if (__atomic_load_n(&s->hot, __ATOMIC_ACQUIRE)) return ISL_EINVAL;
  isl_mem_hot_t *hot;
  size_t np = (size_t)s->pages * ISL_WASM_PAGE / (size_t)sysconf(_SC_PAGESIZE);
  int rc = isl_mem__hot_learn(&iso->mem, np, &hot);
  if (rc < 0) return rc;
  /* Clones on other threads may read s->hot meanwhile: publish once. */
  isl_mem_hot_t *none = NULL;
  if (!__atomic_compare_exchange_n(&s->hot, &none, hot, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
    free(hot);
    return ISL_EINVAL;
  }
  return 0;
}

int isl_iso_snapshot_adopt_hot(isl_iso_snapshot_t *dst, const isl_iso_snapshot_t *src) {
  const isl_mem_hot_t *from = __atomic_load_n(&src->hot, __ATOMIC_ACQUIRE);
  if (!from || __atomic_load_n(&dst->hot, __ATOMIC_ACQUIRE)) return ISL_EINVAL;
  size_t np = (size_t)dst->pages * ISL_WASM_PAGE / (size_t)sysconf(_SC_PAGESIZE);
  isl_mem_hot_t *hot = malloc(sizeof(*hot) + (from->n_runs ? from->n_runs : 1) * sizeof(isl_mem_run_t));
  if (!hot) return ISL_ENOMEM;
  hot->n_runs = hot->pages = 0;
  for (uint32_t r = 0; r < from->n_runs; r++) {
    isl_mem_run_t run = from->runs[r];
    if (run.first >= np) continue;
    if (run.first + run.count > np) run.count = (uint32_t)(np - run.first);
    hot->runs[hot->n_runs++] = run;
    hot->pages += run.count;
  }
  isl_mem_hot_t *none = NULL;
  if (!hot->n_runs || !__atomic_compare_exchange_n(&dst->hot, &none, hot, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
    free(hot);
    return ISL_EINVAL;
  }
  return 0;
}

size_t isl_iso_snapshot_hot_pages(const isl_iso_snapshot_t *s) {
  const isl_mem_hot_t *hot = __atomic_load_n(&s->hot, __ATOMIC_ACQUIRE);
  return hot ? hot->pages : 0;
}

int isl_iso_new_from_snapshot(const isl_iso_snapshot_t *s, isl_iso_t **out, isl_err_t *err) {
  isl_iso_t *iso;
  int rc = isl_iso__alloc(&s->limits, &iso, err);
  if (rc < 0) return rc;
  rc = isl_mem__map_snapshot(&iso->mem, s);
  if (rc < 0) {
    free(iso);
    return isl_err_set(err, rc, "cannot map the snapshot: %s", isl_strerror(rc));
  }
  iso->src = isl_iso__snapshot_dup(s);
  Z_qjs_instance_t *inst = &iso->inst;
  inst->Z_a_instance = (struct Z_a_instance_t *)(void *)iso;
  inst->Z_aZ_a = &iso->mem;
  inst->w2c_g0 = s->g0;
  wasm_rt_allocate_funcref_table(&inst->w2c_T0, s->table.size, s->table.max_size);
  iso->fns = malloc((s->n_fns ? s->n_fns : 1) * sizeof(isl_iso_fn_t));
  if (!inst->w2c_T0.data || !iso->fns) {
    iso->instantiated = inst->w2c_T0.data != NULL;
    isl_iso_free(iso);
    return isl_err_set(err, ISL_ENOMEM, "out of memory");
  }
  iso->instantiated = 1;
  /* A funcref carries the instance its function runs against. */
  for (uint32_t i = 0; i < s->table.size; i++) {
    inst->w2c_T0.data[i] = s->table.data[i];
    if (s->table.data[i].func) inst->w2c_T0.data[i].module_instance = inst;
  }
  memcpy(iso->fns, s->fns, s->n_fns * sizeof(isl_iso_fn_t));
  iso->cap_fns = s->n_fns ? s->n_fns : 1;
  iso->n_fns = s->n_fns;
  iso->rt = s->rt;
  iso->ctx = s->ctx;
  iso->scratch = s->scratch;
  iso->base_pages = s->pages;
  iso->loader = s->loader;
  iso->loader_data = s->loader_data;
  iso->log = s->log;
  iso->log_data = s->log_data;
  isl_iso__seed_random(iso);
  /* A layer that has not learned its own hot set yet uses the nearest
   * parent's: a new tenant's first clone then still gets the pages every
   * request writes in the base (the prelude's objects) at once. */
  const isl_mem_hot_t *hot = NULL;
  for (const isl_iso_snapshot_t *p = s; p && !hot; p = p->parent) hot = __atomic_load_n(&p->hot, __ATOMIC_ACQUIRE);
  isl_mem__hot_prefetch(&iso->mem, hot);
  *out = iso;
  return 0;
}
