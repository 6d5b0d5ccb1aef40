/*
 * prelude.c - the base snapshot every worker starts from.
 *
 * Made at build time, not at start: `isolde-mksnap` (tools/mksnap.c) calls
 * isl_rt_base_build, which gives a fresh isolate the host functions on a
 * global __isolde_host, runs the bundled prelude (build/gen/prelude.js,
 * from src/runtime/js; it takes that object away from the global scope and
 * leaves its entry object on __isolde), keeps handles to the entry object
 * and its functions, deletes the global, and saves the snapshot to a file
 * (src/isolate/snapfile.c) with the handles as its meta bytes. Every clone
 * then has the Web APIs ready and the same handles, and no tenant code can
 * reach either.
 *
 * A process maps that file once (isl_rt_base_open): no prelude JS runs
 * when a process starts, so start-up costs the same on a busy machine as
 * on an idle one and cannot run into a CPU limit. The file is found at
 * $ISOLDE_SNAPSHOT, else next to the executable (isolde.snap); the build
 * id compiled into this file (a hash of the engine and the prelude) must
 * match the file's, so a binary never runs a prelude it was not built
 * with.
 *
 * The prelude is trusted code: it is built under ISL_RT_TRUSTED_CPU_MS,
 * never under a tenant's limits.
 *
 * The base also carries a hot set (src/isolate): the build loads a small
 * worker over it and sends it one synthetic request, and the pages that
 * request wrote in the base (most are the prelude's own objects, whose
 * reference counts every request touches) are saved with the base. Every
 * new tenant's first clone then copies them at once instead of taking a
 * page fault for each (about 270 for a hello request, ~3 ms on a busy
 * machine), until its own snapshot learns a hot set of its own.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "api/api.h"
#include "build_id.h" /* generated: ISL_BUILD_ID, a hash of the engine and the prelude */
#include "runtime/internal.h"

/* ---- the host functions, joined from the host_*.c tables ------------------- */

#define MAX_HOST_FNS 64

static const isl_rt_host_fn_t *const host_tables[] = {isl_rt__console_fns, isl_rt__crypto_fns, isl_rt__timer_fns,
                                                      isl_rt__http_fns,    isl_rt__cache_fns,  isl_rt__fetch_fns,
                                                      isl_rt__lazy_fns,    isl_rt__body_fns};

/* And src/api's tables (api.h). */
static const isl_api_host_fn_t *const api_tables[] = {isl_api_encoding_fns, isl_api_headers_fns};

static size_t host_defs(isl_iso_host_def_t *defs) {
  size_t n = 0;
  for (size_t t = 0; t < sizeof(host_tables) / sizeof(host_tables[0]); t++)
    for (const isl_rt_host_fn_t *f = host_tables[t]; f->name && n < MAX_HOST_FNS; f++)
      defs[n++] = (isl_iso_host_def_t){f->name, f->fn, NULL};
  for (size_t t = 0; t < sizeof(api_tables) / sizeof(api_tables[0]); t++)
    for (const isl_api_host_fn_t *f = api_tables[t]; f->name && n < MAX_HOST_FNS; f++)
      defs[n++] = (isl_iso_host_def_t){f->name, f->fn, NULL};
  return n;
}

/* ---- build ------------------------------------------------------------------ */

static int get_fn(isl_iso_t *iso, isl_val_t obj, const char *name, isl_val_t *out, isl_err_t *err) {
  int rc = isl_iso_get(iso, obj, name, out);
  if (rc < 0) return isl_err_set(err, rc, "prelude: cannot read entry.%s", name);
  if (strcmp(isl_iso_typeof(iso, *out), "function") != 0)
    return isl_err_set(err, ISL_EINVAL, "prelude: entry.%s is not a function", name);
  return 0;
}

static pthread_once_t base_once = PTHREAD_ONCE_INIT;
static isl_iso_snapshot_t *base_snap;
static isl_rt_entry_t base_entry;
static isl_err_t base_err;

static void base_given(void) {}

/* One synthetic GET / through a clone of w's snapshot, with no client and
 * its log to /dev/null; w's snapshot learns the pages it wrote. */
