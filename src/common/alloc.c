/*
 * alloc.c - see alloc.h. The injection state is one countdown, read with
 * a relaxed load on every allocation; only when it is armed does an
 * allocation take the compare-and-swap path that counts it down.
 */
#include "common/alloc.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

/* -1 off; 0 every allocation fails; k > 0 the k-th next one fails. */
static atomic_long fail_at = -1;
/* What fail_at becomes once the k-th has failed: 0 (all fail) or -1 (off). */
static atomic_long fail_then = 0;
static atomic_long injected = 0;

static int inject_slow(long v) {
  for (;;) {
    if (v < 0) return 0;
    if (v == 0) break;
    long next = v > 1 ? v - 1 : atomic_load_explicit(&fail_then, memory_order_relaxed);
    if (atomic_compare_exchange_weak_explicit(&fail_at, &v, next, memory_order_relaxed, memory_order_relaxed)) {
      if (v > 1) return 0;
      break;
    }
  }
  atomic_fetch_add_explicit(&injected, 1, memory_order_relaxed);
  return 1;
}

/* 1 if this allocation is to fail. */
static inline int inject(void) {
  long v = atomic_load_explicit(&fail_at, memory_order_relaxed);
  return __builtin_expect(v >= 0, 0) ? inject_slow(v) : 0;
}

void *isl_malloc(size_t size) {
  if (inject()) return NULL;
  return malloc(size ? size : 1);
}

void *isl_calloc(size_t n, size_t size) {
  if (inject()) return NULL;
  if (n == 0 || size == 0) n = size = 1;
  return calloc(n, size);
}

void *isl_realloc(void *p, size_t size) {
  if (inject()) return NULL;
  return realloc(p, size ? size : 1);
}

char *isl_strdup(const char *s) {
  size_t n = strlen(s) + 1;
  char *d = isl_malloc(n);
  if (d) memcpy(d, s, n);
  return d;
}

void isl_alloc_fail_after(long n) {
  atomic_store(&fail_then, 0);
  atomic_store(&fail_at, n < 0 ? -1 : n);
}

void isl_alloc_fail_once(long n) {
  atomic_store(&fail_then, -1);
  atomic_store(&fail_at, n <= 0 ? -1 : n);
}

long isl_alloc_injected(void) {
  return atomic_load(&injected);
}
