/*
 * isolate.c - creating, running and freeing isolates.
 *
 * Every call into the engine goes through ISL_SBX_RUN, so a trap anywhere
 * in it comes back here as a code; the isolate is then marked dead and
 * every later call on it answers ISL_EDEAD. Freeing never runs engine code:
 * the runtime's teardown would only free memory that munmap frees anyway,
 * and a dead isolate could not run it.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "isolate/internal.h"

uint32_t isl_iso__undefined;

/* JSValue layout of this wasm32 build (NaN-boxing: tag in the high word).
 * Checked against the engine's own constant at start-up. */
#define JSV_TAG(tag) ((uint64_t)(uint32_t)(tag) << 32)
#define JSV_TAG_UNDEFINED 3
#define JSV_TAG_EXCEPTION 6

void isl_iso__engine_init(void) {
  Z_qjs_init_module();
}

static void limits_normalise(isl_iso_limits_t *l) {
  if (!l->memory_max_mb) l->memory_max_mb = ISL_ISO_MEMORY_MAX_MB;
  if (!l->cpu_ms) l->cpu_ms = ISL_ISO_CPU_MS;
  if (!l->hard_stop_ms) l->hard_stop_ms = l->cpu_ms + ISL_ISO_HARD_STOP_GRACE_MS;
}

int isl_iso__alloc(const isl_iso_limits_t *limits, isl_iso_t **out, isl_err_t *err) {
  isl_sbx__thread_init();
  isl_iso_limits_t l = limits ? *limits : (isl_iso_limits_t){0};
  limits_normalise(&l);
  uint64_t pages = (uint64_t)l.memory_max_mb * (1024 * 1024 / ISL_WASM_PAGE);
  if (l.memory_max_mb > 2048 || pages < ISL_ENGINE_INITIAL_PAGES)
    return isl_err_set(err, ISL_EINVAL, "memory limit must be between %u and 2048 MiB",
                       ISL_ENGINE_INITIAL_PAGES * ISL_WASM_PAGE / (1024 * 1024));
  if (l.hard_stop_ms < l.cpu_ms) return isl_err_set(err, ISL_EINVAL, "hard stop must not come before the CPU limit");
  isl_iso_t *iso = calloc(1, sizeof(*iso));
  if (!iso) return isl_err_set(err, ISL_ENOMEM, "out of memory");
  iso->limits = l;
  iso->max_pages = (uint32_t)pages;
  *out = iso;
  return 0;
}

void isl_iso__seed_random(isl_iso_t *iso) {
  do {
    if (getrandom(iso->rng, sizeof(iso->rng), 0) != (ssize_t)sizeof(iso->rng)) abort();
  } while (!(iso->rng[0] | iso->rng[1] | iso->rng[2] | iso->rng[3]));
}

static int define_keyed(isl_iso_t *iso, isl_val_t obj, const char *name, const char *key, isl_iso_host_fn fn,
                        void *data);

/* xoshiro256**: every isolate draws from its own stream, seeded from the
 * kernel, so clones of one snapshot never share a Math.random sequence. */
static int math_random(isl_iso_t *iso, void *data, int argc, const isl_val_t *argv, isl_val_t *ret) {
  (void)data, (void)argc, (void)argv;
  uint64_t *s = iso->rng;
  uint64_t x = s[1] * 5;
  uint64_t r = ((x << 7) | (x >> 57)) * 9;
  uint64_t t = s[1] << 17;
  s[2] ^= s[0];
  s[3] ^= s[1];
  s[1] ^= s[2];
  s[0] ^= s[3];
  s[2] ^= t;
  s[3] = (s[3] << 45) | (s[3] >> 19);
  return isl_iso_new_number(iso, (double)(r >> 11) * 0x1.0p-53, ret);
}

/* A key no host table can mean by accident: host names are identifiers. */
const isl_iso_host_def_t isl_iso__own_fns[] = {{"isolde:Math.random", math_random, NULL}};
const size_t isl_iso__n_own_fns = sizeof(isl_iso__own_fns) / sizeof(isl_iso__own_fns[0]);

int isl_iso__fail_trap(isl_iso_t *iso, int trap) {
  isl_iso_error_t *e = &iso->err;
  memset(e, 0, sizeof(*e));
  e->code = ISL_ETRAP;
  if (trap == ISL_TRAP_TIMEOUT) e->code = ISL_ETIMEOUT;
  snprintf(e->name, sizeof(e->name), "Trap");
  snprintf(e->message, sizeof(e->message), "isolate trapped: %s", isl_sbx__trap_name(iso->trap ? iso->trap : trap));
  return e->code;
}

int isl_iso__enter(isl_iso_t *iso) {
  if (!isl_sbx__tls.ready) isl_sbx__thread_init();
  if (iso->dead) {
    iso->err.code = ISL_EDEAD;
    return ISL_EDEAD;
  }
  if (!isl_sbx__tls.top && !iso->in_turn) iso->interrupted = iso->oom = 0; /* a new top-level call */
  return 0;
}

void isl_iso_turn_begin(isl_iso_t *iso, uint64_t cpu_budget_ns) {
  iso->in_turn = 1;
  iso->paused = 0;
  iso->interrupted = iso->oom = 0;
  iso->deadline_ns = 0;
  iso->turn_hard_ns = 0;
  iso->turn_budget_ns = cpu_budget_ns;
}

