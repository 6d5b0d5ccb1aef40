/*
 * isolate.h - the contract of src/isolate: tenant isolates.
 *
 * An isolate is one instance of the QuickJS-ng engine compiled to
 * WebAssembly and translated to C by wasm2c. All of the engine's state (heap,
 * stack, runtime, context) lives in the instance's own linear memory, an
 * 8 GiB address-space reservation guarded by PROT_NONE pages, so even a bug
 * in the engine can only touch that tenant's memory. Any trap (bad access,
 * stack overflow, hard CPU stop, engine abort) unwinds to the host call that
 * entered the isolate; the isolate is then dead and must be freed, and the
 * process and every other isolate carry on.
 *
 * What it owns: creating, snapshotting, cloning and destroying isolates,
 * running scripts, modules, calls and promise jobs in them, host functions,
 * and the hard limits (memory cap, CPU deadline, stack).
 * What it does not do: HTTP, Web APIs, event loops. Those are src/runtime.
 *
 * Threads: any number of threads may run isolates at once, but one isolate
 * is used by one thread at a time. The first isolate call on a thread sets
 * the thread up (alternate signal stack, CPU timer) by itself.
 *
 * Values: an isl_val_t is a handle to a JS value inside the isolate (the
 * address of a JSValue in its linear memory). A handle returned by a
 * function here is *owned*: release it with isl_iso_release exactly once.
 * Handles passed to host functions are *borrowed* for the call. 0 stands for
 * undefined wherever a value is accepted. Handles are only meaningful in the
 * isolate that made them, or in clones of a snapshot taken after they were
 * made (a clone's memory starts as a copy of the template's).
 */
#ifndef ISL_ISOLATE_H
#define ISL_ISOLATE_H

#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

/* Default hard cap of one isolate's linear memory, in MiB. */
#ifndef ISL_ISO_MEMORY_MAX_MB
#define ISL_ISO_MEMORY_MAX_MB 128
#endif
/* Default CPU deadline of one top-level call, in ms. */
#ifndef ISL_ISO_CPU_MS
#define ISL_ISO_CPU_MS 50
#endif
/* Extra CPU time, in ms, after the deadline before code that never reaches
 * an interrupt check is trapped out (the isolate is then dead). */
#ifndef ISL_ISO_HARD_STOP_GRACE_MS
#define ISL_ISO_HARD_STOP_GRACE_MS 50
#endif
/* QuickJS stack limit in KiB; deeper recursion is a catchable RangeError. */
#ifndef ISL_ISO_STACK_KB
#define ISL_ISO_STACK_KB 512
#endif

typedef struct isl_iso_s isl_iso_t;
typedef struct isl_iso_snapshot_s isl_iso_snapshot_t;
typedef uint32_t isl_val_t;

typedef struct {
  uint32_t memory_max_mb; /* hard cap of linear memory, 1..2048; 0 = default */
  uint32_t cpu_ms;        /* CPU deadline of each top-level call; 0 = default */
  uint32_t hard_stop_ms;  /* CPU time after which a call is trapped out; 0 = cpu_ms + grace */
} isl_iso_limits_t;

/* What went wrong in the last failing call on an isolate. */
typedef struct {
  int code;           /* ISL_EJS, ISL_ETIMEOUT, ISL_EMEMLIMIT, ISL_ETRAP, ... */
  char name[64];      /* "SyntaxError", "TypeError", ...; "" when not an Error */
  char message[1024]; /* the error's message, or String(thrown value) */
  char stack[4096];   /* the JS stack, "" when there is none */
  char file[256];     /* where it was thrown, when known */
  int line;           /* 0 when unknown */
} isl_iso_error_t;

enum {
  ISL_ISO_EVAL_SCRIPT = 0, /* a classic script; the result is its completion value */
  ISL_ISO_EVAL_MODULE = 1, /* an ES module; the result is its namespace, or a
                            * promise of it when it uses top-level await */
};