static int learn_synthetic(isl_rt_worker_t *w) {
  isl_rt_worker_t quiet = *w;
  quiet.log_fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
  isl_rt_inst_t *inst = NULL;
  isl_rt_exchange_t *x = calloc(1, sizeof(*x));
  isl_val_t args[5] = {0};
  int rc = ISL_ENOMEM;
  if (quiet.log_fd < 0 || !x || (rc = isl_rt__inst_new(&quiet, NULL, NULL, &inst, NULL)) < 0) goto done;
  x->id = inst->next_exchange_id++;
  x->inst = inst;
  x->logged = 1;
  x->method = strdup("GET");
  x->path = strdup("/");
  x->start_ns = isl_rt__now_ns();
  inst->exchanges = x;
  inst->n_exchanges = 1;
  isl_iso_t *iso = inst->iso;
  x = NULL;
  if ((rc = isl_iso_new_number(iso, inst->exchanges->id, &args[0])) < 0 ||
      (rc = isl_iso_new_string(iso, "GET", &args[1])) < 0 ||
      (rc = isl_iso_new_string(iso, "http://localhost/", &args[2])) < 0 ||
      (rc = isl_iso_new_string(iso, "host: localhost\n", &args[3])) < 0 ||
      (rc = isl_iso_new_number(iso, 0, &args[4])) < 0) {
    for (int i = 0; i < 5; i++) isl_iso_release(iso, args[i]);
    goto done;
  }
  /* The call releases args whatever happens. */
  if ((rc = isl_rt__inst_call(inst, w->entry->dispatch, 5, args, inst->exchanges)) == 0)
    rc = isl_iso_snapshot_learn_hot(w->snap, iso);
done:
  free(x);
  isl_rt__inst_free(inst);
  if (quiet.log_fd >= 0) close(quiet.log_fd);
  return rc;
}

/* Teaches base (this process's base while it runs) the hot set of a small
 * worker's first request. */
static int learn_base_hot(isl_iso_snapshot_t *base, const isl_rt_entry_t *entry, isl_err_t *err) {
  static const char worker_js[] =
      "export default {\n"
      "  fetch(request) {\n"
      "    const url = new URL(request.url);\n"
      "    return new Response(request.method + ' ' + url.pathname + ' ' + request.headers.get('host'),\n"
      "                        { headers: { 'content-type': 'text/plain' } });\n"
      "  },\n"
      "};\n";
  char dir[] = "/tmp/isolde-mksnap-XXXXXX", path[64];
  if (!mkdtemp(dir)) return isl_err_set(err, -errno, "hot set: %s", strerror(errno));
  snprintf(path, sizeof(path), "%s/worker.js", dir);
  FILE *f = fopen(path, "w");
  int rc = f && fputs(worker_js, f) >= 0 ? 0 : ISL_ESYS;
  if (f && fclose(f) != 0) rc = ISL_ESYS;
  base_snap = base;
  base_entry = *entry;
  pthread_once(&base_once, base_given);
  isl_rt_worker_t *w = NULL;
  isl_rt_worker_config_t cfg = {.name = "mksnap", .main_path = path, .log_fd = -1};
  if (rc == 0) rc = isl_rt_worker_load(&cfg, &w, err);
  if (rc == 0 && (rc = learn_synthetic(w)) < 0)
    isl_err_set(err, rc, "hot set: the request failed: %s", isl_strerror(rc));
  if (rc == 0 && (rc = isl_iso_snapshot_adopt_hot(base, w->snap)) < 0)
    isl_err_set(err, rc, "hot set: nothing to adopt: %s", isl_strerror(rc));
  isl_rt_worker_free(w);
  base_snap = NULL;
  unlink(path);
  rmdir(dir);
  return rc;
}