void isl_iso_turn_end(isl_iso_t *iso) {
  iso->in_turn = 0;
  iso->paused = 0;
}

uint32_t isl_iso__guest_strdup(isl_iso_t *iso, const char *s, size_t len) {
  if (len >= UINT32_MAX - 1) return 0;
  volatile uint32_t p = 0;
  int trap;
  ISL_SBX_RUN(iso, trap, p = ISL_QTS_malloc(&iso->inst, (u32)len + 1));
  if (trap || !p) return 0;
  uint8_t *dst = isl_mem__ptr(&iso->mem, p, len + 1);
  if (!dst) return 0;
  memcpy(dst, s, len);
  dst[len] = 0;
  return p;
}

static void guest_free(isl_iso_t *iso, uint32_t p) {
  int trap;
  if (p && !iso->dead) ISL_SBX_RUN(iso, trap, ISL_QTS_free(&iso->inst, p));
  (void)trap;
}

int isl_iso_new(const isl_iso_limits_t *limits, isl_iso_t **out, isl_err_t *err) {
  isl_iso_t *iso;
  int rc = isl_iso__alloc(limits, &iso, err);
  if (rc < 0) return rc;
  rc = isl_mem__reserve(&iso->mem, ISL_ENGINE_INITIAL_PAGES, iso->max_pages);
  if (rc < 0) {
    free(iso);
    return isl_err_set(err, rc, "cannot reserve linear memory: %s", isl_strerror(rc));
  }
  iso->base_pages = ISL_ENGINE_INITIAL_PAGES;
  isl_iso__seed_random(iso);

  int trap;
  ISL_SBX_RUN(iso, trap, {
    Z_qjs_instantiate(&iso->inst, (struct Z_a_instance_t *)(void *)iso);
    iso->instantiated = 1;
    ISL_QTS_call_ctors(&iso->inst);
    iso->rt = ISL_QTS_NewRuntime(&iso->inst);
    if (iso->rt) iso->ctx = ISL_QTS_NewContext(&iso->inst, iso->rt, 0);
    if (iso->ctx) {
      ISL_QTS_RuntimeSetMaxStackSize(&iso->inst, iso->rt, ISL_ISO_STACK_KB * 1024);
      ISL_QTS_RuntimeEnableInterruptHandler(&iso->inst, iso->rt);
      ISL_QTS_RuntimeEnableModuleLoader(&iso->inst, iso->rt, 0);
      iso->scratch = ISL_QTS_malloc(&iso->inst, 64);
    }
  });
  if (trap || !iso->scratch) {
    isl_iso_free(iso);
    return isl_err_set(err, ISL_ETRAP, "cannot start the engine: %s",
                       trap ? isl_sbx__trap_name(trap) : "out of memory");
  }

  /* The engine's constant undefined lives at the same address in every
   * instance; check it has the layout the host relies on. */
  volatile uint32_t undef = 0;
  ISL_SBX_RUN(iso, trap, undef = ISL_QTS_GetUndefined(&iso->inst));
  uint64_t v = 0;
  const void *p = isl_mem__ptr(&iso->mem, undef, 8);
  if (p) memcpy(&v, p, 8);
  if (trap || v != JSV_TAG(JSV_TAG_UNDEFINED)) {
    fprintf(stderr, "isolde: the engine's JSValue layout is not the one this host was written for\n");
    abort();
  }
  __atomic_store_n(&isl_iso__undefined, undef, __ATOMIC_RELAXED);

  isl_val_t math = 0;
  rc = isl_iso_global(iso, &math);
  if (rc == 0) {
    isl_val_t m;
    rc = isl_iso_get(iso, math, "Math", &m);
    isl_iso_release(iso, math);
    if (rc == 0) {
      rc = define_keyed(iso, m, "random", isl_iso__own_fns[0].name, math_random, NULL);
      isl_iso_release(iso, m);
    }
  }
  if (rc < 0) {
    isl_err_set(err, rc, "cannot set up the isolate: %s", iso->err.message);
    isl_iso_free(iso);
    return rc;
  }
  *out = iso;
  return 0;
}

void isl_iso_free(isl_iso_t *iso) {
  if (!iso) return;
  if (iso->instantiated) Z_qjs_free(&iso->inst);
  isl_mem__release(&iso->mem);
  isl_iso_snapshot_free(iso->src);
  free(iso->fns);
  free(iso);
}

/* ---- error detail --------------------------------------------------------- */

static void copy_prop(isl_iso_t *iso, isl_val_t obj, const char *key, char *dst, size_t cap) {
  isl_val_t v;
  dst[0] = 0;
  if (isl_iso_get(iso, obj, key, &v) < 0) return;
  const char *t = isl_iso_typeof(iso, v);
  if (strcmp(t, "undefined") != 0) {
    char *s = isl_iso_to_cstring(iso, v);
    if (s) snprintf(dst, cap, "%s", s);
    free(s);
  }
  isl_iso_release(iso, v);
}

