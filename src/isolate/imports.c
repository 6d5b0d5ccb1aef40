/*
 * imports.c - the host side of the engine's wasm imports.
 *
 * The QuickJS-ng build expects Emscripten's JavaScript glue; these C
 * functions take its place. Their minified names come from the generated
 * engine_names.h, so a new package version cannot silently rewire them.
 * Every guest pointer is bounds-checked before use: a hostile or broken
 * engine must not make the host touch memory outside its sandbox.
 *
 * Each import runs with in_wasm cleared (ISL_IMPORT_ENTER), so a fault here
 * is a host crash and a CPU tick waits until wasm code runs again. Before
 * returning to wasm, an import unwinds the call if a nested call trapped.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "isolate/internal.h"

#define ISO(a) ((isl_iso_t *)(void *)(a))

wasm_rt_memory_t *ISL_IMPORT_memory(struct Z_a_instance_t *a) {
  return &ISO(a)->mem;
}

/* ---- engine failures: the instance is inconsistent, trap out ------------ */

void ISL_IMPORT_assert_fail(struct Z_a_instance_t *a, u32 cond, u32 file, u32 line, u32 fn) {
  (void)a, (void)cond, (void)file, (void)line, (void)fn;
  isl_sbx__trap(ISL_TRAP_ABORT);
}

void ISL_IMPORT_abort(struct Z_a_instance_t *a) {
  (void)a;
  isl_sbx__trap(ISL_TRAP_ABORT);
}

void ISL_IMPORT_exit(struct Z_a_instance_t *a, u32 code) {
  (void)a, (void)code;
  isl_sbx__trap(ISL_TRAP_ABORT);
}

void ISL_IMPORT_keepalive_clear(struct Z_a_instance_t *a) {
  (void)a;
}

/* ---- memory -------------------------------------------------------------- */

/* emscripten_resize_heap: the only way linear memory grows, so the memory
 * cap is enforced here. Failing makes malloc fail: the engine then throws
 * "out of memory" inside the isolate, and nothing else notices. */
u32 ISL_IMPORT_resize_heap(struct Z_a_instance_t *a, u32 requested) {
  isl_iso_t *iso = ISO(a);
  uint64_t need = ((uint64_t)requested + ISL_WASM_PAGE - 1) / ISL_WASM_PAGE;
  if (need > iso->max_pages) {
    iso->oom = 1;
    return 0;
  }
  /* Grow by a quarter at least, as Emscripten's glue does, so that a heap
   * growing by small steps does not make a system call per step. */
  uint64_t want = iso->mem.pages + iso->mem.pages / 4;
  if (want < need) want = need;
  if (want > iso->max_pages) want = iso->max_pages;
  if (isl_mem__grow_to(&iso->mem, (uint32_t)want) != 0 && isl_mem__grow_to(&iso->mem, (uint32_t)need) != 0) {
    iso->oom = 1;
    return 0;
  }
  return 1;
}

/* ---- time ----------------------------------------------------------------- */

