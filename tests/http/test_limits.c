/* tests/http/test_limits.c - limits and bad input: each gets its status
 * and a close, and the server keeps serving (malformed cases come from
 * tests/http/malformed.txt). */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "echo_handler.h"
#include "http_client.h"
#include "test.h"

/* Small limits and short timeouts; keep-alive connections idle for idle_ms. */
#define LIMITS_CFG(idle_ms)                                                                                           \
  {                                                                                                                   \
    .threads = 1, .max_header_bytes = 1024, .max_body_bytes = 1000, .header_timeout_ms = 300, .body_timeout_ms = 300, \
    .idle_timeout_ms = (idle_ms), .drain_timeout_ms = 1000,                                                           \
  }

static const isl_http_config_t limits_cfg = LIMITS_CFG(300);

/* Sends raw on a new connection; the response must be `status` with
 * Connection: close, and the server must then close. Both may wait for one
 * of limits_cfg's 300 ms timeouts: the waits keep 10x that and more. */
static int expect_status_then_close(int port, const char *raw, size_t len, int status) {
  test_http_conn_t c;
  test_http_resp_t r;
  if (test_http_conn_open(&c, port) != 0) return -1;
  test_http_conn_send(&c, raw, len);
  int rc = test_http_conn_read(&c, &r, 0, TEST_HTTP_TIMEOUT_MS);
  int ok = rc == 0 && r.status == status;
  if (!ok) printf("  want %d, got %d (read %d)\n", status, r.status, rc);
  if (ok && (!test_http_resp_header(&r, "Connection") || strcmp(test_http_resp_header(&r, "Connection"), "close")))
    ok = 0;
  test_http_resp_free(&r);
  if (ok && !test_http_conn_wait_close(&c, TEST_HTTP_TIMEOUT_MS)) ok = 0;
  test_http_conn_close(&c);
  return ok ? 0 : -1;
}

SERVER_TEST(http_limit_431_header_too_large, &limits_cfg) {
  (void)ctx;
  char raw[4096];
  int n = snprintf(raw, sizeof(raw), "GET / HTTP/1.1\r\nHost: x\r\nX-Big: %02000d\r\n\r\n", 0);
  CHECK(expect_status_then_close(t->port, raw, (size_t)n, 431) == 0);
  /* many small headers */
  n = snprintf(raw, sizeof(raw), "GET / HTTP/1.1\r\n");
  for (int i = 0; i < 200; i++) n += snprintf(raw + n, sizeof(raw) - (size_t)n, "a%d: b\r\n", i);
  n += snprintf(raw + n, sizeof(raw) - (size_t)n, "\r\n");
  CHECK(expect_status_then_close(t->port, raw, (size_t)n, 431) == 0);
  /* a long target */
  n = snprintf(raw, sizeof(raw), "GET /%02000d HTTP/1.1\r\nHost: x\r\n\r\n", 0);
  CHECK(expect_status_then_close(t->port, raw, (size_t)n, 414) == 0);
  CHECK(echo_still_serving(t->port));
  CHECK_EQ_INT(atomic_load(&ctx->requests), 1);
}

