/*
 * test_fetch_served.c - fetch() from a served worker against a real
 * origin: an `isolde dev` of tests/runtime/workers/origin/origin.js on loopback,
 * reached by tests/runtime/workers/fetcher/fetcher.js under `isolde serve`, whose
 * config allows that one origin.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "http/http_client.h"
#include "runtime/server_proc.h"
#include "test.h"

typedef struct {
  test_server_t origin, edge;
} fetch_env_t;

static int start(fetch_env_t *e) {
  char path[PATH_MAX], path2[PATH_MAX];
  /* The origin streams up to 100 MB from JS: more than a request's 50 ms. */
  const char *o_args[] = {"dev",       realpath("tests/runtime/workers/origin/origin.js", path),
                          "--port",    "0",
                          "--threads", "1",
                          "--cpu-ms",  "10000",
                          NULL};
  if (!o_args[1] || test_server_start(&e->origin, o_args) != 0) return -1;
  if (test_server_dir(&e->edge) < 0) return -1;
  /* CPU per request, measured on an idle machine: the fetcher's /big takes
   * 470 ms (100 MB through), the guard's first request 3-9 ms (its first
   * fetch): both get ten times that and more. */
  char cfg[2 * PATH_MAX + 1024];
  snprintf(cfg, sizeof(cfg),
           "{\"listen\": {\"port\": 0}, \"threads\": 1, \"workers\": [{\"name\": \"fetcher\", \"main\": \"%s\", "
           "\"vars\": {\"ORIGIN\": \"http://127.0.0.1:%d\"}, \"allow_origins\": [\"http://127.0.0.1:%d\"], "
           "\"routes\": [\"edge.test/*\"], \"limits\": {\"cpu_ms\": 20000}}, "
           "{\"name\": \"guard\", \"main\": \"%s\", \"routes\": [{\"pattern\": \"guard.test/*\", "
           "\"origin\": \"http://127.0.0.1:%d\"}], \"limits\": {\"cpu_ms\": 1000}}]}",
           realpath("tests/runtime/workers/fetcher/fetcher.js", path), e->origin.port, e->origin.port,
           realpath("tests/runtime/workers/guard/guard.js", path2), e->origin.port);
  return test_server_serve_config(&e->edge, cfg);
}

static int stop(fetch_env_t *e) {
  int a = test_server_stop(&e->edge), b = test_server_stop(&e->origin);
  return a == 0 && b == 0 ? 0 : -1;
}

static int get(fetch_env_t *e, const char *path, test_http_resp_t *r) {
  char raw[1024];
  snprintf(raw, sizeof(raw), "GET %s HTTP/1.1\r\nHost: edge.test\r\nConnection: close\r\n\r\n", path);
  return test_http_request(e->edge.port, raw, r);
}

#define CHECK_BODY_HAS(r, needle) CHECK_MSG(strstr((r).body, needle) != NULL, "%s lacks %s", (r).body, needle)

TEST(fetch_fans_out_concurrently) {
  fetch_env_t e = {0};
  CHECK(start(&e) == 0);
  test_http_resp_t r = {0};
  CHECK(get(&e, "/fanout?n=8&ms=500", &r) == 0);
  CHECK_EQ_INT(r.status, 200);
  CHECK_BODY_HAS(r, "\"n\":8");
  /* All eight waited at the origin at once (one after the other, or a few
   * at a time, they never would): they reach it within 5 ms of each other
   * on an idle machine, and each waits there 500 ms. */
  CHECK_BODY_HAS(r, "\"peak\":8");
  test_http_resp_free(&r);
  /* Waiting on the network is wall time, not the request's CPU time: the
   * request takes 13-21 ms of CPU on an idle machine (its first fetch
   * included), against at least 500 ms of waiting. */
  CHECK(test_server_wait_output(&e.edge, "path=/fanout status=200", 2000));
  char *out = test_server_output(&e.edge);
  const char *line = strstr(out, "path=/fanout status=200");
  const char *cpu = line ? strstr(line, "cpu_us=") : NULL, *wall = line ? strstr(line, "wall_us=") : NULL;
  long cpu_us = cpu ? atol(cpu + 7) : -1, wall_us = wall ? atol(wall + 8) : -1;
  free(out);
  CHECK_MSG(wall_us >= 500000 && cpu_us >= 0 && cpu_us < 250000, "cpu_us=%ld wall_us=%ld", cpu_us, wall_us);
  CHECK_EQ_INT(stop(&e), 0);
}

