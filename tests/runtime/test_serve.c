/*
 * test_serve.c - the runtime end to end: the isolde binary serving real
 * workers (tests/runtime/workers) over real sockets, as `isolde dev` and
 * `isolde serve` with configs written by the test.
 */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "http/http_client.h"
#include "runtime/server_proc.h"
#include "test.h"

/* An absolute path to a test worker; a static buffer per call site slot.
 * Each worker has a folder of its own (tenants' module folders may not
 * overlap): "api.js" is tests/runtime/workers/api/api.js. */
static const char *worker_path(const char *name) {
  static char paths[4][PATH_MAX];
  static int next;
  char *path = paths[next++ % 4];
  char rel[256];
  const char *dot = strrchr(name, '.');
  snprintf(rel, sizeof(rel), "tests/runtime/workers/%.*s/%s", (int)(dot ? dot - name : (long)strlen(name)), name, name);
  if (!realpath(rel, path)) snprintf(path, PATH_MAX, "%s", rel);
  return path;
}

/* GET path with a Host header on a new connection. */
static int get(int port, const char *host, const char *path, test_http_resp_t *r) {
  char raw[1024];
  snprintf(raw, sizeof(raw), "GET %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n", path, host);
  return test_http_request(port, raw, r);
}

/* GET path with a Host header: 1 if the answer has `status` and, unless
 * body is NULL, exactly `body`; else 0, after printing what came. */
static int get_answers(int port, const char *host, const char *path, int status, const char *body) {
  test_http_resp_t r = {0};
  int rc = get(port, host, path, &r);
  int ok = rc == 0 && r.status == status && (!body || strcmp(r.body, body) == 0);
  if (!ok)
    printf("  GET %s%s: got %d \"%s\" (read %d), want %d \"%s\"\n", host, path, r.status, r.body ? r.body : "", rc,
           status, body ? body : "(any body)");
  test_http_resp_free(&r);
  return ok;
}

static int start_api_dev(test_server_t *s) {
  const char *args[] = {"dev",   worker_path("api.js"), "--port", "0", "--threads", "1",
                        "--var", "GREETING=tester",     NULL};
  return test_server_start(s, args);
}

/* A config with the api (module) and site (service worker) tenants, plus
 * `extra` spliced into the workers list and `top` into the top level. */
static int start_two_tenants(test_server_t *s, const char *top, const char *extra) {
  if (test_server_dir(s) < 0) return -1;
  char cfg[16384];
  snprintf(cfg, sizeof(cfg),
           "{ \"listen\": {\"port\": 0}, \"threads\": 1, %s\n"
           "  \"workers\": [\n"
           "    {\"name\": \"api\", \"main\": \"%s\", \"routes\": [\"api.test/*\", \"shop.test/api/*\"],\n"
           "     \"vars\": {\"GREETING\": \"hi\"}, \"secrets\": {\"SECRET\": \"api-secret\"},\n"
           "     \"limits\": {\"memory_mb\": 32}},\n"
           "    {\"name\": \"site\", \"main\": \"%s\", \"routes\": [\"*.shop.test/*\", \"shop.test/*\"],\n"
           "     \"vars\": {\"TITLE\": \"Shop\"}}%s\n"
           "  ] }\n",
           top ? top : "", worker_path("api.js"), worker_path("site.js"), extra ? extra : "");
  const char *path = test_server_write(s, "isolde.json", cfg);
  if (!path) return -1;
  char cfg_path[512];
  snprintf(cfg_path, sizeof(cfg_path), "%s", path);
  const char *args[] = {"serve", "--config", cfg_path, NULL};
  return test_server_start(s, args);
}

