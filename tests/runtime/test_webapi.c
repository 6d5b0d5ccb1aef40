/*
 * test_webapi.c - the Web APIs of the JS prelude (src/runtime/js), checked
 * by running JS files from tests/runtime/js through `isolde run` (the
 * binary in ISOLDE_BIN) as a subprocess.
 *
 * Most files check themselves with the helpers of js/lib/assert.js: one
 * line per check, "ok N" last, and a failing check throws, so isolde exits
 * non-zero. Here we check the exit status and the exact "ok N", so a file
 * that silently skips checks fails too. Console formatting cannot check
 * itself (the output leaves the isolate), so webapi_console.js is compared
 * line by line with the text Node prints for the same calls. wpt_url.js
 * runs the web-platform-tests URL data, read in place from ISOLDE_WPT_DIR
 * (default ../shared/wpt, relative to the repository root, where the tests
 * run).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "runtime/run_js.h"
#include "runtime/server_proc.h"
#include "runtime/js_checks.h"
#include "test.h"

#define JS_DIR "tests/runtime/js/"

/* ---- running isolde ------------------------------------------------------------ */

/* Runs `isolde run path` to completion; r->out and r->err are always set. */
static void run_isolde(const char *path, test_isolde_result_t *r) {
  const char *args[] = {"run", path, NULL};
  test_isolde_exec(args, r);
}

/* Shows what a failed run printed, so the test log says why. */
static void run_dump(const test_isolde_result_t *r, const char *path) {
  printf("  `isolde run %s` exited with %d\n  stdout:\n%s\n  stderr:\n%s\n", path, r->status, r->out, r->err);
}

/* Writes text to a new temporary .js file; returns its path (owned) or NULL. */
static char *write_temp_js(const char *const *parts, size_t n_parts) {
  char *path = strdup("/tmp/isolde-webapi-XXXXXX.js");
  int fd = path ? mkstemps(path, 3) : -1;
  if (fd < 0) {
    free(path);
    return NULL;
  }
  for (size_t i = 0; i < n_parts; i++) {
    size_t len = strlen(parts[i]), off = 0;
    while (off < len) {
      ssize_t k = write(fd, parts[i] + off, len - off);
      if (k <= 0) {
        close(fd);
        unlink(path);
        free(path);
        return NULL;
      }
      off += (size_t)k;
    }
  }
  close(fd);
  return path;
}

/* ---- self-checking files ----------------------------------------------------------- */

/* Runs JS_DIR file: it must exit 0 and end with exactly "ok checks"; each
 * of the NULL-terminated needles must appear on its stderr. */
static void check_js_file(const char *file, int checks, const char *const *stderr_needles) {
  char path[256];
  snprintf(path, sizeof(path), JS_DIR "%s", file);
  test_isolde_result_t r;
  run_isolde(path, &r);
  int ok = r.status == 0 && test_js_ok_count(r.out, checks);
  const char *missing = NULL;
  for (const char *const *s = stderr_needles; ok && s && *s; s++) {
    if (!strstr(r.err, *s)) missing = *s;
  }
  if (!ok || missing) run_dump(&r, path);
  int status = r.status, have_ok = test_js_ok_count(r.out, checks);
  test_isolde_result_free(&r);
  CHECK_EQ_INT(status, 0);
  CHECK_MSG(have_ok, "%s did not print \"ok %d\" (a check was skipped or added: update the count)", file, checks);
  CHECK_MSG(!missing, "%s: stderr lacks \"%s\"", file, missing);
}

TEST(webapi_encoding) {
  check_js_file("webapi_encoding.js", JS_CHECKS_webapi_encoding, NULL);
}

TEST(webapi_events) {
  static const char *const needles[] = {"Uncaught Error: listener error (expected in this test)", NULL};
  check_js_file("webapi_events.js", JS_CHECKS_webapi_events, needles);
}

TEST(webapi_timers) {
  static const char *const needles[] = {
      "Uncaught Error: timer boom (expected in this test)",
      "Uncaught Error: interval boom (expected in this test)",
      "Uncaught Error: microtask boom (expected in this test)",
      NULL,
  };
  check_js_file("webapi_timers.js", JS_CHECKS_webapi_timers, needles);
}

TEST(webapi_structured_clone) {
  check_js_file("webapi_clone.js", JS_CHECKS_webapi_clone, NULL);
}

TEST(webapi_crypto) {
  check_js_file("webapi_crypto.js", JS_CHECKS_webapi_crypto, NULL);
}

