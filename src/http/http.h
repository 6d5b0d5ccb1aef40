/*
 * http.h - the contract of src/http: Isolde's HTTP/1.1 server.
 *
 * The server runs `threads` event loops, one per thread, each with its own
 * listening socket bound with SO_REUSEPORT to the same address, so the
 * kernel spreads connections over the loops and a connection lives on one
 * loop for its whole life. Requests are parsed by llhttp, strictly (a
 * malformed line end or chunk is a 400 and a close), and handed to
 * a handler vtable (isl_http_handler_t) one at a time per connection; the
 * handler answers at once or later with isl_http_res_*. Bodies stream in
 * both directions, nothing is buffered whole. Limits (header size, body
 * size, timeouts, connection count) are enforced here, each with its status
 * and a short plain-text body, and so is the Host header (one, and only a
 * host[:port]); a pipelining client that does not read gets no more
 * requests handled than a few queued answers; see docs/http.md.
 *
 * What it owns: sockets, parsing, keep-alive, pipelining, framing (Content-
 * Length, chunked), Date/Connection headers, timeouts, graceful stop.
 * What it does not do: routing, JS, TLS, HTTP/2, upgrades (CONNECT gets 501,
 * Upgrade headers are passed through and ignored), OPTIONS * (501),
 * compression.
 *
 * Threads: isl_http_server_new/run/free are called from one thread;
 * isl_http_server_stop from any thread or a signal handler. Every handler
 * callback runs on the loop thread that owns the connection, and all
 * isl_http_req_* / isl_http_res_* calls on a request must be made on that
 * loop's thread (from a callback or any later uv callback of that loop).
 */
#ifndef ISL_HTTP_H
#define ISL_HTTP_H

#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "common/err.h"

/* ---- tunables (0 in the config means these) ------------------------------ */
#ifndef ISL_HTTP_MAX_HEADER_BYTES
#define ISL_HTTP_MAX_HEADER_BYTES (32u << 10)
#endif
#ifndef ISL_HTTP_MAX_BODY_BYTES
#define ISL_HTTP_MAX_BODY_BYTES (100ull << 20)
#endif
#ifndef ISL_HTTP_HEADER_TIMEOUT_MS
#define ISL_HTTP_HEADER_TIMEOUT_MS 10000u
#endif
#ifndef ISL_HTTP_BODY_TIMEOUT_MS
#define ISL_HTTP_BODY_TIMEOUT_MS 10000u
#endif
#ifndef ISL_HTTP_IDLE_TIMEOUT_MS
#define ISL_HTTP_IDLE_TIMEOUT_MS 60000u
#endif
#ifndef ISL_HTTP_MAX_CONNECTIONS
#define ISL_HTTP_MAX_CONNECTIONS 10000u
#endif
#ifndef ISL_HTTP_DRAIN_TIMEOUT_MS
#define ISL_HTTP_DRAIN_TIMEOUT_MS 30000u
#endif
/* Headers per request; more -> 431. */
#ifndef ISL_HTTP_MAX_HEADERS
#define ISL_HTTP_MAX_HEADERS 100u
#endif
/* After an error response or a Connection: close response, how long the
 * server keeps reading (and discarding) until the client closes, so that
 * unread request bytes do not turn the close into a reset that destroys the
 * response. */
#ifndef ISL_HTTP_LINGER_MS
#define ISL_HTTP_LINGER_MS 2000u
#endif
/* Unparsed bytes buffered per connection (pipelined requests waiting for
 * the current response) before the server stops reading from it. */
#ifndef ISL_HTTP_MAX_PENDING_INPUT
#define ISL_HTTP_MAX_PENDING_INPUT (64u << 10)
#endif
/* Output queued per connection (a client that pipelines requests and does
 * not read the answers): once this many responses have ended but are not
 * all written to the socket, or this many response bytes wait for it, the
 * server hands that connection no further request and stops reading from
 * it, until both have drained to half. A single streamed response is the
 * handler's to pace (isl_http_req_pending_bytes); these bound what a
 * pipeline piles up behind it. */
#ifndef ISL_HTTP_MAX_QUEUED_RESPONSES
#define ISL_HTTP_MAX_QUEUED_RESPONSES 16u
#endif
#ifndef ISL_HTTP_MAX_PENDING_OUTPUT
#define ISL_HTTP_MAX_PENDING_OUTPUT (1u << 20)
#endif
/* Output queued per account (a tenant: every request a handler charged to
 * one owner, isl_http_req_set_account), over all its connections and
 * loops: the response bytes the server holds that the sockets have not
 * taken. At this many, isl_http_req_write_state tells the account's
 * writers to wait, so that a tenant with many clients that do not read
 * cannot make the host hold max_pending_output on each of them. */
