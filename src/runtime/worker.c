/*
 * worker.c - loading a tenant's worker into a snapshot.
 *
 * A clone of the prelude's base gets the worker's env, runs its main
 * script once (an ES module if it imports or exports, else a service-worker
 * script), and hands the result to entry.registerModule, which finds the
 * fetch handler (export default { fetch } or a 'fetch' listener) or fails.
 * The isolate is then snapshotted again: every isolate of this worker is a
 * clone that starts with the script already run, so a cold start costs a
 * clone, not a parse.
 *
 * The snapshot learns its hot set (the pages a request writes, which later
 * clones copy at once instead of faulting on each) from the first call of
 * its first live instance, on a real request (instance.c): no tenant code
 * runs at load but the script's own.
 *
 * The script's top-level code runs under the worker's start-up limit (limits.startup_ms, 400 ms of CPU by default), not
 * under the per-request cpu_ms: Workers, too, gives start-up more room.
 *
 * Modules are read from the main script's folder and below, never outside
 * it: a tenant's import must not become a way to read the host's files.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "runtime/internal.h"

#define MAX_SCRIPT_BYTES (16u << 20)

/* Reads a whole file that is at most MAX_SCRIPT_BYTES and holds no NUL. */
char *isl_rt__read_script(const char *path, isl_err_t *err) {
  FILE *f = fopen(path, "rb");
  if (!f) {
    isl_err_set(err, -errno, "%s: %s", path, strerror(errno));
    return NULL;
  }
  struct stat st;
  if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode) || st.st_size > MAX_SCRIPT_BYTES) {
    isl_err_set(err, ISL_EINVAL, "%s: not a regular file of at most 16 MiB", path);
    fclose(f);
    return NULL;
  }
  size_t n = (size_t)st.st_size;
  char *src = malloc(n + 1);
  if (src && fread(src, 1, n, f) != n) {
    free(src);
    src = NULL;
    isl_err_set(err, ISL_ESYS, "%s: read failed", path);
  }
  fclose(f);
  if (!src) return NULL;
  src[n] = 0;
  if (strlen(src) != n) {
    isl_err_set(err, ISL_EINVAL, "%s: holds a NUL byte", path);
    free(src);
    return NULL;
  }
  return src;
}

int isl_rt__looks_like_module(const char *src) {
  for (const char *p = src; *p;) {
    while (*p == ' ' || *p == '\t') p++;
    if ((strncmp(p, "export", 6) == 0 && (p[6] == ' ' || p[6] == '{' || p[6] == '*')) ||
        (strncmp(p, "import", 6) == 0 && (p[6] == ' ' || p[6] == '{' || p[6] == '*' || p[6] == '"' || p[6] == '\'')))
      return 1;
    p = strchr(p, '\n');
    if (!p) break;
    p++;
  }
  return 0;
}

/* Module names are relative to the worker's folder ("worker.js",
 * "lib/util.js"), as Workers names uploaded modules: stacks and messages
 * never show where the tenant's files are on the host. The engine resolves
 * "./" and "../" against the importing module's name; a name that is
 * still absolute or climbs out is looked up under the folder too, and
 * realpath must land inside it. */
static char *load_module(isl_iso_t *iso, void *data, const char *name) {
  (void)iso;
  const isl_rt_worker_t *w = data;
  char path[PATH_MAX], real[PATH_MAX];
  if (snprintf(path, sizeof(path), "%s/%s", w->dir, name) >= (int)sizeof(path)) return NULL;
  if (!realpath(path, real)) return NULL;
  size_t n = strlen(w->dir);
  if (strncmp(real, w->dir, n) != 0 || real[n] != '/') return NULL;
  return isl_rt__read_script(real, NULL);
}

const char *isl_rt__module_name(const isl_rt_worker_t *w) {
  size_t n = strlen(w->dir);
  return strncmp(w->main_path, w->dir, n) == 0 && w->main_path[n] == '/' ? w->main_path + n + 1 : w->main_path;
}

void isl_rt__set_loader(isl_iso_t *iso, isl_rt_worker_t *w) {
  isl_iso_set_module_loader(iso, load_module, w);
}

void isl_rt_worker_free(isl_rt_worker_t *w) {
  if (!w) return;
  isl_iso_snapshot_free(w->snap);
  free(w->name);
  free(w->dir);
  free(w->main_path);
  free(w->broken);
  for (size_t i = 0; i < w->n_allow_origins; i++) free(w->allow_origins[i]);
  free(w->allow_origins);
  free(w);
}

static int js_error(isl_iso_t *iso, int rc, const char *path, isl_err_t *err) {
  const isl_iso_error_t *e = isl_iso_last_error(iso);
  if (rc == ISL_EJS && e->file[0] && e->line && strncmp(e->file, "isolde:", 7) != 0)
    return isl_err_set(err, rc, "%s:%d: %s%s%s", e->file, e->line, e->name, e->name[0] ? ": " : "", e->message);
  if (rc == ISL_EJS) return isl_err_set(err, rc, "%s: %s%s%s", path, e->name, e->name[0] ? ": " : "", e->message);
  return isl_err_set(err, rc, "%s: %s", path, e->message[0] ? e->message : isl_strerror(rc));
}