TEST(webapi_url) {
  check_js_file("webapi_url.js", JS_CHECKS_webapi_url, NULL);
}

/* Needs an isolate of its own (it checks that tr46 is not loaded at the
 * start), so it is not among the files test_api_served.c runs together. */
TEST(webapi_url_idna) {
  check_js_file("webapi_url_idna.js", JS_CHECKS_webapi_url_idna, NULL);
}

TEST(webapi_headers) {
  check_js_file("webapi_headers.js", JS_CHECKS_webapi_headers, NULL);
}

TEST(webapi_blob_formdata) {
  check_js_file("webapi_blob.js", JS_CHECKS_webapi_blob, NULL);
}

TEST(webapi_globals) {
  check_js_file("webapi_globals.js", JS_CHECKS_webapi_globals, NULL);
}

/* The helpers the JS files share (js/lib/assert.js) must be able to fail. */
TEST(webapi_failing_check_fails) {
  test_isolde_result_t r;
  run_isolde(JS_DIR "assert_fails.js", &r);
  int status = r.status, failed_line = strstr(r.err, "FAIL: deliberately wrong") != NULL;
  int printed_ok = test_js_ok_count(r.out, 1) || test_js_ok_count(r.out, 2);
  test_isolde_result_free(&r);
  CHECK(status != 0);
  CHECK(failed_line);
  CHECK(!printed_ok);
}

/* ---- console ----------------------------------------------------------------------- */

/* What webapi_console.js prints: Node 20's output for the same calls, but
 * for %o (Node also shows hidden properties such as [length]) and the
 * Headers class (undici's own inspect). '*' in a line matches any text. */
static const char *const console_stdout[] = {
    "plain strings 42 -0 10n true null undefined",
    "Bob is 42.5 years and 7 days, 1.5%",
    "[ 1 ] and { a: { b: 1 } }",
    "{\"json\":[1,\"two\"]}",
    "only extra { k: 1 }",
    " styled",
    "100% literal %x",
    "{",
    "  str: \"it's\",",
    "  n: 1,",
    "  nested: { deep: { deeper: [Object] } },",
    "  arr: [ 1, 'a', [ 2, [Array] ] ]",
    "}",
    "[ 1, 2, 3 ] [] {} [ <1 empty item>, 1, <2 empty items> ] [ <3 empty items> ]",
    "Map(1) { 'k' => { v: 1 } } Set(2) { 1, 'x' } Map(0) {} Set(0) {}",
    "Point { x: 1, y: 2 } [Object: null prototype] {} Symbol(sym) [ Symbol(Symbol.iterator) ]",
    "[Function: named] [Function (anonymous)] [class Klass] [AsyncFunction: af]",
    "Uint8Array(3) [ 1, 2, 3 ] ArrayBuffer { [Uint8Contents]: <00 00>, byteLength: 2 } 1970-01-01T00:00:00.000Z "
    "/re+/gi",
    "[Number: 3] [String: 'boxed'] [Boolean: false]",
    "<ref *1> { name: 'loop', self: [Circular *1] }",
    "[",
    "   0,  3,  6,  9, 12, 15, 18, 21,",
    "  24, 27, 30, 33, 36, 39, 42, 45,",
    "  48, 51, 54, 57, 60, 63, 66, 69,",
    "  72, 75",
    "]",
    "120 [ 5, 6, 7, 8, 9, 0 ]",
    "{ 'needs-quotes': 1, valid_id: 2, g: [Getter], [Symbol(s)]: 3 }",
    "[ 'a\\nb', 'q\"uote', `both'\"` ]",
    "Headers { a: '1', b: '2' }",
    "URLSearchParams { 'a' => '1', 'b' => '2' }",
    "AbortError TypeError: t",
    "Blob { size: 2, type: '' } [ AbortSignal { aborted: true } ]",
    "info line",
    "debug line",
    "default: 1",
    "c: 1",
    "default: 2",
    "default: 1",
    "group",
    "  indented",
    "  both lines",
    "    twice",
    "back",
    "{ dir: [Array] }",
    "┌─────────┬───┬─────┐",
    "│ (index) │ a │ b   │",
    "├─────────┼───┼─────┤",
    "│ 0       │ 1 │ 'x' │",
    "│ 1       │ 2 │     │",
    "└─────────┴───┴─────┘",
    "t: *ms",
    "detached console.log works",
    "[object console] function",
    NULL,
};