TEST(fetch_sends_bodies_headers_and_reads_responses) {
  fetch_env_t e = {0};
  CHECK(start(&e) == 0);
  test_http_resp_t r = {0};
  CHECK(get(&e, "/post", &r) == 0);
  CHECK_EQ_INT(r.status, 200);
  CHECK_BODY_HAS(r, "\"method\":\"POST\"");
  CHECK_BODY_HAS(r, "\"body\":\"a=1&b=two\"");
  CHECK_BODY_HAS(r, "\"type\":\"application/x-www-form-urlencoded;charset=UTF-8\"");
  CHECK_BODY_HAS(r, "\"x\":\"yes\"");
  test_http_resp_free(&r);
  CHECK(get(&e, "/bodies", &r) == 0);
  CHECK_EQ_STR(r.body, "[\"text\",\"bytes\",\"hi\",\"form\",\"streamed\"]");
  test_http_resp_free(&r);
  CHECK(get(&e, "/cookies", &r) == 0);
  CHECK_EQ_STR(r.body, "[\"a=1\",\"b=2\"]");
  test_http_resp_free(&r);
  CHECK(get(&e, "/status", &r) == 0);
  CHECK_EQ_INT(r.status, 404);
  CHECK_EQ_STR(r.body, "origin /x");
  test_http_resp_free(&r);
  CHECK(get(&e, "/redirects", &r) == 0);
  CHECK_BODY_HAS(r, "\"follow\":[200,true,\"/echo\"]");
  CHECK_BODY_HAS(r, "\"manual\":[302,");
  CHECK_BODY_HAS(r, "\"error\":\"TypeError: fetch failed:");
  test_http_resp_free(&r);
  CHECK_EQ_INT(stop(&e), 0);
}

static int get_host(fetch_env_t *e, const char *host, const char *path, test_http_resp_t *r) {
  char raw[1024];
  snprintf(raw, sizeof(raw), "GET %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n", path, host);
  return test_http_request(e->edge.port, raw, r);
}

TEST(fetch_passes_through_to_a_routes_origin) {
  fetch_env_t e = {0};
  CHECK(start(&e) == 0);
  test_http_resp_t r = {0};
  /* fetch(request) on a route with an origin goes to that origin. */
  CHECK(get_host(&e, "guard.test", "/page?x=1", &r) == 0);
  CHECK_EQ_INT(r.status, 200);
  CHECK_EQ_STR(r.body, "origin /page");
  test_http_resp_free(&r);
  /* An exception after passThroughOnException(): the origin answers. */
  CHECK(get_host(&e, "guard.test", "/boom", &r) == 0);
  CHECK_EQ_INT(r.status, 200);
  CHECK_EQ_STR(r.body, "origin /boom");
  test_http_resp_free(&r);
  CHECK(get_host(&e, "guard.test", "/crash", &r) == 0);
  CHECK_EQ_INT(r.status, 500);
  test_http_resp_free(&r);
  CHECK(test_server_wait_output(&e.edge, "[guard] error: Uncaught Error: boom, but the origin answers", 2000));
  CHECK_EQ_INT(stop(&e), 0);
}

TEST(fetch_limits_and_errors_are_clear) {
  fetch_env_t e = {0};
  CHECK(start(&e) == 0);
  test_http_resp_t r = {0};
  CHECK(get(&e, "/limit", &r) == 0);
  CHECK_EQ_INT(r.status, 200);
  CHECK_BODY_HAS(r, "\"ok\":50");
  CHECK_BODY_HAS(r, "\"last\":\"TypeError: Too many subrequests");
  test_http_resp_free(&r);
  /* Refused connections are covered in tests/fetch; here: a name that
   * does not resolve, TLS to a plain-HTTP origin, private and loopback
   * addresses that are not allowed, a timeout, a scheme that is not HTTP. */
  char path[256];
  snprintf(path, sizeof(path), "/errors?private=http://127.0.0.1:%d/", e.edge.port);
  CHECK(get(&e, path, &r) == 0);
  CHECK_EQ_INT(r.status, 200);
  CHECK_BODY_HAS(r, "\"dns\":\"TypeError: fetch failed:");
  CHECK_BODY_HAS(r, "\"tls\":\"TypeError: fetch failed:");
  CHECK_BODY_HAS(r, "\"blocked\":\"TypeError: fetch failed:");
  CHECK_BODY_HAS(r, "\"loopback\":\"TypeError: fetch failed:");
  CHECK_BODY_HAS(r, "\"timeout\":\"TimeoutError");
  CHECK_BODY_HAS(r, "\"scheme\":\"TypeError");
  test_http_resp_free(&r);
  CHECK(get(&e, "/abort", &r) == 0);
  CHECK_EQ_STR(r.body, "Error: stopped by the test");
  test_http_resp_free(&r);
  CHECK_EQ_INT(stop(&e), 0);
}