/* "    at f (file.js:12:5)" or "    at file.js:12:5": the first frame. */
static void parse_location(isl_iso_error_t *e) {
  const char *at = strstr(e->stack, "at ");
  if (!at) return;
  const char *end = strchr(at, '\n');
  if (!end) end = at + strlen(at);
  const char *open = memchr(at, '(', (size_t)(end - at));
  const char *loc = open ? open + 1 : at + 3;
  const char *stop = open ? memchr(loc, ')', (size_t)(end - loc)) : end;
  if (!stop) stop = end;
  /* file:line:col - the file may itself contain ':' */
  const char *c2 = NULL, *c1 = NULL;
  for (const char *q = stop - 1; q > loc; q--)
    if (*q == ':') {
      if (!c2) {
        c2 = q;
      } else {
        c1 = q;
        break;
      }
    }
  if (!c1) return;
  snprintf(e->file, sizeof(e->file), "%.*s", (int)(c1 - loc), loc);
  e->line = atoi(c1 + 1);
}

static void fill_error(isl_iso_t *iso, isl_val_t ex) {
  isl_iso_error_t *e = &iso->err;
  int code = iso->interrupted ? ISL_ETIMEOUT : iso->oom ? ISL_EMEMLIMIT : ISL_EJS;
  memset(e, 0, sizeof(*e));
  if (strcmp(isl_iso_typeof(iso, ex), "object") == 0) {
    copy_prop(iso, ex, "name", e->name, sizeof(e->name));
    copy_prop(iso, ex, "message", e->message, sizeof(e->message));
    copy_prop(iso, ex, "stack", e->stack, sizeof(e->stack));
    char line[32];
    copy_prop(iso, ex, "fileName", e->file, sizeof(e->file));
    copy_prop(iso, ex, "lineNumber", line, sizeof(line));
    e->line = atoi(line);
    if (!e->file[0] || !e->line) parse_location(e);
  } else {
    char *s = isl_iso_to_cstring(iso, ex);
    if (s) snprintf(e->message, sizeof(e->message), "%s", s);
    free(s);
  }
  if (code == ISL_ETIMEOUT)
    snprintf(e->message, sizeof(e->message), "CPU time limit of %u ms exceeded", iso->limits.cpu_ms);
  e->code = code;
}

/* Takes ownership of `r`, a JSValue* returned by the engine: 0 when it is an
 * ordinary value (left to the caller), else the error code after filling
 * iso->err and releasing r. */
int isl_iso__check(isl_iso_t *iso, uint32_t r) {
  if (!r) {
    memset(&iso->err, 0, sizeof(iso->err));
    iso->err.code = ISL_EMEMLIMIT;
    snprintf(iso->err.message, sizeof(iso->err.message), "out of memory");
    return ISL_EMEMLIMIT;
  }
  volatile uint32_t ex = 0;
  int trap;
  ISL_SBX_RUN(iso, trap, ex = ISL_QTS_ResolveException(&iso->inst, iso->ctx, r));
  if (trap) return isl_iso__fail_trap(iso, trap);
  if (!ex) return 0;
  isl_iso_release(iso, r);
  fill_error(iso, ex);
  isl_iso_release(iso, ex);
  return iso->err.code;
}

/* Clears an exception left pending by an engine call that failed without
 * returning it (JS_ToCString, JS_ToFloat64). */
static void clear_exception(isl_iso_t *iso) {
  uint8_t *p = isl_mem__ptr(&iso->mem, iso->scratch, 8);
  uint64_t exc = JSV_TAG(JSV_TAG_EXCEPTION);
  memcpy(p, &exc, 8);
  volatile uint32_t ex = 0;
  int trap;
  ISL_SBX_RUN(iso, trap, ex = ISL_QTS_ResolveException(&iso->inst, iso->ctx, iso->scratch));
  if (!trap && ex) isl_iso_release(iso, ex);
}

/* ---- running code ----------------------------------------------------------- */

static int finish(isl_iso_t *iso, uint32_t r, isl_val_t *result) {
  int rc = isl_iso__check(iso, r);
  if (rc < 0) return rc;
  if (result) {
    *result = r;
  } else {
    isl_iso_release(iso, r);
  }
  return 0;
}

int isl_iso_eval(isl_iso_t *iso, const char *src, size_t len, const char *file, int kind, isl_val_t *result) {
  int rc = isl_iso__enter(iso);
  if (rc < 0) return rc;
  if (result) *result = 0;
  if (!file) file = "<eval>";
  uint32_t code = isl_iso__guest_strdup(iso, src, len);
  uint32_t name = isl_iso__guest_strdup(iso, file, strlen(file));
  volatile uint32_t r = 0;
  int trap = 0;
  if (code && name)
    ISL_SBX_RUN(iso, trap,
                r = ISL_QTS_Eval(&iso->inst, iso->ctx, code, (u32)len, name, 0, kind == ISL_ISO_EVAL_MODULE ? 1 : 0));
  guest_free(iso, code);
  guest_free(iso, name);
  if (trap) return isl_iso__fail_trap(iso, trap);
  return finish(iso, r, result);
}

