/*
 * store.c - the Cache API's entries in memory: a chained hash table over
 * (tenant, cache name, URL) and an LRU list, bounded by bytes.
 *
 * An entry is one allocation: its bookkeeping, its key (the three strings
 * joined by NUL bytes, so no two keys encode alike), its header text and
 * its body. Its cost is that allocation's size, and the store's total is
 * the sum over stored entries. Entries are reference counted: the table
 * holds one reference, each caller of isl_cache_match another, so a match
 * copies nothing under the lock and an entry replaced or evicted while a
 * caller still reads it is freed by the last release.
 *
 * One mutex guards the table, the list and the counters. Copying a new
 * entry's bytes happens before taking it, so the lock is held for a hash
 * lookup and a few pointer moves; freeing an evicted entry happens under
 * it (a free(), even of a large body, is one munmap at most).
 *
 * Trade-off: expired entries are not swept. A lookup that meets one drops
 * it, and otherwise it sits at the cold end of the LRU and is the first to
 * go when space is needed. A sweep would have to walk the whole list under
 * the lock, which costs more than the bytes it frees.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cache/cache.h"

/* ---- types ------------------------------------------------------------------- */

struct isl_cache_entry_s {
  isl_cache_value_t value; /* points into this allocation */
  atomic_int refs;         /* the table's + one per matching caller */
  uint64_t hash;
  size_t cost;
  size_t key_len;
  char *key;                      /* tenant \0 name \0 url, in this allocation */
  isl_cache_entry_t *chain;       /* next in the bucket */
  isl_cache_entry_t *prev, *next; /* LRU, most recently used first */
};

struct isl_cache_s {
  pthread_mutex_t lock;
  isl_cache_entry_t **buckets;
  size_t n_buckets; /* a power of two */
  isl_cache_entry_t *head, *tail;
  size_t bytes, entries;
  size_t max_bytes, entry_max;
  uint64_t evictions;
};

#define INITIAL_BUCKETS 256

/* ---- helpers ------------------------------------------------------------------ */

static uint64_t fnv1a(const char *p, size_t n) {
  uint64_t h = 1469598103934665603ull;
  for (size_t i = 0; i < n; i++) {
    h ^= (unsigned char)p[i];
    h *= 1099511628211ull;
  }
  return h;
}

static void caps(size_t max_bytes, size_t entry_max, size_t *total, size_t *entry) {
  *total = max_bytes ? max_bytes : (size_t)ISL_CACHE_MAX_MB << 20;
  *entry = entry_max ? entry_max : (size_t)ISL_CACHE_ENTRY_MAX_MB << 20;
  if (*entry > *total) *entry = *total;
}

static void entry_unref(isl_cache_entry_t *e) {
  if (atomic_fetch_sub(&e->refs, 1) == 1) free(e);
}

/* The encoded key in buf (at most cap bytes); its length, or 0 if it does not fit. */
static size_t key_encode(const isl_cache_key_t *key, char *buf, size_t cap) {
  size_t a = strlen(key->tenant), b = strlen(key->name), c = strlen(key->url);
  size_t n = a + 1 + b + 1 + c;
  if (n > cap) return 0;
  memcpy(buf, key->tenant, a + 1);
  memcpy(buf + a + 1, key->name, b + 1);
  memcpy(buf + a + 1 + b + 1, key->url, c);
  return n;
}

static size_t key_len(const isl_cache_key_t *key) {
  return strlen(key->tenant) + 1 + strlen(key->name) + 1 + strlen(key->url);
}

static isl_cache_entry_t **find_slot(isl_cache_t *c, uint64_t hash, const char *key, size_t len) {
  isl_cache_entry_t **slot = &c->buckets[hash & (c->n_buckets - 1)];
  for (; *slot; slot = &(*slot)->chain) {
    const isl_cache_entry_t *e = *slot;
    if (e->hash == hash && e->key_len == len && memcmp(e->key, key, len) == 0) return slot;
  }
  return slot;
}

static void lru_unlink(isl_cache_t *c, isl_cache_entry_t *e) {
  if (e->prev)
    e->prev->next = e->next;
  else
    c->head = e->next;
  if (e->next)
    e->next->prev = e->prev;
  else
    c->tail = e->prev;
  e->prev = e->next = NULL;
}

