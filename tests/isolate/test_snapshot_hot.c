/*
 * tests/isolate/test_snapshot_hot.c - hot sets: a snapshot learns the
 * pages a clone wrote, and later clones get private copies of them when
 * they are made (src/isolate/snapshot.c, memory.c). A hot clone must
 * behave exactly like an ordinary one and share nothing writable.
 */
#include <stdlib.h>

#include "isolate/isolate.h"
#include "iso_helpers.h"
#include "test.h"

#define WORKLOAD "globalThis.n = (globalThis.n || 0) + 1; JSON.stringify({a: [1, 2, 3], s: 'x'.repeat(50), n})"

static isl_iso_snapshot_t *snapshot_of_new(const char *src) {
  isl_iso_t *tpl;
  isl_iso_snapshot_t *s = NULL;
  if (isl_iso_new(NULL, &tpl, NULL) != 0) return NULL;
  if (test_run(tpl, src) != 0 || isl_iso_snapshot_new(tpl, &s, NULL) != 0) s = NULL;
  isl_iso_free(tpl);
  return s;
}

/* A layer over p after src, like the runtime's worker snapshots. */
static isl_iso_snapshot_t *layer_of(const isl_iso_snapshot_t *p, const char *src) {
  isl_iso_t *iso;
  isl_iso_snapshot_t *s = NULL;
  if (isl_iso_new_from_snapshot(p, &iso, NULL) != 0) return NULL;
  if (test_run(iso, src) != 0 || isl_iso_snapshot_new(iso, &s, NULL) != 0) s = NULL;
  isl_iso_free(iso);
  return s;
}

/* Teaches s the pages a clone writes running WORKLOAD; the learn code. */
static int learn(isl_iso_snapshot_t *s) {
  isl_iso_t *iso;
  if (isl_iso_new_from_snapshot(s, &iso, NULL) != 0) return -1;
  int rc = test_run(iso, WORKLOAD);
  if (rc == 0) rc = isl_iso_snapshot_learn_hot(s, iso);
  isl_iso_free(iso);
  return rc;
}

TEST(iso_hot_clone_behaves_like_a_clone) {
  isl_iso_snapshot_t *p = snapshot_of_new("globalThis.a = 'A'; globalThis.f = x => x * 2;");
  CHECK(p != NULL);
  isl_iso_snapshot_t *c = layer_of(p, "globalThis.b = 'B' + f(21);");
  CHECK(c != NULL);
  CHECK(isl_iso_snapshot_hot_pages(c) == 0);
  CHECK(learn(c) == 0);
  size_t hot = isl_iso_snapshot_hot_pages(c);
  CHECK(hot > 0 && hot <= 1024);
  /* The same work answers the same in an ordinary clone (of p) and in hot
   * clones of c, however often it runs. */
  isl_iso_t *h;
  CHECK(isl_iso_new_from_snapshot(c, &h, NULL) == 0);
  CHECK_EVAL(h, "a + b + f(2)", "AB424");
  CHECK_EVAL(h, WORKLOAD,
             "{\"a\":[1,2,3],\"s\":\""
             "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
             "\",\"n\":1}");
  CHECK_EVAL(h, "n", "1");
  CHECK(test_run(h, WORKLOAD) == 0);
  CHECK_EVAL(h, "n", "2");
  isl_iso_free(h);
  /* A layer of a hot clone that changed nothing stores nothing: the
   * prefetch copies pages, it does not change them. */
  CHECK(isl_iso_new_from_snapshot(c, &h, NULL) == 0);
  isl_iso_snapshot_t *same;
  CHECK(isl_iso_snapshot_new(h, &same, NULL) == 0);
  CHECK(isl_iso_snapshot_bytes(same) == 0);
  isl_iso_free(h);
  CHECK(isl_iso_new_from_snapshot(same, &h, NULL) == 0);
  CHECK_EVAL(h, "a + b + typeof n", "AB42undefined");
  isl_iso_free(h);
  isl_iso_snapshot_free(same);
  isl_iso_snapshot_free(c);
  isl_iso_snapshot_free(p);
}

TEST(iso_hot_clone_writes_stay_private) {
  isl_iso_snapshot_t *s = snapshot_of_new("globalThis.o = {v: 'orig', list: [1, 2, 3]};");
  CHECK(s != NULL);
  /* A full snapshot learns too; the workload writes the pages of o. */
  isl_iso_t *iso;
  CHECK(isl_iso_new_from_snapshot(s, &iso, NULL) == 0);
  CHECK(test_run(iso, "o.v = 'seen'; o.list.push(4); " WORKLOAD) == 0);
  CHECK(isl_iso_snapshot_learn_hot(s, iso) == 0);
  isl_iso_free(iso);
  CHECK(isl_iso_snapshot_hot_pages(s) > 0);
  isl_iso_t *c1, *c2;
  CHECK(isl_iso_new_from_snapshot(s, &c1, NULL) == 0);
  CHECK(isl_iso_new_from_snapshot(s, &c2, NULL) == 0);
  CHECK_EVAL(c1, "o.v = 'mine'; o.list.push(9); o.v + o.list", "mine1,2,3,9");
  CHECK_EVAL(c2, "o.v + o.list", "orig1,2,3");
  CHECK_EVAL(c2, "o.v = 'theirs'; o.v", "theirs");
  CHECK_EVAL(c1, "o.v", "mine");
  isl_iso_free(c1);
  isl_iso_free(c2);
  /* Nor does the snapshot see them. */
  CHECK(isl_iso_new_from_snapshot(s, &c1, NULL) == 0);
  CHECK_EVAL(c1, "o.v + o.list", "orig1,2,3");
  isl_iso_free(c1);
  isl_iso_snapshot_free(s);
}

TEST(iso_hot_learn_refuses_misuse) {
  isl_iso_snapshot_t *s = snapshot_of_new("globalThis.x = 1;");
  isl_iso_snapshot_t *other = snapshot_of_new("globalThis.y = 2;");
  CHECK(s != NULL && other != NULL);
  isl_iso_t *iso;
  CHECK(isl_iso_new_from_snapshot(other, &iso, NULL) == 0);
  CHECK(test_run(iso, WORKLOAD) == 0);
  CHECK(isl_iso_snapshot_learn_hot(s, iso) == ISL_EINVAL); /* not its clone */
  CHECK(isl_iso_snapshot_learn_hot(s, NULL) == ISL_EINVAL);
  CHECK(isl_iso_snapshot_hot_pages(s) == 0);
  CHECK(isl_iso_snapshot_learn_hot(other, iso) == 0);
  CHECK(isl_iso_snapshot_learn_hot(other, iso) == ISL_EINVAL); /* learns once */
  isl_iso_free(iso);
  /* A template (no snapshot of its own) cannot teach one. */
  isl_iso_t *fresh;
  CHECK(isl_iso_new(NULL, &fresh, NULL) == 0);
  CHECK(isl_iso_snapshot_learn_hot(s, fresh) == ISL_EINVAL);
  isl_iso_free(fresh);
  /* The snapshot may be freed before the clones made with its hot set. */
  isl_iso_t *c;
  CHECK(isl_iso_new_from_snapshot(other, &c, NULL) == 0);
  isl_iso_snapshot_free(other);
  CHECK_EVAL(c, "y + 1", "3");
  isl_iso_free(c);
  isl_iso_snapshot_free(s);
}