int isl_iso_call(isl_iso_t *iso, isl_val_t fn, isl_val_t this_val, int argc, const isl_val_t *argv, isl_val_t *result) {
  int rc = isl_iso__enter(iso);
  if (rc < 0) return rc;
  if (result) *result = 0;
  if (argc < 0 || argc > 65535) return ISL_EINVAL;
  /* The engine wants an array of JSValue* in guest memory. */
  uint32_t args = iso->scratch + 16;
  if (argc > 12) {
    int trap;
    volatile uint32_t p = 0;
    ISL_SBX_RUN(iso, trap, p = ISL_QTS_malloc(&iso->inst, (u32)argc * 4));
    if (trap) return isl_iso__fail_trap(iso, trap);
    if (!p) return isl_iso__check(iso, 0);
    args = p;
  }
  uint32_t *dst = isl_mem__ptr(&iso->mem, args, (uint64_t)argc * 4);
  for (int i = 0; i < argc; i++) {
    uint32_t a = argv[i] ? argv[i] : isl_iso__undefined;
    memcpy(&dst[i], &a, 4);
  }
  volatile uint32_t r = 0;
  int trap;
  ISL_SBX_RUN(iso, trap,
              r = ISL_QTS_Call(&iso->inst, iso->ctx, fn ? fn : isl_iso__undefined,
                               this_val ? this_val : isl_iso__undefined, (u32)argc, args));
  if (args != iso->scratch + 16) guest_free(iso, args);
  if (trap) return isl_iso__fail_trap(iso, trap);
  return finish(iso, r, result);
}

int isl_iso_has_jobs(isl_iso_t *iso) {
  if (isl_iso__enter(iso) < 0) return 0;
  volatile uint32_t pending = 0;
  int trap;
  ISL_SBX_RUN(iso, trap, pending = ISL_QTS_IsJobPending(&iso->inst, iso->rt));
  return !trap && pending;
}

int isl_iso_run_jobs(isl_iso_t *iso, int *ran) {
  int rc = isl_iso__enter(iso);
  if (ran) *ran = 0;
  if (rc < 0) return rc;
  volatile uint32_t r = 0;
  int trap;
  ISL_SBX_RUN(iso, trap, r = ISL_QTS_ExecutePendingJob(&iso->inst, iso->rt, -1, iso->scratch));
  if (trap) return isl_iso__fail_trap(iso, trap);
  rc = isl_iso__check(iso, r);
  if (rc < 0) return rc;
  /* A count of jobs run, or the exception that stopped them. Promise jobs
   * turn their own exceptions into rejections, so only uncatchable errors
   * (interrupts, out of memory) get here, and those are objects. */
  if (strcmp(isl_iso_typeof(iso, r), "number") == 0) {
    if (ran) *ran = (int)isl_iso_to_number(iso, r);
    isl_iso_release(iso, r);
    return 0;
  }
  fill_error(iso, r);
  isl_iso_release(iso, r);
  return iso->err.code;
}

/* ---- values ----------------------------------------------------------------- */

void isl_iso_release(isl_iso_t *iso, isl_val_t v) {
  int trap;
  if (v && v != isl_iso__undefined && !iso->dead)
    ISL_SBX_RUN(iso, trap, ISL_QTS_FreeValuePointer(&iso->inst, iso->ctx, v));
  (void)trap;
}

/* Runs one engine call that returns a new JSValue*, checking traps and
 * exceptions. Used by the small value constructors below. */
#define VALUE_CALL(iso, out, expr)                    \
  do {                                                \
    int rc_ = isl_iso__enter(iso);                    \
    if (rc_ < 0) return rc_;                          \
    volatile uint32_t r_ = 0;                         \
    int trap_;                                        \
    ISL_SBX_RUN(iso, trap_, r_ = (expr));             \
    if (trap_) return isl_iso__fail_trap(iso, trap_); \
    return finish(iso, r_, out);                      \
  } while (0)

int isl_iso_dup(isl_iso_t *iso, isl_val_t v, isl_val_t *out) {
  VALUE_CALL(iso, out, ISL_QTS_DupValuePointer(&iso->inst, iso->ctx, v ? v : isl_iso__undefined));
}

int isl_iso_global(isl_iso_t *iso, isl_val_t *out) {
  VALUE_CALL(iso, out, ISL_QTS_GetGlobalObject(&iso->inst, iso->ctx));
}

int isl_iso_new_number(isl_iso_t *iso, double d, isl_val_t *out) {
  VALUE_CALL(iso, out, ISL_QTS_NewFloat64(&iso->inst, iso->ctx, d));
}

int isl_iso_new_object(isl_iso_t *iso, isl_val_t *out) {
  VALUE_CALL(iso, out, ISL_QTS_NewObject(&iso->inst, iso->ctx));
}

int isl_iso_new_string(isl_iso_t *iso, const char *s, isl_val_t *out) {
  int rc = isl_iso__enter(iso);
  if (rc < 0) return rc;
  uint32_t p = isl_iso__guest_strdup(iso, s, strlen(s));
  if (!p) return iso->dead ? isl_iso__fail_trap(iso, iso->trap) : isl_iso__check(iso, 0);
  volatile uint32_t r = 0;
  int trap;
  ISL_SBX_RUN(iso, trap, r = ISL_QTS_NewString(&iso->inst, iso->ctx, p));
  guest_free(iso, p);
  if (trap) return isl_iso__fail_trap(iso, trap);
  return finish(iso, r, out);
}

int isl_iso_get(isl_iso_t *iso, isl_val_t obj, const char *key, isl_val_t *out) {
  isl_val_t k;
  *out = 0;
  int rc = isl_iso_new_string(iso, key, &k);
  if (rc < 0) return rc;
  volatile uint32_t r = 0;
  int trap;
  ISL_SBX_RUN(iso, trap, r = ISL_QTS_GetProp(&iso->inst, iso->ctx, obj ? obj : isl_iso__undefined, k));
  if (trap) return isl_iso__fail_trap(iso, trap);
  isl_iso_release(iso, k);
  return finish(iso, r, out);
}