static double now_ms(isl_iso_t *iso) {
  if (iso->frozen_ms > 0) return iso->frozen_ms;
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

f64 ISL_IMPORT_date_now(struct Z_a_instance_t *a) {
  return now_ms(ISO(a));
}

/* WASI clock_time_get(id, precision, *time): 0 is realtime, others monotonic. */
u32 ISL_IMPORT_clock_time_get(struct Z_a_instance_t *a, u32 id, u64 precision, u32 out) {
  isl_iso_t *iso = ISO(a);
  (void)precision;
  uint8_t *p = isl_mem__ptr(&iso->mem, out, 8);
  if (!p) return 28; /* EINVAL */
  uint64_t ns;
  if (id == 0) {
    ns = (uint64_t)(now_ms(iso) * 1e6);
  } else {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    ns = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
  }
  memcpy(p, &ns, 8);
  return 0;
}

/* localtime_r(time, struct tm*) in the layout of Emscripten's musl. Tenants
 * run in UTC, as Workers do: the host's time zone is nobody's business. */
void ISL_IMPORT_localtime(struct Z_a_instance_t *a, u64 t, u32 tm_ptr) {
  isl_iso_t *iso = ISO(a);
  int32_t *out = isl_mem__ptr(&iso->mem, tm_ptr, 40);
  if (!out) return;
  time_t tt = (time_t)(int64_t)t;
  struct tm tm;
  memset(&tm, 0, sizeof(tm));
  gmtime_r(&tt, &tm);
  int32_t v[10] = {tm.tm_sec, tm.tm_min, tm.tm_hour, tm.tm_mday, tm.tm_mon, tm.tm_year, tm.tm_wday, tm.tm_yday, 0, 0};
  memcpy(out, v, sizeof(v));
}

/* tzset(*timezone, *daylight, std_name[17], dst_name[17]): UTC. */
void ISL_IMPORT_tzset(struct Z_a_instance_t *a, u32 tz, u32 daylight, u32 std_name, u32 dst_name) {
  isl_iso_t *iso = ISO(a);
  uint32_t zero = 0;
  void *p;
  if ((p = isl_mem__ptr(&iso->mem, tz, 4))) memcpy(p, &zero, 4);
  if ((p = isl_mem__ptr(&iso->mem, daylight, 4))) memcpy(p, &zero, 4);
  if ((p = isl_mem__ptr(&iso->mem, std_name, 4))) memcpy(p, "UTC", 4);
  if ((p = isl_mem__ptr(&iso->mem, dst_name, 4))) memcpy(p, "UTC", 4);
}

/* setitimer: the engine's timers are never used by QuickJS itself. */
u32 ISL_IMPORT_setitimer(struct Z_a_instance_t *a, u32 which, f64 ms) {
  (void)a, (void)which, (void)ms;
  return 0;
}

/* ---- WASI stubs: no environment, no files --------------------------------- */

u32 ISL_IMPORT_environ_get(struct Z_a_instance_t *a, u32 environ, u32 buf) {
  (void)a, (void)environ, (void)buf;
  return 0;
}

u32 ISL_IMPORT_environ_sizes_get(struct Z_a_instance_t *a, u32 count, u32 size) {
  isl_iso_t *iso = ISO(a);
  uint32_t zero = 0;
  void *p;
  if ((p = isl_mem__ptr(&iso->mem, count, 4))) memcpy(p, &zero, 4);
  if ((p = isl_mem__ptr(&iso->mem, size, 4))) memcpy(p, &zero, 4);
  return 0;
}

u32 ISL_IMPORT_fd_close(struct Z_a_instance_t *a, u32 fd) {
  (void)a, (void)fd;
  return 52; /* ENOSYS */
}

u32 ISL_IMPORT_fd_seek(struct Z_a_instance_t *a, u32 fd, u64 off, u32 whence, u32 out) {
  (void)a, (void)fd, (void)off, (void)whence, (void)out;
  return 70; /* ESPIPE */
}

/* fd_write(fd, iovs, iovs_len, *nwritten): the engine's stdout/stderr go to
 * the tenant's log sink, never to the host's streams. */
u32 ISL_IMPORT_fd_write(struct Z_a_instance_t *a, u32 fd, u32 iovs, u32 n, u32 nwritten) {
  isl_iso_t *iso = ISO(a);
  ISL_IMPORT_ENTER();
  uint32_t total = 0;
  const uint32_t *iov = isl_mem__ptr(&iso->mem, iovs, (uint64_t)n * 8);
  if (iov) {
    for (uint32_t i = 0; i < n; i++) {
      uint32_t buf, len;
      memcpy(&buf, &iov[2 * i], 4);
      memcpy(&len, &iov[2 * i + 1], 4);
      const char *p = isl_mem__ptr(&iso->mem, buf, len);
      if (!p) break;
      if (iso->log && len) iso->log(iso, iso->log_data, (int)fd, p, len);
      total += len;
    }
  }
  void *out = isl_mem__ptr(&iso->mem, nwritten, 4);
  if (out) memcpy(out, &total, 4);
  ISL_IMPORT_LEAVE(iso);
  return iov ? 0 : 28;
}

/* ---- quickjs-emscripten host callbacks ------------------------------------ */

/* The interrupt handler, polled by QuickJS every few tens of microseconds.
 * The CPU deadline starts at the first poll of a call, so that short calls
 * never read the clock. Returning 1 throws an uncatchable error in JS. */
u32 ISL_IMPORT_interrupt(struct Z_a_instance_t *a, u32 rt) {
  isl_iso_t *iso = ISO(a);
  (void)rt;
  ISL_IMPORT_ENTER();
  uint64_t now = isl_sbx__thread_cpu_ns();
  u32 stop = 0;
  if (iso->deadline_ns == 0) {
    iso->deadline_ns = now + (iso->in_turn ? iso->turn_budget_ns : (uint64_t)iso->limits.cpu_ms * 1000000u);
  } else if (now >= iso->deadline_ns) {
    iso->interrupted = 1;
    stop = 1;
  }
  /* A turn on a fiber that used up its slice lets the thread serve others;
   * its soft deadline stands still meanwhile (the hard one too: fiber.c). */
  if (!stop && iso->in_turn && isl_sbx__tls.fiber && isl_fib__slice_used(now) >= ISL_ISO_SLICE_US * 1000u) {
    uint64_t left = iso->deadline_ns - now;
    isl_fib__pause(iso);
    iso->deadline_ns = isl_sbx__thread_cpu_ns() + left;
  }
  ISL_IMPORT_LEAVE(iso);
  return stop;
}

u32 ISL_IMPORT_host_call(struct Z_a_instance_t *a, u32 ctx, u32 this_ptr, u32 argc, u32 argv, u32 id) {
  isl_iso_t *iso = ISO(a);
  (void)ctx, (void)this_ptr;
  ISL_IMPORT_ENTER();
  u32 result = 0;
  if (id >= iso->n_fns || argc > 65535 || !isl_mem__ptr(&iso->mem, argv, (uint64_t)argc * 8)) {
    isl_iso_throw(iso, "TypeError", "host function call is invalid");
    result = iso->pending_throw;
  } else {
    isl_val_t small[8] = {0};
    isl_val_t *args = argc <= 8 ? small : malloc(argc * sizeof(isl_val_t));
    if (!args) {
      isl_iso_throw(iso, "Error", "host out of memory");
      result = iso->pending_throw;
    } else {
      for (u32 i = 0; i < argc; i++) args[i] = argv + 8 * i;
      isl_val_t ret = 0;
      iso->pending_throw = 0;
      int rc = iso->fns[id].fn(iso, iso->fns[id].data, (int)argc, args, &ret);
      if (args != small) free(args);
      if (rc < 0 && !iso->dead) {
        if (ret) isl_iso_release(iso, ret);
        if (!iso->pending_throw) isl_iso_throw(iso, "Error", "host function failed");
        result = iso->pending_throw;
      } else {
        result = ret;
      }
      iso->pending_throw = 0;
    }
  }
  ISL_IMPORT_LEAVE(iso);
  return result;
}

/* Module source for `name`, copied into guest memory (the engine frees it). */
u32 ISL_IMPORT_load_module_source(struct Z_a_instance_t *a, u32 rt, u32 ctx, u32 name_ptr) {
  isl_iso_t *iso = ISO(a);
  (void)rt, (void)ctx;
  ISL_IMPORT_ENTER();
  volatile u32 result = 0;
  const char *name = isl_mem__ptr(&iso->mem, name_ptr, 1);
  size_t max = name ? iso->mem.size - name_ptr : 0;
  if (name && memchr(name, 0, max) && iso->loader) {
    char *src = iso->loader(iso, iso->loader_data, name);
    if (src) {
      result = isl_iso__guest_strdup(iso, src, strlen(src));
      free(src);
    }
  }
  if (!result && !iso->dead) {
    /* Without a pending exception the engine would report an empty error. */
    char msg[512];
    snprintf(msg, sizeof(msg), "could not load module '%.400s'", name ? name : "?");
    iso->pending_throw = 0;
    isl_iso_throw(iso, "ReferenceError", msg);
    int trap;
    if (iso->pending_throw) ISL_SBX_RUN(iso, trap, ISL_QTS_free(&iso->inst, iso->pending_throw));
    (void)trap;
    iso->pending_throw = 0;
  }
  ISL_IMPORT_LEAVE(iso);
  return result;
}

/* Only used with a custom normaliser, which Isolde does not enable. */
u32 ISL_IMPORT_normalize_module(struct Z_a_instance_t *a, u32 rt, u32 ctx, u32 base, u32 name) {
  (void)a, (void)rt, (void)ctx, (void)base, (void)name;
  isl_sbx__trap(ISL_TRAP_ABORT);
}

void ISL_IMPORT_free_host_ref(struct Z_a_instance_t *a, u32 rt, u32 id) {
  (void)a, (void)rt, (void)id;
}
