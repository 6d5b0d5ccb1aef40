/*
 * test_store.c - src/cache/store.c: the Cache API's in-memory store on its
 * own, without JS: round trips, LRU eviction by bytes, the two caps,
 * tenant separation, expiry, reference counting and four threads at once.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cache/cache.h"
#include "test.h"

#define NOW 1700000000000LL
#define LATER (NOW + 60000)

static isl_cache_key_t key(const char *tenant, const char *name, const char *url) {
  return (isl_cache_key_t){tenant, name, url};
}

/* A value with `len` bytes of body, each byte `fill`. The body is static
 * per call site, so callers copy or use it at once. */
static isl_cache_value_t value(uint8_t *body, size_t len, uint8_t fill, int64_t expires) {
  memset(body, fill, len);
  return (isl_cache_value_t){200, "etag: \"x\"\n", 10, body, len, expires};
}

/* 1 if key is stored with a body of `len` bytes all `fill`. */
static int holds(isl_cache_t *c, isl_cache_key_t k, size_t len, uint8_t fill) {
  isl_cache_entry_t *e;
  if (isl_cache_match(c, &k, NOW, &e) != 0) return 0;
  const isl_cache_value_t *v = isl_cache_entry_value(e);
  int ok = v->body_len == len;
  for (size_t i = 0; ok && i < len; i++) ok = v->body[i] == fill;
  isl_cache_entry_release(e);
  return ok;
}

TEST(cache_store_round_trips_binary_entries) {
  isl_cache_t *c;
  CHECK_EQ_INT(isl_cache_new(0, 0, &c), 0);
  uint8_t body[256];
  for (int i = 0; i < 256; i++) body[i] = (uint8_t)i;
  const char headers[] = "content-type: application/octet-stream\nx-latin1: caf\xc3\xa9\n";
  isl_cache_value_t v = {203, headers, sizeof(headers) - 1, body, sizeof(body), LATER};
  isl_cache_key_t k = key("t", "default", "https://a.test/bin");
  CHECK_EQ_INT(isl_cache_put(c, &k, &v), 0);
  isl_cache_entry_t *e;
  CHECK_EQ_INT(isl_cache_match(c, &k, NOW, &e), 0);
  const isl_cache_value_t *got = isl_cache_entry_value(e);
  CHECK_EQ_INT(got->status, 203);
  CHECK_EQ_INT(got->headers_len, sizeof(headers) - 1);
  CHECK(memcmp(got->headers, headers, sizeof(headers) - 1) == 0);
  CHECK_EQ_INT(got->body_len, 256);
  CHECK(memcmp(got->body, body, 256) == 0);
  CHECK_EQ_INT(got->expires_ms, LATER);
  isl_cache_entry_release(e);
  /* An empty body and empty headers are entries too. */
  isl_cache_value_t empty = {204, NULL, 0, NULL, 0, LATER};
  isl_cache_key_t k2 = key("t", "default", "https://a.test/empty");
  CHECK_EQ_INT(isl_cache_put(c, &k2, &empty), 0);
  CHECK(holds(c, k2, 0, 0));
  isl_cache_stats_t st;
  isl_cache_stats(c, &st);
  CHECK_EQ_INT(st.entries, 2);
  CHECK_EQ_INT(st.max_bytes, (size_t)ISL_CACHE_MAX_MB << 20);
  CHECK_EQ_INT(st.entry_max, (size_t)ISL_CACHE_ENTRY_MAX_MB << 20);
  /* Invalid arguments. */
  isl_cache_key_t bad = key(NULL, "default", "u");
  CHECK_EQ_INT(isl_cache_put(c, &bad, &v), ISL_EINVAL);
  CHECK_EQ_INT(isl_cache_match(c, &bad, NOW, &e), ISL_EINVAL);
  CHECK(e == NULL);
  isl_cache_free(c);
}

TEST(cache_store_replaces_and_deletes) {
  isl_cache_t *c;
  CHECK_EQ_INT(isl_cache_new(0, 0, &c), 0);
  uint8_t body[100];
  isl_cache_key_t k = key("t", "n", "https://a.test/");
  isl_cache_value_t v = value(body, 100, 'a', LATER);
  CHECK_EQ_INT(isl_cache_put(c, &k, &v), 0);
  v = value(body, 50, 'b', LATER);
  CHECK_EQ_INT(isl_cache_put(c, &k, &v), 0);
  CHECK(holds(c, k, 50, 'b'));
  isl_cache_stats_t st;
  isl_cache_stats(c, &st);
  CHECK_EQ_INT(st.entries, 1);
  size_t one = st.bytes;
  CHECK_EQ_INT(isl_cache_delete(c, &k, NOW), 1);
  CHECK_EQ_INT(isl_cache_delete(c, &k, NOW), 0);
  isl_cache_entry_t *e;
  CHECK_EQ_INT(isl_cache_match(c, &k, NOW, &e), ISL_ENOTFOUND);
  isl_cache_stats(c, &st);
  CHECK_EQ_INT(st.entries, 0);
  CHECK_EQ_INT(st.bytes, 0);
  CHECK(one > 50);
  isl_cache_free(c);
}

