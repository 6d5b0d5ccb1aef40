/* tests/http/test_lifecycle.c - the server's life: graceful stop with a
 * request in flight, drain timeout, busy port, two loops, bad configs. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "echo_handler.h"
#include "http_client.h"
#include "test.h"

static void sleep_ms(int ms) {
  struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000};
  nanosleep(&ts, NULL);
}

static void graceful_stop_body(test_http_server_t *t, echo_ctx_t *ctx) {
  test_http_conn_t slow, idle, late;
  test_http_resp_t r;
  /* an idle keep-alive connection and a slow request in flight */
  CHECK(test_http_conn_open(&idle, t->port) == 0);
  CHECK(test_http_conn_send_str(&idle, "GET /first HTTP/1.1\r\nHost: x\r\n\r\n") == 0);
  CHECK(test_http_conn_read(&idle, &r, 0, 3000) == 0);
  test_http_resp_free(&r);
  CHECK(test_http_conn_open(&slow, t->port) == 0);
  CHECK(test_http_conn_send_str(&slow, "GET /slow?ms=300&n=300000 HTTP/1.1\r\nHost: x\r\n\r\n") == 0);
  CHECK_EQ_INT(echo_wait(&ctx->requests, 2, 2000), 2);
  isl_http_server_stop(t->srv);
  isl_http_server_stop(t->srv); /* twice is fine */
  /* the idle one is closed at once */
  CHECK(test_http_conn_wait_close(&idle, 1000));
  test_http_conn_close(&idle);
  /* new connections are refused once the listener is closed */
  int refused = 0;
  for (int i = 0; i < 50 && !refused; i++) {
    int rc = test_http_conn_open(&late, t->port);
    if (rc == -ECONNREFUSED) {
      refused = 1;
    } else {
      if (rc == 0) test_http_conn_close(&late);
      sleep_ms(5);
    }
  }
  CHECK(refused);
  /* the slow one completes, whole, with Connection: close (~300 ms after
   * it was sent, on an idle machine) */
  CHECK(test_http_conn_read(&slow, &r, 0, TEST_HTTP_TIMEOUT_MS) == 0);
  CHECK_EQ_INT(r.status, 200);
  CHECK_EQ_INT(r.body_len, 300000);
  CHECK_EQ_STR(test_http_resp_header(&r, "Connection"), "close");
  test_http_resp_free(&r);
  CHECK(test_http_conn_wait_close(&slow, 1000));
  test_http_conn_close(&slow);
}

TEST(http_graceful_stop_finishes_in_flight) {
  test_http_server_t t;
  static echo_ctx_t ctx;
  /* The drain outlasts the slow request (~300 ms) ten times and more. */
  isl_http_config_t cfg = {.threads = 1, .drain_timeout_ms = 5000};
  CHECK(echo_server_start(&t, &ctx, &cfg) == 0);
  graceful_stop_body(&t, &ctx);
  int failed = test__failed;
  long long t0 = test_http_now_ms();
  CHECK_EQ_INT(test_http_server_stop(&t), 0);
  if (failed) return;
  CHECK(test_http_now_ms() - t0 < 1000);
  CHECK_EQ_INT(atomic_load(&ctx.aborts), 0);
  CHECK_EQ_INT(atomic_load(&ctx.loops_stopped), 1);
  CHECK_EQ_INT(atomic_load(&ctx.released), atomic_load(&ctx.requests));
}

TEST(http_drain_timeout_aborts_the_rest) {
  test_http_server_t t;
  static echo_ctx_t ctx;
  isl_http_config_t cfg = {.threads = 2, .drain_timeout_ms = 200};
  CHECK(echo_server_start(&t, &ctx, &cfg) == 0);
  test_http_conn_t c;
  CHECK(test_http_conn_open(&c, t.port) == 0);
  CHECK(test_http_conn_send_str(&c, "GET /none HTTP/1.1\r\nHost: x\r\n\r\n") == 0);
  CHECK(echo_wait(&ctx.requests, 1, 2000) == 1);
  long long t0 = test_http_now_ms();
  CHECK_EQ_INT(test_http_server_stop(&t), 0);
  long long ms = test_http_now_ms() - t0;
  /* 207 ms on an idle machine; the default drain would take 30 s. */
  CHECK_MSG(ms >= 150 && ms < 3000, "stopped after %lld ms", ms);
  CHECK_EQ_INT(atomic_load(&ctx.aborts), 1);
  CHECK_EQ_INT(atomic_load(&ctx.loops_stopped), 2);
  CHECK_EQ_INT(atomic_load(&ctx.released), 1);
  CHECK(test_http_conn_wait_close(&c, 1000));
  test_http_conn_close(&c);
}