TEST(serve_dev_answers_module_worker) {
  test_server_t s = {0};
  CHECK(start_api_dev(&s) == 0);
  test_http_resp_t r = {0};
  CHECK(get(s.port, "localhost", "/hello", &r) == 0);
  CHECK_EQ_INT(r.status, 200);
  CHECK_EQ_STR(r.body, "hello tester");
  CHECK_EQ_STR(test_http_resp_header(&r, "content-type"), "text/plain;charset=UTF-8");
  test_http_resp_free(&r);
  /* Modules import each other, and the isolate lives on between requests. */
  CHECK(get_answers(s.port, "localhost", "/count", 200, "1"));
  CHECK(get_answers(s.port, "localhost", "/count", 200, "2"));
  CHECK(test_http_request(s.port, "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\n\r\nhello world", &r) == 0);
  CHECK_EQ_INT(r.status, 200);
  CHECK_EQ_STR(r.body, "hello world");
  CHECK_EQ_STR(test_http_resp_header(&r, "x-method"), "POST");
  test_http_resp_free(&r);
  /* The client's address, as Workers gives it; a forged one is dropped. */
  CHECK(test_http_request(s.port, "GET /ip HTTP/1.1\r\nHost: x\r\nCF-Connecting-IP: 6.6.6.6\r\n\r\n", &r) == 0);
  CHECK_EQ_STR(r.body, "127.0.0.1");
  test_http_resp_free(&r);
  /* Header values are bytes, not UTF-8, both ways. */
  CHECK(test_http_request(s.port, "GET /bytes HTTP/1.1\r\nHost: x\r\nX-Latin1: caf\xe9\r\n\r\n", &r) == 0);
  CHECK_EQ_STR(r.body, "4:233");
  CHECK_EQ_STR(test_http_resp_header(&r, "x-back"), "caf\xe9");
  test_http_resp_free(&r);
  CHECK(test_server_wait_output(&s, "request tenant=api method=POST path=/echo status=200 cpu_us=", 2000));
  CHECK_EQ_INT(test_server_stop(&s), 0);
}

TEST(serve_routes_two_tenants_and_isolates_them) {
  test_server_t s = {0};
  CHECK(start_two_tenants(&s, NULL, NULL) == 0);
  test_http_resp_t r = {0};
  CHECK(get_answers(s.port, "api.test", "/hello", 200, "hello hi"));
  CHECK(get_answers(s.port, "shop.test:8080", "/api/hello", 200, "hello hi"));
  CHECK(get_answers(s.port, "www.shop.test", "/index", 200, "site Shop GET /index"));
  CHECK(get_answers(s.port, "shop.test", "/", 200, "site Shop GET /"));
  /* The api tenant leaks its secret into its own global scope ... */
  CHECK(get(s.port, "api.test", "/globals", &r) == 0);
  CHECK(strstr(r.body, "\"leak\":\"api-secret\"") != NULL);
  CHECK(strstr(r.body, "\"keys\":[\"GREETING\",\"SECRET\"]") != NULL);
  test_http_resp_free(&r);
  /* ... which the site tenant, on the same thread, cannot see. */
  CHECK(get_answers(s.port, "shop.test", "/leak", 200, "undefined undefined"));
  CHECK(get(s.port, "nobody.example", "/x", &r) == 0);
  CHECK_EQ_INT(r.status, 404);
  CHECK(strstr(r.body, "No worker is routed for nobody.example/x") != NULL);
  test_http_resp_free(&r);
  CHECK_EQ_INT(test_server_stop(&s), 0);
}

TEST(serve_tenant_cannot_reach_host_files_or_internals) {
  test_server_t s = {0};
  CHECK(start_api_dev(&s) == 0);
  test_http_resp_t r = {0};
  CHECK(get(s.port, "localhost", "/escape", &r) == 0);
  CHECK_EQ_INT(r.status, 200);
  const char *want[] = {"\"../../../../../../etc/passwd\":\"ReferenceError\"",
                        "\"/etc/passwd\":\"ReferenceError\"",
                        "\"./lib/../../../test_serve.c\":\"ReferenceError\"",
                        "\"../site/site.js\":\"ReferenceError\"",
                        "\"./lib/counter.js\":\"imported\"",
                        "\"host\":\"undefined\"",
                        "\"entry\":\"undefined\"",
                        "\"std\":\"undefinedundefinedundefinedundefined\""};
  for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
    CHECK_MSG(strstr(r.body, want[i]), "%s in %s", want[i], r.body);
  test_http_resp_free(&r);
  CHECK_EQ_INT(test_server_stop(&s), 0);
}

