/* tests/http/test_server.c - requests and responses on real sockets:
 * echo, keep-alive, pipelining, chunked both ways, HTTP/1.0, HEAD,
 * 100-continue. Each test starts a server on a thread (port 0). */
#include <stdlib.h>
#include <string.h>

#include "echo_handler.h"
#include "http_client.h"
#include "test.h"

SERVER_TEST(http_get_echo, NULL) {
  (void)ctx;
  test_http_resp_t r;
  CHECK_EQ_INT(test_http_request(t->port,
                                 "GET /a/b?c=1&d=2 HTTP/1.1\r\nHost: example.com\r\nX-Empty:\r\n"
                                 "X-Multi: one\r\nx-multi: two\r\n\r\n",
                                 &r),
               0);
  CHECK_EQ_INT(r.status, 200);
  CHECK_EQ_STR(test_http_resp_header(&r, "Content-Type"), "text/plain");
  CHECK(test_http_resp_header(&r, "Date") != NULL);
  CHECK_EQ_STR(test_http_resp_header(&r, "Connection"), "keep-alive");
  CHECK_EQ_STR(test_http_resp_header(&r, "X-Loop"), "0");
  CHECK(strstr(r.body, "GET /a/b?c=1&d=2\n") == r.body);
  CHECK(strstr(r.body, "\nHost: example.com\n") != NULL);
  CHECK(strstr(r.body, "\nX-Empty: \n") != NULL);
  CHECK(strstr(r.body, "\nX-Multi: one\nx-multi: two\n") != NULL);
  CHECK(strstr(r.body, "\nremote: 127.0.0.1\n\n") != NULL);
  /* the handler's Content-Length: 999 was dropped for the real one */
  CHECK_EQ_INT(atoi(test_http_resp_header(&r, "Content-Length")), r.body_len);
  test_http_resp_free(&r);
}

SERVER_TEST(http_post_echo, NULL) {
  test_http_resp_t r;
  CHECK_EQ_INT(
      test_http_request(t->port, "POST /submit HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\n\r\nhello world", &r), 0);
  CHECK_EQ_INT(r.status, 200);
  CHECK(strstr(r.body, "POST /submit\n") == r.body);
  size_t n = strlen("\n\nhello world");
  CHECK(r.body_len >= n && memcmp(r.body + r.body_len - n, "\n\nhello world", n) == 0);
  test_http_resp_free(&r);
  CHECK_EQ_INT(atomic_load(&ctx->body_ends), 1);
}

SERVER_TEST(http_keep_alive_two_requests, NULL) {
  test_http_conn_t c;
  test_http_resp_t r;
  CHECK(test_http_conn_open(&c, t->port) == 0);
  for (int i = 0; i < 2; i++) {
    char req[128];
    snprintf(req, sizeof(req), "GET /n%d HTTP/1.1\r\nHost: x\r\n\r\n", i);
    CHECK(test_http_conn_send_str(&c, req) == 0);
    int rc = test_http_conn_read(&c, &r, 0, TEST_HTTP_TIMEOUT_MS);
    CHECK_MSG(rc == 0, "read %d: %d", i, rc);
    CHECK_EQ_INT(r.status, 200);
    CHECK(r.keep_alive);
    snprintf(req, sizeof(req), "GET /n%d\n", i);
    CHECK(strstr(r.body, req) == r.body);
    test_http_resp_free(&r);
  }
  test_http_conn_close(&c);
  CHECK_EQ_INT(atomic_load(&ctx->requests), 2);
}

SERVER_TEST(http_pipelining_answers_in_order, NULL) {
  (void)ctx;
  test_http_conn_t c;
  test_http_resp_t r;
  CHECK(test_http_conn_open(&c, t->port) == 0);
  /* a slow one first, a streamed one second, an echo with a body third */
  CHECK(test_http_conn_send_str(&c,
                                "GET /slow?ms=50&n=10 HTTP/1.1\r\nHost: x\r\n\r\n"
                                "GET /stream?n=3 HTTP/1.1\r\nHost: x\r\n\r\n"
                                "POST /third HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc") == 0);
  CHECK(test_http_conn_read(&c, &r, 0, TEST_HTTP_TIMEOUT_MS) == 0);
  CHECK_EQ_INT(r.status, 200);
  CHECK_EQ_STR(r.body, "xxxxxxxxxx");
  test_http_resp_free(&r);
  CHECK(test_http_conn_read(&c, &r, 0, TEST_HTTP_TIMEOUT_MS) == 0);
  CHECK(r.chunked);
  CHECK_EQ_STR(r.body, "chunk 0\nchunk 1\nchunk 2\n");
  test_http_resp_free(&r);
  CHECK(test_http_conn_read(&c, &r, 0, TEST_HTTP_TIMEOUT_MS) == 0);
  CHECK(strstr(r.body, "POST /third\n") == r.body);
  CHECK(r.body_len >= 3 && memcmp(r.body + r.body_len - 3, "abc", 3) == 0);
  test_http_resp_free(&r);
  test_http_conn_close(&c);
}

