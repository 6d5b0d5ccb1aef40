/*
 * test_api_served.c - the Web API test files (tests/runtime/js/webapi_*.js
 * and fetch_*.js) run again inside a served worker, one request each, over
 * a real socket: the way tenants' code runs, with time frozen while JS runs
 * and the limits of a request. tests/runtime/js/served_runner.js imports
 * the file named in the query; its check lines land in the tenant log.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http/http_client.h"
#include "runtime/js_checks.h"
#include "runtime/server_proc.h"
#include "test.h"

TEST(api_files_pass_in_a_served_worker) {
  test_server_t s = {0};
  CHECK(test_server_dir(&s) == 0);
  char runner[4096];
  CHECK(realpath("tests/runtime/js/served_runner.js", runner) != NULL);
  char cfg[8192];
  /* The files run many checks in one request: more CPU than a request's 50 ms. */
  snprintf(cfg, sizeof(cfg),
           "{\"listen\": {\"port\": 0}, \"threads\": 1, \"workers\": [{\"name\": \"runner\", \"main\": \"%s\", "
           "\"limits\": {\"cpu_ms\": 20000}}]}",
           runner);
  const char *cfg_path = test_server_write(&s, "isolde.json", cfg);
  CHECK(cfg_path != NULL);
  char path[512];
  snprintf(path, sizeof(path), "%s", cfg_path);
  const char *args[] = {"serve", "--config", path, NULL};
  CHECK(test_server_start(&s, args) == 0);
  static const struct {
    const char *file;
    int checks;
  } files[] = {
#define JS_FILE_ENTRY(file, n) {#file ".js", n},
      JS_CHECKED_FILES(JS_FILE_ENTRY)
#undef JS_FILE_ENTRY
  };
  /* The files share one isolate, and so one assert.js whose count goes on
   * from file to file: after each, "ok <checks so far>". */
  int total = 0;
  for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
    total += files[i].checks;
    char raw[256], want[128];
    snprintf(raw, sizeof(raw), "GET /?file=%s HTTP/1.1\r\nHost: x\r\n\r\n", files[i].file);
    test_http_resp_t r = {0};
    int rc = test_http_request(s.port, raw, &r);
    int status = r.status;
    test_http_resp_free(&r);
    snprintf(want, sizeof(want), "[runner] log: ok %d\n", total);
    int printed = test_server_wait_output(&s, want, 2000);
    if (rc != 0 || status != 200 || !printed) {
      char *out = test_server_output(&s);
      printf("  %s: status %d; the server printed:\n%s\n", files[i].file, status, out);
      free(out);
    }
    CHECK_EQ_INT(rc, 0);
    CHECK_MSG(status == 200, "%s answered %d", files[i].file, status);
    CHECK_MSG(printed, "%s did not log \"ok %d\"", files[i].file, total);
  }
  CHECK_EQ_INT(test_server_stop(&s), 0);
}