TEST(serve_tenant_failing_to_load_leaves_others_serving) {
  test_server_t s = {0};
  char extra[PATH_MAX + 256];
  snprintf(extra, sizeof(extra), ",\n    {\"name\": \"broken\", \"main\": \"%s\", \"routes\": [\"broken.test/*\"]}",
           worker_path("throws_at_load.js"));
  CHECK(start_two_tenants(&s, NULL, extra) == 0);
  CHECK(test_server_wait_output(&s, "worker \"broken\" failed to load", 1000));
  CHECK(test_server_wait_output(&s, "broken at load time", 1000));
  test_http_resp_t r = {0};
  CHECK(get(s.port, "broken.test", "/", &r) == 0);
  CHECK_EQ_INT(r.status, 503);
  CHECK(strstr(r.body, "\"broken\" failed to load") != NULL);
  test_http_resp_free(&r);
  CHECK(get_answers(s.port, "api.test", "/hello", 200, NULL));
  CHECK_EQ_INT(test_server_stop(&s), 0);
}

TEST(serve_bad_config_and_busy_port_are_refused) {
  test_server_t s = {0};
  CHECK(test_server_dir(&s) == 0);
  const char *bad =
      test_server_write(&s, "bad.json", "{\"workers\": [{\"name\": \"a\", \"main\": \"a.js\", \"routes\": [7]}]}");
  CHECK(bad != NULL);
  char bad_path[512];
  snprintf(bad_path, sizeof(bad_path), "%s", bad);
  const char *args[] = {"serve", "--config", bad_path, NULL};
  char *out = NULL;
  CHECK_EQ_INT(test_isolde_run(args, &out), 1);
  CHECK_MSG(strstr(out, "workers[0].routes[0]") != NULL, "output: %s", out);
  free(out);
  /* A script that does not parse: `isolde dev` says where. */
  const char *js = test_server_write(&s, "syntax.js", "export default {\n  fetch() { return new Response(\n};\n");
  char js_path[512];
  snprintf(js_path, sizeof(js_path), "%s", js);
  const char *dev_bad[] = {"dev", js_path, "--port", "0", NULL};
  CHECK_EQ_INT(test_isolde_run(dev_bad, &out), 1);
  CHECK_MSG(strstr(out, "syntax.js:3: SyntaxError") != NULL, "output: %s", out);
  free(out);
  CHECK_EQ_INT(test_server_stop(&s), -1);
  /* A second server on a port in use exits with a clear message. */
  CHECK(start_api_dev(&s) == 0);
  char port[16];
  snprintf(port, sizeof(port), "%d", s.port);
  const char *busy[] = {"dev", worker_path("api.js"), "--port", port, NULL};
  CHECK_EQ_INT(test_isolde_run(busy, &out), 1);
  CHECK_MSG(strstr(out, "already in use") != NULL, "output: %s", out);
  free(out);
  CHECK_EQ_INT(test_server_stop(&s), 0);
}

TEST(serve_exceptions_give_500_and_stack_in_tenant_log) {
  test_server_t s = {0};
  CHECK(start_api_dev(&s) == 0);
  const char *paths[] = {"/throw", "/reject", "/notresponse"};
  for (int i = 0; i < 3; i++) {
    CHECK(get_answers(s.port, "localhost", paths[i], 500, "Internal Server Error\n"));
  }
  CHECK(test_server_wait_output(&s, "[api] error: Uncaught TypeError: thrown by the handler in /throw", 2000));
  CHECK(test_server_wait_output(&s, "at fetch (", 1000)); /* the stack names the handler */
  CHECK(test_server_wait_output(&s, "Uncaught RangeError: rejected in /reject", 1000));
  CHECK(test_server_wait_output(&s, "did not return a Response", 1000));
  /* console.* goes to the tenant's log. */
  CHECK(get_answers(s.port, "localhost", "/log", 200, NULL));
  CHECK(test_server_wait_output(&s, "[api] log: log line { a: 1 }", 2000));
  CHECK(test_server_wait_output(&s, "[api] error: error line", 1000));
  CHECK_EQ_INT(test_server_stop(&s), 0);
}