SERVER_TEST(http_chunked_request_body, NULL) {
  (void)ctx;
  test_http_conn_t c;
  test_http_resp_t r;
  CHECK(test_http_conn_open(&c, t->port) == 0);
  CHECK(test_http_conn_send_str(&c, "POST /up HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel") == 0);
  struct timespec ts = {0, 20 * 1000 * 1000};
  nanosleep(&ts, NULL);
  CHECK(test_http_conn_send_str(&c, "lo\r\n6;ext=1\r\n world\r\n0\r\nTrailer: x\r\n\r\n") == 0);
  CHECK(test_http_conn_read(&c, &r, 0, TEST_HTTP_TIMEOUT_MS) == 0);
  CHECK_EQ_INT(r.status, 200);
  size_t n = strlen("\n\nhello world");
  CHECK(r.body_len >= n && memcmp(r.body + r.body_len - n, "\n\nhello world", n) == 0);
  test_http_resp_free(&r);
  /* the connection is still good */
  CHECK(test_http_conn_send_str(&c, "GET /after HTTP/1.1\r\nHost: x\r\n\r\n") == 0);
  CHECK(test_http_conn_read(&c, &r, 0, TEST_HTTP_TIMEOUT_MS) == 0);
  CHECK(strstr(r.body, "GET /after\n") == r.body);
  test_http_resp_free(&r);
  test_http_conn_close(&c);
}

SERVER_TEST(http_chunked_streaming_response, NULL) {
  (void)ctx;
  test_http_resp_t r;
  CHECK_EQ_INT(test_http_request(t->port, "GET /stream?n=20&ms=2 HTTP/1.1\r\nHost: x\r\n\r\n", &r), 0);
  CHECK_EQ_INT(r.status, 200);
  CHECK(r.chunked);
  CHECK_EQ_STR(test_http_resp_header(&r, "Transfer-Encoding"), "chunked");
  CHECK(test_http_resp_header(&r, "Content-Length") == NULL);
  CHECK(strstr(r.body, "chunk 0\nchunk 1\n") == r.body);
  CHECK(strstr(r.body, "chunk 19\n") != NULL);
  test_http_resp_free(&r);
}

SERVER_TEST(http_10_closes_unless_keep_alive, NULL) {
  (void)ctx;
  test_http_conn_t c;
  test_http_resp_t r;
  /* plain 1.0: answer, then close */
  CHECK(test_http_conn_open(&c, t->port) == 0);
  CHECK(test_http_conn_send_str(&c, "GET /old HTTP/1.0\r\n\r\n") == 0);
  CHECK(test_http_conn_read(&c, &r, 0, TEST_HTTP_TIMEOUT_MS) == 0);
  CHECK_EQ_INT(r.status, 200);
  CHECK_EQ_STR(test_http_resp_header(&r, "Connection"), "close");
  test_http_resp_free(&r);
  CHECK(test_http_conn_wait_close(&c, 2000));
  test_http_conn_close(&c);
  /* 1.0 with keep-alive: two requests */
  CHECK(test_http_conn_open(&c, t->port) == 0);
  for (int i = 0; i < 2; i++) {
    CHECK(test_http_conn_send_str(&c, "GET /ka HTTP/1.0\r\nConnection: keep-alive\r\n\r\n") == 0);
    CHECK(test_http_conn_read(&c, &r, 0, TEST_HTTP_TIMEOUT_MS) == 0);
    CHECK_EQ_STR(test_http_resp_header(&r, "Connection"), "keep-alive");
    test_http_resp_free(&r);
  }
  test_http_conn_close(&c);
  /* 1.0 and a streamed body: close-delimited */
  CHECK_EQ_INT(test_http_request(t->port, "GET /stream?n=3 HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", &r), 0);
  CHECK(!r.chunked);
  CHECK(test_http_resp_header(&r, "Content-Length") == NULL);
  CHECK_EQ_STR(test_http_resp_header(&r, "Connection"), "close");
  CHECK_EQ_STR(r.body, "chunk 0\nchunk 1\nchunk 2\n");
  test_http_resp_free(&r);
}

SERVER_TEST(http_head_has_no_body, NULL) {
  (void)ctx;
  test_http_conn_t c;
  test_http_resp_t r;
  CHECK(test_http_conn_open(&c, t->port) == 0);
  CHECK(test_http_conn_send_str(
            &c,
            "HEAD /h HTTP/1.1\r\nHost: x\r\n\r\nHEAD /stream HTTP/1.1\r\nHost: x\r\n\r\n"
            "GET /status?code=204 HTTP/1.1\r\nHost: x\r\n\r\nGET /last HTTP/1.1\r\nHost: x\r\n\r\n") == 0);
  CHECK(test_http_conn_read(&c, &r, 1, TEST_HTTP_TIMEOUT_MS) == 0);
  CHECK_EQ_INT(r.status, 200);
  CHECK(atoi(test_http_resp_header(&r, "Content-Length")) > 0);
  CHECK_EQ_INT(r.body_len, 0);
  test_http_resp_free(&r);
  CHECK(test_http_conn_read(&c, &r, 1, TEST_HTTP_TIMEOUT_MS) == 0);
  CHECK_EQ_INT(r.status, 200);
  CHECK_EQ_INT(r.body_len, 0);
  test_http_resp_free(&r);
  CHECK(test_http_conn_read(&c, &r, 0, TEST_HTTP_TIMEOUT_MS) == 0);
  CHECK_EQ_INT(r.status, 204);
  CHECK(test_http_resp_header(&r, "Content-Length") == NULL);
  CHECK_EQ_INT(r.body_len, 0);
  test_http_resp_free(&r);
  /* if any body byte had leaked, this would not parse as GET /last */
  CHECK(test_http_conn_read(&c, &r, 0, TEST_HTTP_TIMEOUT_MS) == 0);
  CHECK(strstr(r.body, "GET /last\n") == r.body);
  test_http_resp_free(&r);
  test_http_conn_close(&c);
}

