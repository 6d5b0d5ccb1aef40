/*
 * http_drive.h - runs the real HTTP server (src/http) inside a fuzz target,
 * on the fuzzer's own thread, and feeds it byte streams over loopback TCP.
 *
 * The server is made once with isl_http_server_new (one loop, port 0) but
 * never started with isl_http_server_run: the driver turns its loop itself
 * with uv_run(UV_RUN_NOWAIT) between the client's writes, so each write
 * reaches the server as one read, in order, and a run is deterministic
 * (loopback TCP delivers a small write before write() returns). To reach the
 * loop it includes src/http/internal.h, the only file outside src/http that
 * does; nothing else about the server is touched.
 *
 * One input is one connection: connect, write the segments one by one
 * (turning the loop and reading answers after each), half-close, then turn
 * the loop until the server has closed the connection and freed every
 * request. A server that keeps a connection after the client's FIN, or a
 * request after its connection, is reported as a hang (abort).
 *
 * The handler records every request (method, target, headers, decoded body,
 * which callbacks came) and answers according to the target's path, so a
 * stream can mix the server's paths:
 *
 *   /async...    echo, from a zero-delay uv timer after the body
 *   /early...    answers "early" from on_request, before the body
 *   /stream...   echo as a chunked response in three writes
 *   /release...  releases the request unanswered (the server sends 500)
 *   /hold...     never answers (waits for on_abort)
 *   anything     echo, synchronously, once the body has ended
 *
 * Every answer the handler makes carries "X-Seq: N" (N = the request's index
 * on the connection); an echo's body is "seq N\n" followed by the request's
 * decoded body. Misuse of the callback contract (a callback after release,
 * two on_body_end, on_body after on_body_end, ...) aborts at once.
 */
#ifndef ISL_FUZZ_HTTP_DRIVE_H
#define ISL_FUZZ_HTTP_DRIVE_H

#include <stddef.h>
#include <stdint.h>

#include "http/http.h"

/* Requests recorded per input; more are counted but not kept. */
#define FZ_HTTP_MAX_REQS 64

enum {
  FZ_MODE_ECHO,
  FZ_MODE_ASYNC,
  FZ_MODE_EARLY,
  FZ_MODE_STREAM,
  FZ_MODE_RELEASE,
  FZ_MODE_HOLD,
};

typedef struct {
  int mode; /* FZ_MODE_* */
  char method[24];
  char *target;
  size_t n_headers;
  char **names, **values; /* NUL-terminated copies */
  size_t *name_lens, *value_lens;
  char *body;
  size_t body_len, body_cap;
  int has_body;    /* isl_http_req_has_body */
  int minor;       /* HTTP/1.minor */
  int got_request; /* on_request came */
  int body_ends;   /* on_body_end calls */
  int aborts;      /* on_abort calls */
  int answered;    /* the handler's response was ended */
  int released;
} fz_req_t;

typedef struct {
  fz_req_t reqs[FZ_HTTP_MAX_REQS];
  int n_reqs; /* on_request calls, also beyond FZ_HTTP_MAX_REQS */
  char *resp; /* every byte the client read */
  size_t resp_len, resp_cap;
  int client_reset; /* the read side ended with ECONNRESET rather than FIN */
} fz_http_run_t;

/* Makes the server (once per process); cfg may leave host, port and threads
 * zero. Aborts on failure: a fuzz target without its server is useless. */
void fz_http_init(const isl_http_config_t *cfg);

/* Sends data[0..len) as segments of the given lengths (their sum is len;
 * n_segs 0 = all at once), then half-closes, and waits for the server to
 * finish. run is filled (and must be released with fz_http_run_free). */
void fz_http_run(const uint8_t *data, size_t len, const size_t *segs, size_t n_segs, fz_http_run_t *run);
void fz_http_run_free(fz_http_run_t *run);

/* The mode a request target selects (see the top of the file). */
int fz_http_mode_of(const char *target, size_t len);

#endif