/* Requests in another thread while the main one watches the runaway. */
typedef struct {
  int port, ok, failed;
  volatile int stop;
} neighbour_t;

static void *neighbour(void *arg) {
  neighbour_t *n = arg;
  while (!n->stop) {
    test_http_resp_t r = {0};
    if (get(n->port, "www.shop.test", "/", &r) == 0 && r.status == 200) {
      n->ok++;
    } else {
      n->failed++;
    }
    test_http_resp_free(&r);
  }
  return NULL;
}

TEST(serve_runaway_tenant_gets_503_while_neighbour_answers) {
  test_server_t s = {0};
  /* The memory bomb has a tenant of its own, the api's script and memory
   * cap with room to reach it: filling 32 MiB with arrays takes 35-47 ms of
   * CPU on an idle machine, a hair under the 50 ms that stop /spin. */
  char extra[PATH_MAX + 256];
  snprintf(extra, sizeof(extra),
           ",\n    {\"name\": \"bomb\", \"main\": \"%s\", \"routes\": [\"bomb.test/*\"],\n"
           "     \"limits\": {\"memory_mb\": 32, \"cpu_ms\": 1000}}",
           worker_path("api.js"));
  CHECK(start_two_tenants(&s, NULL, extra) == 0);
  neighbour_t n = {.port = s.port};
  pthread_t th;
  CHECK(pthread_create(&th, NULL, neighbour, &n) == 0);
  test_http_resp_t r = {0};
  for (int i = 0; i < 3; i++) {
    CHECK(get(s.port, "api.test", "/spin", &r) == 0);
    CHECK_EQ_INT(r.status, 503);
    CHECK(strstr(r.body, "CPU time limit") != NULL);
    test_http_resp_free(&r);
  }
  CHECK(get(s.port, "bomb.test", "/bomb", &r) == 0);
  CHECK_EQ_INT(r.status, 503);
  CHECK_MSG(strstr(r.body, "memory limit") != NULL, "body: %s", r.body);
  test_http_resp_free(&r);
  n.stop = 1;
  pthread_join(th, NULL);
  CHECK_MSG(n.ok > 0 && n.failed == 0, "neighbour: %d ok, %d failed", n.ok, n.failed);
  /* The runaway's isolate was reset: it answers again, from a fresh start. */
  CHECK(get_answers(s.port, "api.test", "/count", 200, "1"));
  CHECK(test_server_wait_output(&s, "[api] error: CPU time limit of 50 ms exceeded", 1000));
  CHECK(test_server_wait_output(&s, "[bomb] error: memory limit of 32 MiB exceeded", 1000));
  CHECK_EQ_INT(test_server_stop(&s), 0);
}

TEST(serve_worker_that_always_spins_still_loads) {
  /* Only the script's top-level code runs at load, so a handler that
   * always spins cannot keep the worker from loading; each request is cut
   * at its CPU limit (and the hot set is learned from no such request). */
  test_server_t s = {0};
  const char *args[] = {"dev", worker_path("spin_all.js"), "--port", "0", "--threads", "1", NULL};
  CHECK(test_server_start(&s, args) == 0);
  CHECK(get_answers(s.port, "localhost", "/", 503, NULL));
  CHECK(get_answers(s.port, "localhost", "/again", 503, NULL));
  CHECK_EQ_INT(test_server_stop(&s), 0);
}

TEST(serve_requests_interleave_in_one_isolate) {
  test_server_t s = {0};
  CHECK(start_api_dev(&s) == 0);
  test_http_conn_t waiting;
  CHECK(test_http_conn_open(&waiting, s.port) == 0);
  CHECK(test_http_conn_send_str(&waiting, "GET /wait HTTP/1.1\r\nHost: x\r\n\r\n") == 0);
  test_http_resp_t r = {0};
  /* /wait is parked on a promise; /release, on another connection, resolves it. */
  int rc = -1;
  for (int tries = 0; tries < 50; tries++) {
    CHECK(get(s.port, "localhost", "/release", &r) == 0);
    rc = r.status;
    test_http_resp_free(&r);
    if (rc == 200) break;
    usleep(20000);
  }
  CHECK_EQ_INT(rc, 200);
  CHECK(test_http_conn_read(&waiting, &r, 0, 2000) == 0);
  CHECK_EQ_INT(r.status, 200);
  CHECK_EQ_STR(r.body, "released by release");
  test_http_resp_free(&r);
  test_http_conn_close(&waiting);
  CHECK_EQ_INT(test_server_stop(&s), 0);
}