SERVER_TEST(http_expect_100_continue, NULL) {
  (void)ctx;
  test_http_conn_t c;
  test_http_resp_t r;
  CHECK(test_http_conn_open(&c, t->port) == 0);
  CHECK(test_http_conn_send_str(
            &c, "PUT /e HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n") == 0);
  CHECK(test_http_conn_read(&c, &r, 0, TEST_HTTP_TIMEOUT_MS) == 0);
  CHECK_EQ_INT(r.status, 100);
  test_http_resp_free(&r);
  CHECK(test_http_conn_send_str(&c, "data") == 0);
  CHECK(test_http_conn_read(&c, &r, 0, TEST_HTTP_TIMEOUT_MS) == 0);
  CHECK_EQ_INT(r.status, 200);
  CHECK(r.body_len >= 4 && memcmp(r.body + r.body_len - 4, "data", 4) == 0);
  test_http_resp_free(&r);
  test_http_conn_close(&c);
}

SERVER_TEST(http_early_response_before_body, NULL) {
  (void)ctx;
  test_http_conn_t c;
  test_http_resp_t r;
  CHECK(test_http_conn_open(&c, t->port) == 0);
  CHECK(test_http_conn_send_str(&c, "POST /early HTTP/1.1\r\nHost: x\r\nContent-Length: 6\r\n\r\n") == 0);
  CHECK(test_http_conn_read(&c, &r, 0, TEST_HTTP_TIMEOUT_MS) == 0);
  CHECK_EQ_STR(r.body, "early");
  test_http_resp_free(&r);
  /* the body still has to be read before the next request */
  CHECK(test_http_conn_send_str(&c, "abcdefGET /next HTTP/1.1\r\nHost: x\r\n\r\n") == 0);
  CHECK(test_http_conn_read(&c, &r, 0, TEST_HTTP_TIMEOUT_MS) == 0);
  CHECK(strstr(r.body, "GET /next\n") == r.body);
  test_http_resp_free(&r);
  test_http_conn_close(&c);
}

SERVER_TEST(http_handler_misuse_is_einval, NULL) {
  (void)ctx;
  test_http_resp_t r;
  CHECK_EQ_INT(test_http_request(t->port, "GET /misuse HTTP/1.1\r\nHost: x\r\n\r\n", &r), 0);
  CHECK_EQ_INT(r.status, 200);
  CHECK_EQ_STR(r.body, "misuse ok!");
  test_http_resp_free(&r);
  /* released without a response: 500 */
  CHECK_EQ_INT(test_http_request(t->port, "GET /release HTTP/1.1\r\nHost: x\r\n\r\n", &r), 0);
  CHECK_EQ_INT(r.status, 500);
  test_http_resp_free(&r);
}

SERVER_TEST(http_pipelining_many_with_back_pressure, NULL) {
  (void)ctx;
  /* ~110 KB of pipelined requests, answered from timers (so the parser
   * waits after each): more than the server buffers, so it has to stop
   * reading and start again */
  enum { N = 2000 };
  size_t cap = (size_t)N * 80, len = 0;
  char *raw = malloc(cap);
  CHECK(raw != NULL);
  for (int i = 0; i < N; i++)
    len += (size_t)snprintf(raw + len, cap - len, "GET /slow?ms=0&n=%d HTTP/1.1\r\nHost: x\r\nX-P: 0123\r\n\r\n",
                            i % 50 + 1);
  test_http_conn_t c;
  test_http_resp_t r;
  int rc = test_http_conn_open(&c, t->port);
  if (rc == 0) rc = test_http_conn_send(&c, raw, len);
  free(raw);
  CHECK(rc == 0);
  for (int i = 0; i < N; i++) {
    rc = test_http_conn_read(&c, &r, 0, TEST_HTTP_TIMEOUT_MS);
    int ok = rc == 0 && r.status == 200 && r.body_len == (size_t)(i % 50 + 1);
    test_http_resp_free(&r);
    if (!ok) test_http_conn_close(&c);
    CHECK_MSG(ok, "response %d: read %d", i, rc);
  }
  test_http_conn_close(&c);
}
