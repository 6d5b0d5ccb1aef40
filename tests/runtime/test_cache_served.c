/*
 * test_cache_served.c - the Cache API end to end: tests/runtime/js/
 * cache_api.js through `isolde run`, and `isolde serve` with two tenants
 * running the same worker (tests/runtime/workers/cache_tenant/cache_tenant.js) over
 * real sockets, to show that the tenant part of a cache key comes from the
 * host: B's match of a URL A stored misses, A's hits, and the entries
 * outlive the isolates that stored them.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http/http_client.h"
#include "runtime/js_checks.h"
#include "runtime/run_js.h"
#include "runtime/server_proc.h"
#include "test.h"

TEST(cache_api_js_file_passes) {
  char *out = NULL;
  int status = test_run_js("tests/runtime/js/cache_api.js", &out);
  int counted = out && test_js_ok_count(out, JS_CHECKS_cache_api);
  if (status != 0 || !counted) printf("  cache_api.js exited %d; stdout:\n%s\n", status, out ? out : "");
  free(out);
  CHECK_EQ_INT(status, 0);
  CHECK_MSG(counted, "cache_api.js did not end with \"ok %d\"", JS_CHECKS_cache_api);
}

/* GET path on host: 1 if it answers `status` with exactly `body` (and,
 * when isolate_requests > 0, that X-Isolate-Requests); else 0 after
 * printing what came. */
static int answers(int port, const char *host, const char *path, int status, const char *body, int isolate_requests) {
  char raw[1024];
  snprintf(raw, sizeof(raw), "GET %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n", path, host);
  test_http_resp_t r = {0};
  int rc = test_http_request(port, raw, &r);
  const char *n = rc == 0 ? test_http_resp_header(&r, "x-isolate-requests") : NULL;
  int ok = rc == 0 && r.status == status && r.body && strcmp(r.body, body) == 0 &&
           (isolate_requests <= 0 || (n && atoi(n) == isolate_requests));
  if (!ok)
    printf("  GET %s%s: got %d \"%s\" (isolate requests %s, read %d), want %d \"%s\"\n", host, path, r.status,
           r.body ? r.body : "", n ? n : "-", rc, status, body);
  test_http_resp_free(&r);
  return ok;
}

TEST(cache_tenants_are_separate_when_served) {
  test_server_t s = {0};
  CHECK(test_server_dir(&s) == 0);
  char worker[PATH_MAX];
  CHECK(realpath("tests/runtime/workers/cache_tenant/cache_tenant.js", worker) != NULL);
  char cfg[3 * PATH_MAX];
  /* A small budget, so an isolate that grew is evicted after its request.
   * Alice's /grow touches 32 MiB (a page at a time, a few ms of CPU on an
   * idle machine); her cpu_ms is raised so a busy one cannot cut it. */
  snprintf(cfg, sizeof(cfg),
           "{\"listen\": {\"port\": 0}, \"threads\": 1, \"memory_budget_mb\": 16, \"workers\": [\n"
           "  {\"name\": \"alice\", \"main\": \"%s\", \"routes\": [\"a.test/*\"], \"limits\": {\"cpu_ms\": 1000}},\n"
           "  {\"name\": \"bob\", \"main\": \"%s\", \"routes\": [\"b.test/*\"]}]}\n",
           worker, worker);
  const char *cfg_path = test_server_write(&s, "isolde.json", cfg);
  CHECK(cfg_path != NULL);
  char path[512];
  snprintf(path, sizeof(path), "%s", cfg_path);
  const char *args[] = {"serve", "--config", path, NULL};
  CHECK(test_server_start(&s, args) == 0);

  const char *url = "url=https%3A%2F%2Fshared.test%2Fx";
  char p[256];
  /* Nothing is cached at load: no request runs before the first client's. */
  snprintf(p, sizeof(p), "/get?%s", url);
  CHECK(answers(s.port, "a.test", p, 404, "miss", 1));
  snprintf(p, sizeof(p), "/put?%s&body=alice-secret", url);
  CHECK(answers(s.port, "a.test", p, 200, "stored", 0));
  /* Same script, same URL, same cache name: bob misses, alice hits. */
  snprintf(p, sizeof(p), "/get?%s", url);
  CHECK(answers(s.port, "b.test", p, 404, "miss", 0));
  CHECK(answers(s.port, "a.test", p, 200, "alice-secret", 0));
  /* Bob's own entry under the URL leaves alice's alone, and his delete too. */
  snprintf(p, sizeof(p), "/put?%s&body=bob-data", url);
  CHECK(answers(s.port, "b.test", p, 200, "stored", 0));
  snprintf(p, sizeof(p), "/get?%s", url);
  CHECK(answers(s.port, "b.test", p, 200, "bob-data", 0));
  CHECK(answers(s.port, "a.test", p, 200, "alice-secret", 0));
  snprintf(p, sizeof(p), "/del?%s", url);
  CHECK(answers(s.port, "b.test", p, 200, "true", 0));
  CHECK(answers(s.port, "b.test", p, 200, "false", 0));
  snprintf(p, sizeof(p), "/get?%s", url);
  CHECK(answers(s.port, "b.test", p, 404, "miss", 0));
  /* A named cache is separate per tenant too. */
  snprintf(p, sizeof(p), "/put?%s&body=named&cache=c1", url);
  CHECK(answers(s.port, "a.test", p, 200, "stored", 0));
  snprintf(p, sizeof(p), "/get?%s&cache=c1", url);
  CHECK(answers(s.port, "b.test", p, 404, "miss", 0));
  CHECK(answers(s.port, "a.test", p, 200, "named", 0));
  /* The entries live in the host: alice's isolate is evicted after /grow,
   * and the fresh one (its first request) still hits. */
  CHECK(answers(s.port, "a.test", "/grow", 200, "grown", 0));
  snprintf(p, sizeof(p), "/get?%s", url);
  CHECK(answers(s.port, "a.test", p, 200, "alice-secret", 1));
  CHECK_EQ_INT(test_server_stop(&s), 0);
}
