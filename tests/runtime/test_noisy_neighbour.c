/* tests/runtime/test_noisy_neighbour.c - a tenant that computes, or that
 * hides its computation in promise jobs, or that catches its own
 * out-of-memory error, against a quiet tenant on the same loop (one thread,
 * so both share it). Each attack must end at the attacker's limit, and the
 * quiet tenant must keep answering while it runs (docs/runtime.md,
 * "Scheduling"). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "http/http_client.h"
#include "server_proc.h"
#include "test.h"

static const char QUIET[] = "export default { fetch() { return new Response('quiet'); } };\n";

static const char ATTACKER[] =
    "function fib(n) { return n < 2 ? n : fib(n - 1) + fib(n - 2); }\n"
    "let count = 0;\n"
    "export default { async fetch(req) {\n"
    "  const u = new URL(req.url);\n"
    "  count++;\n"
    "  if (u.pathname === '/count') return new Response(String(count));\n"
    "  if (u.pathname === '/compute') { console.log('computing'); return new "
    "Response(String(fib(+u.searchParams.get('n')))); }\n"
    "  if (u.pathname === '/jobs') {\n"
    "    for (let i = 0; i < 60; i++) Promise.resolve().then(() => { const e = performance.now() + 40;\n"
    "      while (performance.now() < e) {} });\n"
    "    await new Promise((r) => setTimeout(r, 1));\n"
    "    return new Response('survived');\n"
    "  }\n"
    "  if (u.pathname === '/oom') {\n"
    "    const keep = [];\n"
    "    try { for (;;) keep.push(new Array(1 << 16).fill(count)); } catch (e) { keep.length = 0; }\n"
    "    return new Response('caught it');\n"
    "  }\n"
    "  return new Response('?');\n"
    "} };\n";

/* Two tenants in their own folders on one loop; the attacker's limits in
 * limits_json. */
static int start(test_server_t *s, const char *limits_json) {
  char a[512], q[512], cfg[2048];
  if (test_server_dir(s) < 0) return -1;
  snprintf(a, sizeof(a), "%s", test_server_write(s, "attacker/worker.js", ATTACKER));
  snprintf(q, sizeof(q), "%s", test_server_write(s, "quiet/worker.js", QUIET));
  snprintf(cfg, sizeof(cfg),
           "{\"listen\": {\"port\": 0}, \"threads\": 1, \"workers\": ["
           "{\"name\": \"attacker\", \"main\": \"%s\", \"routes\": [\"attacker.test/*\"], \"limits\": %s},"
           "{\"name\": \"quiet\", \"main\": \"%s\", \"routes\": [\"quiet.test/*\"]}]}",
           a, limits_json, q);
  return test_server_serve_config(s, cfg);
}

static int quiet_answers(int port) {
  test_http_resp_t r = {0};
  int ok = test_http_request(port, "GET / HTTP/1.1\r\nHost: quiet.test\r\nConnection: close\r\n\r\n", &r) == 0 &&
           r.status == 200 && strcmp(r.body, "quiet") == 0;
  test_http_resp_free(&r);
  return ok;
}

/* The cpu_us= of the first request log line for path, or -1. */
static long logged_cpu_us(const test_server_t *s, const char *path) {
  char *out = test_server_output(s);
  char needle[128];
  snprintf(needle, sizeof(needle), "tenant=attacker method=GET path=%s ", path);
  const char *line = out ? strstr(out, needle) : NULL;
  const char *cpu = line ? strstr(line, "cpu_us=") : NULL;
  long us = cpu ? atol(cpu + 7) : -1;
  free(out);
  return us;
}

/* A request that computes for seconds (fib(36): about 1.5 s of CPU on an
 * idle machine, limit 20 s) holds its loop thread only a slice at a time:
 * the quiet tenant on the same loop answers request after request while it
 * still runs. Without slicing, not one would be answered before the
 * computation ends. */
