/*
 * iso_drive.c - the long-lived isolate of the JavaScript fuzz targets
 * (iso_drive.h has the design).
 *
 * The instance is rebuilt, harness and all, when its linear memory has
 * grown well past the snapshot (isl_iso_needs_recycle), exactly as the
 * runtime's pool recycles a worker's instance; every other failure is the
 * input's fault and aborts.
 */
#include "fuzz/common/iso_drive.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/internal.h"

#ifndef FUZZ_SNAPSHOT
#define FUZZ_SNAPSHOT "build/release/isolde.snap"
#endif

/* libFuzzer treats these bytes as coverage counters, as it does the
 * compiler's own (FuzzerExtraCounters.cpp). */
#define N_FEATURES 8192
__attribute__((section("__libfuzzer_extra_counters"))) static uint8_t features[N_FEATURES];

static const char *h_src, *h_file;
static size_t h_len;
static uv_loop_t loop;
static isl_rt_worker_t worker;
static isl_rt_inst_t *inst;
static isl_val_t fn;

static void die(const char *what, const char *detail) __attribute__((noreturn));
static void die(const char *what, const char *detail) {
  fprintf(stderr, "\n==== js fuzz check failed: %s\n%s\n", what, detail ? detail : "");
  abort();
}

static void die_iso(const char *what, int rc) __attribute__((noreturn));
static void die_iso(const char *what, int rc) {
  const isl_iso_error_t *e = isl_iso_last_error(inst->iso);
  char msg[6000];
  snprintf(msg, sizeof(msg), "%s (%s): %s%s%s\n%s", what, isl_err_name(rc), e->name, e->name[0] ? ": " : "", e->message,
           e->stack);
  die(rc == ISL_ETIMEOUT ? "a hang (CPU time limit in one call)" : "the isolate failed", msg);
}

static void instance_new(void) {
  isl_err_t err = {0};
  if (isl_rt__inst_new(&worker, &loop, NULL, &inst, &err) < 0) die("cannot clone the base snapshot", err.msg);
  isl_iso_limits_t limits = {.cpu_ms = ISL_FUZZ_CPU_MS, .memory_max_mb = 256};
  isl_iso_set_limits(inst->iso, &limits);
  isl_iso_set_time(inst->iso, 1767225600000.0); /* 2026-01-01: the same every call */
  int rc = isl_iso_eval(inst->iso, h_src, h_len, h_file, ISL_ISO_EVAL_SCRIPT, NULL);
  if (rc == 0) rc = isl_iso_run_jobs(inst->iso, NULL);
  if (rc < 0) die_iso("the harness did not load", rc);
  isl_val_t global = 0;
  if (isl_iso_global(inst->iso, &global) < 0 || isl_iso_get(inst->iso, global, "__fuzz", &fn) < 0 ||
      strcmp(isl_iso_typeof(inst->iso, fn), "function") != 0)
    die("the harness left no globalThis.__fuzz function", h_file);
  isl_iso_release(inst->iso, global);
}

void fz_iso_init(const char *harness, size_t len, const char *file) {
  if (inst) return;
  if (!getenv("ISOLDE_SNAPSHOT")) setenv("ISOLDE_SNAPSHOT", FUZZ_SNAPSHOT, 0);
  h_src = harness;
  h_len = len;
  h_file = file;
  isl_err_t err = {0};
  const isl_rt_entry_t *entry;
  const isl_iso_snapshot_t *base = isl_rt__base(&entry, &err);
  if (!base) die("no base snapshot (build it with make, or set ISOLDE_SNAPSHOT)", err.msg);
  uv_loop_init(&loop);
  worker.name = "fuzz";
  worker.log_fd = -1;
  worker.entry = entry;
  worker.snap = (isl_iso_snapshot_t *)base;
  worker.limits.cpu_ms = ISL_FUZZ_CPU_MS;
  instance_new();
}

static void count_facts(const char *s) {
  while (*s) {
    while (*s == ' ') s++;
    uint32_t h = 2166136261u;
    const char *w = s;
    while (*s && *s != ' ') h = (h ^ (uint8_t)*s++) * 16777619u;
    if (s > w && features[h % N_FEATURES] < 255) features[h % N_FEATURES]++;
  }
}

void fz_iso_one(const uint8_t *data, size_t len) {
  isl_iso_t *iso = inst->iso;
  isl_val_t ab = 0, res = 0;
  int rc = isl_iso_new_array_buffer(iso, data, len, &ab);
  if (rc < 0) die_iso("cannot make the input's ArrayBuffer", rc);
  rc = isl_iso_call(iso, fn, 0, 1, &ab, &res);
  isl_iso_release(iso, ab);
  if (rc == 0) rc = isl_iso_run_jobs(iso, NULL);
  if (rc < 0) die_iso("__fuzz threw", rc);
  uv_run(&loop, UV_RUN_NOWAIT); /* nothing should be pending, but let handles settle */
  int state = isl_iso_promise_state(iso, res);
  isl_val_t value = 0;
  if (state == ISL_ISO_NOT_A_PROMISE) {
    value = res;
    res = 0;
  } else if (state == ISL_ISO_PROMISE_PENDING) {
    die("__fuzz's promise never settled", NULL);
  } else {
    isl_iso_promise_result(iso, res, &value);
  }
  char *text = isl_iso_to_cstring(iso, value);
  if (state == ISL_ISO_PROMISE_REJECTED) {
    isl_val_t stack = 0;
    isl_iso_get(iso, value, "stack", &stack);
    char *st = stack ? isl_iso_to_cstring(iso, stack) : NULL;
    char msg[8000];
    snprintf(msg, sizeof(msg), "%s\n%s", text ? text : "?", st ? st : "");
    die("__fuzz rejected", msg);
  }
  if (!text || strncmp(text, "ok", 2) != 0) die("__fuzz did not answer \"ok ...\"", text);
  count_facts(text + 2);
  free(text);
  isl_iso_release(iso, value);
  isl_iso_release(iso, res);
  if (isl_iso_needs_recycle(iso)) {
    isl_rt__inst_free(inst);
    inst = NULL;
    instance_new();
  }
}