enum {
  ISL_ISO_PROMISE_PENDING = 0,
  ISL_ISO_PROMISE_FULFILLED = 1,
  ISL_ISO_PROMISE_REJECTED = 2,
  ISL_ISO_NOT_A_PROMISE = -1,
};

/*
 * A host function that JS can call. argv holds argc borrowed handles; store
 * the result (owned, or 0 for undefined) in *ret and return 0. To throw,
 * call isl_iso_throw and return its result (a negative code).
 */
typedef int (*isl_iso_host_fn)(isl_iso_t *iso, void *data, int argc, const isl_val_t *argv, isl_val_t *ret);

/*
 * The module loader: return the source of module `name` (already normalised
 * against the importing module) in memory from malloc (takes), or NULL if
 * there is no such module.
 */
typedef char *(*isl_iso_module_loader_fn)(isl_iso_t *iso, void *data, const char *name);

/* Where a tenant's console output (the engine's stdout/stderr) goes. */
typedef void (*isl_iso_log_fn)(isl_iso_t *iso, void *data, int fd, const char *bytes, size_t len);

/* ---- lifecycle ----------------------------------------------------------- */

/* A fresh isolate: wasm instance, runtime, context. limits may be NULL. */
int isl_iso_new(const isl_iso_limits_t *limits, isl_iso_t **out, isl_err_t *err);
/* Frees the isolate and its whole reservation. NULL is allowed. */
void isl_iso_free(isl_iso_t *iso);

/*
 * A snapshot: the isolate's memory, engine state and host functions,
 * captured copy-on-write so that clones start in microseconds. The isolate
 * stays usable. A snapshot is immutable and may be used by several threads.
 *
 * Snapshots of a clone are layered: they store only the memory pages that
 * differ from the snapshot the clone came from (its parent) and refer to
 * it; their clones map the parent's pages and theirs over them, still
 * copy-on-write. Snapshots are reference-counted inside: the parent lives
 * while a layered child or any clone needs it, so isl_iso_snapshot_free may
 * be called on a parent before its children and before its clones are
 * freed (it drops the caller's reference; the last one frees). Any thread
 * may free.
 */
int isl_iso_snapshot_new(isl_iso_t *iso, isl_iso_snapshot_t **out, isl_err_t *err);
void isl_iso_snapshot_free(isl_iso_snapshot_t *snap);
/* Bytes of memory held by this snapshot itself (not by its parents): every
 * non-zero page for a full snapshot, the stored pages for a layered one. */
size_t isl_iso_snapshot_bytes(const isl_iso_snapshot_t *snap);
/*
 * Hot set: records in snap the memory pages that iso, a clone of snap
 * (borrowed; not inside a call) that has run a representative workload
 * (say, one request), wrote. Every later clone of snap gets its private
 * copies of those pages at once when it is made, instead of one
 * copy-on-write fault each while it runs: a clone costs more (~2 us a
 * page) and its first call less (~3 us a page). Clones stay as isolated
 * and behave as before. A snapshot learns once: ISL_EINVAL if it already
 * has a hot set or iso is not its clone, ISL_ELIMIT if iso wrote more than
 * ISL_MEM_HOT_MAX_PAGES pages (then nothing is learned), a negative errno
 * without /proc/self/pagemap. Safe while other threads clone snap.
 */
int isl_iso_snapshot_learn_hot(isl_iso_snapshot_t *snap, isl_iso_t *iso);
/* Gives dst (which has none) src's hot set, cut to dst's memory: a base
 * learns from a clone of one of its layers what a request writes. Saved
 * with dst by isl_iso_snapshot_save. A layer with no hot set of its own
 * prefetches its nearest parent's. ISL_EINVAL if src has none, dst has
 * one, or nothing of it falls in dst. */