TEST(serve_hung_promises_are_cancelled_not_left_waiting) {
  test_server_t s = {0};
  CHECK(start_api_dev(&s) == 0);
  CHECK(get_answers(s.port, "localhost", "/hang", 500, "The worker's script will never generate a response.\n"));
  CHECK(get_answers(s.port, "localhost", "/hang-after-timer", 500,
                    "The worker's script will never generate a response.\n"));
  CHECK(test_server_wait_output(&s, "GET /hang: the handler's promise can never settle", 2000));
  /* The isolate was not reset: state lives on. */
  CHECK(get_answers(s.port, "localhost", "/count", 200, "1"));
  CHECK(get_answers(s.port, "localhost", "/count", 200, "2"));
  CHECK_EQ_INT(test_server_stop(&s), 0);
}

TEST(serve_time_stands_still_while_js_runs) {
  test_server_t s = {0};
  /* /time computes for 25-27 ms of CPU on an idle machine: too close to a
   * request's default 50 ms for a busy one. */
  const char *args[] = {"dev", worker_path("api.js"), "--port", "0", "--threads", "1", "--cpu-ms", "1000", NULL};
  CHECK(test_server_start(&s, args) == 0);
  test_http_resp_t r = {0};
  CHECK(get(s.port, "localhost", "/time", &r) == 0);
  CHECK_EQ_INT(r.status, 200);
  CHECK_MSG(strstr(r.body, "\"frozen\":true") != NULL, "body: %s", r.body);
  /* ... and moves between I/O events (a 20 ms timer). */
  const char *adv = strstr(r.body, "\"advanced\":");
  CHECK(adv != NULL);
  CHECK_MSG(atoi(adv + 11) >= 19, "body: %s", r.body);
  test_http_resp_free(&r);
  CHECK_EQ_INT(test_server_stop(&s), 0);
}

TEST(serve_streams_bodies_both_ways) {
  test_server_t s = {0};
  CHECK(start_api_dev(&s) == 0);
  test_http_resp_t r = {0};
  CHECK(get(s.port, "localhost", "/stream", &r) == 0);
  CHECK_EQ_INT(r.status, 200);
  CHECK(r.chunked);
  CHECK_EQ_STR(r.body, "chunk0;chunk1;chunk2;");
  test_http_resp_free(&r);
  /* A chunked request body, sent in pieces, read whole by the worker. */
  test_http_conn_t c;
  CHECK(test_http_conn_open(&c, s.port) == 0);
  CHECK(test_http_conn_send_str(&c, "POST /length HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n") == 0);
  CHECK(test_http_conn_send_str(&c, "5\r\nhello\r\n") == 0);
  usleep(20000);
  CHECK(test_http_conn_send_str(&c, "6\r\n world\r\n0\r\n\r\n") == 0);
  CHECK(test_http_conn_read(&c, &r, 0, 3000) == 0);
  CHECK_EQ_INT(r.status, 200);
  CHECK_EQ_STR(r.body, "11");
  test_http_resp_free(&r);
  /* Keep-alive and pipelining through a worker: three requests, one write. */
  CHECK(test_http_conn_send_str(&c,
                                "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n"
                                "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc"
                                "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n") == 0);
  const char *want[] = {"hello tester", "abc", "hello tester"};
  for (int i = 0; i < 3; i++) {
    CHECK(test_http_conn_read(&c, &r, 0, 3000) == 0);
    CHECK_EQ_STR(r.body, want[i]);
    test_http_resp_free(&r);
  }
  test_http_conn_close(&c);
  CHECK_EQ_INT(test_server_stop(&s), 0);
}