#ifndef ISL_HTTP_MAX_ACCOUNT_OUTPUT
#define ISL_HTTP_MAX_ACCOUNT_OUTPUT (32u << 20)
#endif

typedef struct isl_http_server_s isl_http_server_t;
typedef struct isl_http_loop_s isl_http_loop_t; /* one event loop thread */
typedef struct isl_http_req_s isl_http_req_t;   /* one request/response exchange */

/* Public parts of the loop and request objects; the server allocates them
 * (with private state after these fields) and owns them. */
struct isl_http_loop_s {
  void *data; /* the handler's slot: NULL until the handler sets it (typically in on_loop_start) */
};
struct isl_http_req_s {
  void *data; /* the handler's slot: NULL until the handler sets it */
};

typedef struct {
  const char *name;
  size_t name_len;
  const char *value;
  size_t value_len;
} isl_http_header_t;

typedef struct {
  const char *host;           /* listen address (IPv4 or IPv6 literal), borrowed; NULL = "127.0.0.1" */
  int port;                   /* 0 = pick a free port (all loops then share that port) */
  unsigned threads;           /* event loops (threads); 0 = number of CPUs */
  size_t max_header_bytes;    /* head on the wire (+ trailers); over -> 431 (414 in the request line); 0 = default */
  uint64_t max_body_bytes;    /* over -> 413 (on Content-Length up front, and while streaming chunked); 0 = default */
  uint32_t header_timeout_ms; /* headers not complete in time -> 408 + close; 0 = default */
  uint32_t body_timeout_ms;   /* no body bytes for this long while a body is expected -> 408 + close; 0 = default */
  uint32_t idle_timeout_ms;   /* keep-alive connection with no request -> silent close; 0 = default */
  uint32_t max_connections;   /* open connections over all loops; over -> 503 + close; 0 = default */
  uint32_t drain_timeout_ms;  /* graceful stop: max wait for in-flight requests; 0 = default */
  /* Per connection: responses ended but not yet written, and response bytes
   * not yet written, at which the server stops taking requests from it until
   * both drain to half; 0 = default (ISL_HTTP_MAX_QUEUED_RESPONSES,
   * ISL_HTTP_MAX_PENDING_OUTPUT). */
  uint32_t max_queued_responses;
  size_t max_pending_output;
  /* Per account (tenant), over all connections and loops: response bytes
   * queued at which its writers are told to wait; 0 = default
   * (ISL_HTTP_MAX_ACCOUNT_OUTPUT). */
  size_t max_account_output;
} isl_http_config_t;

typedef struct {
  /* Called on each loop thread when it starts / after it has drained (all
   * connections closed) during stop; the handler can set loop->data.
   * on_loop_stop must close any uv handles the handler opened on that loop. */
  void (*on_loop_start)(isl_http_loop_t *loop);
  void (*on_loop_stop)(isl_http_loop_t *loop);
  /* Request line + headers parsed. The handler answers now or later (async)
   * with isl_http_res_*. */
  void (*on_request)(isl_http_req_t *req);
  /* Decoded (de-chunked) body bytes, borrowed for the call. */
  void (*on_body)(isl_http_req_t *req, const char *data, size_t len);
  /* Always called once after on_request, also for an empty body, unless
   * aborted first or the handler released req before the body ended. */
  void (*on_body_end)(isl_http_req_t *req);
  /* The client went away (or a limit tripped) before the exchange finished
   * (body read and response ended). The handler must stop using req after
   * this returns, except that calling isl_http_res_* on it is still allowed
   * and is a no-op until the handler calls isl_http_req_release(req). */
  void (*on_abort)(isl_http_req_t *req);
  void *data;
} isl_http_handler_t;

/* ---- server ---------------------------------------------------------------- */

/* Makes the loops and binds and listens on every loop's socket now, in the
 * caller's thread, so a busy port fails here: code UV_EADDRINUSE and
 * err->msg "127.0.0.1:8787 is already in use" (also when another process
 * holds the port with SO_REUSEPORT). cfg and h are copied. *out is owned:
 * isl_http_server_free. */
int isl_http_server_new(const isl_http_config_t *cfg, const isl_http_handler_t *h, isl_http_server_t **out,
                        isl_err_t *err);
/* The actual port. */
int isl_http_server_port(const isl_http_server_t *s);
/* The number of loops (threads). */
unsigned isl_http_server_threads(const isl_http_server_t *s);
/* Starts the loop threads and blocks until stopped and drained. Returns 0,
 * or a negative code if a thread could not be started. Call it once. */