int isl_iso_snapshot_adopt_hot(isl_iso_snapshot_t *dst, const isl_iso_snapshot_t *src);
/* OS pages in snap's hot set; 0 when it has none. */
size_t isl_iso_snapshot_hot_pages(const isl_iso_snapshot_t *snap);
/*
 * Snapshot files: a full snapshot (of an isolate made with isl_iso_new)
 * written to disk once, at build time, and mapped by every later process
 * copy-on-write from the page cache, so no engine code runs to make it
 * again. The file holds the memory image (sparse), the engine's state, the
 * keys of the host functions (the names they were defined with; keys must
 * be unique) and up to ISL_ISO_SNAPFILE_META_MAX bytes of the caller's own
 * (meta: say, handles it needs). build_id names what made it (the engine
 * and the code that ran); a file with another build_id, another format
 * version or another page size is refused, as is a truncated one.
 * Written to path.tmp and renamed, so a process that maps the old file
 * keeps its pages while a build replaces it.
 */
#ifndef ISL_ISO_SNAPFILE_META_MAX
#define ISL_ISO_SNAPFILE_META_MAX 4096
#endif
/* A host function a snapshot file refers to: key as defined, fn and data
 * for this process (data borrowed, must outlive the snapshot's clones). */
typedef struct {
  const char *name;
  isl_iso_host_fn fn;
  void *data;
} isl_iso_host_def_t;
int isl_iso_snapshot_save(const isl_iso_snapshot_t *snap, const char *path, const char *build_id, const void *meta,
                          size_t meta_len, isl_err_t *err);
/* Maps the snapshot file at path. Every host function key in the file must
 * be one of fns (n_fns borrowed entries) or the isolate's own. *meta gets
 * a copy of the caller's bytes from malloc (owned), *meta_len their size. */
int isl_iso_snapshot_open(const char *path, const char *build_id, const isl_iso_host_def_t *fns, size_t n_fns,
                          isl_iso_snapshot_t **out, void **meta, size_t *meta_len, isl_err_t *err);

/* A new isolate that behaves exactly like the snapshot's template did, with
 * its own memory, its own randomness and the snapshot's limits. */
int isl_iso_new_from_snapshot(const isl_iso_snapshot_t *snap, isl_iso_t **out, isl_err_t *err);

/* ---- running code -------------------------------------------------------- */

/* Evaluates src (len bytes, UTF-8) as a script or module named `file`.
 * *result (may be NULL) gets an owned handle. On ISL_EJS, ISL_ETIMEOUT or
 * ISL_EMEMLIMIT the isolate is still usable; on ISL_ETRAP it is dead. */
int isl_iso_eval(isl_iso_t *iso, const char *src, size_t len, const char *file, int kind, isl_val_t *result);
int isl_iso_call(isl_iso_t *iso, isl_val_t fn, isl_val_t this_val, int argc, const isl_val_t *argv, isl_val_t *result);
/* Runs pending promise jobs until none is left. *ran (may be NULL) counts them. */
int isl_iso_run_jobs(isl_iso_t *iso, int *ran);
int isl_iso_has_jobs(isl_iso_t *iso);

/* ---- turns ----------------------------------------------------------------
 * A turn is one entry of the host into an isolate that may take several
 * calls: an event's call and the promise jobs it queued. Within a turn the
 * CPU deadline (cpu_budget_ns from the first interrupt check) and the hard
 * stop (that plus the limits' grace) span every call, and the "interrupted"
 * and "hit the memory cap" states stay set until the turn ends, so neither
 * a job round nor catching the error resets them. Outside a turn each
 * top-level call gets the limits' cpu_ms, as before. */
void isl_iso_turn_begin(isl_iso_t *iso, uint64_t cpu_budget_ns);
void isl_iso_turn_end(isl_iso_t *iso);

/* ---- fibers ---------------------------------------------------------------
 * A fiber is a stack of its own (8 MiB reserved, guard below) on which host
 * code runs isolate calls that may pause. Inside a fiber, a turn that has
 * run ISL_ISO_SLICE_US of CPU since it was (re)started pauses at the
 * engine's next interrupt check: isl_iso_fiber_start/resume return 0 and
 * the thread is free to serve other events; the turn's deadlines stop
 * while it is paused. A paused isolate may be given values
 * (isl_iso_new_*, isl_iso_release) by the host but must not be called into
 * until the fiber finishes. A fiber belongs to the thread that made it. */