TEST(cache_store_evicts_least_recently_used_by_bytes) {
  uint8_t body[1000];
  isl_cache_value_t v = value(body, 1000, 'x', LATER);
  /* Learn what one entry costs, then make room for exactly three. */
  isl_cache_t *probe;
  CHECK_EQ_INT(isl_cache_new(0, 0, &probe), 0);
  isl_cache_key_t k0 = key("t", "n", "https://a.test/0");
  CHECK_EQ_INT(isl_cache_put(probe, &k0, &v), 0);
  isl_cache_stats_t st;
  isl_cache_stats(probe, &st);
  size_t cost = st.bytes;
  isl_cache_free(probe);
  isl_cache_t *c;
  CHECK_EQ_INT(isl_cache_new(3 * cost, 0, &c), 0);
  isl_cache_key_t k[4] = {key("t", "n", "https://a.test/0"), key("t", "n", "https://a.test/1"),
                          key("t", "n", "https://a.test/2"), key("t", "n", "https://a.test/3")};
  for (int i = 0; i < 3; i++) {
    v = value(body, 1000, (uint8_t)('0' + i), LATER);
    CHECK_EQ_INT(isl_cache_put(c, &k[i], &v), 0);
  }
  /* 0 becomes the most recently used; 1 is now the least. */
  CHECK(holds(c, k[0], 1000, '0'));
  v = value(body, 1000, '3', LATER);
  CHECK_EQ_INT(isl_cache_put(c, &k[3], &v), 0);
  CHECK(!holds(c, k[1], 1000, '1'));
  CHECK(holds(c, k[0], 1000, '0'));
  CHECK(holds(c, k[2], 1000, '2'));
  CHECK(holds(c, k[3], 1000, '3'));
  isl_cache_stats(c, &st);
  CHECK_EQ_INT(st.entries, 3);
  CHECK_EQ_INT(st.bytes, 3 * cost);
  CHECK_EQ_INT(st.evictions, 1);
  /* A bigger entry pushes out as many as it needs, oldest first. */
  uint8_t big[1800];
  v = value(big, 1800, 'B', LATER);
  isl_cache_key_t kb = key("t", "n", "https://a.test/big");
  CHECK_EQ_INT(isl_cache_put(c, &kb, &v), 0);
  isl_cache_stats(c, &st);
  CHECK(st.bytes <= 3 * cost);
  CHECK(holds(c, kb, 1800, 'B'));
  CHECK(holds(c, k[3], 1000, '3')); /* the most recent small one stays */
  CHECK(!holds(c, k[0], 1000, '0'));
  CHECK(!holds(c, k[2], 1000, '2'));
  isl_cache_free(c);
}

TEST(cache_store_refuses_entries_over_the_entry_cap) {
  isl_cache_t *c;
  CHECK_EQ_INT(isl_cache_new(1 << 20, 4096, &c), 0);
  static uint8_t body[8192];
  isl_cache_key_t k = key("t", "n", "https://a.test/");
  isl_cache_value_t v = value(body, 1000, 's', LATER);
  CHECK_EQ_INT(isl_cache_put(c, &k, &v), 0);
  v = value(body, 5000, 'L', LATER);
  CHECK_EQ_INT(isl_cache_put(c, &k, &v), ISL_ELIMIT);
  /* The refused put changed nothing. */
  CHECK(holds(c, k, 1000, 's'));
  /* The cap counts the whole entry, not only the body. */
  v = value(body, 4096, 'L', LATER);
  CHECK_EQ_INT(isl_cache_put(c, &k, &v), ISL_ELIMIT);
  /* A per-entry cap above the total is clamped to it. */
  isl_cache_t *d;
  CHECK_EQ_INT(isl_cache_new(2048, 1 << 20, &d), 0);
  isl_cache_stats_t st;
  isl_cache_stats(d, &st);
  CHECK_EQ_INT(st.entry_max, 2048);
  v = value(body, 4000, 'L', LATER);
  CHECK_EQ_INT(isl_cache_put(d, &k, &v), ISL_ELIMIT);
  isl_cache_free(d);
  isl_cache_free(c);
}