/* warn and error go to stderr, each line prefixed with its level by the host. */
static const char *const console_stderr[] = {
    "warn: warn line { w: 1 }",
    "error: error line",
    "error: Assertion failed: assert printed",
    "error: Assertion failed",
    "warn: Count for 'missing' does not exist",
    "warn: No such label 't' for console.timeEnd()",
    NULL,
};

/* A glob where only '*' is special. */
static int glob_match(const char *pat, const char *s, size_t len) {
  if (*pat == 0) return len == 0;
  if (*pat == '*') {
    for (size_t i = 0; i <= len; i++)
      if (glob_match(pat + 1, s + i, len - i)) return 1;
    return 0;
  }
  return len > 0 && *pat == *s && glob_match(pat + 1, s + 1, len - 1);
}

/* Compares text with want line by line; on a mismatch says where. */
static int lines_match(const char *what, const char *text, const char *const *want) {
  const char *p = text;
  int i = 0;
  for (; want[i]; i++) {
    const char *nl = strchr(p, '\n');
    size_t len = nl ? (size_t)(nl - p) : strlen(p);
    if (!*p && !want[i][0]) break;
    if (!glob_match(want[i], p, len)) {
      printf("  %s line %d: got \"%.*s\", want \"%s\"\n", what, i + 1, (int)len, p, want[i]);
      return 0;
    }
    p = nl ? nl + 1 : p + len;
  }
  if (*p) {
    printf("  %s has more lines than expected, from: \"%s\"\n", what, p);
    return 0;
  }
  return 1;
}

TEST(webapi_console) {
  test_isolde_result_t r;
  run_isolde(JS_DIR "webapi_console.js", &r);
  int ok_out = lines_match("stdout", r.out, console_stdout);
  int ok_err = lines_match("stderr", r.err, console_stderr);
  int status = r.status;
  if (status != 0) run_dump(&r, JS_DIR "webapi_console.js");
  test_isolde_result_free(&r);
  CHECK_EQ_INT(status, 0);
  CHECK(ok_out);
  CHECK(ok_err);
}

/* ---- WHATWG URL conformance (web-platform-tests) --------------------------------------- */

TEST(wpt_url) {
  const char *dir = getenv("ISOLDE_WPT_DIR");
  if (!dir || !*dir) dir = "../shared/wpt";
  char data_path[1024], setters_path[1024];
  snprintf(data_path, sizeof(data_path), "%s/urltestdata.json", dir);
  snprintf(setters_path, sizeof(setters_path), "%s/setters_tests.json", dir);
  char *data = test_read_file(data_path);
  char *setters = test_read_file(setters_path);
  if (!data || !setters) {
    printf("  skipped: WPT URL data not found at %s\n", dir);
    free(data);
    free(setters);
    return;
  }
  char *harness = test_read_file(JS_DIR "wpt_url.js");
  const char *parts[] = {
      "const URL_TEST_DATA = ", data, ";\nconst SETTERS_TEST_DATA = ", setters, ";\n", harness ? harness : "",
  };
  char *path = harness ? write_temp_js(parts, sizeof(parts) / sizeof(parts[0])) : NULL;
  free(data);
  free(setters);
  free(harness);
  CHECK_MSG(path != NULL, "cannot read " JS_DIR "wpt_url.js or write a temporary file");
  test_isolde_result_t r;
  run_isolde(path, &r);
  /* Show the pass counts in the test log. */
  int parsed_ok = -1, parsed_all = -2, set_ok = -1, set_all = -2;
  for (const char *p = r.out; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
    if (sscanf(p, "urltestdata.json: %d/%d", &parsed_ok, &parsed_all) == 2 ||
        sscanf(p, "setters_tests.json: %d/%d", &set_ok, &set_all) == 2) {
      const char *nl = strchr(p, '\n');
      printf("  %.*s\n", nl ? (int)(nl - p) : (int)strlen(p), p);
    }
  }
  if (r.status != 0) run_dump(&r, path);
  int status = r.status, have_ok = strstr(r.out, "\nok ") != NULL;
  test_isolde_result_free(&r);
  unlink(path);
  free(path);
  CHECK_EQ_INT(status, 0);
  CHECK(parsed_all > 0 && set_all > 0);
  CHECK_EQ_INT(parsed_ok, parsed_all);
  CHECK_EQ_INT(set_ok, set_all);
  CHECK(have_ok);
}
