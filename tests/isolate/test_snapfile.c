/* tests/isolate/test_snapfile.c - snapshots saved to a file and mapped back
 * (src/isolate/snapfile.c): what a clone of a mapped file can do, and every
 * way a file is refused. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "isolate/isolate.h"
#include "iso_helpers.h"
#include "test.h"

static int host_tag(isl_iso_t *iso, void *data, int argc, const isl_val_t *argv, isl_val_t *ret) {
  (void)argc, (void)argv;
  return isl_iso_new_string(iso, data, ret);
}

static const char ID[] = "test-build-1";

/* Saves a snapshot of an isolate with state and a host function "tag" to
 * path; *handle gets a value handle kept in the file's meta. */
static int save_sample(const char *path, isl_val_t *handle) {
  isl_iso_t *iso;
  isl_iso_snapshot_t *snap = NULL;
  if (isl_iso_new(NULL, &iso, NULL) < 0) return -1;
  int rc = isl_iso_define_function(iso, 0, "tag", host_tag, "build-time data");
  if (rc == 0) rc = test_run(iso, "globalThis.counter = 41; globalThis.big = 'x'.repeat(300000);");
  static const char fn[] = "(function () { return ++counter; })";
  if (rc == 0) rc = isl_iso_eval(iso, fn, sizeof(fn) - 1, "f.js", ISL_ISO_EVAL_SCRIPT, handle);
  if (rc == 0) rc = isl_iso_snapshot_new(iso, &snap, NULL);
  isl_err_t err = {0};
  if (rc == 0) rc = isl_iso_snapshot_save(snap, path, ID, handle, sizeof(*handle), &err);
  if (rc < 0) fprintf(stderr, "  save: %s\n", err.msg);
  isl_iso_snapshot_free(snap);
  isl_iso_free(iso);
  return rc;
}

TEST(iso_snapfile_clones_keep_state_and_host_functions) {
  char path[] = "/tmp/isolde-snapfile-XXXXXX";
  int fd = mkstemp(path);
  CHECK(fd >= 0);
  close(fd);
  isl_val_t handle = 0;
  CHECK(save_sample(path, &handle) == 0);
  /* The host function is found again by its key, with this process's data. */
  isl_iso_host_def_t fns[] = {{"unused", host_tag, "x"}, {"tag", host_tag, "run-time data"}};
  isl_iso_snapshot_t *snap = NULL;
  void *meta = NULL;
  size_t meta_len = 0;
  isl_err_t err = {0};
  CHECK_MSG(isl_iso_snapshot_open(path, ID, fns, 2, &snap, &meta, &meta_len, &err) == 0, "open: %s", err.msg);
  CHECK_EQ_INT(meta_len, sizeof(isl_val_t));
  isl_val_t f;
  memcpy(&f, meta, sizeof(f));
  free(meta);
  CHECK_EQ_INT(f, handle);
  CHECK(isl_iso_snapshot_bytes(snap) > 300000);
  isl_iso_t *a, *b;
  CHECK(isl_iso_new_from_snapshot(snap, &a, NULL) == 0);
  CHECK(isl_iso_new_from_snapshot(snap, &b, NULL) == 0);
  CHECK_EVAL(a, "tag() + ' ' + counter + ' ' + big.length", "run-time data 41 300000");
  /* A handle made before the snapshot works in every clone, and clones
   * do not share what they write. */
  isl_val_t r;
  CHECK(isl_iso_call(a, f, 0, 0, NULL, &r) == 0);
  CHECK(isl_iso_to_number(a, r) == 42);
  isl_iso_release(a, r);
  CHECK_EVAL(b, "counter", "41");
  CHECK_EVAL(a, "Math.random() !== Math.random() && typeof Math.random()", "number");
  /* A layer over the mapped file, and a clone of it. */
  isl_iso_snapshot_t *layer;
  CHECK(isl_iso_snapshot_new(a, &layer, NULL) == 0);
  isl_iso_t *c;
  CHECK(isl_iso_new_from_snapshot(layer, &c, NULL) == 0);
  CHECK_EVAL(c, "counter + ' ' + tag()", "42 run-time data");
  isl_iso_free(c);
  isl_iso_snapshot_free(layer);
  isl_iso_free(a);
  isl_iso_free(b);
  /* The file may go away: the mapping keeps the pages. */
  unlink(path);
  CHECK(isl_iso_new_from_snapshot(snap, &a, NULL) == 0);
  CHECK_EVAL(a, "counter + big.length", "300041");
  isl_iso_free(a);
  isl_iso_snapshot_free(snap);
}

