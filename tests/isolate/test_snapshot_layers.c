/*
 * tests/isolate/test_snapshot_layers.c - layered snapshots: a snapshot of a
 * clone stores only what the clone changed and still behaves like the
 * clone (src/isolate/snapshot.c, memory.c).
 */
#include <pthread.h>
#include <stdlib.h>

#include "isolate/isolate.h"
#include "iso_helpers.h"
#include "test.h"

/* memory.c: find changed pages by comparing instead of reading pagemap. */
extern int isl_mem__no_pagemap;

/* The limits of the few steps below that run a long computation (a loop
 * over a million bytes or over 24 MiB of pages, 50,000 objects built):
 * 15-45 ms of CPU each on an idle machine, too close to the default 50 ms
 * (ISL_ISO_CPU_MS) for a busy one. Everything else runs under the
 * defaults. */
static const isl_iso_limits_t long_run = {.cpu_ms = 2000};

/* test_run with iso's limits raised to long_run for the call, then set back
 * to the defaults (every isolate here has them), which its snapshots and
 * their clones inherit. */
static int run_long(isl_iso_t *iso, const char *src) {
  static const isl_iso_limits_t defaults = {0};
  if (isl_iso_set_limits(iso, &long_run) != 0) return ISL_EINVAL;
  int rc = test_run(iso, src);
  if (isl_iso_set_limits(iso, &defaults) != 0 && rc == 0) rc = ISL_EINVAL;
  return rc;
}

/* A snapshot of a new clone of parent after running src in it. */
static isl_iso_snapshot_t *layer(const isl_iso_snapshot_t *parent, const char *src) {
  isl_iso_t *iso;
  isl_iso_snapshot_t *s = NULL;
  if (isl_iso_new_from_snapshot(parent, &iso, NULL) != 0) return NULL;
  if (test_run(iso, src) != 0 || isl_iso_snapshot_new(iso, &s, NULL) != 0) s = NULL;
  isl_iso_free(iso);
  return s;
}

/* String(eval(src)) in a new clone of snap, from malloc; NULL on error.
 * lim, unless NULL, replaces the limits the clone has from snap. */
static char *eval_in_clone(const isl_iso_snapshot_t *snap, const isl_iso_limits_t *lim, const char *src) {
  isl_iso_t *iso;
  if (isl_iso_new_from_snapshot(snap, &iso, NULL) != 0) return NULL;
  char *r = !lim || isl_iso_set_limits(iso, lim) == 0 ? test_eval_str(iso, src) : NULL;
  isl_iso_free(iso);
  return r;
}