TEST(http_stop_before_run_and_free_without_run) {
  static echo_ctx_t ctx;
  isl_http_handler_t h;
  echo_handler(&h, &ctx);
  isl_http_config_t cfg = {.threads = 2};
  isl_http_server_t *s;
  CHECK(isl_http_server_new(&cfg, &h, &s, NULL) == 0);
  isl_http_server_stop(s);
  CHECK_EQ_INT(isl_http_server_run(s), 0);
  CHECK_EQ_INT(atomic_load(&ctx.loops_started), 2);
  CHECK_EQ_INT(atomic_load(&ctx.loops_stopped), 2);
  isl_http_server_free(s);
  CHECK(isl_http_server_new(&cfg, &h, &s, NULL) == 0);
  CHECK_EQ_INT(isl_http_server_threads(s), 2);
  isl_http_server_free(s);
  isl_http_server_free(NULL);
}

TEST(http_busy_port_fails_with_eaddrinuse) {
  test_http_server_t t;
  static echo_ctx_t ctx;
  isl_http_config_t cfg = {.threads = 2};
  CHECK(echo_server_start(&t, &ctx, &cfg) == 0);
  /* a second server on the same port, although both use SO_REUSEPORT */
  isl_http_handler_t h;
  static echo_ctx_t ctx2;
  echo_handler(&h, &ctx2);
  isl_http_config_t cfg2 = {.port = t.port, .threads = 1};
  isl_http_server_t *s2 = NULL;
  isl_err_t err = {0};
  int rc = isl_http_server_new(&cfg2, &h, &s2, &err);
  char want[64];
  snprintf(want, sizeof(want), "127.0.0.1:%d is already in use", t.port);
  test_http_server_stop(&t);
  CHECK_EQ_INT(rc, UV_EADDRINUSE);
  CHECK(s2 == NULL);
  CHECK_EQ_INT(err.code, UV_EADDRINUSE);
  CHECK_EQ_STR(err.msg, want);
  /* a plain listener (no SO_REUSEPORT) holding a port */
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in sa = {.sin_family = AF_INET};
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  CHECK(bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 && listen(fd, 1) == 0);
  socklen_t len = sizeof(sa);
  getsockname(fd, (struct sockaddr *)&sa, &len);
  cfg2.port = ntohs(sa.sin_port);
  rc = isl_http_server_new(&cfg2, &h, &s2, &err);
  close(fd);
  CHECK_EQ_INT(rc, UV_EADDRINUSE);
  CHECK(strstr(err.msg, "is already in use") != NULL);
}

TEST(http_bad_config_is_einval) {
  static echo_ctx_t ctx;
  isl_http_handler_t h;
  echo_handler(&h, &ctx);
  isl_http_server_t *s = NULL;
  isl_err_t err;
  isl_http_config_t cfg = {.port = 70000};
  CHECK_EQ_INT(isl_http_server_new(&cfg, &h, &s, &err), ISL_EINVAL);
  cfg = (isl_http_config_t){.host = "not an address"};
  CHECK_EQ_INT(isl_http_server_new(&cfg, &h, &s, &err), ISL_EINVAL);
  CHECK(strstr(err.msg, "not an address") != NULL);
  h.on_request = NULL;
  CHECK_EQ_INT(isl_http_server_new(NULL, &h, &s, &err), ISL_EINVAL);
  CHECK(s == NULL);
}

static void two_loops_body(test_http_server_t *t, echo_ctx_t *ctx) {
  test_http_resp_t r;
  for (int i = 0; i < 64 && (!atomic_load(&ctx->loop_seen[0]) || !atomic_load(&ctx->loop_seen[1])); i++) {
    CHECK_EQ_INT(test_http_request(t->port, "GET /which HTTP/1.1\r\nHost: x\r\n\r\n", &r), 0);
    CHECK_EQ_INT(r.status, 200);
    test_http_resp_free(&r);
  }
  CHECK(atomic_load(&ctx->loop_seen[0]) > 0);
  CHECK(atomic_load(&ctx->loop_seen[1]) > 0);
}

TEST(http_two_loops_both_serve) {
  test_http_server_t t;
  static echo_ctx_t ctx;
  isl_http_config_t cfg = {.threads = 2};
  CHECK(echo_server_start(&t, &ctx, &cfg) == 0);
  two_loops_body(&t, &ctx);
  int failed = test__failed;
  CHECK_EQ_INT(test_http_server_stop(&t), 0);
  if (failed) return;
  CHECK_EQ_INT(atomic_load(&ctx.loops_started), 2);
  CHECK_EQ_INT(atomic_load(&ctx.loops_stopped), 2);
}