TEST(noisy_compute_does_not_hold_the_quiet_tenants_loop) {
  test_server_t s = {0};
  CHECK(start(&s, "{\"cpu_ms\": 20000}") == 0);
  CHECK(quiet_answers(s.port));
  test_http_conn_t c;
  CHECK(test_http_conn_open(&c, s.port) == 0);
  CHECK(test_http_conn_send_str(&c, "GET /compute?n=36 HTTP/1.1\r\nHost: attacker.test\r\n\r\n") == 0);
  CHECK(test_server_wait_output(&s, "computing", 20000));
  int answered = 0;
  for (int i = 0; i < 10; i++) answered += quiet_answers(s.port);
  /* Still computing? Its log line is written when it answers. */
  long cpu = logged_cpu_us(&s, "/compute");
  test_http_resp_t r = {0};
  CHECK(test_http_conn_read(&c, &r, 0, 120000) == 0);
  CHECK_EQ_INT(r.status, 200);
  CHECK_MSG(strcmp(r.body, "14930352") == 0, "fib(36) = %s", r.body);
  test_http_resp_free(&r);
  test_http_conn_close(&c);
  CHECK_EQ_INT(answered, 10);
  CHECK_MSG(cpu < 0, "the computation ended (cpu_us=%ld) before the quiet requests: too fast to show anything", cpu);
  CHECK_EQ_INT(test_server_stop(&s), 0);
}

/* 60 promise jobs of 40 ms each after a 50 ms limit: the jobs of one entry
 * share one deadline, so the request is cut near 50 ms (plus the hard-stop
 * grace), not after 60 x 50 ms, and the quiet tenant answers meanwhile. */
TEST(noisy_microtask_spin_is_cut_at_the_request_limit) {
  test_server_t s = {0};
  CHECK(start(&s, "{\"cpu_ms\": 50}") == 0);
  test_http_conn_t c;
  CHECK(test_http_conn_open(&c, s.port) == 0);
  CHECK(test_http_conn_send_str(&c, "GET /jobs HTTP/1.1\r\nHost: attacker.test\r\n\r\n") == 0);
  int answered = 0;
  for (int i = 0; i < 3; i++) answered += quiet_answers(s.port);
  test_http_resp_t r = {0};
  CHECK(test_http_conn_read(&c, &r, 0, 60000) == 0);
  CHECK_EQ_INT(r.status, 503);
  CHECK_MSG(strstr(r.body, "CPU time limit") != NULL, "body: %s", r.body);
  test_http_resp_free(&r);
  test_http_conn_close(&c);
  CHECK_EQ_INT(answered, 3);
  CHECK(test_server_wait_output(&s, "path=/jobs status=503", 10000));
  long cpu = logged_cpu_us(&s, "/jobs");
  /* 50 ms + 50 ms grace, measured ~51 ms; 60 x 40 ms = 2.4 s if the
   * deadline were reset per job round. */
  CHECK_MSG(cpu > 0 && cpu < 1000000, "the request used %ld us of CPU", cpu);
  CHECK(quiet_answers(s.port));
  CHECK_EQ_INT(test_server_stop(&s), 0);
}

/* A request that catches its own out-of-memory error still answers 503
 * and its isolate is reset (the counter starts again), as documented. */
TEST(noisy_caught_out_of_memory_answers_503_and_resets_the_isolate) {
  test_server_t s = {0};
  CHECK(start(&s, "{\"cpu_ms\": 5000, \"memory_mb\": 32}") == 0);
  test_http_resp_t r = {0};
  CHECK(test_http_request(s.port, "GET /count HTTP/1.1\r\nHost: attacker.test\r\nConnection: close\r\n\r\n", &r) == 0);
  CHECK_MSG(r.status == 200 && strcmp(r.body, "1") == 0, "%d %s", r.status, r.body);
  test_http_resp_free(&r);
  CHECK(test_http_request(s.port, "GET /oom HTTP/1.1\r\nHost: attacker.test\r\nConnection: close\r\n\r\n", &r) == 0);
  CHECK_EQ_INT(r.status, 503);
  CHECK_MSG(strstr(r.body, "memory limit") != NULL, "body: %s", r.body);
  test_http_resp_free(&r);
  CHECK(test_http_request(s.port, "GET /count HTTP/1.1\r\nHost: attacker.test\r\nConnection: close\r\n\r\n", &r) == 0);
  CHECK_MSG(r.status == 200 && strcmp(r.body, "1") == 0, "after the reset: %d %s", r.status, r.body);
  test_http_resp_free(&r);
  CHECK(quiet_answers(s.port));
  CHECK_EQ_INT(test_server_stop(&s), 0);
}