static void lru_push_front(isl_cache_t *c, isl_cache_entry_t *e) {
  e->prev = NULL;
  e->next = c->head;
  if (c->head) c->head->prev = e;
  c->head = e;
  if (!c->tail) c->tail = e;
}

/* Takes e out of the table and the list and drops the table's reference. */
static void remove_entry(isl_cache_t *c, isl_cache_entry_t *e) {
  isl_cache_entry_t **slot = find_slot(c, e->hash, e->key, e->key_len);
  if (*slot == e) *slot = e->chain;
  lru_unlink(c, e);
  c->bytes -= e->cost;
  c->entries--;
  entry_unref(e);
}

static void evict_over(isl_cache_t *c, size_t limit) {
  while (c->bytes > limit && c->tail) {
    remove_entry(c, c->tail);
    c->evictions++;
  }
}

/* Doubles the table when it is fuller than one entry a bucket; on failure
 * chains just grow longer. */
static void maybe_grow(isl_cache_t *c) {
  if (c->entries < c->n_buckets) return;
  size_t n = c->n_buckets * 2;
  isl_cache_entry_t **b = calloc(n, sizeof(*b));
  if (!b) return;
  for (size_t i = 0; i < c->n_buckets; i++) {
    for (isl_cache_entry_t *e = c->buckets[i], *next; e; e = next) {
      next = e->chain;
      isl_cache_entry_t **slot = &b[e->hash & (n - 1)];
      e->chain = *slot;
      *slot = e;
    }
  }
  free(c->buckets);
  c->buckets = b;
  c->n_buckets = n;
}

static int key_valid(const isl_cache_key_t *key) {
  return key && key->tenant && key->name && key->url;
}

/* ---- API ------------------------------------------------------------------------- */

int isl_cache_new(size_t max_bytes, size_t entry_max_bytes, isl_cache_t **out) {
  isl_cache_t *c = calloc(1, sizeof(*c));
  if (!c) return ISL_ENOMEM;
  c->buckets = calloc(INITIAL_BUCKETS, sizeof(*c->buckets));
  if (!c->buckets) goto fail;
  c->n_buckets = INITIAL_BUCKETS;
  if (pthread_mutex_init(&c->lock, NULL) != 0) goto fail;
  caps(max_bytes, entry_max_bytes, &c->max_bytes, &c->entry_max);
  *out = c;
  return 0;
fail:
  free(c->buckets);
  free(c);
  return ISL_ENOMEM;
}

void isl_cache_free(isl_cache_t *c) {
  if (!c) return;
  for (isl_cache_entry_t *e = c->head, *next; e; e = next) {
    next = e->next;
    entry_unref(e);
  }
  free(c->buckets);
  pthread_mutex_destroy(&c->lock);
  free(c);
}

static pthread_once_t process_once = PTHREAD_ONCE_INIT;
static isl_cache_t *process_store;

static void make_process_store(void) {
  if (isl_cache_new(0, 0, &process_store) < 0) {
    fprintf(stderr, "cache: out of memory making the process store\n");
    abort();
  }
}

isl_cache_t *isl_cache_process(void) {
  pthread_once(&process_once, make_process_store);
  return process_store;
}

void isl_cache_set_limit(isl_cache_t *c, size_t max_bytes, size_t entry_max_bytes) {
  pthread_mutex_lock(&c->lock);
  caps(max_bytes, entry_max_bytes, &c->max_bytes, &c->entry_max);
  evict_over(c, c->max_bytes);
  pthread_mutex_unlock(&c->lock);
}

