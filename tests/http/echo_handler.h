/*
 * echo_handler.h - the C request handler the http tests run the server
 * with. What it does depends on the request target's path:
 *
 *   /stream?n=N&ms=M  N chunks "chunk i\n" (default 5), one every M ms
 *                     (default 5) from a uv timer, chunked (or
 *                     close-delimited for HTTP/1.0)
 *   /slow?ms=M&n=N    after the body, waits M ms (default 200), then
 *                     answers N bytes (default 100000) of 'x' with
 *                     Content-Length
 *   /early            answers "early" from on_request, before the body
 *   /none             never answers (waits for on_abort)
 *   /status?code=C    answers C with body "status"
 *   /release          releases the request without answering (-> 500)
 *   /misuse           calls isl_http_res_* wrongly, then answers
 *                     "misuse ok!" (or "misuse bad")
 *   anything else     echoes: "METHOD TARGET\n", then "name: value\n" per
 *                     header, "remote: ADDR\n", "\n", then the body; the
 *                     response carries X-Loop: the loop index
 *
 * Counters are atomics read by the test thread. echo_server_start and
 * SERVER_TEST run a server with this handler for a test.
 */
#ifndef ISL_TESTS_ECHO_HANDLER_H
#define ISL_TESTS_ECHO_HANDLER_H

#include <stdatomic.h>

#include "http/http.h"
#include "http_client.h"
#include "test.h"

typedef struct {
  atomic_int requests;  /* on_request */
  atomic_int body_ends; /* on_body_end */
  atomic_int aborts;    /* on_abort */
  atomic_int released;  /* isl_http_req_release calls */
  atomic_int loops_started, loops_stopped;
  atomic_int loop_seen[8]; /* requests per loop index */
  /* Called first on every request, if set (echo_server_start_observed). */
  void (*observe)(isl_http_req_t *req);
} echo_ctx_t;

/* Fills h with the echo handler; h->data = ctx (zeroed here). */
void echo_handler(isl_http_handler_t *h, echo_ctx_t *ctx);
/* Polls until *counter >= want or timeout_ms passes; returns the value. */
int echo_wait(atomic_int *counter, int want, int timeout_ms);

/* ---- a server with the echo handler ------------------------------------------------ */

/* Starts a server on a thread (test_http_server_start) with the echo
 * handler on ctx (zeroed here). cfg NULL: one thread, a 2 s drain
 * timeout. Returns 0, or the error after printing it. */
int echo_server_start(test_http_server_t *t, echo_ctx_t *ctx, const isl_http_config_t *cfg);
/* The same, with observe called first on every request (on the loop). */
int echo_server_start_observed(test_http_server_t *t, echo_ctx_t *ctx, const isl_http_config_t *cfg,
                               void (*observe)(isl_http_req_t *req));

/* 1 if a good request on a new connection to port gets its 200. */
int echo_still_serving(int port);

/* Defines the test `name`, whose body runs against a fresh echo server
 * (config cfgp, as for echo_server_start) with t and ctx in scope. The
 * server is then stopped, and every loop must have stopped and every
 * request have been released. */
#define SERVER_TEST(name, cfgp) SERVER_TEST_STARTED_BY(name, echo_server_start(&t, &ctx, cfgp))

/* As SERVER_TEST, with the server started by `start`, an expression in
 * &t and &ctx that returns 0 (an echo server with hooks of the test's). */
#define SERVER_TEST_STARTED_BY(name, start)                                         \
  static void name##_body(test_http_server_t *t, echo_ctx_t *ctx);                  \
  TEST(name) {                                                                      \
    test_http_server_t t;                                                           \
    static echo_ctx_t ctx;                                                          \
    CHECK((start) == 0);                                                            \
    name##_body(&t, &ctx);                                                          \
    int failed = test__failed;                                                      \
    CHECK_EQ_INT(test_http_server_stop(&t), 0);                                     \
    if (failed) return;                                                             \
    CHECK_EQ_INT(atomic_load(&ctx.loops_stopped), atomic_load(&ctx.loops_started)); \
    CHECK_EQ_INT(atomic_load(&ctx.released), atomic_load(&ctx.requests));           \
  }                                                                                 \
  static void name##_body(test_http_server_t *t, echo_ctx_t *ctx)

#endif