#ifndef ISL_ISO_SLICE_US
#define ISL_ISO_SLICE_US 500
#endif
typedef struct isl_iso_fiber_s isl_iso_fiber_t;
int isl_iso_fiber_new(isl_iso_fiber_t **out);
/* Frees f, even if paused (the work on it is abandoned). */
void isl_iso_fiber_free(isl_iso_fiber_t *f);
/* Runs fn(arg) on f (which must be idle): 1 when it finished, 0 when it paused. */
int isl_iso_fiber_start(isl_iso_fiber_t *f, void (*fn)(void *), void *arg);
/* Runs a paused f on: 1 when it finished, 0 when it paused again. */
int isl_iso_fiber_resume(isl_iso_fiber_t *f);

/* ---- values -------------------------------------------------------------- */

void isl_iso_release(isl_iso_t *iso, isl_val_t v);
int isl_iso_dup(isl_iso_t *iso, isl_val_t v, isl_val_t *out);
int isl_iso_global(isl_iso_t *iso, isl_val_t *out);
int isl_iso_get(isl_iso_t *iso, isl_val_t obj, const char *key, isl_val_t *out);
int isl_iso_set(isl_iso_t *iso, isl_val_t obj, const char *key, isl_val_t v);
int isl_iso_new_string(isl_iso_t *iso, const char *s, isl_val_t *out);
int isl_iso_new_number(isl_iso_t *iso, double d, isl_val_t *out);
int isl_iso_new_object(isl_iso_t *iso, isl_val_t *out);
/* String(v) in memory from malloc (owned by the caller), or NULL. */
char *isl_iso_to_cstring(isl_iso_t *iso, isl_val_t v);
double isl_iso_to_number(isl_iso_t *iso, isl_val_t v);
/* typeof v, as a static string ("unknown" when the isolate is dead). */
const char *isl_iso_typeof(isl_iso_t *iso, isl_val_t v);
/* A new ArrayBuffer holding a copy of len bytes of data (borrowed). */
int isl_iso_new_array_buffer(isl_iso_t *iso, const void *data, size_t len, isl_val_t *out);
/* The bytes of ArrayBuffer v, copied into *buf from malloc (owned by the
 * caller, never NULL on success). ISL_EINVAL when v is not an ArrayBuffer. */
int isl_iso_array_buffer_copy(isl_iso_t *iso, isl_val_t v, uint8_t **buf, size_t *len);
/* Binary JSON (QuickJS's object serialisation): *buf from malloc, owned. */
int isl_iso_to_bjson(isl_iso_t *iso, isl_val_t v, uint8_t **buf, size_t *len);
int isl_iso_from_bjson(isl_iso_t *iso, const uint8_t *buf, size_t len, isl_val_t *out);
int isl_iso_promise_state(isl_iso_t *iso, isl_val_t promise);
int isl_iso_promise_result(isl_iso_t *iso, isl_val_t promise, isl_val_t *out);

/* ---- bulk data in place ---------------------------------------------------
 * For host code that converts large data (src/api/encoding.c): the bytes
 * are read and written where they lie in the isolate's linear memory, with
 * no copy on the host's heap. A callback's pointer points into linear
 * memory and is valid until the callback returns; the callback may create
 * values in the same isolate (isl_iso_new_*), which runs no JS, but must not
 * keep the pointer. A callback returns 0, or a negative code that the
 * function then returns (nothing is created). */
typedef int (*isl_iso_bytes_fn)(const uint8_t *bytes, size_t len, void *arg);
typedef int (*isl_iso_fill_fn)(uint8_t *dst, size_t len, void *arg);

/* Calls fn with the bytes of ArrayBuffer v. (The engine has no export that
 * lends a buffer's bytes: fn sees its copy, made inside the isolate and
 * freed after fn.) ISL_EINVAL when v is not an ArrayBuffer. */
