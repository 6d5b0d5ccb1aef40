/*
 * runtime.h - the contract of src/runtime: tenants' workers at work.
 *
 * The runtime loads workers (a tenant's script plus its env and limits)
 * into snapshots, and answers HTTP requests by running them in isolates:
 * one live isolate per worker per event loop, created lazily from the
 * worker's snapshot, shared by all the requests in flight on that loop,
 * evicted least recently used first (each loop its own) when the idle
 * isolates of all loops together exceed the process's memory budget. The
 * Web APIs tenants see are the JS prelude in src/runtime/js plus the host
 * functions in host_*.c.
 *
 * What it does not do: parse HTTP or own sockets (src/http), read config
 * files or flags (src/cli).
 *
 * Threads: workers are loaded on one thread before serving; afterwards
 * they are read-only and shared. Each HTTP loop thread keeps its own
 * isolates, created and used only on that thread.
 */
#ifndef ISL_RUNTIME_H
#define ISL_RUNTIME_H

#include <stddef.h>
#include <stdint.h>

#include "common/err.h"
#include "http/http.h"

typedef struct isl_rt_s isl_rt_t;
typedef struct isl_rt_worker_s isl_rt_worker_t;

/* ---- the base snapshot ----------------------------------------------------------
 * Every worker starts as a clone of one base: the JS prelude evaluated in a
 * fresh isolate. The build makes it once (isl_rt_base_build, run by
 * build/<flavour>/isolde-mksnap) and writes it to isolde.snap next to the
 * binaries; each process maps that file (isl_rt_base_open) and runs no
 * prelude code. */

/* CPU limit of trusted work (the prelude at build time), in ms: never a
 * tenant's limit. */
#ifndef ISL_RT_TRUSTED_CPU_MS
#define ISL_RT_TRUSTED_CPU_MS 30000
#endif
/* Evaluates the bundled prelude at prelude_path and saves the base to
 * snapshot_path (written beside it and renamed into place). */
int isl_rt_base_build(const char *prelude_path, const char *snapshot_path, isl_err_t *err);
/* Where the base is read from: $ISOLDE_SNAPSHOT, else isolde.snap in the
 * executable's folder. A static string. */
const char *isl_rt_base_path(void);
/* Maps the base, once per process (later calls answer the first's result).
 * Fails, with the reason in err, when the file is missing, damaged, or made
 * by another build. Call it before serving: a process that cannot map its
 * base must not listen. */
int isl_rt_base_open(isl_err_t *err);

typedef struct {
  const char *name;                /* tenant name, shown in logs; borrowed */
  const char *main_path;           /* the main module or service-worker script; borrowed */
  const char *env_json;            /* a JSON object: vars and secrets; NULL = {} */
  const char *const *secret_names; /* env keys whose values are never logged */
  size_t n_secrets;
  uint32_t cpu_ms;                  /* CPU limit per request; 0 = ISL_ISO_CPU_MS */
  uint32_t startup_ms;              /* CPU limit of the script's top-level evaluation; 0 = ISL_RT_STARTUP_MS */
  uint32_t memory_mb;               /* memory cap per isolate; 0 = ISL_ISO_MEMORY_MAX_MB */
  uint32_t subrequests;             /* fetch() calls per request; 0 = ISL_RT_SUBREQUESTS */
  const char *const *allow_origins; /* private origins fetch() may reach ("http://127.0.0.1:9000"); borrowed */
  size_t n_allow_origins;
  int log_fd; /* the tenant's log (console.*, errors); < 0 = stdout */
} isl_rt_worker_config_t;

/* Loads a worker: runs its script once in a clone of the prelude and
 * snapshots the result. err says what failed (with file:line for JS). */
int isl_rt_worker_load(const isl_rt_worker_config_t *cfg, isl_rt_worker_t **out, isl_err_t *err);
void isl_rt_worker_free(isl_rt_worker_t *w);

/* CPU time a worker's top-level code may take when it loads, in ms (as
 * Workers allows start-up more than a request). */
#ifndef ISL_RT_STARTUP_MS
#define ISL_RT_STARTUP_MS 400
#endif

#ifndef ISL_RT_SUBREQUESTS
#define ISL_RT_SUBREQUESTS 50
#endif

#ifndef ISL_RT_MEMORY_BUDGET_MB
#define ISL_RT_MEMORY_BUDGET_MB 1024
#endif

typedef struct {
  /* What the idle isolates of the whole process may cost, MiB, however many
   * loops the HTTP server runs: the loops share one account and each evicts
   * its own least recently used while the total is over it (pool.c).
   * 0 = ISL_RT_MEMORY_BUDGET_MB. */
  uint32_t memory_budget_mb;
  int quiet;         /* no request log lines */
  uint32_t cache_mb; /* the Cache API store of the process, MiB; 0 = ISL_CACHE_MAX_MB (src/cache) */
} isl_rt_config_t;

/* A route: a Workers pattern ("example.com/api/" and a star; NULL = every request
 * no other route claims) and the origin behind it ("http://10.0.0.5:8080",
 * or NULL): where the worker's fetch(request) for the route's own host
 * goes, or, with no worker, where requests go straight. Both borrowed. */
typedef struct {
  const char *pattern;
  const char *origin;
} isl_rt_route_t;

int isl_rt_new(const isl_rt_config_t *cfg, isl_rt_t **out);
/* Serves w (takes it) for requests matching any of routes; with no
 * routes, w serves every request no route claims. */
int isl_rt_add_worker(isl_rt_t *rt, isl_rt_worker_t *w, const isl_rt_route_t *routes, size_t n_routes, isl_err_t *err);
/* A route with no worker: requests go straight to route->origin. */
int isl_rt_add_pass_route(isl_rt_t *rt, const isl_rt_route_t *route, isl_err_t *err);
/* A tenant that failed to load: its routes answer 503 with `reason`. */
int isl_rt_add_broken(isl_rt_t *rt, const char *name, const char *reason, const isl_rt_route_t *routes, size_t n_routes,
                      isl_err_t *err);
/* Fills h with the runtime's request handler (h->data = rt). */
void isl_rt_http_handler(isl_rt_t *rt, isl_http_handler_t *h);
void isl_rt_free(isl_rt_t *rt);
/* Loads, on a background thread, what the runtime otherwise loads on first
 * use (libcurl, for subrequests: ~3.5 ms of CPU). A server calls it once it
 * listens, so that neither its start nor its first fetch() pays for it;
 * isl_rt_free waits for the thread. */
void isl_rt_preload(isl_rt_t *rt);

/*
 * `isolde run FILE.js`: evaluates FILE (an ES module if it imports or
 * exports) after the prelude, then runs its timers and promises until none
 * is left. console output goes to stdout/stderr. Returns the exit status:
 * 0, or 1 after printing an uncaught error.
 */
int isl_rt_run_file(const char *path);

#endif