/* Opens path expecting failure; returns the error message (static). */
static const char *open_error(const char *path, const char *id, const isl_iso_host_def_t *fns, size_t n) {
  static isl_err_t err;
  memset(&err, 0, sizeof(err));
  isl_iso_snapshot_t *snap = NULL;
  void *meta = NULL;
  size_t meta_len = 0;
  if (isl_iso_snapshot_open(path, id, fns, n, &snap, &meta, &meta_len, &err) == 0) {
    isl_iso_snapshot_free(snap);
    free(meta);
    return "(opened)";
  }
  return snap || meta ? "(left output set)" : err.msg;
}

static int copy_file(const char *from, const char *to, long keep, long flip_at) {
  FILE *in = fopen(from, "rb"), *out = fopen(to, "wb");
  int ok = in && out;
  long i = 0;
  for (int ch; ok && (keep < 0 || i < keep) && (ch = fgetc(in)) != EOF; i++) fputc(i == flip_at ? ch ^ 1 : ch, out);
  if (in) fclose(in);
  if (out) fclose(out);
  return ok ? 0 : -1;
}

TEST(iso_snapfile_refuses_other_builds_and_damage) {
  char path[] = "/tmp/isolde-snapfile-XXXXXX", bad[64];
  int fd = mkstemp(path);
  CHECK(fd >= 0);
  close(fd);
  snprintf(bad, sizeof(bad), "%s.bad", path);
  isl_val_t handle;
  CHECK(save_sample(path, &handle) == 0);
  isl_iso_host_def_t fns[] = {{"tag", host_tag, "d"}};
  const char *e;
  /* Sanity: the file itself opens. */
  CHECK_EQ_STR(open_error(path, ID, fns, 1), "(opened)");
  e = open_error(path, "another-build", fns, 1);
  CHECK_MSG(strstr(e, "made by another build") && strstr(e, "rebuild"), "got: %s", e);
  e = open_error(path, ID, NULL, 0);
  CHECK_MSG(strstr(e, "needs host function 'tag'"), "got: %s", e);
  e = open_error("/nonexistent/isolde.snap", ID, fns, 1);
  CHECK_MSG(strstr(e, "No such file"), "got: %s", e);
  CHECK(copy_file(path, bad, 70000, -1) == 0);
  e = open_error(bad, ID, fns, 1);
  CHECK_MSG(strstr(e, "truncated"), "got: %s", e);
  CHECK(copy_file(path, bad, -1, 0) == 0);
  e = open_error(bad, ID, fns, 1);
  CHECK_MSG(strstr(e, "not an Isolde snapshot"), "got: %s", e);
  /* A flipped byte before the image (here: in the map of non-zero pages)
   * fails the checksum. */
  CHECK(copy_file(path, bad, -1, 300) == 0);
  e = open_error(bad, ID, fns, 1);
  CHECK_MSG(strstr(e, "damaged"), "got: %s", e);
  unlink(bad);
  unlink(path);
}

TEST(iso_snapfile_saves_only_full_snapshots_with_keys) {
  isl_iso_t *iso, *clone;
  isl_iso_snapshot_t *snap, *layer;
  CHECK(isl_iso_new(NULL, &iso, NULL) == 0);
  CHECK(isl_iso_snapshot_new(iso, &snap, NULL) == 0);
  CHECK(isl_iso_new_from_snapshot(snap, &clone, NULL) == 0);
  CHECK(isl_iso_snapshot_new(clone, &layer, NULL) == 0);
  isl_err_t err = {0};
  CHECK_EQ_INT(isl_iso_snapshot_save(layer, "/tmp/isolde-never-written.snap", ID, NULL, 0, &err), ISL_EINVAL);
  CHECK(strstr(err.msg, "only a full snapshot"));
  CHECK(access("/tmp/isolde-never-written.snap", F_OK) != 0);
  isl_iso_snapshot_free(layer);
  isl_iso_free(clone);
  isl_iso_snapshot_free(snap);
  /* Two host functions under one key could not be told apart at open. */
  CHECK(isl_iso_define_function(iso, 0, "tag", host_tag, "a") == 0);
  CHECK(test_run(iso, "globalThis.o = {}") == 0);
  isl_val_t global, o;
  CHECK(isl_iso_global(iso, &global) == 0);
  CHECK(isl_iso_get(iso, global, "o", &o) == 0);
  CHECK(isl_iso_define_function(iso, o, "tag", host_tag, "b") == 0);
  isl_iso_release(iso, o);
  isl_iso_release(iso, global);
  CHECK(isl_iso_snapshot_new(iso, &snap, NULL) == 0);
  CHECK_EQ_INT(isl_iso_snapshot_save(snap, "/tmp/isolde-never-written.snap", ID, NULL, 0, &err), ISL_EINVAL);
  CHECK(strstr(err.msg, "two host functions"));
  isl_iso_snapshot_free(snap);
  isl_iso_free(iso);
}