int isl_rt_base_build(const char *prelude_path, const char *out_path, isl_err_t *err) {
  isl_iso_t *iso = NULL;
  isl_iso_snapshot_t *snap = NULL;
  isl_val_t host = 0, global = 0;
  char *src = isl_rt__read_script(prelude_path, err);
  if (!src) return err ? err->code : ISL_ESYS;
  size_t len = strlen(src);
  isl_iso_limits_t trusted = {.cpu_ms = ISL_RT_TRUSTED_CPU_MS};
  int rc = isl_iso_new(&trusted, &iso, err);
  if (rc < 0) goto done;
  isl_iso_host_def_t defs[MAX_HOST_FNS];
  size_t n = host_defs(defs);
  if ((rc = isl_iso_new_object(iso, &host)) < 0) goto install_failed;
  for (size_t i = 0; i < n; i++)
    if ((rc = isl_iso_define_function(iso, host, defs[i].name, defs[i].fn, NULL)) < 0) goto install_failed;
  if ((rc = isl_iso_global(iso, &global)) < 0 || (rc = isl_iso_set(iso, global, "__isolde_host", host)) < 0)
    goto install_failed;
  rc = isl_iso_eval(iso, src, len, "isolde:prelude", ISL_ISO_EVAL_SCRIPT, NULL);
  if (rc < 0) {
    const isl_iso_error_t *e = isl_iso_last_error(iso);
    isl_err_set(err, rc, "prelude: %s: %s\n%s", e->name, e->message, e->stack);
    goto done;
  }
  isl_rt_entry_t en;
  if ((rc = isl_iso_get(iso, global, "__isolde", &en.entry)) < 0) {
    isl_err_set(err, rc, "prelude: no __isolde entry object");
    goto done;
  }
  if ((rc = get_fn(iso, en.entry, "timer", &en.timer, err)) < 0 ||
      (rc = get_fn(iso, en.entry, "setEnv", &en.set_env, err)) < 0 ||
      (rc = get_fn(iso, en.entry, "registerModule", &en.register_module, err)) < 0 ||
      (rc = get_fn(iso, en.entry, "dispatch", &en.dispatch, err)) < 0 ||
      (rc = get_fn(iso, en.entry, "bodyReady", &en.body_ready, err)) < 0 ||
      (rc = get_fn(iso, en.entry, "abort", &en.abort, err)) < 0 ||
      (rc = get_fn(iso, en.entry, "writable", &en.writable, err)) < 0 ||
      (rc = get_fn(iso, en.entry, "fetchResponse", &en.fetch_response, err)) < 0 ||
      (rc = get_fn(iso, en.entry, "fetchDone", &en.fetch_done, err)) < 0)
    goto done;
  static const char hide[] = "delete globalThis.__isolde;";
  if ((rc = isl_iso_eval(iso, hide, sizeof(hide) - 1, "isolde:prelude", ISL_ISO_EVAL_SCRIPT, NULL)) < 0) {
    isl_err_set(err, rc, "prelude: cannot hide the entry object");
    goto done;
  }
  isl_iso_release(iso, global);
  global = 0;
  /* Clones get a tenant's default limits, not the build's. */
  isl_iso_limits_t tenant = {0};
  if ((rc = isl_iso_set_limits(iso, &tenant)) < 0 || (rc = isl_iso_snapshot_new(iso, &snap, err)) < 0) goto done;
  isl_iso_free(iso);
  iso = NULL;
  if ((rc = learn_base_hot(snap, &en, err)) < 0) goto done;
  rc = isl_iso_snapshot_save(snap, out_path, ISL_BUILD_ID, &en, sizeof(en), err);
  goto done;
install_failed:
  isl_err_set(err, rc, "prelude: cannot install the host functions: %s", isl_strerror(rc));
done:
  if (iso && global) isl_iso_release(iso, global);
  isl_iso_snapshot_free(snap);
  isl_iso_free(iso);
  free(src);
  return rc;
}

/* ---- open ------------------------------------------------------------------- */

const char *isl_rt_base_path(void) {
  static char path[PATH_MAX];
  const char *env = getenv("ISOLDE_SNAPSHOT");
  if (env && env[0]) return env;
  if (!path[0]) {
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    if (n <= 0) return "isolde.snap";
    exe[n] = 0;
    char *slash = strrchr(exe, '/');
    if (slash) *slash = 0;
    snprintf(path, sizeof(path), "%.*s/isolde.snap", (int)(sizeof(path) - 13), exe);
  }
  return path;
}

static void open_base(void) {
  isl_iso_host_def_t defs[MAX_HOST_FNS];
  size_t n = host_defs(defs);
  void *meta = NULL;
  size_t meta_len = 0;
  const char *path = isl_rt_base_path();
  int rc = isl_iso_snapshot_open(path, ISL_BUILD_ID, defs, n, &base_snap, &meta, &meta_len, &base_err);
  if (rc == 0 && meta_len != sizeof(base_entry)) {
    isl_err_set(&base_err, ISL_EINVAL, "%s: the snapshot's entry handles do not fit this binary", path);
    isl_iso_snapshot_free(base_snap);
    base_snap = NULL;
  } else if (rc == 0) {
    memcpy(&base_entry, meta, sizeof(base_entry));
  }
  free(meta);
}

int isl_rt_base_open(isl_err_t *err) {
  pthread_once(&base_once, open_base);
  if (base_snap) return 0;
  if (err) *err = base_err;
  return base_err.code ? base_err.code : ISL_EINVAL;
}

const isl_iso_snapshot_t *isl_rt__base(const isl_rt_entry_t **entry, isl_err_t *err) {
  if (isl_rt_base_open(err) < 0) return NULL;
  *entry = &base_entry;
  return base_snap;
}