/* Evaluates main; *ns gets the module namespace, or undefined for a script. */
static int run_main(isl_iso_t *iso, const char *path, const char *src, isl_val_t *ns, isl_err_t *err) {
  int module = isl_rt__looks_like_module(src);
  isl_val_t v = 0;
  int rc = isl_iso_eval(iso, src, strlen(src), path, module ? ISL_ISO_EVAL_MODULE : ISL_ISO_EVAL_SCRIPT, &v);
  if (rc < 0) return js_error(iso, rc, path, err);
  if ((rc = isl_iso_run_jobs(iso, NULL)) < 0) {
    isl_iso_release(iso, v);
    return js_error(iso, rc, path, err);
  }
  if (!module) {
    isl_iso_release(iso, v);
    *ns = 0;
    return 0;
  }
  /* With top-level await the result is a promise of the namespace. */
  int st = isl_iso_promise_state(iso, v);
  if (st == ISL_ISO_NOT_A_PROMISE) {
    *ns = v;
    return 0;
  }
  isl_val_t r = 0;
  isl_iso_promise_result(iso, v, &r);
  isl_iso_release(iso, v);
  if (st == ISL_ISO_PROMISE_FULFILLED) {
    *ns = r;
    return 0;
  }
  char *msg = isl_iso_to_cstring(iso, r);
  isl_iso_release(iso, r);
  rc = isl_err_set(err, ISL_EJS, "%s: %s", path,
                   st == ISL_ISO_PROMISE_PENDING ? "top-level await never settled" : (msg ? msg : "rejected"));
  free(msg);
  return rc;
}

int isl_rt_worker_load(const isl_rt_worker_config_t *cfg, isl_rt_worker_t **out, isl_err_t *err) {
  const isl_rt_entry_t *entry;
  const isl_iso_snapshot_t *base = isl_rt__base(&entry, err);
  if (!base) return err ? err->code : ISL_EINVAL;
  isl_rt_worker_t *w = calloc(1, sizeof(*w));
  char real[PATH_MAX];
  if (!w) return isl_err_set(err, ISL_ENOMEM, "out of memory");
  w->entry = entry;
  w->log_fd = cfg->log_fd;
  w->name = strdup(cfg->name ? cfg->name : "");
  w->limits.cpu_ms = cfg->cpu_ms ? cfg->cpu_ms : ISL_ISO_CPU_MS;
  w->limits.memory_max_mb = cfg->memory_mb ? cfg->memory_mb : ISL_ISO_MEMORY_MAX_MB;
  w->startup = w->limits;
  w->startup.cpu_ms = cfg->startup_ms ? cfg->startup_ms : ISL_RT_STARTUP_MS;
  w->subrequests = cfg->subrequests ? cfg->subrequests : ISL_RT_SUBREQUESTS;
  if (cfg->n_allow_origins && !(w->allow_origins = calloc(cfg->n_allow_origins, sizeof(char *)))) {
    free(w->name);
    free(w);
    return isl_err_set(err, ISL_ENOMEM, "out of memory");
  }
  for (size_t i = 0; i < cfg->n_allow_origins; i++)
    if ((w->allow_origins[i] = strdup(cfg->allow_origins[i]))) w->n_allow_origins++;
  isl_rt_inst_t *inst = NULL;
  char *src = NULL;
  int rc;
  if (!realpath(cfg->main_path, real)) {
    rc = isl_err_set(err, -errno, "%s: %s", cfg->main_path, strerror(errno));
    goto fail;
  }
  w->main_path = strdup(real);
  char *slash = strrchr(real, '/');
  *slash = 0;
  w->dir = strdup(real[0] ? real : "/");
  if (!w->name || !w->main_path || !w->dir) {
    rc = isl_err_set(err, ISL_ENOMEM, "out of memory");
    goto fail;
  }
  if (!(src = isl_rt__read_script(w->main_path, err))) {
    rc = err ? err->code : ISL_EINVAL;
    goto fail;
  }
  /* The template runs with the worker's snapshot-to-be as its own. */
  isl_rt_worker_t tmp = *w;
  tmp.snap = (isl_iso_snapshot_t *)base;
  if ((rc = isl_rt__inst_new(&tmp, NULL, NULL, &inst, err)) < 0) goto fail;
  inst->worker = w;
  isl_iso_t *iso = inst->iso;
  /* The top-level code runs under the start-up limit, requests under cpu_ms. */
  if ((rc = isl_iso_set_limits(iso, &w->startup)) < 0) {
    rc = isl_err_set(err, rc, "%s: invalid limits (memory_mb 1..2048)", w->name);
    goto fail;
  }
  isl_rt__set_loader(iso, w);
  isl_val_t args[1];
  if ((rc = isl_iso_new_string(iso, cfg->env_json ? cfg->env_json : "{}", &args[0])) < 0 ||
      (rc = isl_iso_call(iso, entry->set_env, 0, 1, args, NULL)) < 0) {
    isl_iso_release(iso, args[0]);
    rc = js_error(iso, rc, "env", err);
    goto fail;
  }
  isl_iso_release(iso, args[0]);
  isl_val_t ns = 0;
  if ((rc = run_main(iso, isl_rt__module_name(w), src, &ns, err)) < 0) {
    if (rc == ISL_ETIMEOUT)
      isl_err_set(err, rc, "%s: the top-level code exceeded the start-up CPU limit of %u ms (limits.startup_ms)",
                  isl_rt__module_name(w), w->startup.cpu_ms);
    goto fail;
  }
  rc = isl_iso_call(iso, entry->register_module, 0, 1, &ns, NULL);
  isl_iso_release(iso, ns);
  if (rc < 0) {
    rc = js_error(iso, rc, isl_rt__module_name(w), err);
    goto fail;
  }
  if ((rc = isl_iso_set_limits(iso, &w->limits)) < 0 || (rc = isl_iso_snapshot_new(iso, &w->snap, err)) < 0) goto fail;
  isl_rt__inst_free(inst);
  inst = NULL;
  free(src);
  *out = w;
  return 0;
fail:
  isl_rt__inst_free(inst);
  free(src);
  isl_rt_worker_free(w);
  return rc;
}