int isl_iso_set(isl_iso_t *iso, isl_val_t obj, const char *key, isl_val_t v) {
  isl_val_t k;
  int rc = isl_iso_new_string(iso, key, &k);
  if (rc < 0) return rc;
  int trap;
  ISL_SBX_RUN(iso, trap,
              ISL_QTS_SetProp(&iso->inst, iso->ctx, obj ? obj : isl_iso__undefined, k, v ? v : isl_iso__undefined));
  if (trap) return isl_iso__fail_trap(iso, trap);
  isl_iso_release(iso, k);
  return 0;
}

char *isl_iso_to_cstring(isl_iso_t *iso, isl_val_t v) {
  if (isl_iso__enter(iso) < 0) return NULL;
  volatile uint32_t p = 0;
  int trap;
  ISL_SBX_RUN(iso, trap, p = ISL_QTS_GetString(&iso->inst, iso->ctx, v ? v : isl_iso__undefined));
  if (trap) {
    isl_iso__fail_trap(iso, trap);
    return NULL;
  }
  if (!p) {
    clear_exception(iso);
    return NULL;
  }
  const char *s = isl_mem__ptr(&iso->mem, p, 1);
  const char *end = s ? memchr(s, 0, iso->mem.size - p) : NULL;
  char *volatile copy = end ? strndup(s, (size_t)(end - s)) : NULL;
  ISL_SBX_RUN(iso, trap, ISL_QTS_FreeCString(&iso->inst, iso->ctx, p));
  if (trap) isl_iso__fail_trap(iso, trap);
  return copy;
}

double isl_iso_to_number(isl_iso_t *iso, isl_val_t v) {
  if (isl_iso__enter(iso) < 0) return 0.0 / 0.0;
  volatile double d = 0;
  int trap;
  ISL_SBX_RUN(iso, trap, d = ISL_QTS_GetFloat64(&iso->inst, iso->ctx, v ? v : isl_iso__undefined));
  if (trap) {
    isl_iso__fail_trap(iso, trap);
    return 0.0 / 0.0;
  }
  if (d != d) clear_exception(iso);
  return d;
}

const char *isl_iso_typeof(isl_iso_t *iso, isl_val_t v) {
  static const char *const names[] = {"undefined", "object",  "function", "string",
                                      "number",    "boolean", "symbol",   "bigint"};
  if (isl_iso__enter(iso) < 0) return "unknown";
  volatile uint32_t p = 0;
  int trap;
  ISL_SBX_RUN(iso, trap, p = ISL_QTS_Typeof(&iso->inst, iso->ctx, v ? v : isl_iso__undefined));
  if (trap) {
    isl_iso__fail_trap(iso, trap);
    return "unknown";
  }
  const char *s = p ? isl_mem__ptr(&iso->mem, p, 10) : NULL;
  const char *res = "unknown";
  for (size_t i = 0; s && i < sizeof(names) / sizeof(names[0]); i++)
    if (strncmp(s, names[i], 10) == 0) res = names[i];
  guest_free(iso, p);
  return res;
}

int isl_iso_promise_state(isl_iso_t *iso, isl_val_t promise) {
  if (isl_iso__enter(iso) < 0) return ISL_ISO_NOT_A_PROMISE;
  volatile uint32_t s = 0;
  int trap;
  ISL_SBX_RUN(iso, trap, s = ISL_QTS_PromiseState(&iso->inst, iso->ctx, promise ? promise : isl_iso__undefined));
  if (trap) {
    isl_iso__fail_trap(iso, trap);
    return ISL_ISO_NOT_A_PROMISE;
  }
  return (int)(int32_t)s;
}

int isl_iso_promise_result(isl_iso_t *iso, isl_val_t promise, isl_val_t *out) {
  VALUE_CALL(iso, out, ISL_QTS_PromiseResult(&iso->inst, iso->ctx, promise ? promise : isl_iso__undefined));
}

/* The engine's copy of ArrayBuffer v's bytes, in guest memory (*data, 0 for
 * a non-buffer, which leaves an exception pending) and their count: the
 * caller frees it with guest_free. The engine has no export that lends a
 * buffer's bytes in place. */
static int guest_buffer_copy(isl_iso_t *iso, isl_val_t v, uint32_t *data, uint32_t *n) {
  int rc = isl_iso__enter(iso);
  if (rc < 0) return rc;
  volatile uint32_t vn = 0, vdata = 0;
  int trap;
  ISL_SBX_RUN(iso, trap, {
    vn = ISL_QTS_GetArrayBufferLength(&iso->inst, iso->ctx, v ? v : isl_iso__undefined);
    vdata = ISL_QTS_GetArrayBuffer(&iso->inst, iso->ctx, v ? v : isl_iso__undefined);
  });
  if (trap) return isl_iso__fail_trap(iso, trap);
  *data = vdata;
  *n = vn;
  return 0;
}

int isl_iso_array_buffer_copy(isl_iso_t *iso, isl_val_t v, uint8_t **buf, size_t *len) {
  *buf = NULL;
  *len = 0;
  uint32_t n = 0, data = 0;
  int rc = guest_buffer_copy(iso, v, &data, &n);
  if (rc < 0) return rc;
  /* 0 for a non-buffer (and possibly for an empty one). */
  const uint8_t *src = data ? isl_mem__ptr(&iso->mem, data, n) : NULL;
  if (!src && n) {
    guest_free(iso, data);
    return ISL_EINVAL;
  }
  *buf = malloc(n ? n : 1);
  if (!*buf) {
    guest_free(iso, data);
    return ISL_ENOMEM;
  }
  if (n) memcpy(*buf, src, n);
  *len = n;
  guest_free(iso, data);
  return 0;
}

