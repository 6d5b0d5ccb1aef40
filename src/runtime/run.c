/*
 * run.c - `isolde run FILE.js`: one script with the Workers globals, no
 * HTTP. The file runs in a clone of the prelude with a libuv loop for its
 * timers, the loop runs until nothing is left to do, and any uncaught
 * error makes the exit status 1. Handy by hand, and the way the test suite
 * runs its JavaScript test files.
 *
 * The log writer is in raw mode here: console output is printed as it is
 * and at once, as node prints a script's, in order with the runner's own
 * messages. Only the user's own script runs, so there is no other tenant
 * or host log for it to pass for; `isolde serve` and `dev` escape.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fetch/fetch.h"
#include "runtime/internal.h"

static int fail(const char *msg) {
  fprintf(stderr, "isolde: %s\n", msg);
  return 1;
}

static int run_file(const char *path) {
  isl_rt_worker_config_t cfg = {.name = "", .main_path = path, .log_fd = -1};
  isl_err_t err = {0};
  const isl_rt_entry_t *entry;
  const isl_iso_snapshot_t *base = isl_rt__base(&entry, &err);
  if (!base) return fail(err.msg);
  /* A worker in all but the snapshot: the script runs in the clone itself. */
  isl_rt_worker_t w = {.name = (char *)cfg.name, .log_fd = -1, .entry = entry, .snap = (isl_iso_snapshot_t *)base};
  char real[PATH_MAX];
  if (!realpath(path, real)) {
    fprintf(stderr, "isolde: %s: cannot open\n", path);
    return 1;
  }
  char *dir = strdup(real);
  char *slash = strrchr(dir, '/');
  *slash = 0;
  w.dir = dir;
  w.main_path = real;
  FILE *f = fopen(real, "rb");
  char *src = NULL;
  size_t len = 0;
  if (f) {
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    src = n >= 0 ? malloc((size_t)n + 1) : NULL;
    if (src && fread(src, 1, (size_t)n, f) == (size_t)n) {
      len = (size_t)n;
      src[len] = 0;
    } else {
      free(src);
      src = NULL;
    }
    fclose(f);
  }
  if (!src || strlen(src) != len) {
    free(src);
    free(dir);
    fprintf(stderr, "isolde: %s: cannot read (or holds a NUL byte)\n", path);
    return 1;
  }
  uv_loop_t loop;
  uv_loop_init(&loop);
  isl_rt_inst_t *inst = NULL;
  isl_fetch_client_t *fc = NULL;
  int status = 1;
  if (isl_rt__inst_new(&w, &loop, NULL, &inst, &err) < 0) {
    fprintf(stderr, "isolde: %s\n", err.msg);
    goto out;
  }
  /* A script that runs for a while (tests) gets more than a request's CPU. */
  isl_iso_limits_t limits = {.cpu_ms = 30000};
  isl_iso_set_limits(inst->iso, &limits);
  isl_rt__set_loader(inst->iso, &w);
  if (isl_fetch_client_new(&loop, &fc) == 0) inst->fetch = fc;
  int module = isl_rt__looks_like_module(src);
  isl_iso_set_time(inst->iso, 0);
  isl_val_t result = 0;
  int rc = isl_iso_eval(inst->iso, src, len, isl_rt__module_name(&w),
                        module ? ISL_ISO_EVAL_MODULE : ISL_ISO_EVAL_SCRIPT, &result);
  if (rc == 0) rc = isl_iso_run_jobs(inst->iso, NULL);
  if (rc < 0) {
    const isl_iso_error_t *e = isl_iso_last_error(inst->iso);
    fprintf(stderr, "Uncaught %s%s%s\n%s", e->name, e->name[0] ? ": " : "", e->message, e->stack);
    goto out;
  }
  uv_run(&loop, UV_RUN_DEFAULT);
  status = inst->failed || inst->poisoned ? 1 : 0;
  /* A module with top-level await: its evaluation promise carries errors. */
  if (!inst->poisoned && isl_iso_promise_state(inst->iso, result) == ISL_ISO_PROMISE_REJECTED) {
    isl_val_t reason = 0;
    isl_iso_promise_result(inst->iso, result, &reason);
    isl_val_t stack = 0;
    isl_iso_get(inst->iso, reason, "stack", &stack);
    char *msg = isl_iso_to_cstring(inst->iso, reason);
    char *st = stack ? isl_iso_to_cstring(inst->iso, stack) : NULL;
    fprintf(stderr, "Uncaught %s\n%s", msg ? msg : "error", st && strcmp(st, "undefined") ? st : "");
    free(msg);
    free(st);
    isl_iso_release(inst->iso, stack);
    isl_iso_release(inst->iso, reason);
    status = 1;
  } else if (!inst->poisoned && isl_iso_promise_state(inst->iso, result) == ISL_ISO_PROMISE_PENDING) {
    fprintf(stderr, "isolde: %s: top-level await never settled\n", path);
    status = 1;
  }
  if (!inst->poisoned) isl_iso_release(inst->iso, result);
out:
  isl_rt__inst_free(inst);
  isl_fetch_client_free(fc);
  uv_run(&loop, UV_RUN_DEFAULT); /* let timer and fetch handles close */
  uv_loop_close(&loop);
  free(src);
  free(dir);
  return status;
}

int isl_rt_run_file(const char *path) {
  int was_raw = isl_rt__log_set_raw(1);
  int status = run_file(path);
  isl_rt__log_set_raw(was_raw);
  return status;
}