int isl_iso_array_buffer_read(isl_iso_t *iso, isl_val_t v, isl_iso_bytes_fn fn, void *arg);
/* A new ArrayBuffer of len bytes, which fill(dst, len, arg) writes. */
int isl_iso_new_array_buffer_fill(isl_iso_t *iso, size_t len, isl_iso_fill_fn fill, void *arg, isl_val_t *out);
/* A new string of n characters that fill(dst, n, arg) writes: n Latin-1
 * bytes when wide is 0, else n UTF-16 code units of two bytes each, low
 * byte first (dst may be odd-aligned). ISL_EINVAL when n >= 2^30 (the
 * engine's longest string). */
int isl_iso_new_string_fill(isl_iso_t *iso, size_t n, int wide, isl_iso_fill_fn fill, void *arg, isl_val_t *out);
/* Calls fn with string v in the engine's UTF-8 form: a surrogate pair is
 * one 4-byte sequence and a lone surrogate keeps its 3-byte generalised
 * form (ED A0..BF 80..BF, as WTF-8); U+0000 is a 0 byte. units must be v's
 * length in UTF-16 code units (v.length), which is how the end is found.
 * v must be a string (anything else is converted by String(v) first, which
 * may run JS). ISL_EINVAL when the bytes show that units is not its length
 * (it ends inside a character, or not at a 0 byte); a wrong length that
 * the bytes cannot show (one that ends at a U+0000 inside the string, or
 * runs past its end into the isolate's own memory) gives fn the wrong
 * bytes: pass v.length of the same string, nothing else. */
int isl_iso_string_utf8_read(isl_iso_t *iso, isl_val_t v, size_t units, isl_iso_bytes_fn fn, void *arg);

/* ---- host functions ------------------------------------------------------ */

/* Defines obj[name] (obj 0 = the global object) as a function that calls fn.
 * data is borrowed and must outlive the isolate and its snapshots' clones. */
int isl_iso_define_function(isl_iso_t *iso, isl_val_t obj, const char *name, isl_iso_host_fn fn, void *data);
/* Makes the current host function throw `new <ctor>(message)`, where ctor is
 * a global constructor name such as "TypeError". Returns ISL_EJS. */
int isl_iso_throw(isl_iso_t *iso, const char *ctor, const char *message);
void isl_iso_set_module_loader(isl_iso_t *iso, isl_iso_module_loader_fn fn, void *data);
void isl_iso_set_log(isl_iso_t *iso, isl_iso_log_fn fn, void *data);

/* ---- state and limits ---------------------------------------------------- */

const isl_iso_error_t *isl_iso_last_error(const isl_iso_t *iso);
int isl_iso_is_dead(const isl_iso_t *iso);
/* Bytes of linear memory the isolate has grown to (it never shrinks). */
size_t isl_iso_memory_bytes(const isl_iso_t *iso);
/* True when the memory cap refused the engine more memory during the last
 * top-level call, or during the current turn (even if JS caught the
 * resulting error). */
int isl_iso_hit_memory_cap(const isl_iso_t *iso);
/* True when the isolate has grown so far past its snapshot that it should be
 * replaced by a fresh clone once idle (linear memory never shrinks). The
 * measure is the snapshot's own size (for a layered one, the size of the
 * memory it was taken of), so growth the template made is not counted. */
int isl_iso_needs_recycle(const isl_iso_t *iso);
/* Changes the limits for later calls (the memory cap may only grow). */
int isl_iso_set_limits(isl_iso_t *iso, const isl_iso_limits_t *limits);
/* Freezes Date.now() at ms since the epoch (Workers only moves time between
 * I/O events); 0 unfreezes it. */
void isl_iso_set_time(isl_iso_t *iso, double ms);
void *isl_iso_get_data(const isl_iso_t *iso);
void isl_iso_set_data(isl_iso_t *iso, void *data);

#endif
