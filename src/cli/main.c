/*
 * main.c - the isolde command-line tool.
 *
 *   isolde demo                        snapshot an isolate, clone it, call it
 *   isolde run FILE.js                 run a script or ES module in an isolate
 *   isolde bench isolates [--count N]  isolate costs, as one JSON object
 *
 * It only uses the public API of src/isolate (isolate.h) and is meant as a
 * quick way to try the engine by hand and to measure it.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/err.h"
#include "cli/cli.h"
#include "common/clock.h"
#include "isolate/isolate.h"
#include "runtime/runtime.h"

static const char DEMO_SRC[] =
    "function handler(n) {\n"
    "  return JSON.stringify({hello: 'world', n, r: Math.random() < 1});\n"
    "}\n";
static const char PRELUDE_SRC[] = "globalThis.handler = (x) => x + 1;";
static const char FIB_SRC[] = "function fib(n){return n<2?n:fib(n-1)+fib(n-2)}";

/* ---- small helpers --------------------------------------------------------- */

static double now_ns(void) {
  return (double)isl_clock_mono_ns();
}

static void usage(FILE *f) {
  fprintf(f,
          "usage: isolde [command]\n"
          "  demo                          snapshot an isolate, clone it 3 times, call each (default)\n"
          "  dev WORKER.js [--port 8787] [--host H] [--threads N] [--var KEY=VALUE]...\n"
          "                                serve one worker, like `wrangler dev`\n"
          "  serve --config isolde.json    serve many tenants' workers by route\n"
          "  run FILE.js                   run FILE.js with the Workers globals (an ES module if it\n"
          "                                imports or exports) until its timers and promises are done\n"
          "  bench isolates [--count N]    measure isolate costs, print one JSON object (N=1000)\n"
          "  --help                        this text\n");
}

static void print_iso_error(isl_iso_t *iso, const char *what, int rc) {
  const isl_iso_error_t *e = iso ? isl_iso_last_error(iso) : NULL;
  fprintf(stderr, "isolde: %s failed: %s (%s)\n", what, isl_strerror(rc), isl_err_name(rc));
  if (!e) return;
  if (e->name[0] || e->message[0]) fprintf(stderr, "%s%s%s\n", e->name, e->name[0] ? ": " : "", e->message);
  if (e->file[0]) fprintf(stderr, "    at %s:%d\n", e->file, e->line);
  if (e->stack[0]) fprintf(stderr, "%s\n", e->stack);
}

static int new_iso(const isl_iso_limits_t *limits, isl_iso_t **out) {
  isl_err_t err = {0};
  int rc = isl_iso_new(limits, out, &err);
  if (rc < 0)
    fprintf(stderr, "isolde: isl_iso_new failed: %s%s%s\n", isl_strerror(rc), err.msg[0] ? ": " : "", err.msg);
  return rc;
}

static int clone_iso(const isl_iso_snapshot_t *snap, isl_iso_t **out) {
  isl_err_t err = {0};
  int rc = isl_iso_new_from_snapshot(snap, out, &err);
  if (rc < 0)
    fprintf(stderr, "isolde: isl_iso_new_from_snapshot failed: %s%s%s\n", isl_strerror(rc), err.msg[0] ? ": " : "",
            err.msg);
  return rc;
}

static int snapshot_iso(isl_iso_t *iso, isl_iso_snapshot_t **out) {
  isl_err_t err = {0};
  int rc = isl_iso_snapshot_new(iso, out, &err);
  if (rc < 0)
    fprintf(stderr, "isolde: isl_iso_snapshot_new failed: %s%s%s\n", isl_strerror(rc), err.msg[0] ? ": " : "", err.msg);
  return rc;
}

/* Evaluates a script and drops its result. */
static int eval_script(isl_iso_t *iso, const char *src, const char *file) {
  int rc = isl_iso_eval(iso, src, strlen(src), file, ISL_ISO_EVAL_SCRIPT, NULL);
  if (rc < 0) print_iso_error(iso, file, rc);
  return rc;
}

