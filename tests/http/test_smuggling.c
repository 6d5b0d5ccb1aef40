/*
 * tests/http/test_smuggling.c - request smuggling (issue 10): a front proxy
 * and the server must never disagree on where a request ends. Each test
 * sends, on one connection, a request whose framing is malformed in one
 * way, followed by a pipelined `GET /SMUGGLED`: a lenient parser (Debian's
 * http-parser, which src/http used before llhttp) reads the bad framing one
 * way and then serves the smuggled request, where a proxy that reads it
 * another way forwarded a single request. The server must answer 400 with
 * Connection: close and close, and the handler must never see /SMUGGLED.
 * The echo handler runs behind a wrapper that counts such requests.
 */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "echo_handler.h"
#include "http_client.h"
#include "test.h"

/* ---- a server that counts smuggled requests ------------------------------------------- */

static atomic_int smuggled; /* requests whose target holds "SMUGGLED" */

static void count_smuggled(isl_http_req_t *req) {
  if (strstr(isl_http_req_target(req), "SMUGGLED")) atomic_fetch_add(&smuggled, 1);
}

/* The echo server of echo_handler.h, with short timeouts (a case that
 * leaves the server waiting for more bytes does not hold a test long) and
 * the counting wrapper. */
static int smuggling_server_start(test_http_server_t *t, echo_ctx_t *ctx) {
  static const isl_http_config_t cfg = {
      .threads = 1, .header_timeout_ms = 1000, .body_timeout_ms = 1000, .drain_timeout_ms = 2000};
  atomic_store(&smuggled, 0);
  return echo_server_start_observed(t, ctx, &cfg, count_smuggled);
}

/* As SERVER_TEST (echo_handler.h), on the counting server. */
#define SMUGGLING_TEST(name) SERVER_TEST_STARTED_BY(name, smuggling_server_start(&t, &ctx))

/* The request that follows every malformed one on its connection. */
#define SMUGGLED "GET /SMUGGLED HTTP/1.1\r\nHost: x\r\n\r\n"
/* The head of a chunked POST. */
#define CHUNKED_POST "POST /upload HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"

/* Sends raw on a new connection. The answer must be 400 with Connection:
 * close and the server must then close (no second answer); the handler must
 * not have seen /SMUGGLED. 1 if so, else 0 after printing what happened. */
static int refused(int port, const char *raw) {
  test_http_conn_t c;
  test_http_resp_t r;
  if (test_http_conn_open(&c, port) != 0) return 0;
  test_http_conn_send_str(&c, raw);
  int rc = test_http_conn_read(&c, &r, 0, TEST_HTTP_TIMEOUT_MS);
  int ok = rc == 0 && r.status == 400;
  if (!ok) printf("  want 400, got %d (read %d)\n", r.status, rc);
  const char *conn = ok ? test_http_resp_header(&r, "Connection") : NULL;
  if (ok && (!conn || strcmp(conn, "close") != 0)) {
    printf("  the 400 has no Connection: close\n");
    ok = 0;
  }
  test_http_resp_free(&r);
  if (ok && !test_http_conn_wait_close(&c, TEST_HTTP_TIMEOUT_MS)) {
    printf("  the connection stayed open\n");
    ok = 0;
  }
  test_http_conn_close(&c);
  if (atomic_load(&smuggled)) {
    printf("  the handler saw GET /SMUGGLED\n");
    ok = 0;
  }
  return ok;
}

/* ---- chunk data and chunk sizes -------------------------------------------------------- */

/* "XX" where the CRLF after the chunk's data belongs: http-parser skipped
 * any two bytes there, so the last chunk and GET /SMUGGLED came next. */
SMUGGLING_TEST(http_smuggling_chunk_data_without_crlf_is_400) {
  CHECK(refused(t->port, CHUNKED_POST "5\r\nhelloXX0\r\n\r\n" SMUGGLED));
  CHECK_EQ_INT(atomic_load(&ctx->body_ends), 0);
  CHECK(echo_still_serving(t->port));
}