TEST(serve_slow_client_does_not_make_the_host_buffer) {
  test_server_t s = {0};
  char cfg[PATH_MAX + 256];
  /* Copying 64 MiB out of the isolate takes more than a request's default
   * 50 ms of CPU (under ASan all the more): this test is about memory. */
  snprintf(cfg, sizeof(cfg),
           "{\"listen\": {\"port\": 0}, \"threads\": 1, \"workers\": [{\"name\": \"api\", \"main\": \"%s\", "
           "\"limits\": {\"cpu_ms\": 10000}}]}",
           worker_path("api.js"));
  CHECK(test_server_serve_config(&s, cfg) == 0);
  long before = test_server_rss_kb(&s);
  test_http_conn_t c;
  CHECK(test_http_conn_open(&c, s.port) == 0);
  CHECK(test_http_conn_send_str(&c, "GET /big HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n") == 0);
  /* The client reads nothing for a while: the worker must wait, not the
   * host buffer 64 MiB. */
  usleep(500000);
  long during = test_server_rss_kb(&s);
  CHECK_MSG(during - before < 24 * 1024, "server RSS grew by %ld KiB while the client did not read", during - before);
  size_t total = 0;
  char buf[65536];
  for (;;) {
    ssize_t n = read(c.fd, buf, sizeof(buf));
    if (n <= 0) break;
    total += (size_t)n;
  }
  test_http_conn_close(&c);
  /* 64 MiB of body plus the chunked framing and the head. */
  CHECK_MSG(total > (size_t)64 << 20 && total < ((size_t)64 << 20) + (64 << 10), "read %zu bytes", total);
  CHECK_EQ_INT(test_server_stop(&s), 0);
}

TEST(serve_wait_until_runs_after_the_response) {
  test_server_t s = {0};
  CHECK(start_api_dev(&s) == 0);
  /* The answer comes while its waitUntil work waits for /background-done
   * (had the answer waited for the work, the read would time out), and
   * the work runs once that comes: no timer races the test. */
  CHECK(get_answers(s.port, "localhost", "/background", 200, "answered first"));
  char *out = test_server_output(&s);
  int early = strstr(out, "background work done") != NULL;
  free(out);
  CHECK(!early);
  CHECK(get_answers(s.port, "localhost", "/background-done", 200, "done"));
  CHECK(test_server_wait_output(&s, "[api] log: background work done", 5000));
  CHECK_EQ_INT(test_server_stop(&s), 0);
}

TEST(serve_stops_gracefully_with_a_request_in_flight) {
  test_server_t s = {0};
  CHECK(start_api_dev(&s) == 0);
  test_http_conn_t c;
  CHECK(test_http_conn_open(&c, s.port) == 0);
  CHECK(test_http_conn_send_str(&c, "GET /slow?ms=400 HTTP/1.1\r\nHost: x\r\n\r\n") == 0);
  /* Once the handler runs (it says so), the request is in flight. */
  CHECK(test_server_wait_output(&s, "[api] log: slow: waiting", 5000));
  kill(s.pid, SIGTERM);
  test_http_resp_t r = {0};
  /* ~410 ms after it was sent, on an idle machine. */
  CHECK(test_http_conn_read(&c, &r, 0, TEST_HTTP_TIMEOUT_MS) == 0);
  CHECK_EQ_INT(r.status, 200);
  CHECK_EQ_STR(r.body, "slow done");
  test_http_resp_free(&r);
  test_http_conn_close(&c);
  CHECK(test_server_wait_output(&s, "isolde: stopped", 3000));
  /* It exits by itself, with 0 (test_server_stop would signal it again). */
  CHECK_EQ_INT(test_server_wait_exit(&s, 30000), 0);
  /* Stopped: new connections are refused. */
  test_http_conn_t c2;
  CHECK(test_http_conn_open(&c2, s.port) < 0);
  CHECK_EQ_INT(test_server_stop(&s), -1); /* no process left: removes the files */
}