static int copy_in(uint8_t *dst, size_t len, void *bytes) {
  if (len) memcpy(dst, bytes, len);
  return 0;
}

int isl_iso_new_array_buffer(isl_iso_t *iso, const void *bytes, size_t len, isl_val_t *out) {
  return isl_iso_new_array_buffer_fill(iso, len, copy_in, (void *)bytes, out);
}

int isl_iso_to_bjson(isl_iso_t *iso, isl_val_t v, uint8_t **buf, size_t *len) {
  int rc = isl_iso__enter(iso);
  if (rc < 0) return rc;
  volatile uint32_t ab = 0;
  int trap;
  ISL_SBX_RUN(iso, trap, ab = ISL_QTS_bjson_encode(&iso->inst, iso->ctx, v ? v : isl_iso__undefined));
  if (trap) return isl_iso__fail_trap(iso, trap);
  if ((rc = isl_iso__check(iso, ab)) < 0) return rc;
  rc = isl_iso_array_buffer_copy(iso, ab, buf, len);
  isl_iso_release(iso, ab);
  return rc;
}

int isl_iso_from_bjson(isl_iso_t *iso, const uint8_t *buf, size_t len, isl_val_t *out) {
  isl_val_t abv;
  int rc = isl_iso_new_array_buffer(iso, buf, len, &abv);
  *out = 0;
  if (rc < 0) return rc;
  volatile uint32_t ab = abv;
  int trap;
  volatile uint32_t r = 0;
  ISL_SBX_RUN(iso, trap, r = ISL_QTS_bjson_decode(&iso->inst, iso->ctx, ab));
  if (trap) return isl_iso__fail_trap(iso, trap);
  isl_iso_release(iso, ab);
  return finish(iso, r, out);
}

/* ---- bulk data in place ------------------------------------------------------ */

int isl_iso_array_buffer_read(isl_iso_t *iso, isl_val_t v, isl_iso_bytes_fn fn, void *arg) {
  uint32_t n = 0, data = 0;
  int rc = guest_buffer_copy(iso, v, &data, &n);
  if (rc < 0) return rc;
  if (!data) {
    /* Not an ArrayBuffer (the engine threw), or no memory for the copy. */
    clear_exception(iso);
    return ISL_EINVAL;
  }
  const uint8_t *src = isl_mem__ptr(&iso->mem, data, n);
  rc = src ? fn(src, n, arg) : ISL_EINVAL;
  guest_free(iso, data);
  return iso->dead ? ISL_EDEAD : rc;
}

int isl_iso_new_array_buffer_fill(isl_iso_t *iso, size_t len, isl_iso_fill_fn fill, void *arg, isl_val_t *out) {
  *out = 0;
  int rc = isl_iso__enter(iso);
  if (rc < 0) return rc;
  if (len >= UINT32_MAX) return ISL_EINVAL;
  volatile uint32_t data = 0, ab = 0;
  int trap;
  ISL_SBX_RUN(iso, trap, data = ISL_QTS_malloc(&iso->inst, (u32)len ? (u32)len : 1));
  if (trap) return isl_iso__fail_trap(iso, trap);
  if (!data) return isl_iso__check(iso, 0);
  if ((rc = fill(isl_mem__ptr(&iso->mem, data, len), len, arg)) < 0) {
    guest_free(iso, data);
    return rc;
  }
  /* The ArrayBuffer takes the guest buffer and frees it when collected. */
  ISL_SBX_RUN(iso, trap, ab = ISL_QTS_NewArrayBuffer(&iso->inst, iso->ctx, data, (u32)len));
  if (trap) return isl_iso__fail_trap(iso, trap);
  return finish(iso, ab, out);
}

/* Strings are made by the engine's binary-JSON reader (QTS_bjson_decode),
 * the one export that takes a string with its length and any content: a
 * buffer of [prefix][LEB128 of n << 1 | wide][n bytes or n units]. The
 * prefix (format version, atom count, string tag) is this engine's: it is
 * learnt once per process from the engine's own encoding of "a" and
 * "\u0100", and the engine build is pinned, so it never changes while the
 * process runs. */
#define BJSON_PREFIX_MAX 8
static pthread_mutex_t bjson_lock = PTHREAD_MUTEX_INITIALIZER;
static uint8_t bjson_prefix[BJSON_PREFIX_MAX];
static size_t bjson_prefix_len; /* 0 until learnt; read under bjson_lock or after bjson_ready */
static _Atomic int bjson_ready;

/* The prefix of string s's encoding, whose tail must be `tail` (tail_len bytes). */
static int bjson_string_prefix(isl_iso_t *iso, const char *s, const uint8_t *tail, size_t tail_len, uint8_t *prefix,
                               size_t *prefix_len) {
  isl_val_t v = 0;
  uint8_t *buf = NULL;
  size_t n = 0;
  int rc = isl_iso_new_string(iso, s, &v);
  if (rc == 0) rc = isl_iso_to_bjson(iso, v, &buf, &n);
  isl_iso_release(iso, v);
  if (rc == 0 && (n <= tail_len || n - tail_len > BJSON_PREFIX_MAX || memcmp(buf + n - tail_len, tail, tail_len)))
    rc = ISL_EINVAL;
  if (rc == 0) {
    *prefix_len = n - tail_len;
    memcpy(prefix, buf, *prefix_len);
  }
  free(buf);
  return rc;
}