TEST(fetch_dev_allow_origin_opens_a_private_origin) {
  fetch_env_t e = {0};
  CHECK(start(&e) == 0);
  char path[PATH_MAX], origin[64], var[96];
  snprintf(origin, sizeof(origin), "http://127.0.0.1:%d", e.origin.port);
  snprintf(var, sizeof(var), "ORIGIN=%s", origin);
  const char *fetcher = realpath("tests/runtime/workers/fetcher/fetcher.js", path);
  CHECK(fetcher != NULL);
  test_server_t closed = {0}, open = {0};
  /* A first fetch: 3-10 ms of CPU on an idle machine (with libcurl's
   * loading, when it falls to the request), too close to the default 50 ms
   * for a busy one. */
  const char *closed_args[] = {"dev", fetcher, "--port", "0", "--var", var, "--cpu-ms", "1000", NULL};
  const char *open_args[] = {"dev",  fetcher,    "--port", "0", "--var", var, "--allow-origin",
                             origin, "--cpu-ms", "1000",   NULL};
  CHECK(test_server_start(&closed, closed_args) == 0);
  CHECK(test_server_start(&open, open_args) == 0);
  test_http_resp_t r = {0};
  CHECK(test_http_request(closed.port, "GET /status HTTP/1.1\r\nHost: x\r\n\r\n", &r) == 0);
  CHECK_EQ_INT(r.status, 500); /* the fetch was blocked: loopback */
  test_http_resp_free(&r);
  CHECK(test_server_wait_output(&closed, "blocked", 5000) ||
        test_server_wait_output(&closed, "is a loopback address", 100));
  CHECK(test_http_request(open.port, "GET /status HTTP/1.1\r\nHost: x\r\n\r\n", &r) == 0);
  CHECK_EQ_INT(r.status, 404);
  CHECK_EQ_STR(r.body, "origin /x");
  test_http_resp_free(&r);
  CHECK_EQ_INT(test_server_stop(&closed), 0);
  CHECK_EQ_INT(test_server_stop(&open), 0);
  CHECK_EQ_INT(stop(&e), 0);
}

TEST(fetch_streams_100_mb_through_with_flat_memory) {
  fetch_env_t e = {0};
  CHECK(start(&e) == 0);
  long before = test_server_rss_kb(&e.edge);
  test_http_conn_t c;
  CHECK(test_http_conn_open(&c, e.edge.port) == 0);
  CHECK(test_http_conn_send_str(&c, "GET /big?mb=100 HTTP/1.1\r\nHost: edge.test\r\nConnection: close\r\n\r\n") == 0);
  size_t total = 0;
  long peak = before;
  char buf[65536];
  for (int i = 0;; i++) {
    ssize_t n = read(c.fd, buf, sizeof(buf));
    if (n <= 0) break;
    total += (size_t)n;
    if (i % 64 == 0) {
      long now = test_server_rss_kb(&e.edge);
      if (now > peak) peak = now;
    }
  }
  test_http_conn_close(&c);
  if (total <= (size_t)100 << 20) {
    char *out = test_server_output(&e.edge);
    printf("  the edge printed:\n%s\n", out);
    free(out);
  }
  CHECK_MSG(total > (size_t)100 << 20, "read %zu bytes", total);
  /* ASan's quarantine keeps up to 256 MiB of freed memory: RSS says
   * nothing there (the release run checks it). */
  if (!test_under_sanitizer())
    CHECK_MSG(peak - before < 40 * 1024, "the edge's RSS grew by %ld KiB passing 100 MB through", peak - before);
  CHECK_EQ_INT(stop(&e), 0);
}
