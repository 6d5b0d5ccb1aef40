/*
 * http_client.h - a small blocking HTTP/1.1 client for tests, plus a
 * helper that runs an isl_http server on its own thread.
 *
 * Requests are raw bytes (the test writes exactly what goes on the wire);
 * responses are parsed with http-parser as a response parser, so chunked
 * bodies are de-chunked and framing errors show up as failures. One
 * connection can read several responses in a row (keep-alive, pipelining):
 * bytes after one response stay buffered for the next read.
 */
#ifndef ISL_TEST_HTTP_CLIENT_H
#define ISL_TEST_HTTP_CLIENT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>

#include "http/http.h"

/* Default read timeout of test_http_request and test_http_conn_read. */
#ifndef TEST_HTTP_TIMEOUT_MS
#define TEST_HTTP_TIMEOUT_MS 5000
#endif
#define TEST_HTTP_MAX_HEADERS 64

typedef struct {
  int status; /* 0 if no response */
  int http_minor;
  int keep_alive; /* http_should_keep_alive on the response */
  int chunked;    /* came with Transfer-Encoding: chunked */
  size_t n_headers;
  struct {
    char *name, *value;
  } headers[TEST_HTTP_MAX_HEADERS];
  char *body; /* NUL-terminated (body_len bytes before the NUL); never NULL after a read */
  size_t body_len;
} test_http_resp_t;

typedef struct {
  int fd;
  char buf[65536]; /* received but not yet parsed */
  size_t len;
  int eof; /* the server closed (or reset) the connection */
} test_http_conn_t;

/* Connects to 127.0.0.1:port. 0 or a negative errno. */
int test_http_conn_open(test_http_conn_t *c, int port);
/* Writes all of len bytes. 0 or a negative errno. */
int test_http_conn_send(test_http_conn_t *c, const void *data, size_t len);
int test_http_conn_send_str(test_http_conn_t *c, const char *s);
/* For tests' raw servers and clients: sends all of len bytes on fd (no
 * SIGPIPE): 0 or a negative errno. */
int test_http_send_all(int fd, const void *data, size_t len);
/* Reads from fd up to the end of a message head ("\r\n\r\n") or cap - 1
 * bytes, waiting at most timeout_ms for each read; buf is NUL-terminated.
 * Returns the bytes read (what came after the head may be among them). */
size_t test_http_read_head(int fd, char *buf, size_t cap, int timeout_ms);
/*
 * Reads the next response (1xx responses count as responses). head: the
 * request was HEAD (no body follows). Returns 0, -ETIMEDOUT, -ECONNRESET
 * when the server closed before a whole response, or -EPROTO when the bytes
 * are not a valid response. r is filled (free with test_http_resp_free),
 * also on failure.
 */
int test_http_conn_read(test_http_conn_t *c, test_http_resp_t *r, int head, int timeout_ms);
/* 1 if the server closes the connection within timeout_ms (bytes that
 * arrive meanwhile are discarded), else 0. */
int test_http_conn_wait_close(test_http_conn_t *c, int timeout_ms);
void test_http_conn_close(test_http_conn_t *c);

/* One exchange on a new connection: connect, send raw, read one response
 * (HEAD if raw starts with "HEAD "), close. Returns like test_http_conn_read
 * (or the connect error). 1xx responses are skipped. */
int test_http_request(int port, const char *raw, test_http_resp_t *r);

/* A client that never reads: connects with a small receive buffer (set
 * before connecting, so the window stays small and the kernel takes little
 * of the answer) and sends raw, nothing else. The fd, or -1. */
int test_http_stalled_client(int port, const char *raw);

/* The first header called name (case-insensitive), or NULL. */
const char *test_http_resp_header(const test_http_resp_t *r, const char *name);
void test_http_resp_free(test_http_resp_t *r);

/* ---- a server on a thread -------------------------------------------------------- */
typedef struct {
  isl_http_server_t *srv;
  uv_thread_t thread;
  int port;
  int rc; /* isl_http_server_run's result */
} test_http_server_t;

/* isl_http_server_new (host 127.0.0.1, port 0 unless cfg says otherwise)
 * then isl_http_server_run on a new thread. Returns 0 or the error of
 * isl_http_server_new (err says more). */
int test_http_server_start(test_http_server_t *t, const isl_http_config_t *cfg, const isl_http_handler_t *h,
                           isl_err_t *err);
/* Stops, joins and frees. Returns the run result. */
int test_http_server_stop(test_http_server_t *t);
/* Joins a server stopped by other means (returns run's result) and frees it. */
int test_http_server_join(test_http_server_t *t);

/*
 * Runs the cases of a malformed.txt-style file (see tests/http/malformed.txt)
 * against 127.0.0.1:port: each on a new connection must get its status (or,
 * for "any", a status >= 400 or a close) and then a close, after which
 * still_serving(port) must return true. Returns the number of cases, or -1
 * with why filled.
 */
int test_http_malformed_cases(int port, FILE *cases, int (*still_serving)(int port), char *why, size_t cap);

/* For test handlers: the integer after "key=" in target's query, or def;
 * and whether target's path (before any '?') is exactly path. */
int test_http_query_int(const char *target, const char *key, int def);
int test_http_path_is(const char *target, const char *path);

/* Milliseconds on a monotonic clock. */
long long test_http_now_ms(void);

/* A raw origin on loopback for tests that need one no real server would be
 * (cut bodies, dropped connections, bodies never read): a thread accepts
 * connections and runs conn((void *)(intptr_t)fd) on a detached thread per
 * connection, which owns and closes fd. */
typedef struct {
  int fd, port;
  atomic_int stop;
  pthread_t thread;
  void *(*conn)(void *);
} test_raw_origin_t;
int test_raw_origin_start(test_raw_origin_t *o, void *(*conn)(void *));
/* Stops accepting (connection threads still running finish on their own). */
void test_raw_origin_stop(test_raw_origin_t *o);

#endif
