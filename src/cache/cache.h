/*
 * cache.h - the contract of src/cache: where the Workers Cache API keeps
 * its responses.
 *
 * A store holds entries in host memory, keyed by (tenant, cache name,
 * URL): the tenant is supplied by the caller (src/runtime takes it from
 * the calling instance's worker, never from JavaScript), so one tenant can
 * never name another's entry. An entry is a response taken apart - status,
 * header text, body bytes - plus the wall-clock time (ms since the epoch)
 * at which it expires. It is immutable once stored: a put under the same
 * key replaces it.
 *
 * Memory is bounded twice: the total size of the entries (least recently
 * used ones are evicted past it) and the size of one entry (a larger one
 * is refused). Expired entries are dropped when a lookup meets them;
 * otherwise they age out through the LRU like any other.
 *
 * What it does not do: HTTP semantics (which responses may be stored, for
 * how long, conditional requests): that is src/runtime/js/cache.js. No JS
 * here, no I/O.
 *
 * Threads: every function may be called from any thread; one mutex per
 * store guards its table and LRU list. A matched entry is reference
 * counted, so its bytes are read outside the lock.
 */
#ifndef ISL_CACHE_H
#define ISL_CACHE_H

#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

/* ---- tunables (0 in isl_cache_new/set_limit means these) ----------------- */
/* Total bytes of the entries of a store. */
#ifndef ISL_CACHE_MAX_MB
#define ISL_CACHE_MAX_MB 256u
#endif
/* Bytes of one entry (body, headers, key and bookkeeping); never more than the total. */
#ifndef ISL_CACHE_ENTRY_MAX_MB
#define ISL_CACHE_ENTRY_MAX_MB 32u
#endif

typedef struct isl_cache_s isl_cache_t;
typedef struct isl_cache_entry_s isl_cache_entry_t;

/* Which entry: three NUL-terminated strings, all borrowed. */
typedef struct {
  const char *tenant; /* the worker's name */
  const char *name;   /* the cache's name ("" or any string the runtime chooses) */
  const char *url;    /* the request URL, fragment removed */
} isl_cache_key_t;

/* A stored response. In isl_cache_put every pointer is borrowed (copied);
 * from isl_cache_entry_value they point into the entry, valid until
 * isl_cache_entry_release. */
typedef struct {
  int status;
  const char *headers; /* "name: value\n" lines (not NUL-terminated on put) */
  size_t headers_len;
  const uint8_t *body;
  size_t body_len;
  int64_t expires_ms; /* wall clock, ms since the epoch */
} isl_cache_value_t;

typedef struct {
  size_t bytes;       /* what the stored entries cost */
  size_t entries;     /* how many are stored */
  size_t max_bytes;   /* the total cap */
  size_t entry_max;   /* the per-entry cap (already clamped to max_bytes) */
  uint64_t evictions; /* entries pushed out by the LRU */
} isl_cache_stats_t;

/* A new store; max_bytes and entry_max_bytes 0 = the defaults above.
 * *out is owned: isl_cache_free. */
int isl_cache_new(size_t max_bytes, size_t entry_max_bytes, isl_cache_t **out);
/* Frees the store; entries still held by a caller live until released. */
void isl_cache_free(isl_cache_t *c);
/* The process-wide store every isolate and loop thread shares, made on
 * first use with the defaults; never freed. Aborts if the host is out of
 * memory. */
isl_cache_t *isl_cache_process(void);
/* Changes the caps (0 = the defaults) and evicts at once down to the new
 * total. The runtime calls isl_cache_set_limit(isl_cache_process(),
 * (size_t)cache_mb << 20, 0) at start. */
void isl_cache_set_limit(isl_cache_t *c, size_t max_bytes, size_t entry_max_bytes);

/* Stores a copy of *v under *key (both borrowed), replacing what was
 * there, and evicts least recently used entries past the total cap.
 * Returns 0, ISL_ELIMIT when the entry is larger than the per-entry cap
 * (nothing changes), ISL_EINVAL for a NULL key part, ISL_ENOMEM. */
int isl_cache_put(isl_cache_t *c, const isl_cache_key_t *key, const isl_cache_value_t *v);
/* Looks key up at now_ms: 0 and *out (owned: isl_cache_entry_release) on
 * a hit, which becomes the most recently used entry; ISL_ENOTFOUND when
 * absent or expired (an expired entry is dropped). */
int isl_cache_match(isl_cache_t *c, const isl_cache_key_t *key, int64_t now_ms, isl_cache_entry_t **out);
/* Removes key: 1 if a live entry was removed, 0 if there was none (an
 * expired one is removed too and counts as none). */
int isl_cache_delete(isl_cache_t *c, const isl_cache_key_t *key, int64_t now_ms);
void isl_cache_stats(isl_cache_t *c, isl_cache_stats_t *out);

/* The response of a matched entry (borrowed from e). */
const isl_cache_value_t *isl_cache_entry_value(const isl_cache_entry_t *e);
/* Gives back a matched entry (NULL is ignored). */
void isl_cache_entry_release(isl_cache_entry_t *e);

#endif