TEST(cache_store_set_limit_evicts_at_once) {
  isl_cache_t *c;
  CHECK_EQ_INT(isl_cache_new(0, 0, &c), 0);
  uint8_t body[1000];
  char url[64];
  for (int i = 0; i < 10; i++) {
    snprintf(url, sizeof(url), "https://a.test/%d", i);
    isl_cache_key_t k = key("t", "n", url);
    isl_cache_value_t v = value(body, 1000, 'x', LATER);
    CHECK_EQ_INT(isl_cache_put(c, &k, &v), 0);
  }
  isl_cache_stats_t st;
  isl_cache_stats(c, &st);
  size_t cost = st.bytes / 10;
  isl_cache_set_limit(c, 4 * cost, 0);
  isl_cache_stats(c, &st);
  CHECK_EQ_INT(st.entries, 4);
  CHECK_EQ_INT(st.max_bytes, 4 * cost);
  CHECK_EQ_INT(st.entry_max, 4 * cost);
  /* The newest four stay. */
  CHECK(holds(c, key("t", "n", "https://a.test/9"), 1000, 'x'));
  CHECK(holds(c, key("t", "n", "https://a.test/6"), 1000, 'x'));
  CHECK(!holds(c, key("t", "n", "https://a.test/5"), 1000, 'x'));
  /* 0 goes back to the defaults. */
  isl_cache_set_limit(c, 0, 0);
  isl_cache_stats(c, &st);
  CHECK_EQ_INT(st.max_bytes, (size_t)ISL_CACHE_MAX_MB << 20);
  isl_cache_free(c);
}

TEST(cache_store_separates_tenants_and_names) {
  isl_cache_t *c;
  CHECK_EQ_INT(isl_cache_new(0, 0, &c), 0);
  uint8_t body[10];
  isl_cache_value_t v = value(body, 10, 'A', LATER);
  isl_cache_key_t a = key("alice", "default", "https://shared.test/x");
  CHECK_EQ_INT(isl_cache_put(c, &a, &v), 0);
  CHECK(holds(c, a, 10, 'A'));
  CHECK(!holds(c, key("bob", "default", "https://shared.test/x"), 10, 'A'));
  CHECK(!holds(c, key("alice", "open:default", "https://shared.test/x"), 10, 'A'));
  /* The parts cannot run into each other: "al" + "icedefault" is not "alice" + "default". */
  CHECK(!holds(c, key("al", "icedefault", "https://shared.test/x"), 10, 'A'));
  CHECK(!holds(c, key("alicedefault", "", "https://shared.test/x"), 10, 'A'));
  /* Bob's delete of the same URL does not touch Alice's entry. */
  isl_cache_key_t b = key("bob", "default", "https://shared.test/x");
  CHECK_EQ_INT(isl_cache_delete(c, &b, NOW), 0);
  v = value(body, 10, 'B', LATER);
  CHECK_EQ_INT(isl_cache_put(c, &b, &v), 0);
  CHECK(holds(c, a, 10, 'A'));
  CHECK(holds(c, b, 10, 'B'));
  isl_cache_free(c);
}

TEST(cache_store_drops_expired_entries) {
  isl_cache_t *c;
  CHECK_EQ_INT(isl_cache_new(0, 0, &c), 0);
  uint8_t body[10];
  isl_cache_value_t v = value(body, 10, 'e', NOW + 1000);
  isl_cache_key_t k = key("t", "n", "https://a.test/");
  CHECK_EQ_INT(isl_cache_put(c, &k, &v), 0);
  isl_cache_entry_t *e;
  CHECK_EQ_INT(isl_cache_match(c, &k, NOW + 999, &e), 0);
  isl_cache_entry_release(e);
  /* Expired at exactly expires_ms; the lookup drops it. */
  CHECK_EQ_INT(isl_cache_match(c, &k, NOW + 1000, &e), ISL_ENOTFOUND);
  isl_cache_stats_t st;
  isl_cache_stats(c, &st);
  CHECK_EQ_INT(st.entries, 0);
  CHECK_EQ_INT(st.bytes, 0);
  CHECK_EQ_INT(isl_cache_match(c, &k, NOW, &e), ISL_ENOTFOUND);
  /* Deleting an expired entry removes it but reports nothing deleted. */
  CHECK_EQ_INT(isl_cache_put(c, &k, &v), 0);
  CHECK_EQ_INT(isl_cache_delete(c, &k, NOW + 5000), 0);
  isl_cache_stats(c, &st);
  CHECK_EQ_INT(st.entries, 0);
  isl_cache_free(c);
}