static int bjson_learn(isl_iso_t *iso) {
  if (bjson_ready) return 0;
  static const uint8_t narrow[] = {0x02, 'a'}, wide[] = {0x03, 0x00, 0x01};
  uint8_t p1[BJSON_PREFIX_MAX], p2[BJSON_PREFIX_MAX];
  size_t n1 = 0, n2 = 0;
  int rc = bjson_string_prefix(iso, "a", narrow, sizeof(narrow), p1, &n1);
  if (rc == 0) rc = bjson_string_prefix(iso, "\xc4\x80", wide, sizeof(wide), p2, &n2);
  if (rc == 0 && (n1 != n2 || memcmp(p1, p2, n1))) rc = ISL_EINVAL;
  if (rc < 0) {
    fprintf(stderr, "isolate: the engine's binary JSON of a string is not what the host expects\n");
    return rc;
  }
  pthread_mutex_lock(&bjson_lock);
  memcpy(bjson_prefix, p1, n1);
  bjson_prefix_len = n1;
  bjson_ready = 1;
  pthread_mutex_unlock(&bjson_lock);
  return 0;
}

int isl_iso_new_string_fill(isl_iso_t *iso, size_t n, int wide, isl_iso_fill_fn fill, void *arg, isl_val_t *out) {
  *out = 0;
  int rc = isl_iso__enter(iso);
  if (rc < 0) return rc;
  if (n >= (1u << 30)) return ISL_EINVAL;
  if ((rc = bjson_learn(iso)) < 0) return rc;
  uint8_t head[BJSON_PREFIX_MAX + 5];
  size_t h = bjson_prefix_len;
  memcpy(head, bjson_prefix, h);
  for (uint32_t len = (uint32_t)n << 1 | (wide ? 1u : 0u);; len >>= 7) {
    head[h++] = (uint8_t)((len & 0x7f) | (len > 0x7f ? 0x80 : 0));
    if (len <= 0x7f) break;
  }
  size_t body = wide ? n * 2 : n, total = h + body;
  volatile uint32_t data = 0, ab = 0, r = 0;
  int trap;
  ISL_SBX_RUN(iso, trap, data = ISL_QTS_malloc(&iso->inst, (u32)total));
  if (trap) return isl_iso__fail_trap(iso, trap);
  if (!data) return isl_iso__check(iso, 0);
  uint8_t *dst = isl_mem__ptr(&iso->mem, data, total);
  memcpy(dst, head, h);
  if ((rc = fill(dst + h, n, arg)) < 0) {
    guest_free(iso, data);
    return rc;
  }
  ISL_SBX_RUN(iso, trap, ab = ISL_QTS_NewArrayBuffer(&iso->inst, iso->ctx, data, (u32)total));
  if (trap) return isl_iso__fail_trap(iso, trap);
  if ((rc = isl_iso__check(iso, ab)) < 0) return rc;
  ISL_SBX_RUN(iso, trap, r = ISL_QTS_bjson_decode(&iso->inst, iso->ctx, ab));
  if (trap) return isl_iso__fail_trap(iso, trap);
  isl_iso_release(iso, ab);
  return finish(iso, r, out);
}

/* The length of the engine's UTF-8 form of a string of `units` code units at
 * s (max readable bytes); SIZE_MAX when the bytes do not match. */
static size_t utf8_form_length(const uint8_t *s, size_t max, size_t units) {
  size_t i = 0, u = 0;
  while (u < units) {
    if (u + 8 <= units && i + 8 <= max) {
      uint64_t w;
      memcpy(&w, s + i, 8);
      if (!(w & 0x8080808080808080ull)) {
        i += 8;
        u += 8;
        continue;
      }
    }
    if (i >= max) return SIZE_MAX;
    uint8_t b = s[i];
    if (b < 0x80) {
      i += 1;
      u += 1;
    } else if (b < 0xc0) {
      return SIZE_MAX; /* a continuation byte cannot start a character */
    } else if (b < 0xe0) {
      i += 2;
      u += 1;
    } else if (b < 0xf0) {
      i += 3;
      u += 1;
    } else {
      i += 4;
      u += 2;
    }
  }
  return u == units && i < max && s[i] == 0 ? i : SIZE_MAX;
}

int isl_iso_string_utf8_read(isl_iso_t *iso, isl_val_t v, size_t units, isl_iso_bytes_fn fn, void *arg) {
  int rc = isl_iso__enter(iso);
  if (rc < 0) return rc;
  volatile uint32_t p = 0;
  int trap = 0;
  ISL_SBX_RUN(iso, trap, p = ISL_QTS_GetString(&iso->inst, iso->ctx, v ? v : isl_iso__undefined));
  if (trap) return isl_iso__fail_trap(iso, trap);
  if (!p) {
    clear_exception(iso);
    return isl_iso__check(iso, 0);
  }
  const uint8_t *s = isl_mem__ptr(&iso->mem, p, 1);
  size_t len = s ? utf8_form_length(s, iso->mem.size - p, units) : SIZE_MAX;
  rc = len == SIZE_MAX ? ISL_EINVAL : fn(s, len, arg);
  if (!iso->dead) ISL_SBX_RUN(iso, trap, ISL_QTS_FreeCString(&iso->inst, iso->ctx, p));
  if (trap) return isl_iso__fail_trap(iso, trap);
  return iso->dead ? ISL_EDEAD : rc;
}