SERVER_TEST(http_limit_413_by_content_length, &limits_cfg) {
  const char *raw = "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\n\r\n";
  /* answered before the body is sent, and the handler never sees it */
  CHECK(expect_status_then_close(t->port, raw, strlen(raw), 413) == 0);
  CHECK_EQ_INT(atomic_load(&ctx->requests), 0);
  /* with the body on its way, the response must survive (lingering close) */
  test_http_conn_t c;
  test_http_resp_t r;
  CHECK(test_http_conn_open(&c, t->port) == 0);
  char body[3000];
  memset(body, 'b', sizeof(body));
  CHECK(test_http_conn_send_str(&c, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3000\r\n\r\n") == 0);
  CHECK(test_http_conn_send(&c, body, sizeof(body)) == 0);
  CHECK(test_http_conn_read(&c, &r, 0, 3000) == 0);
  CHECK_EQ_INT(r.status, 413);
  test_http_resp_free(&r);
  test_http_conn_close(&c);
  CHECK(echo_still_serving(t->port));
}

SERVER_TEST(http_limit_413_while_streaming_chunked, &limits_cfg) {
  test_http_conn_t c;
  test_http_resp_t r;
  CHECK(test_http_conn_open(&c, t->port) == 0);
  CHECK(test_http_conn_send_str(&c, "POST /none HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n") == 0);
  char chunk[700 + 16];
  int n = snprintf(chunk, sizeof(chunk), "%x\r\n", 700);
  memset(chunk + n, 'c', 700);
  memcpy(chunk + n + 700, "\r\n", 2);
  CHECK(test_http_conn_send(&c, chunk, (size_t)n + 702) == 0);
  CHECK(test_http_conn_send(&c, chunk, (size_t)n + 702) == 0);
  CHECK(test_http_conn_read(&c, &r, 0, 3000) == 0);
  CHECK_EQ_INT(r.status, 413);
  test_http_resp_free(&r);
  CHECK(test_http_conn_wait_close(&c, 3000));
  test_http_conn_close(&c);
  CHECK_EQ_INT(echo_wait(&ctx->aborts, 1, 2000), 1);
  CHECK(echo_still_serving(t->port));
}

SERVER_TEST(http_limit_408_header_timeout, &limits_cfg) {
  (void)ctx;
  long long t0 = test_http_now_ms();
  const char *raw = "GET / HTTP/1.1\r\nHost: x\r\n";
  CHECK(expect_status_then_close(t->port, raw, strlen(raw), 408) == 0);
  long long ms = test_http_now_ms() - t0;
  /* 304 ms on an idle machine; the default timeout would take 10 s. */
  CHECK_MSG(ms >= 250 && ms < 4000, "408 after %lld ms", ms);
  CHECK(echo_still_serving(t->port));
}

SERVER_TEST(http_limit_408_body_stall, &limits_cfg) {
  const char *raw = "POST /none HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc";
  CHECK(expect_status_then_close(t->port, raw, strlen(raw), 408) == 0);
  CHECK_EQ_INT(echo_wait(&ctx->aborts, 1, 2000), 1);
  CHECK(echo_still_serving(t->port));
}

SERVER_TEST(http_limit_idle_keep_alive_closes_silently, &limits_cfg) {
  (void)ctx;
  test_http_conn_t c;
  test_http_resp_t r;
  CHECK(test_http_conn_open(&c, t->port) == 0);
  CHECK(test_http_conn_send_str(&c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n") == 0);
  CHECK(test_http_conn_read(&c, &r, 0, 3000) == 0);
  test_http_resp_free(&r);
  long long t0 = test_http_now_ms();
  struct pollfd pfd = {.fd = c.fd, .events = POLLIN};
  CHECK(poll(&pfd, 1, TEST_HTTP_TIMEOUT_MS) == 1);
  char b[16];
  CHECK_EQ_INT(recv(c.fd, b, sizeof(b), 0), 0); /* EOF, no bytes */
  long long ms = test_http_now_ms() - t0;
  /* 303 ms on an idle machine; the default timeout would take 60 s. */
  CHECK_MSG(ms >= 200 && ms < 4000, "closed after %lld ms", ms);
  test_http_conn_close(&c);
}

static const isl_http_config_t two_conns_cfg = {
    .threads = 1,
    .max_connections = 2,
    .drain_timeout_ms = 1000,
};

SERVER_TEST(http_limit_503_over_max_connections, &two_conns_cfg) {
  (void)ctx;
  test_http_conn_t a, b;
  test_http_resp_t r;
  CHECK(test_http_conn_open(&a, t->port) == 0);
  CHECK(test_http_conn_open(&b, t->port) == 0);
  CHECK(test_http_conn_send_str(&a, "GET /a HTTP/1.1\r\nHost: x\r\n\r\n") == 0);
  CHECK(test_http_conn_read(&a, &r, 0, 3000) == 0);
  test_http_resp_free(&r);
  CHECK(test_http_conn_send_str(&b, "GET /b HTTP/1.1\r\nHost: x\r\n\r\n") == 0);
  CHECK(test_http_conn_read(&b, &r, 0, 3000) == 0);
  test_http_resp_free(&r);
  const char *raw = "GET /c HTTP/1.1\r\nHost: x\r\n\r\n";
  CHECK(expect_status_then_close(t->port, raw, strlen(raw), 503) == 0);
  test_http_conn_close(&a);
  /* a slot frees up once the server has seen the close */
  int ok = 0;
  for (int i = 0; i < 100 && !ok; i++) {
    if (test_http_request(t->port, raw, &r) == 0 && r.status == 200) ok = 1;
    test_http_resp_free(&r);
    if (!ok) {
      struct timespec ts = {0, 10 * 1000 * 1000};
      nanosleep(&ts, NULL);
    }
  }
  CHECK(ok);
  test_http_conn_close(&b);
}

/* limits_cfg, but keep-alive connections may idle through the whole test */
static const isl_http_config_t malformed_cfg = LIMITS_CFG(30000);

SERVER_TEST(http_malformed_requests_get_4xx, &malformed_cfg) {
  (void)ctx;
  FILE *f = fopen("tests/http/malformed.txt", "r");
  CHECK_MSG(f != NULL, "cannot open tests/http/malformed.txt (run from the repository root)");
  /* a keep-alive connection that must not be disturbed */
  test_http_conn_t keep;
  test_http_resp_t r;
  CHECK(test_http_conn_open(&keep, t->port) == 0);
  CHECK(test_http_conn_send_str(&keep, "GET /first HTTP/1.1\r\nHost: x\r\n\r\n") == 0);
  CHECK(test_http_conn_read(&keep, &r, 0, 3000) == 0);
  test_http_resp_free(&r);
  char why[512];
  int cases = test_http_malformed_cases(t->port, f, echo_still_serving, why, sizeof(why));
  fclose(f);
  if (cases < 0) test_http_conn_close(&keep);
  CHECK_MSG(cases >= 20, "%s", cases < 0 ? why : "too few cases");
  /* the keep-alive connection opened before the cases still works */
  CHECK(test_http_conn_send_str(&keep, "GET /kept HTTP/1.1\r\nHost: x\r\n\r\n") == 0);
  CHECK(test_http_conn_read(&keep, &r, 0, 3000) == 0);
  CHECK(strstr(r.body, "GET /kept\n") == r.body);
  test_http_resp_free(&r);
  test_http_conn_close(&keep);
}

SERVER_TEST(http_random_garbage_never_crashes, &limits_cfg) {
  (void)ctx;
  unsigned seed = 12345;
  char raw[512];
  for (int i = 0; i < 60; i++) {
    size_t len = 1 + (size_t)(rand_r(&seed) % (int)sizeof(raw));
    for (size_t j = 0; j < len; j++) raw[j] = (char)rand_r(&seed);
    if (i % 3 == 0) memcpy(raw, "GET / HTTP/1.1\r\n", len < 16 ? len : 16); /* garbage in the headers */
    test_http_conn_t c;
    test_http_resp_t r;
    CHECK(test_http_conn_open(&c, t->port) == 0);
    test_http_conn_send(&c, raw, len);
    int rc = test_http_conn_read(&c, &r, 0, 3000);
    CHECK_MSG(rc == -ECONNRESET || (rc == 0 && r.status >= 400), "case %d: status %d read %d", i, r.status, rc);
    test_http_resp_free(&r);
    test_http_conn_close(&c);
  }
  CHECK(echo_still_serving(t->port));
}

SERVER_TEST(http_client_disconnect_mid_body_aborts, &limits_cfg) {
  test_http_conn_t c;
  CHECK(test_http_conn_open(&c, t->port) == 0);
  CHECK(test_http_conn_send_str(&c, "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n0123456789") == 0);
  CHECK_EQ_INT(echo_wait(&ctx->requests, 1, 2000), 1);
  test_http_conn_close(&c);
  CHECK_EQ_INT(echo_wait(&ctx->aborts, 1, 2000), 1);
  /* a client that leaves while the handler is still working */
  CHECK(test_http_conn_open(&c, t->port) == 0);
  CHECK(test_http_conn_send_str(&c, "GET /none HTTP/1.1\r\nHost: x\r\n\r\n") == 0);
  CHECK_EQ_INT(echo_wait(&ctx->requests, 2, 2000), 2);
  test_http_conn_close(&c);
  CHECK_EQ_INT(echo_wait(&ctx->aborts, 2, 2000), 2);
  CHECK(echo_still_serving(t->port));
  CHECK_EQ_INT(atomic_load(&ctx->aborts), 2);
  CHECK_EQ_INT(atomic_load(&ctx->body_ends), 2); /* /none and /ok */
}

SERVER_TEST(http_client_reset_does_not_kill_process, &limits_cfg) {
  /* writing to a reset connection raises SIGPIPE unless the loop blocks it */
  for (int i = 0; i < 20; i++) {
    test_http_conn_t c;
    CHECK(test_http_conn_open(&c, t->port) == 0);
    const char *raw = i % 2 ? "GET /slow?ms=10&n=100000 HTTP/1.1\r\nHost: x\r\n\r\n"
                            : "GET /a HTTP/1.1\r\n\r\nGET /b HTTP/1.1\r\n\r\nGET /c HTTP/1.1\r\n\r\n";
    CHECK(test_http_conn_send_str(&c, raw) == 0);
    struct linger lg = {1, 0}; /* close with RST */
    setsockopt(c.fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
    test_http_conn_close(&c);
  }
  struct timespec ts = {0, 100 * 1000 * 1000};
  nanosleep(&ts, NULL);
  CHECK(echo_still_serving(t->port));
  CHECK(echo_wait(&ctx->released, atomic_load(&ctx->requests), 2000) == atomic_load(&ctx->requests));
}