TEST(serve_evicts_idle_isolates_over_the_memory_budget) {
  test_server_t s = {0};
  char extra[PATH_MAX + 256];
  /* big.js fills 24 MiB: 17-22 ms of CPU on an idle machine, too close to a
   * request's default 50 ms for a busy one. */
  snprintf(extra, sizeof(extra),
           ",\n    {\"name\": \"big\", \"main\": \"%s\", \"routes\": [\"big.test/*\"], "
           "\"limits\": {\"cpu_ms\": 1000}}",
           worker_path("big.js"));
  CHECK(start_two_tenants(&s, "\"memory_budget_mb\": 16,", extra) == 0);
  /* The small api isolate stays (its counter goes on) ... */
  for (int i = 1; i <= 3; i++) {
    char want[16];
    snprintf(want, sizeof(want), "%d", i);
    CHECK(get_answers(s.port, "api.test", "/count", 200, want));
  }
  /* ... while the one that grew by 24 MiB is evicted after each request
   * and comes back fresh from its snapshot. */
  for (int i = 0; i < 3; i++) {
    CHECK(get_answers(s.port, "big.test", "/", 200, "1"));
  }
  CHECK(get_answers(s.port, "api.test", "/count", 200, "4"));
  CHECK_EQ_INT(test_server_stop(&s), 0);
}

static int reader_still_serving(int port) {
  test_http_resp_t r = {0};
  int ok = get(port, "localhost", "/", &r) == 0 && r.status == 200 && strstr(r.body, " GET 0") != NULL;
  test_http_resp_free(&r);
  return ok;
}

TEST(serve_malformed_requests_never_break_a_worker) {
  test_server_t s = {0};
  char cfg[PATH_MAX + 256];
  /* Short timeouts: some cases are requests that stall. */
  snprintf(cfg, sizeof(cfg),
           "{\"listen\": {\"port\": 0}, \"threads\": 1, \"http\": {\"header_timeout_ms\": 300, "
           "\"body_timeout_ms\": 300}, \"workers\": [{\"name\": \"reader\", \"main\": \"%s\"}]}",
           worker_path("reads_body.js"));
  CHECK(test_server_serve_config(&s, cfg) == 0);
  FILE *f = fopen("tests/http/malformed.txt", "r");
  CHECK_MSG(f != NULL, "cannot open tests/http/malformed.txt (run from the repository root)");
  char why[512];
  int cases = test_http_malformed_cases(s.port, f, reader_still_serving, why, sizeof(why));
  fclose(f);
  CHECK_MSG(cases >= 20, "%s", why);
  /* One isolate saw it all and still answers a good POST. */
  test_http_resp_t r = {0};
  CHECK(test_http_request(s.port, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc", &r) == 0);
  CHECK_EQ_INT(r.status, 200);
  CHECK_MSG(strstr(r.body, " POST 3") != NULL, "body: %s", r.body);
  test_http_resp_free(&r);
  CHECK_EQ_INT(test_server_stop(&s), 0);
}

TEST(serve_http_limits_answer_with_their_status) {
  test_server_t s = {0};
  CHECK(start_two_tenants(&s, "\"http\": {\"max_body_mb\": 1, \"max_header_kb\": 8},", NULL) == 0);
  test_http_resp_t r = {0};
  CHECK(test_http_request(s.port, "POST /length HTTP/1.1\r\nHost: api.test\r\nContent-Length: 2000000\r\n\r\n", &r) ==
        0);
  CHECK_EQ_INT(r.status, 413);
  test_http_resp_free(&r);
  size_t big = 16 << 10;
  char *raw = malloc(big + 128);
  CHECK(raw != NULL);
  int n = snprintf(raw, 128, "GET / HTTP/1.1\r\nHost: api.test\r\nX-Big: ");
  memset(raw + n, 'a', big);
  memcpy(raw + n + big, "\r\n\r\n", 5);
  int rc = test_http_request(s.port, raw, &r);
  free(raw);
  CHECK(rc == 0);
  CHECK_EQ_INT(r.status, 431);
  test_http_resp_free(&r);
  CHECK(test_http_request(s.port, "GET / HTTP/1.1\r\nHost: api.test\r\nBad Header\r\n\r\n", &r) == 0);
  CHECK_EQ_INT(r.status, 400);
  test_http_resp_free(&r);
  /* And the tenant still answers. */
  CHECK(get_answers(s.port, "api.test", "/hello", 200, NULL));
  CHECK_EQ_INT(test_server_stop(&s), 0);
}