int isl_cache_put(isl_cache_t *c, const isl_cache_key_t *key, const isl_cache_value_t *v) {
  if (!key_valid(key) || !v || (v->headers_len && !v->headers) || (v->body_len && !v->body)) return ISL_EINVAL;
  pthread_mutex_lock(&c->lock);
  size_t entry_max = c->entry_max;
  pthread_mutex_unlock(&c->lock);
  /* Each part is checked against the cap before adding, so the sum cannot wrap. */
  size_t klen = key_len(key);
  if (klen > entry_max || v->headers_len > entry_max || v->body_len > entry_max) return ISL_ELIMIT;
  size_t cost = sizeof(isl_cache_entry_t) + klen + v->headers_len + v->body_len;
  if (cost > entry_max) return ISL_ELIMIT;
  isl_cache_entry_t *e = malloc(cost);
  if (!e) return ISL_ENOMEM;
  char *p = (char *)(e + 1);
  e->key = p;
  e->key_len = key_encode(key, p, klen);
  p += klen;
  if (v->headers_len) memcpy(p, v->headers, v->headers_len);
  e->value.headers = p;
  p += v->headers_len;
  if (v->body_len) memcpy(p, v->body, v->body_len);
  e->value.body = (const uint8_t *)p;
  e->value.status = v->status;
  e->value.headers_len = v->headers_len;
  e->value.body_len = v->body_len;
  e->value.expires_ms = v->expires_ms;
  atomic_init(&e->refs, 1);
  e->hash = fnv1a(e->key, e->key_len);
  e->cost = cost;
  e->chain = e->prev = e->next = NULL;

  pthread_mutex_lock(&c->lock);
  isl_cache_entry_t **slot = find_slot(c, e->hash, e->key, e->key_len);
  if (*slot) remove_entry(c, *slot);
  /* The cap may have shrunk since we read it. */
  if (cost > c->entry_max) {
    pthread_mutex_unlock(&c->lock);
    free(e);
    return ISL_ELIMIT;
  }
  evict_over(c, c->max_bytes - cost);
  maybe_grow(c);
  slot = &c->buckets[e->hash & (c->n_buckets - 1)];
  e->chain = *slot;
  *slot = e;
  lru_push_front(c, e);
  c->bytes += cost;
  c->entries++;
  pthread_mutex_unlock(&c->lock);
  return 0;
}

/* Encodes key into a stack buffer or, for a long URL, one from malloc (*heap). */
static size_t key_lookup(const isl_cache_key_t *key, char *stack, size_t cap, char **heap, char **out) {
  size_t n = key_len(key);
  *heap = NULL;
  *out = stack;
  if (n > cap) {
    *heap = malloc(n);
    if (!*heap) return 0;
    *out = *heap;
  }
  return key_encode(key, *out, n);
}

int isl_cache_match(isl_cache_t *c, const isl_cache_key_t *key, int64_t now_ms, isl_cache_entry_t **out) {
  *out = NULL;
  if (!key_valid(key)) return ISL_EINVAL;
  char stack[1024], *heap, *k;
  size_t len = key_lookup(key, stack, sizeof(stack), &heap, &k);
  if (!len) return ISL_ENOMEM;
  uint64_t hash = fnv1a(k, len);
  int rc = ISL_ENOTFOUND;
  pthread_mutex_lock(&c->lock);
  isl_cache_entry_t *e = *find_slot(c, hash, k, len);
  if (e && e->value.expires_ms <= now_ms) {
    remove_entry(c, e);
  } else if (e) {
    lru_unlink(c, e);
    lru_push_front(c, e);
    atomic_fetch_add(&e->refs, 1);
    *out = e;
    rc = 0;
  }
  pthread_mutex_unlock(&c->lock);
  free(heap);
  return rc;
}

int isl_cache_delete(isl_cache_t *c, const isl_cache_key_t *key, int64_t now_ms) {
  if (!key_valid(key)) return 0;
  char stack[1024], *heap, *k;
  size_t len = key_lookup(key, stack, sizeof(stack), &heap, &k);
  if (!len) return 0;
  uint64_t hash = fnv1a(k, len);
  int found = 0;
  pthread_mutex_lock(&c->lock);
  isl_cache_entry_t *e = *find_slot(c, hash, k, len);
  if (e) {
    found = e->value.expires_ms > now_ms;
    remove_entry(c, e);
  }
  pthread_mutex_unlock(&c->lock);
  free(heap);
  return found;
}

void isl_cache_stats(isl_cache_t *c, isl_cache_stats_t *out) {
  pthread_mutex_lock(&c->lock);
  out->bytes = c->bytes;
  out->entries = c->entries;
  out->max_bytes = c->max_bytes;
  out->entry_max = c->entry_max;
  out->evictions = c->evictions;
  pthread_mutex_unlock(&c->lock);
}

const isl_cache_value_t *isl_cache_entry_value(const isl_cache_entry_t *e) {
  return &e->value;
}

void isl_cache_entry_release(isl_cache_entry_t *e) {
  if (e) entry_unref(e);
}