#define CHECK_CLONE(snap, src, want) CHECK_CLONE_UNDER((snap), NULL, (src), (want))
#define CHECK_CLONE_UNDER(snap, lim, src, want)                                                                  \
  do {                                                                                                           \
    char *got_ = eval_in_clone((snap), (lim), (src));                                                            \
    int same_ = got_ && strcmp(got_, (want)) == 0;                                                               \
    if (!same_)                                                                                                  \
      test__fail(__FILE__, __LINE__, "clone eval(%s): \"%s\" != \"%s\"", #src, got_ ? got_ : "(error)", (want)); \
    free(got_);                                                                                                  \
    if (!same_) return;                                                                                          \
  } while (0)

/* A snapshot of a new isolate after running src in it with run (test_run,
 * or run_long for a long computation). */
static isl_iso_snapshot_t *base_snapshot_by(int (*run)(isl_iso_t *, const char *), const char *src) {
  isl_iso_t *tpl;
  isl_iso_snapshot_t *s = NULL;
  if (isl_iso_new(NULL, &tpl, NULL) != 0) return NULL;
  if (run(tpl, src) != 0 || isl_iso_snapshot_new(tpl, &s, NULL) != 0) s = NULL;
  isl_iso_free(tpl);
  return s;
}

static isl_iso_snapshot_t *base_snapshot(const char *src) {
  return base_snapshot_by(test_run, src);
}

TEST(iso_layer_behaves_like_the_clone) {
  isl_iso_snapshot_t *p = base_snapshot("globalThis.a = 'A'; globalThis.f = x => x + 1;");
  CHECK(p != NULL);
  isl_iso_snapshot_t *c = layer(p, "globalThis.b = 'B' + f(1); a = a + '!';");
  CHECK(c != NULL);
  CHECK_CLONE(c, "a + b + f(2)", "A!B23");
  CHECK_CLONE(p, "a + typeof b", "Aundefined");
  /* Clones of the layer are independent of each other. */
  isl_iso_t *c1, *c2;
  CHECK(isl_iso_new_from_snapshot(c, &c1, NULL) == 0);
  CHECK(isl_iso_new_from_snapshot(c, &c2, NULL) == 0);
  CHECK_EVAL(c1, "b = 'changed'", "changed");
  CHECK_EVAL(c2, "b", "B2");
  isl_iso_free(c1);
  isl_iso_free(c2);
  isl_iso_snapshot_free(c);
  isl_iso_snapshot_free(p);
}

TEST(iso_layer_three_levels) {
  isl_iso_snapshot_t *p = base_snapshot("globalThis.log = ['p'];");
  CHECK(p != NULL);
  isl_iso_snapshot_t *c1 = layer(p, "log.push('c1'); globalThis.big1 = 'x'.repeat(100000);");
  CHECK(c1 != NULL);
  isl_iso_snapshot_t *c2 = layer(c1, "log.push('c2'); globalThis.big2 = 'y'.repeat(200000);");
  CHECK(c2 != NULL);
  isl_iso_snapshot_t *c3 = layer(c2, "log.push('c3'); big1 = null;");
  CHECK(c3 != NULL);
  CHECK_CLONE(c3, "log.join() + ' ' + big1 + ' ' + big2.length", "p,c1,c2,c3 null 200000");
  CHECK_CLONE(c2, "log.join() + ' ' + big1.length + ' ' + big2.length", "p,c1,c2 100000 200000");
  CHECK_CLONE(c1, "log.join() + ' ' + typeof big2", "p,c1 undefined");
  CHECK_CLONE(p, "log.join()", "p");
  isl_iso_snapshot_free(c3);
  isl_iso_snapshot_free(c2);
  isl_iso_snapshot_free(c1);
  isl_iso_snapshot_free(p);
}

TEST(iso_layer_outlives_its_parent) {
  isl_iso_snapshot_t *p = base_snapshot("globalThis.n = 1;");
  CHECK(p != NULL);
  isl_iso_t *iso;
  CHECK(isl_iso_new_from_snapshot(p, &iso, NULL) == 0);
  CHECK(test_run(iso, "n = 2; globalThis.s = 'child';") == 0);
  isl_iso_snapshot_t *c;
  CHECK(isl_iso_snapshot_new(iso, &c, NULL) == 0);
  /* The parent goes first, then the isolate the layer was taken of. */
  isl_iso_snapshot_free(p);
  isl_iso_free(iso);
  CHECK_CLONE(c, "n + s", "2child");
  isl_iso_t *live;
  CHECK(isl_iso_new_from_snapshot(c, &live, NULL) == 0);
  isl_iso_snapshot_free(c);
  /* A clone keeps working after every snapshot is gone. */
  CHECK_EVAL(live, "n + s + 'x'.repeat(3)", "2childxxx");
  isl_iso_free(live);
}

/* Memory grown by the clone (beyond the parent's 16 MiB), with data in it. */
static void check_grown(void) {
  isl_iso_snapshot_t *p = base_snapshot("globalThis.k = 7;");
  CHECK(p != NULL);
  isl_iso_t *iso;
  CHECK(isl_iso_new_from_snapshot(p, &iso, NULL) == 0);
  size_t before = isl_iso_memory_bytes(iso);
  CHECK(run_long(iso,
                 "globalThis.big = new Uint8Array(24 << 20);"
                 "for (let i = 0; i < big.length; i += 4096) big[i] = (i >> 12) & 255;") == 0);
  size_t after = isl_iso_memory_bytes(iso);
  CHECK_MSG(after >= before + (8u << 20), "memory %zu -> %zu", before, after);
  isl_iso_snapshot_t *c;
  CHECK(isl_iso_snapshot_new(iso, &c, NULL) == 0);
  isl_iso_free(iso);
  isl_iso_t *clone;
  CHECK(isl_iso_new_from_snapshot(c, &clone, NULL) == 0);
  CHECK_EQ_INT(isl_iso_memory_bytes(clone), after);
  /* Measured from the layer's own size, the clone has not grown. */
  CHECK(!isl_iso_needs_recycle(clone));
  CHECK(isl_iso_set_limits(clone, &long_run) == 0);
  CHECK_EVAL(clone,
             "let ok = big.length === (24 << 20);"
             "for (let i = 0; i < big.length; i += 4096) ok = ok && big[i] === ((i >> 12) & 255) && big[i + 1] === 0;"
             "ok + ' ' + k",
             "true 7");
  isl_iso_free(clone);
  /* Grown pages are the clone's own: stored, but not the parent's again. */
  CHECK(isl_iso_snapshot_bytes(c) >= (24u << 20) / 4096 * 4096 / 2);
  isl_iso_snapshot_free(c);
  isl_iso_snapshot_free(p);
}

TEST(iso_layer_keeps_memory_grown_by_the_clone) {
  check_grown();
}

/* Pages the clone zeroed where the parent had data. */
static void check_zeroed(void) {
  isl_iso_snapshot_t *p = base_snapshot("globalThis.buf = new Uint8Array(1 << 20).fill(0xab);");
  CHECK(p != NULL);
  isl_iso_snapshot_t *c = layer(p, "buf.fill(0); buf[5000] = 1;");
  CHECK(c != NULL);
  CHECK_CLONE_UNDER(c, &long_run, "buf.every((x, i) => x === (i === 5000 ? 1 : 0))", "true");
  CHECK_CLONE_UNDER(p, &long_run, "buf.every(x => x === 0xab)", "true");
  /* Zeroed pages are holes in the layer: it holds a page or so of buf. */
  CHECK_MSG(isl_iso_snapshot_bytes(c) < (1u << 20) / 2, "layer holds %zu bytes", isl_iso_snapshot_bytes(c));
  isl_iso_snapshot_free(c);
  isl_iso_snapshot_free(p);
}

TEST(iso_layer_keeps_pages_zeroed_by_the_clone) {
  check_zeroed();
}

TEST(iso_layer_without_pagemap) {
  isl_mem__no_pagemap = 1;
  check_zeroed();
  if (!test__failed) check_grown();
  isl_mem__no_pagemap = 0;
}

#define LAYER_THREADS 4
#define LAYER_ROUNDS 60

static void *clone_worker(void *arg) {
  const isl_iso_snapshot_t *c = arg;
  intptr_t bad = 0;
  for (int i = 0; i < LAYER_ROUNDS; i++) {
    isl_iso_t *iso;
    if (isl_iso_new_from_snapshot(c, &iso, NULL) != 0) {
      bad++;
      continue;
    }
    char *r = test_eval_str(iso, "tag += '+'; tag + arr.length");
    if (!r || strcmp(r, "layer+1000") != 0) bad++;
    free(r);
    isl_iso_free(iso);
  }
  return (void *)bad;
}

TEST(iso_layer_clones_on_four_threads) {
  isl_iso_snapshot_t *p = base_snapshot("globalThis.tag = 'base';");
  CHECK(p != NULL);
  isl_iso_snapshot_t *c = layer(p, "tag = 'layer'; globalThis.arr = Array.from({length: 1000}, (_, i) => i);");
  CHECK(c != NULL);
  /* Only the clones hold the parent now. */
  isl_iso_snapshot_free(p);
  pthread_t th[LAYER_THREADS];
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setstacksize(&attr, 8u << 20);
  for (int i = 0; i < LAYER_THREADS; i++) CHECK(pthread_create(&th[i], &attr, clone_worker, c) == 0);
  intptr_t bad = 0;
  for (int i = 0; i < LAYER_THREADS; i++) {
    void *r;
    pthread_join(th[i], &r);
    bad += (intptr_t)r;
  }
  pthread_attr_destroy(&attr);
  isl_iso_snapshot_free(c);
  CHECK_EQ_INT(bad, 0);
}

TEST(iso_layer_stores_far_less_than_its_parent) {
  /* A parent with a few MB of live objects, and a small change on top. */
  isl_iso_snapshot_t *p =
      base_snapshot_by(run_long,
                       "globalThis.data = Array.from({length: 50000}, (_, i) => ({i, s: 'item ' + i}));"
                       "globalThis.counter = 0;");
  CHECK(p != NULL);
  isl_iso_snapshot_t *c = layer(p, "counter++; globalThis.greeting = 'hello';");
  CHECK(c != NULL);
  size_t pb = isl_iso_snapshot_bytes(p), cb = isl_iso_snapshot_bytes(c);
  CHECK_MSG(pb > (2u << 20), "parent holds %zu bytes", pb);
  CHECK_MSG(cb * 8 < pb, "layer holds %zu bytes, parent %zu", cb, pb);
  CHECK_CLONE(c, "counter + greeting + data[49999].s", "1helloitem 49999");
  isl_iso_snapshot_free(c);
  isl_iso_snapshot_free(p);
}
