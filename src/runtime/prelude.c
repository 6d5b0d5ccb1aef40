/*
 * prelude.c - the base snapshot every worker starts from.
 *
 * A fresh isolate gets the host functions on a global __isolde_host, then
 * runs the bundled prelude (build/gen/prelude.js, from src/runtime/js),
 * which takes that object away from the global scope and leaves its entry
 * object on __isolde. We keep handles to the entry object and its
 * functions, delete the global, and snapshot: every clone then has the Web
 * APIs ready and the same handles, and no tenant code can reach either.
 * Made once per process (the prelude takes tens of ms to evaluate); a
 * clone costs microseconds.
 */
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "runtime/internal.h"

extern const char isl_rt__prelude_js[];
extern const size_t isl_rt__prelude_js_len;

static pthread_once_t base_once = PTHREAD_ONCE_INIT;
static isl_iso_snapshot_t *base_snap;
static isl_rt_entry_t base_entry;
static isl_err_t base_err;

static int get_fn(isl_iso_t *iso, isl_val_t obj, const char *name, isl_val_t *out) {
  int rc = isl_iso_get(iso, obj, name, out);
  if (rc < 0) return isl_err_set(&base_err, rc, "prelude: cannot read entry.%s", name);
  if (strcmp(isl_iso_typeof(iso, *out), "function") != 0)
    return isl_err_set(&base_err, ISL_EINVAL, "prelude: entry.%s is not a function", name);
  return 0;
}

static int make_base(void) {
  isl_iso_t *iso = NULL;
  isl_val_t host = 0, global = 0;
  int rc = isl_iso_new(NULL, &iso, &base_err);
  if (rc < 0) return rc;
  if ((rc = isl_iso_new_object(iso, &host)) < 0 || (rc = isl_rt__host_console(iso, host)) < 0 ||
      (rc = isl_rt__host_crypto(iso, host)) < 0 || (rc = isl_rt__host_timers(iso, host)) < 0 ||
      (rc = isl_rt__host_http(iso, host)) < 0 || (rc = isl_rt__host_fetch(iso, host)) < 0 ||
      (rc = isl_rt__host_cache(iso, host)) < 0 || (rc = isl_iso_global(iso, &global)) < 0 ||
      (rc = isl_iso_set(iso, global, "__isolde_host", host)) < 0) {
    isl_err_set(&base_err, rc, "prelude: cannot install the host functions: %s", isl_strerror(rc));
    goto fail;
  }
  rc = isl_iso_eval(iso, isl_rt__prelude_js, isl_rt__prelude_js_len, "isolde:prelude", ISL_ISO_EVAL_SCRIPT, NULL);
  if (rc < 0) {
    const isl_iso_error_t *e = isl_iso_last_error(iso);
    isl_err_set(&base_err, rc, "prelude: %s: %s\n%s", e->name, e->message, e->stack);
    goto fail;
  }
  isl_rt_entry_t *en = &base_entry;
  if ((rc = isl_iso_get(iso, global, "__isolde", &en->entry)) < 0) goto fail;
  if ((rc = get_fn(iso, en->entry, "timer", &en->timer)) < 0 ||
      (rc = get_fn(iso, en->entry, "setEnv", &en->set_env)) < 0 ||
      (rc = get_fn(iso, en->entry, "registerModule", &en->register_module)) < 0 ||
      (rc = get_fn(iso, en->entry, "dispatch", &en->dispatch)) < 0 ||
      (rc = get_fn(iso, en->entry, "bodyChunk", &en->body_chunk)) < 0 ||
      (rc = get_fn(iso, en->entry, "bodyEnd", &en->body_end)) < 0 ||
      (rc = get_fn(iso, en->entry, "abort", &en->abort)) < 0 ||
      (rc = get_fn(iso, en->entry, "fetchResponse", &en->fetch_response)) < 0 ||
      (rc = get_fn(iso, en->entry, "fetchChunk", &en->fetch_chunk)) < 0 ||
      (rc = get_fn(iso, en->entry, "fetchDone", &en->fetch_done)) < 0)
    goto fail;
  static const char hide[] = "delete globalThis.__isolde;";
  if ((rc = isl_iso_eval(iso, hide, sizeof(hide) - 1, "isolde:prelude", ISL_ISO_EVAL_SCRIPT, NULL)) < 0) goto fail;
  isl_iso_release(iso, global);
  global = 0;
  if ((rc = isl_iso_snapshot_new(iso, &base_snap, &base_err)) < 0) goto fail;
  isl_iso_free(iso);
  return 0;
fail:
  if (!base_err.code) isl_err_set(&base_err, rc, "prelude: %s", isl_strerror(rc));
  isl_iso_free(iso);
  return rc;
}

static void make_base_once(void) {
  if (make_base() < 0) base_snap = NULL;
}

const isl_iso_snapshot_t *isl_rt__base(const isl_rt_entry_t **entry, isl_err_t *err) {
  pthread_once(&base_once, make_base_once);
  if (!base_snap) {
    if (err) *err = base_err;
    return NULL;
  }
  *entry = &base_entry;
  return base_snap;
}