/* Looks up globalThis.handler into *fn (owned). */
static int get_handler(isl_iso_t *iso, isl_val_t *fn) {
  isl_val_t global = 0;
  int rc = isl_iso_global(iso, &global);
  if (rc < 0) {
    print_iso_error(iso, "isl_iso_global", rc);
    return rc;
  }
  rc = isl_iso_get(iso, global, "handler", fn);
  isl_iso_release(iso, global);
  if (rc < 0) print_iso_error(iso, "get handler", rc);
  return rc;
}

/* Calls handler(n); *result (owned) may be NULL to drop it. */
static int call_handler(isl_iso_t *iso, double n, isl_val_t *result) {
  isl_val_t fn = 0, arg = 0, res = 0;
  int rc = get_handler(iso, &fn);
  if (rc < 0) return rc;
  rc = isl_iso_new_number(iso, n, &arg);
  if (rc < 0) {
    print_iso_error(iso, "isl_iso_new_number", rc);
    isl_iso_release(iso, fn);
    return rc;
  }
  rc = isl_iso_call(iso, fn, 0, 1, &arg, &res);
  isl_iso_release(iso, arg);
  isl_iso_release(iso, fn);
  if (rc < 0) {
    print_iso_error(iso, "call handler", rc);
    return rc;
  }
  if (result)
    *result = res;
  else
    isl_iso_release(iso, res);
  return 0;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

/* The p-th percentile (0..100) of v[0..n); sorts v. */
static double percentile(double *v, size_t n, double p) {
  if (n == 0) return 0;
  qsort(v, n, sizeof *v, cmp_double);
  size_t i = (size_t)(p / 100.0 * (double)(n - 1) + 0.5);
  return v[i < n ? i : n - 1];
}

/* A "Key:   123 kB" line of a /proc file, in kB; -1 when missing. */
static long proc_kb(const char *path, const char *key) {
  FILE *f = fopen(path, "r");
  if (!f) return -1;
  char line[256];
  size_t klen = strlen(key);
  long kb = -1;
  while (fgets(line, sizeof line, f)) {
    if (strncmp(line, key, klen) == 0 && line[klen] == ':') {
      kb = strtol(line + klen + 1, NULL, 10);
      break;
    }
  }
  fclose(f);
  return kb;
}

/* ---- demo ---------------------------------------------------------------- */

static int cmd_demo(void) {
  isl_iso_t *tmpl = NULL;
  isl_iso_snapshot_t *snap = NULL;
  int status = 1;

  if (new_iso(NULL, &tmpl) < 0) return 1;
  if (eval_script(tmpl, DEMO_SRC, "demo.js") < 0) goto out;
  if (snapshot_iso(tmpl, &snap) < 0) goto out;
  printf("template isolate snapshotted; cloning 3 isolates\n");
  for (int i = 0; i < 3; i++) {
    isl_iso_t *clone = NULL;
    double t0 = now_ns();
    if (clone_iso(snap, &clone) < 0) goto out;
    double us = (now_ns() - t0) / 1e3;
    isl_val_t res = 0;
    if (call_handler(clone, i + 1, &res) < 0) {
      isl_iso_free(clone);
      goto out;
    }
    char *s = isl_iso_to_cstring(clone, res);
    isl_iso_release(clone, res);
    if (!s) {
      fprintf(stderr, "isolde: isl_iso_to_cstring failed\n");
      isl_iso_free(clone);
      goto out;
    }
    printf("clone %d: created in %.1f us, handler(%d) = %s\n", i + 1, us, i + 1, s);
    free(s);
    isl_iso_free(clone);
  }
  status = 0;
out:
  isl_iso_snapshot_free(snap);
  isl_iso_free(tmpl);
  return status;
}

/* ---- run ----------------------------------------------------------------- */

/* ---- bench isolates ------------------------------------------------------ */

typedef struct {
  double fresh_p50, fresh_p99;
  double snap_p50, snap_p99;
  double destroy_p50;
  double rss_kb, pss_kb;
  double call_ns_p50;
  double fib27_ms;
} bench_t;

static int bench_fresh(size_t n, bench_t *b) {
  double *t = calloc(n, sizeof *t);
  if (!t) {
    fprintf(stderr, "isolde: out of memory\n");
    return -1;
  }
  for (size_t i = 0; i < n; i++) {
    isl_iso_t *iso = NULL;
    double t0 = now_ns();
    if (new_iso(NULL, &iso) < 0 || eval_script(iso, PRELUDE_SRC, "prelude.js") < 0) {
      isl_iso_free(iso);
      free(t);
      return -1;
    }
    t[i] = (now_ns() - t0) / 1e3;
    isl_iso_free(iso);
  }
  b->fresh_p50 = percentile(t, n, 50);
  b->fresh_p99 = percentile(t, n, 99);
  free(t);
  return 0;
}

/* Clones n isolates (kept alive), calls handler once in each, measures memory, frees them. */
static int bench_clones(const isl_iso_snapshot_t *snap, size_t n, bench_t *b) {
  isl_iso_t **isos = calloc(n, sizeof *isos);
  double *t = calloc(n, sizeof *t);
  int rc = -1;
  if (!isos || !t) {
    fprintf(stderr, "isolde: out of memory\n");
    goto out;
  }
  long rss0 = proc_kb("/proc/self/status", "VmRSS");
  long pss0 = proc_kb("/proc/self/smaps_rollup", "Pss");
  for (size_t i = 0; i < n; i++) {
    double t0 = now_ns();
    if (clone_iso(snap, &isos[i]) < 0) goto out;
    t[i] = (now_ns() - t0) / 1e3;
  }
  for (size_t i = 0; i < n; i++)
    if (call_handler(isos[i], (double)i, NULL) < 0) goto out;
  long rss1 = proc_kb("/proc/self/status", "VmRSS");
  long pss1 = proc_kb("/proc/self/smaps_rollup", "Pss");
  b->rss_kb = (rss0 < 0 || rss1 < 0) ? -1 : (double)(rss1 - rss0) / (double)n;
  b->pss_kb = (pss0 < 0 || pss1 < 0) ? -1 : (double)(pss1 - pss0) / (double)n;
  b->snap_p50 = percentile(t, n, 50);
  b->snap_p99 = percentile(t, n, 99);
  for (size_t i = 0; i < n; i++) {
    double t0 = now_ns();
    isl_iso_free(isos[i]);
    isos[i] = NULL;
    t[i] = (now_ns() - t0) / 1e3;
  }
  b->destroy_p50 = percentile(t, n, 50);
  rc = 0;
out:
  if (isos)
    for (size_t i = 0; i < n; i++) isl_iso_free(isos[i]);
  free(isos);
  free(t);
  return rc;
}

static int bench_calls(const isl_iso_snapshot_t *snap, bench_t *b) {
  enum { BATCHES = 50, PER_BATCH = 1000 };
  double t[BATCHES];
  isl_iso_t *iso = NULL;
  isl_val_t fn = 0, arg = 0;
  int rc = -1;
  if (clone_iso(snap, &iso) < 0 || get_handler(iso, &fn) < 0) goto out;
  if (isl_iso_new_number(iso, 41, &arg) < 0) {
    fprintf(stderr, "isolde: isl_iso_new_number failed\n");
    goto out;
  }
  for (int i = 0; i < BATCHES; i++) {
    double t0 = now_ns();
    for (int j = 0; j < PER_BATCH; j++) {
      isl_val_t res = 0;
      int crc = isl_iso_call(iso, fn, 0, 1, &arg, &res);
      if (crc < 0) {
        print_iso_error(iso, "call handler", crc);
        goto out;
      }
      isl_iso_release(iso, res);
    }
    t[i] = (now_ns() - t0) / PER_BATCH;
  }
  b->call_ns_p50 = percentile(t, BATCHES, 50);
  rc = 0;
out:
  if (iso) {
    isl_iso_release(iso, arg);
    isl_iso_release(iso, fn);
  }
  isl_iso_free(iso);
  return rc;
}

static int bench_fib(bench_t *b) {
  isl_iso_limits_t limits = {.cpu_ms = 10000};
  isl_iso_t *iso = NULL;
  int rc = -1;
  if (new_iso(&limits, &iso) < 0 || eval_script(iso, FIB_SRC, "fib.js") < 0) goto out;
  double best = -1;
  for (int i = 0; i < 3; i++) {
    double t0 = now_ns();
    if (eval_script(iso, "fib(27)", "fib27.js") < 0) goto out;
    double ms = (now_ns() - t0) / 1e6;
    if (best < 0 || ms < best) best = ms;
  }
  b->fib27_ms = best;
  rc = 0;
out:
  isl_iso_free(iso);
  return rc;
}

static int cmd_bench_isolates(size_t count) {
  bench_t b = {0};
  isl_iso_t *tmpl = NULL;
  isl_iso_snapshot_t *snap = NULL;
  int status = 1;

  if (bench_fresh(count < 200 ? count : 200, &b) < 0) goto out;
  if (new_iso(NULL, &tmpl) < 0 || eval_script(tmpl, PRELUDE_SRC, "prelude.js") < 0) goto out;
  if (snapshot_iso(tmpl, &snap) < 0) goto out;
  if (bench_clones(snap, count, &b) < 0 || bench_calls(snap, &b) < 0 || bench_fib(&b) < 0) goto out;
  printf(
      "{\"create_fresh_us_p50\": %.1f, \"create_fresh_us_p99\": %.1f, "
      "\"create_snapshot_us_p50\": %.1f, \"create_snapshot_us_p99\": %.1f, "
      "\"destroy_us_p50\": %.1f, \"rss_kb_per_isolate\": %.1f, \"pss_kb_per_isolate\": %.1f, "
      "\"call_ns_p50\": %.0f, \"fib27_ms\": %.1f, \"count\": %zu}\n",
      b.fresh_p50, b.fresh_p99, b.snap_p50, b.snap_p99, b.destroy_p50, b.rss_kb, b.pss_kb, b.call_ns_p50, b.fib27_ms,
      count);
  status = 0;
out:
  isl_iso_snapshot_free(snap);
  isl_iso_free(tmpl);
  return status;
}

static int parse_bench(int argc, char **argv) {
  if (argc < 3 || strcmp(argv[2], "isolates") != 0) {
    fprintf(stderr, "isolde: unknown benchmark (try: isolde bench isolates [--count N])\n");
    return 2;
  }
  size_t count = 1000;
  for (int i = 3; i < argc; i++) {
    if (strcmp(argv[i], "--count") == 0 && i + 1 < argc) {
      char *end = NULL;
      errno = 0;
      long v = strtol(argv[++i], &end, 10);
      if (errno || !end || *end || v <= 0 || v > 1000000) {
        fprintf(stderr, "isolde: bad --count %s (1..1000000)\n", argv[i]);
        return 2;
      }
      count = (size_t)v;
    } else {
      fprintf(stderr, "isolde: unknown bench option %s\n", argv[i]);
      usage(stderr);
      return 2;
    }
  }
  return cmd_bench_isolates(count);
}

int main(int argc, char **argv) {
  if (argc < 2 || strcmp(argv[1], "demo") == 0) return cmd_demo();
  if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "help") == 0) {
    usage(stderr);
    return 0;
  }
  if (strcmp(argv[1], "run") == 0) {
    if (argc != 3) {
      usage(stderr);
      return 2;
    }
    return isl_rt_run_file(argv[2]);
  }
  if (strcmp(argv[1], "dev") == 0) return isl_cli_dev(argc - 2, argv + 2);
  if (strcmp(argv[1], "serve") == 0) return isl_cli_serve(argc - 2, argv + 2);
  if (strcmp(argv[1], "bench") == 0) return parse_bench(argc, argv);
  fprintf(stderr, "isolde: unknown command %s\n", argv[1]);
  usage(stderr);
  return 2;
}