int isl_http_server_run(isl_http_server_t *s);
/* Async-signal-safe and thread-safe; may be called before or during run,
 * any number of times. Stops accepting (listeners close, new connections are
 * refused), lets in-flight requests finish (their responses get
 * Connection: close), closes idle connections; after drain_timeout_ms the
 * rest are aborted. Then each loop calls on_loop_stop and exits. */
void isl_http_server_stop(isl_http_server_t *s);
/* After run has returned, or instead of run. NULL is allowed. Requests the
 * handler never released are freed here. */
void isl_http_server_free(isl_http_server_t *s);

/* ---- loops ----------------------------------------------------------------- */

/* The loop's uv loop (until on_loop_stop returns), for the handler's own
 * timers and I/O on that thread. */
uv_loop_t *isl_http_loop_uv(isl_http_loop_t *loop);
/* 0 .. threads-1 */
unsigned isl_http_loop_index(const isl_http_loop_t *loop);
/* The server the loop belongs to (borrowed). */
isl_http_server_t *isl_http_loop_server(isl_http_loop_t *loop);
/* The handler's data pointer (isl_http_handler_t.data). */
void *isl_http_server_handler_data(const isl_http_server_t *s);

/* ---- requests ---------------------------------------------------------------- */

/* Strings below are borrowed until isl_http_req_release. */
isl_http_loop_t *isl_http_req_loop(isl_http_req_t *req);
const char *isl_http_req_method(const isl_http_req_t *req); /* "GET" */
/* The request target in origin form, NUL-terminated: "/a?b=1". An
 * absolute-form target ("http://host/a?b=1", which must name the same
 * host[:port] as the Host header) is handed over as its path and query;
 * any other form was refused (OPTIONS * with 501). */
const char *isl_http_req_target(const isl_http_req_t *req);
/* HTTP minor version of the request: 0 or 1. */
int isl_http_req_version_minor(const isl_http_req_t *req);
size_t isl_http_req_header_count(const isl_http_req_t *req);
/* Header i in arrival order (name and value NUL-terminated too), or NULL. */
const isl_http_header_t *isl_http_req_header(const isl_http_req_t *req, size_t i);
/* First match, case-insensitive, NUL-terminated, or NULL. "host" is
 * validated: at most one, present in every HTTP/1.1 request, and exactly
 * host[:port] (a reg-name, an IPv4 address or a bracketed IPv6 literal;
 * no userinfo, no percent-encoding), or the request got 400. */
const char *isl_http_req_header_get(const isl_http_req_t *req, const char *name);
/* Content-Length > 0 or chunked. */
int isl_http_req_has_body(const isl_http_req_t *req);
/* The body's length as the request framed it: its Content-Length (0 when
 * it has none), or -1 when it is chunked. */
int64_t isl_http_req_body_length(const isl_http_req_t *req);
/* The client's address: "127.0.0.1". */
const char *isl_http_req_remote_addr(const isl_http_req_t *req);
/* The handler is done with req (after res_end, or after on_abort). The
 * server frees req when it is both released and finished on the wire.
 * Releasing a request whose response has not ended ends the exchange: 500
 * if nothing was sent, otherwise the connection is closed. */
void isl_http_req_release(isl_http_req_t *req);
/* Bytes queued for this connection that the socket has not taken yet (for
 * back-pressure: a streaming handler waits while this is high); 0 after
 * abort. */
size_t isl_http_req_pending_bytes(const isl_http_req_t *req);
/* 1 after on_abort (or when the connection is gone), else 0. */
int isl_http_req_aborted(const isl_http_req_t *req);

/* Output accounts. Charges req's response bytes (from isl_http_res_start
 * on, so call it first) to the account of `owner`, an opaque key (the
 * runtime passes the tenant's worker), made on first use and kept until
 * the server is freed. Thread-safe: the same owner on any loop is the same
 * account. Returns 0, or ISL_EINVAL once the response has started, or
 * ISL_ENOMEM if a new account could not be allocated (req is then charged
 * to none). */
int isl_http_req_set_account(isl_http_req_t *req, const void *owner);
/* Response bytes the server holds for owner's account that the sockets
 * have not taken yet (0 for an owner never charged). Any thread. */
size_t isl_http_server_account_bytes(isl_http_server_t *s, const void *owner);
/* Whether a streaming handler should write now: 0 yes; 1 wait (the
 * connection holds max_pending_output bytes or more that its socket has not
 * taken, or req's account holds max_account_output or more), and ask again
 * later; -1 the client is gone (aborted or closed). The server never
 * refuses a write: pacing is the handler's, and this is what it paces by. */