/* A chunk two bytes longer than its size line says: the extra bytes took
 * the place of the CRLF, and the body was cut to its announced size. */
SMUGGLING_TEST(http_smuggling_chunk_larger_than_announced_is_400) {
  CHECK(refused(t->port, CHUNKED_POST "3\r\nhello0\r\n\r\n" SMUGGLED));
  CHECK_EQ_INT(atomic_load(&ctx->body_ends), 0);
  CHECK(echo_still_serving(t->port));
}

/* "5 garbage": http-parser took everything after the space for chunk
 * parameters; a proxy may read the size line differently. */
SMUGGLING_TEST(http_smuggling_garbage_after_chunk_size_is_400) {
  CHECK(refused(t->port, CHUNKED_POST "5 garbage\r\nhello\r\n0\r\n\r\n" SMUGGLED));
  CHECK_EQ_INT(atomic_load(&ctx->body_ends), 0);
  CHECK(echo_still_serving(t->port));
}

/* ---- CR not followed by LF -------------------------------------------------------------- */

SMUGGLING_TEST(http_smuggling_cr_without_lf_in_chunk_size_line_is_400) {
  CHECK(refused(t->port, CHUNKED_POST "5\rXhello\r\n0\r\n\r\n" SMUGGLED));
  CHECK_EQ_INT(atomic_load(&ctx->body_ends), 0);
  CHECK(echo_still_serving(t->port));
}

SMUGGLING_TEST(http_smuggling_cr_without_lf_in_last_chunk_is_400) {
  CHECK(refused(t->port, CHUNKED_POST "5\r\nhello\r\n0\rX\r\n" SMUGGLED));
  CHECK_EQ_INT(atomic_load(&ctx->body_ends), 0);
  CHECK(echo_still_serving(t->port));
}

/* The empty line that ends the trailers, with and without trailer fields. */
SMUGGLING_TEST(http_smuggling_cr_without_lf_ending_trailers_is_400) {
  CHECK(refused(t->port, CHUNKED_POST "5\r\nhello\r\n0\r\nTrailer: x\r\n\rX" SMUGGLED));
  CHECK(refused(t->port, CHUNKED_POST "5\r\nhello\r\n0\r\n\rX" SMUGGLED));
  CHECK_EQ_INT(atomic_load(&ctx->body_ends), 0);
  CHECK(echo_still_serving(t->port));
}

/* The empty line that ends the head: the handler does not even see the
 * first request, whose head never ended properly. */
SMUGGLING_TEST(http_smuggling_cr_without_lf_ending_the_head_is_400) {
  CHECK(refused(t->port, "GET /first HTTP/1.1\r\nHost: x\r\n\rX" SMUGGLED));
  CHECK(refused(t->port, "POST /first HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\rX" SMUGGLED));
  CHECK_EQ_INT(atomic_load(&ctx->requests), 0);
  CHECK(echo_still_serving(t->port));
}

/* ---- LF without CR ---------------------------------------------------------------------- */

/* http-parser, and llhttp too, take a bare LF for the empty line that ends
 * the head or the trailers, where a proxy that wants CRLF reads on; the
 * server's line scanner refuses every bare LF in the head and trailers. */
SMUGGLING_TEST(http_smuggling_bare_lf_line_ends_are_400) {
  CHECK(refused(t->port, "GET /first HTTP/1.1\r\nHost: x\r\n\n" SMUGGLED));
  CHECK(refused(t->port, CHUNKED_POST "5\r\nhello\r\n0\r\n\n" SMUGGLED));
  CHECK(refused(t->port, CHUNKED_POST "5\r\nhello\r\n0\r\nTrailer: x\r\n\n" SMUGGLED));
  CHECK(refused(t->port, "GET /first HTTP/1.1\nHost: x\r\n\r\n" SMUGGLED));
  CHECK_EQ_INT(atomic_load(&ctx->body_ends), 0);
  CHECK(echo_still_serving(t->port));
}