TEST(iso_snapfile_keeps_a_hot_set_adopted_from_a_layer) {
  char path[] = "/tmp/isolde-snapfile-XXXXXX";
  int fd = mkstemp(path);
  CHECK(fd >= 0);
  close(fd);
  /* A base, a layer over it, and a clone of the layer that writes base
   * pages (the objects it touches) and pages of its own. */
  isl_iso_t *iso, *tmpl, *clone;
  isl_iso_snapshot_t *base, *layer;
  CHECK(isl_iso_new(NULL, &iso, NULL) == 0);
  CHECK(test_run(iso, "globalThis.objs = []; for (let i = 0; i < 20000; i++) objs.push({i});") == 0);
  CHECK(isl_iso_snapshot_new(iso, &base, NULL) == 0);
  CHECK(isl_iso_new_from_snapshot(base, &tmpl, NULL) == 0);
  CHECK(test_run(tmpl, "globalThis.mine = 'x'.repeat(100000);") == 0);
  CHECK(isl_iso_snapshot_new(tmpl, &layer, NULL) == 0);
  CHECK(isl_iso_new_from_snapshot(layer, &clone, NULL) == 0);
  CHECK_EVAL(clone, "let s = 0; for (const o of objs) s += o.i; s + mine.length", "200090000");
  CHECK(isl_iso_snapshot_learn_hot(layer, clone) == 0);
  size_t learned = isl_iso_snapshot_hot_pages(layer);
  CHECK(learned > 0);
  CHECK_EQ_INT(isl_iso_snapshot_hot_pages(base), 0);
  CHECK(isl_iso_snapshot_adopt_hot(base, layer) == 0);
  size_t adopted = isl_iso_snapshot_hot_pages(base);
  CHECK(adopted > 0 && adopted <= learned);
  CHECK_EQ_INT(isl_iso_snapshot_adopt_hot(base, layer), ISL_EINVAL); /* learns once */
  CHECK(isl_iso_snapshot_save(base, path, ID, NULL, 0, NULL) == 0);
  isl_iso_free(clone);
  isl_iso_free(tmpl);
  isl_iso_snapshot_free(layer);
  isl_iso_snapshot_free(base);
  isl_iso_free(iso);

  /* The file keeps it; a new layer over the mapped base prefetches it. */
  isl_iso_snapshot_t *opened;
  void *meta;
  size_t meta_len;
  isl_err_t err = {0};
  CHECK_MSG(isl_iso_snapshot_open(path, ID, NULL, 0, &opened, &meta, &meta_len, &err) == 0, "open: %s", err.msg);
  free(meta);
  CHECK_EQ_INT(isl_iso_snapshot_hot_pages(opened), adopted);
  CHECK(isl_iso_new_from_snapshot(opened, &tmpl, NULL) == 0);
  CHECK(isl_iso_snapshot_new(tmpl, &layer, NULL) == 0);
  CHECK_EQ_INT(isl_iso_snapshot_hot_pages(layer), 0);
  CHECK(isl_iso_new_from_snapshot(layer, &clone, NULL) == 0);
  /* Prefetched pages are the clone's own from the start: learning on a
   * clone that ran nothing finds at least them. */
  CHECK(isl_iso_snapshot_learn_hot(layer, clone) == 0);
  CHECK(isl_iso_snapshot_hot_pages(layer) >= adopted);
  CHECK_EVAL(clone, "objs.length", "20000");
  isl_iso_free(clone);
  isl_iso_free(tmpl);
  isl_iso_snapshot_free(layer);
  isl_iso_snapshot_free(opened);
  unlink(path);
}
