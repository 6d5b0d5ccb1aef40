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
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "isolate/internal.h"

int isl_iso_snapshot_new(isl_iso_t *iso, isl_iso_snapshot_t **out, isl_err_t *err) {
  if (iso->dead) return isl_err_set(err, ISL_EDEAD, "cannot snapshot a dead isolate");
  if (isl_sbx__tls.top) return isl_err_set(err, ISL_EINVAL, "cannot snapshot an isolate from inside a call");
  isl_iso_snapshot_t *s = calloc(1, sizeof(*s));
  if (!s) return isl_err_set(err, ISL_ENOMEM, "out of memory");
  s->fd = isl_mem__to_memfd(&iso->mem);
  if (s->fd < 0) {
    int rc = s->fd;
    free(s);
    return isl_err_set(err, rc, "cannot write the snapshot: %s", isl_strerror(rc));
  }
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
  if (!s) return;
  if (s->fd >= 0) close(s->fd);
  free(s->table.data);
  free(s->fns);
  free(s);
}

int isl_iso_new_from_snapshot(const isl_iso_snapshot_t *s, isl_iso_t **out, isl_err_t *err) {
  isl_iso_t *iso;
  int rc = isl_iso__alloc(&s->limits, &iso, err);
  if (rc < 0) return rc;
  rc = isl_mem__map_snapshot(&iso->mem, s->fd, s->pages, s->max_pages);
  if (rc < 0) {
    free(iso);
    return isl_err_set(err, rc, "cannot map the snapshot: %s", isl_strerror(rc));
  }
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
  *out = iso;
  return 0;
}
