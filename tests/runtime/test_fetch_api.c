/*
 * test_fetch_api.c - the Fetch API and Streams of the prelude
 * (src/runtime/js/{streams,body,request,response}.js). The checks live in
 * tests/runtime/js/fetch_*.js and run in a real isolate through
 * `isolde run`; each file must exit 0 and end with "ok N" for the exact
 * number of checks listed here, so a check that silently stops running
 * (a promise that never settles, an early return) fails the test too.
 */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "runtime/js_checks.h"
#include "runtime/run_js.h"
#include "test.h"

/* Runs one JS file; fails the calling test unless it passed `checks` checks. */
#define CHECK_JS_FILE(path, checks)                                           \
  do {                                                                        \
    char *out_ = NULL;                                                        \
    int rc_ = test_run_js(path, &out_);                                       \
    int ok_ = rc_ == 0 && out_ && test_js_ok_count(out_, checks);             \
    if (!ok_) printf("  %s printed:\n%s\n", path, out_ ? out_ : "(nothing)"); \
    free(out_);                                                               \
    CHECK_EQ_INT(rc_, 0);                                                     \
    CHECK_MSG(ok_, "%s did not end with \"ok %d\"", path, checks);            \
  } while (0)

TEST(fetch_api_streams) {
  CHECK_JS_FILE("tests/runtime/js/fetch_streams.js", JS_CHECKS_fetch_streams);
}

TEST(fetch_api_body) {
  CHECK_JS_FILE("tests/runtime/js/fetch_body.js", JS_CHECKS_fetch_body);
}

TEST(fetch_api_request) {
  CHECK_JS_FILE("tests/runtime/js/fetch_request.js", JS_CHECKS_fetch_request);
}

TEST(fetch_api_response) {
  CHECK_JS_FILE("tests/runtime/js/fetch_response.js", JS_CHECKS_fetch_response);
}

/* The harness itself: a failing check in a JS file, even one reached only
 * after an await, must make `isolde run` exit non-zero. */
TEST(fetch_api_failing_check_fails) {
  char path[] = "/tmp/isolde-fetch-fail-XXXXXX.js";
  int fd = mkstemps(path, 3);
  CHECK(fd >= 0);
  static const char js[] =
      "const r = new Response('a');\n"
      "const t = await r.text();\n"
      "if (t !== 'b') throw new Error('FAIL: text is ' + t);\n"
      "console.log('ok 1');\n"
      "export {};\n";
  ssize_t w = write(fd, js, sizeof(js) - 1);
  close(fd);
  CHECK_EQ_INT(w, (ssize_t)(sizeof(js) - 1));
  printf("  (a failure report from the next run is expected)\n");
  char *out = NULL;
  int rc = test_run_js(path, &out);
  unlink(path);
  int printed_ok = out && test_js_ok_count(out, 1);
  free(out);
  CHECK(rc != 0);
  CHECK(!printed_ok);
}