/* ---- host functions --------------------------------------------------------- */

int isl_iso__add_fn(isl_iso_t *iso, isl_iso_host_fn fn, void *data, const char *key, uint32_t *id) {
  if (iso->n_fns == iso->cap_fns) {
    uint32_t cap = iso->cap_fns ? iso->cap_fns * 2 : 8;
    isl_iso_fn_t *f = realloc(iso->fns, cap * sizeof(*f));
    if (!f) return ISL_ENOMEM;
    iso->fns = f;
    iso->cap_fns = cap;
  }
  iso->fns[iso->n_fns] = (isl_iso_fn_t){fn, data, key};
  *id = iso->n_fns++;
  return 0;
}

/* obj[name] = a function calling fn; key names it in snapshot files. */
static int define_keyed(isl_iso_t *iso, isl_val_t obj, const char *name, const char *key, isl_iso_host_fn fn,
                        void *data) {
  int rc = isl_iso__enter(iso);
  if (rc < 0) return rc;
  uint32_t id;
  if ((rc = isl_iso__add_fn(iso, fn, data, key, &id)) < 0) return rc;
  uint32_t gname = isl_iso__guest_strdup(iso, name, strlen(name));
  if (!gname) return isl_iso__check(iso, 0);
  volatile uint32_t f = 0;
  int trap;
  ISL_SBX_RUN(iso, trap, f = ISL_QTS_NewFunction(&iso->inst, iso->ctx, gname, 0, 0, id));
  guest_free(iso, gname);
  if (trap) return isl_iso__fail_trap(iso, trap);
  if ((rc = isl_iso__check(iso, f)) < 0) return rc;
  isl_val_t target = obj;
  if (!obj && (rc = isl_iso_global(iso, &target)) < 0) {
    isl_iso_release(iso, f);
    return rc;
  }
  rc = isl_iso_set(iso, target, name, f);
  if (!obj) isl_iso_release(iso, target);
  isl_iso_release(iso, f);
  return rc;
}

int isl_iso_define_function(isl_iso_t *iso, isl_val_t obj, const char *name, isl_iso_host_fn fn, void *data) {
  return define_keyed(iso, obj, name, name, fn, data);
}

int isl_iso_throw(isl_iso_t *iso, const char *ctor, const char *message) {
  isl_val_t global = 0, c = 0, msg = 0, err = 0;
  if (isl_iso_global(iso, &global) == 0 && isl_iso_get(iso, global, ctor, &c) == 0 &&
      isl_iso_new_string(iso, message, &msg) == 0 && isl_iso_call(iso, c, 0, 1, &msg, &err) == 0) {
    volatile uint32_t r = 0;
    int trap;
    ISL_SBX_RUN(iso, trap, r = ISL_QTS_Throw(&iso->inst, iso->ctx, err));
    if (!trap) iso->pending_throw = r;
  }
  isl_iso_release(iso, err);
  isl_iso_release(iso, msg);
  isl_iso_release(iso, c);
  isl_iso_release(iso, global);
  return ISL_EJS;
}

/* ---- state -------------------------------------------------------------------- */

void isl_iso_set_module_loader(isl_iso_t *iso, isl_iso_module_loader_fn fn, void *data) {
  iso->loader = fn;
  iso->loader_data = data;
}

void isl_iso_set_log(isl_iso_t *iso, isl_iso_log_fn fn, void *data) {
  iso->log = fn;
  iso->log_data = data;
}

const isl_iso_error_t *isl_iso_last_error(const isl_iso_t *iso) {
  return &iso->err;
}
int isl_iso_is_dead(const isl_iso_t *iso) {
  return iso->dead;
}
size_t isl_iso_memory_bytes(const isl_iso_t *iso) {
  return iso->mem.size;
}
int isl_iso_set_limits(isl_iso_t *iso, const isl_iso_limits_t *limits) {
  isl_iso_limits_t l = *limits;
  limits_normalise(&l);
  uint64_t pages = (uint64_t)l.memory_max_mb * (1024 * 1024 / ISL_WASM_PAGE);
  if (l.memory_max_mb > 2048 || pages < iso->mem.pages || l.hard_stop_ms < l.cpu_ms) return ISL_EINVAL;
  iso->limits = l;
  iso->max_pages = (uint32_t)pages;
  iso->mem.max_pages = (uint32_t)pages;
  return 0;
}

void isl_iso_set_time(isl_iso_t *iso, double ms) {
  iso->frozen_ms = ms;
}
void *isl_iso_get_data(const isl_iso_t *iso) {
  return iso->data;
}
void isl_iso_set_data(isl_iso_t *iso, void *data) {
  iso->data = data;
}

int isl_iso_hit_memory_cap(const isl_iso_t *iso) {
  return iso->oom;
}

int isl_iso_needs_recycle(const isl_iso_t *iso) {
  uint32_t grown = iso->mem.pages - iso->base_pages;
  /* More than 16 MiB and more than the size it started at. */
  return iso->mem.pages > iso->base_pages && grown > 256 && grown > iso->base_pages;
}