int isl_http_req_write_state(const isl_http_req_t *req);

/* Flow control: a one-shot "proceed" callback, so that a streaming handler
 * never polls isl_http_req_write_state. Call it after write_state returned
 * 1. The server calls cb(req, arg) once, on req's loop thread, from a later
 * uv callback (never inside this call, never inside an isl_http_res_* or
 * isl_http_req_* call), when either the client is gone (write_state -1:
 * aborted, closed, or a write failed; for an abort cb comes after
 * on_abort, unless on_abort released req or cancelled cb), or the
 * connection holds at most max_pending_output / 2 bytes its socket has not
 * taken and req's account holds less than max_account_output (write_state
 * 0; the low-water mark leaves room for several writes, so registering
 * while write_state is 0 but the connection is over half full still waits
 * for half). An account drained by writes on other loops is noticed within
 * a few ms (ISL_HTTP_ACCOUNT_RECHECK_MS); every waiter of an account wakes
 * when it dips under its bound, so it may be overshot by one write per
 * waiter. A second call replaces the pending callback; cb NULL cancels it.
 * isl_http_req_release cancels it: cb is never called after release. Once
 * the loop has stopped (its last connection gone during a stop, just before
 * on_loop_stop, when pending callbacks are called with state -1), this
 * registers nothing. */
void isl_http_req_on_drain(isl_http_req_t *req, void (*cb)(isl_http_req_t *req, void *arg), void *arg);
/* Back-pressure on the request body. paused 1: after this returns, neither
 * on_body nor on_body_end is called for req until it is resumed; the
 * server stops reading the client's socket, so TCP back-pressure reaches
 * the client, and bytes already read stay buffered (at most what one read
 * returned, plus ISL_HTTP_MAX_PENDING_INPUT). An Expect: 100-continue not
 * answered yet is held back too. The body timeout (body_timeout_ms) does
 * not run while paused. paused 0: delivery resumes from a later loop
 * iteration (never inside this call), reading restarts and the body
 * timeout starts afresh. May be called from on_request, on_body or any
 * later callback; a no-op after on_body_end, after abort and after
 * release. While paused the server does not read, so it cannot see the
 * client go away: an abort of a paused upload is seen when reading resumes
 * or when a response write fails (a stop's drain timeout bounds it too).
 * Releasing a paused request resumes reading: the rest of the body is
 * read and discarded, as for any request released before its body ended. */
void isl_http_req_pause_body(isl_http_req_t *req, int paused);

/* ---- responses ----------------------------------------------------------------
 * All return 0, ISL_EINVAL on misuse (wrong order, bad status, more bytes
 * than content_length), or 0 doing nothing when the request was aborted.
 * ISL_ENOMEM: the host is out of memory; the exchange fails (503 if
 * nothing was sent, else a reset; on_abort comes on a later tick) and
 * further res_* calls on req are no-ops.
 */

/* headers (n of them) are copied. content_length -1 = chunked transfer
 * encoding (HTTP/1.0 client: close-delimited). The server adds Date and
 * Connection (and Content-Length / Transfer-Encoding) itself and drops any
 * of those the handler passed. HEAD requests and 204/304 responses get no
 * body bytes on the wire (writes are accepted and dropped). status 200..999;
 * reason NULL = the standard one. */
int isl_http_res_start(isl_http_req_t *req, int status, const char *reason, const isl_http_header_t *headers, size_t n,
                       int64_t content_length);
/* Copies data; may be called many times (streaming). */
int isl_http_res_write(isl_http_req_t *req, const void *data, size_t len);
/* Ends the response. If fewer bytes than content_length were written, the
 * connection is closed after them. */
int isl_http_res_end(isl_http_req_t *req);
/* The whole response in one call: start with Content-Length body_len,
 * the body (copied; dropped for HEAD, 204 and 304) and end, handed to the
 * socket as one write. Same rules and results as start + write + end. */
int isl_http_res_whole(isl_http_req_t *req, int status, const char *reason, const isl_http_header_t *headers, size_t n,
                       const void *body, size_t body_len);
/* Convenience: start + write + end with a text body; content_type NULL =
 * "text/plain; charset=utf-8". */
int isl_http_res_simple(isl_http_req_t *req, int status, const char *content_type, const char *body);

/* The standard reason phrase of status ("Not Found"), or "Unknown". */
const char *isl_http_status_reason(int status);

#endif