TEST(cache_store_held_entry_outlives_its_removal) {
  isl_cache_t *c;
  CHECK_EQ_INT(isl_cache_new(0, 0, &c), 0);
  uint8_t body[64];
  isl_cache_value_t v = value(body, 64, 'h', LATER);
  isl_cache_key_t k = key("t", "n", "https://a.test/");
  CHECK_EQ_INT(isl_cache_put(c, &k, &v), 0);
  isl_cache_entry_t *e;
  CHECK_EQ_INT(isl_cache_match(c, &k, NOW, &e), 0);
  /* Replaced, then deleted, then the whole store freed: e is still readable (ASan checks). */
  v = value(body, 64, 'i', LATER);
  CHECK_EQ_INT(isl_cache_put(c, &k, &v), 0);
  CHECK_EQ_INT(isl_cache_delete(c, &k, NOW), 1);
  isl_cache_free(c);
  const isl_cache_value_t *got = isl_cache_entry_value(e);
  CHECK_EQ_INT(got->body_len, 64);
  for (int i = 0; i < 64; i++) CHECK_EQ_INT(got->body[i], 'h');
  isl_cache_entry_release(e);
}

/* ---- four threads ---------------------------------------------------------------- */

#define THREAD_OPS 20000
#define THREAD_KEYS 64

typedef struct {
  isl_cache_t *c;
  int id;
  int bad; /* a matched body that does not belong to its key */
} worker_t;

/* Every body is its URL's number repeated, so a reader can tell a torn or
 * misfiled entry. */
static void *hammer(void *arg) {
  worker_t *w = arg;
  uint8_t body[600];
  char url[64];
  unsigned seed = (unsigned)w->id * 7919u + 1;
  for (int i = 0; i < THREAD_OPS; i++) {
    seed = seed * 1103515245u + 12345u;
    int n = (int)((seed >> 16) % THREAD_KEYS);
    snprintf(url, sizeof(url), "https://a.test/%d", n);
    const char *tenant = (seed >> 8) & 1 ? "a" : "b";
    isl_cache_key_t k = key(tenant, "default", url);
    int op = (int)((seed >> 4) % 8);
    if (op < 3) {
      size_t len = 1 + (seed >> 20) % sizeof(body);
      memset(body, n + (tenant[0] == 'a' ? 0 : 100), len);
      isl_cache_value_t v = {200, "x: y\n", 5, body, len, LATER};
      if (isl_cache_put(w->c, &k, &v) != 0) w->bad++;
    } else if (op < 7) {
      isl_cache_entry_t *e;
      if (isl_cache_match(w->c, &k, NOW, &e) == 0) {
        const isl_cache_value_t *v = isl_cache_entry_value(e);
        uint8_t want = (uint8_t)(n + (tenant[0] == 'a' ? 0 : 100));
        for (size_t j = 0; j < v->body_len; j++)
          if (v->body[j] != want) {
            w->bad++;
            break;
          }
        isl_cache_entry_release(e);
      }
    } else {
      isl_cache_delete(w->c, &k, NOW);
    }
  }
  return NULL;
}

TEST(cache_store_four_threads_share_one_store) {
  isl_cache_t *c;
  /* Small enough that eviction runs all the time. */
  CHECK_EQ_INT(isl_cache_new(16 << 10, 0, &c), 0);
  pthread_t t[4];
  worker_t w[4];
  for (int i = 0; i < 4; i++) {
    w[i] = (worker_t){c, i, 0};
    CHECK(pthread_create(&t[i], NULL, hammer, &w[i]) == 0);
  }
  for (int i = 0; i < 4; i++) pthread_join(t[i], NULL);
  for (int i = 0; i < 4; i++) CHECK_EQ_INT(w[i].bad, 0);
  isl_cache_stats_t st;
  isl_cache_stats(c, &st);
  CHECK(st.bytes <= st.max_bytes);
  CHECK(st.entries <= 2 * THREAD_KEYS);
  CHECK(st.evictions > 0);
  /* The counters agree with what is really stored. */
  size_t found = 0;
  char url[64];
  for (int n = 0; n < THREAD_KEYS; n++) {
    snprintf(url, sizeof(url), "https://a.test/%d", n);
    isl_cache_entry_t *e;
    isl_cache_key_t ka = key("a", "default", url), kb = key("b", "default", url);
    if (isl_cache_match(c, &ka, NOW, &e) == 0) found++, isl_cache_entry_release(e);
    if (isl_cache_match(c, &kb, NOW, &e) == 0) found++, isl_cache_entry_release(e);
  }
  CHECK_EQ_INT(found, st.entries);
  isl_cache_free(c);
}
