/*
 * fetch.h - the contract of src/fetch: the HTTP client behind a worker's
 * fetch(). No JavaScript here.
 *
 * One client per uv loop (thread). It drives libcurl's multi interface from
 * that loop: curl tells us which sockets to watch (uv_poll_t) and when to
 * wake it (one uv_timer_t); we never block the loop and start no thread per
 * request. (curl's threaded resolver runs a short-lived thread per DNS
 * lookup of a host name; IP literals need none.) Many subrequests share the
 * client, its connection cache and its DNS cache.
 *
 * Every connection is checked against the fetch's policy on the address it
 * actually resolved to, also after redirects and when a cached connection
 * is reused; only http and https URLs are fetched; no proxies from the
 * environment, no cookies, no signals. Bodies stream both ways without
 * being buffered whole: the request body is given whole and copied, or
 * written piece by piece (body_stream, isl_fetch_body_write).
 *
 * Loops: a subrequest can carry its hop count in a CDN-Loop header
 * (RFC 8586, "isolde; loops=N"); isl_fetch_hops_parse reads it back from
 * a request that arrives. Enforcing the limit is the caller's (runtime).
 *
 * libcurl is not linked: it is loaded (dlopen) by the first isl_fetch_start
 * of the process, or earlier by isl_fetch_preload, so a process that never
 * fetches never pays for loading it (~3.5 ms of CPU, ~30 libraries). If it
 * cannot be loaded, isl_fetch_start fails with ISL_ESYS and says why.
 *
 * What it does not do: content decoding (bytes come as the origin sent
 * them: no Accept-Encoding is added and Content-Encoding is left alone),
 * caching, cookies, HTTP/3. See docs/fetch.md.
 *
 * Threads: everything is called on the client's loop thread; every callback
 * runs there, never from inside isl_fetch_start / isl_fetch_pause /
 * isl_fetch_abort / isl_fetch_body_write / isl_fetch_body_end.
 * isl_fetch_preload is the exception: any thread.
 */
#ifndef ISL_FETCH_H
#define ISL_FETCH_H

#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "common/err.h"
#include "http/http.h"

/* ---- tunables (0 in a request means these) -------------------------------- */
#ifndef ISL_FETCH_TIMEOUT_MS
#define ISL_FETCH_TIMEOUT_MS 30000u
#endif
#ifndef ISL_FETCH_MAX_HEADER_BYTES
#define ISL_FETCH_MAX_HEADER_BYTES (64u << 10)
#endif
#ifndef ISL_FETCH_MAX_REDIRECTS
#define ISL_FETCH_MAX_REDIRECTS 20
#endif
/* Hops a request may make through Isolde hosts (worker fetch() or a route
 * passed to its origin, each adds one): a subrequest that would be hop
 * ISL_FETCH_MAX_HOPS + 1 is refused by its sender, and a request that
 * arrives with more is refused (508) by its receiver. */
#ifndef ISL_FETCH_MAX_HOPS
#define ISL_FETCH_MAX_HOPS 16
#endif

/* ---- error kinds (on_done's err) -----------------------------------------------
 * Besides these: UV_ECONNREFUSED (nothing listens there), UV_ETIMEDOUT
 * (timeout_ms passed), ISL_ENOMEM. Isolde's own codes in src/common/err.h
 * use -4001..; fetch's use -4101.. so they never collide.
 */
#define ISL_FETCH_ERRNO_MAP(X)                                                        \
  X(EDNS, -4101, "DNS lookup failed")                                                 \
  X(ETLS, -4102, "TLS handshake or certificate check failed")                         \
  X(EBLOCKED, -4103, "blocked by the fetch policy")                                   \
  X(EREDIRECT, -4104, "redirect not followed (too many, or redirect mode \"error\")") \
  X(EPROTO, -4105, "invalid or oversized response from the origin")                   \
  X(ENET, -4106, "connection failed or was reset")

typedef enum {
#define ISL_FETCH_ERR_ENUM(name, value, msg) ISL_FETCH_##name = (value),
  ISL_FETCH_ERRNO_MAP(ISL_FETCH_ERR_ENUM)
#undef ISL_FETCH_ERR_ENUM
} isl_fetch_errno_t;

/* A fetch code's message ("DNS lookup failed"); other codes go to
 * isl_strerror / uv_strerror. Static strings. */
const char *isl_fetch_strerror(int code);
/* "ISL_FETCH_EDNS", "UV_ETIMEDOUT", ... (static). */
const char *isl_fetch_err_name(int code);

/* ---- types ------------------------------------------------------------------------ */

typedef struct isl_fetch_client_s isl_fetch_client_t; /* one per uv loop */
typedef struct isl_fetch_s isl_fetch_t;               /* one subrequest */

/* Who may be connected to. Copied by isl_fetch_start; NULL = all zero:
 * public addresses only. "Private" below means loopback, private,
 * link-local, unspecified and other non-public ranges, and also any
 * address of this machine itself (one of its interfaces' addresses, or
 * any other the kernel would deliver locally), whatever its range. */
typedef struct {
  /* 1 = private addresses allowed (all but denied_ports) */
  int allow_private;
  /* "http://127.0.0.1:9000" (scheme://host[:port], default port if none):
   * connections for URLs of exactly this origin are allowed even to a
   * private address. Checked on every hop: a redirect from an allowed
   * origin to another private one is refused. Borrowed for the call. */
  const char *const *allowed_origins;
  size_t n_allowed;
  /* e.g. the admin port: refused on every address, whatever else says. */
  const int *denied_ports;
  size_t n_denied_ports;
} isl_fetch_policy_t;

enum { ISL_FETCH_REDIRECT_FOLLOW = 0, ISL_FETCH_REDIRECT_MANUAL = 1, ISL_FETCH_REDIRECT_ERROR = 2 };

typedef struct {
  const char *method, *url; /* borrowed for the call; method NULL = "GET" */
  /* Borrowed for the call. Hop-by-hop and framing headers (Connection,
   * Keep-Alive, Transfer-Encoding, TE, Trailer, Upgrade, Content-Length,
   * Proxy-*, Host, Expect) are dropped: the URL and curl frame the request. */
  const isl_http_header_t *headers;
  size_t n_headers;
  /* The whole request body (may be NULL/0); copied. Not allowed with GET
   * or HEAD (ISL_EINVAL). POST/PUT/PATCH without one send Content-Length 0.
   * Must be NULL/0 with body_stream. */
  const void *body;
  size_t body_len;
  /* 1 = the body is not given up front: the caller writes it with
   * isl_fetch_body_write and ends it with isl_fetch_body_end, while the
   * request is under way (ISL_EINVAL with GET or HEAD). */
  int body_stream;
  /* With body_stream: the body's length if known (sent as Content-Length;
   * a stream that ends with a different count fails the fetch and the
   * origin sees an incomplete upload), or -1 = unknown (HTTP/1.1 chunked).
   * Ignored without body_stream. */
  int64_t body_stream_length;
  /* ISL_FETCH_REDIRECT_FOLLOW (at most ISL_FETCH_MAX_REDIRECTS; 301/302/303
   * turn POST into GET) | _MANUAL (3xx returned as is) | _ERROR (a 3xx with
   * Location -> ISL_FETCH_EREDIRECT) */
  int redirect;
  /* The longest time without progress (connecting, a header line, a body
   * chunk, upload bytes taken); time the caller keeps the fetch paused
   * (isl_fetch_pause, or an upload waiting for isl_fetch_body_write) does
   * not count, and there is no cap on the whole exchange, so a long body
   * streamed to a slow client is not cut. 0 = ISL_FETCH_TIMEOUT_MS. */
  uint32_t timeout_ms;
  /* Cap on one response head (status line + headers); over ->
   * ISL_FETCH_EPROTO; 0 = ISL_FETCH_MAX_HEADER_BYTES. */
  size_t max_header_bytes;
  /* This subrequest's hop count: 0 = none is sent; N > 0 = the header
   * "CDN-Loop: isolde; loops=N" is sent after the caller's headers, on
   * every hop. CDN-Loop headers among `headers` are kept as they are
   * (other CDNs' entries): they can only raise the count the receiver
   * reads (isl_fetch_hops_parse takes the largest), never lower it. The
   * limit (ISL_FETCH_MAX_HOPS) is the caller's to enforce. */
  unsigned hops;
} isl_fetch_request_t;

typedef struct {
  /* The final response's head (after redirects, if followed), once, as soon
   * as it has arrived. status_text is the reason phrase as sent ("" on
   * HTTP/2); headers in arrival order, repeated ones kept (two Set-Cookie
   * are two entries), names and values NUL-terminated; all borrowed for the
   * call. May be NULL. */
  void (*on_response)(isl_fetch_t *f, int status, const char *status_text, const isl_http_header_t *headers, size_t n,
                      const char *final_url);
  /* Body bytes as they arrive, de-chunked but not content-decoded. Borrowed
   * for the call. Not called while paused. May be NULL. */
  void (*on_body)(isl_fetch_t *f, const char *data, size_t len);
  /* Exactly once per fetch unless isl_fetch_abort (or client free) came
   * first; f is freed when it returns. err 0 = complete (on_response has been
   * called), else a code above and msg in words a worker author understands:
   * "connection refused by 127.0.0.1:9", "DNS lookup of nosuch.invalid
   * failed", "timed out after 100 ms", "blocked: 10.0.0.1 is a private
   * address (allow its origin with allow_origins)". msg borrowed. */
  void (*on_done)(isl_fetch_t *f, int err, const char *msg);
  void *data;
  /* body_stream only: the upload queue has room again after an
   * isl_fetch_body_write that returned 1 (once per such write, from a later
   * loop callback, never inside isl_fetch_body_write). f's functions may be
   * called from it. May be NULL (the caller then paces itself). Last: a
   * positional initialiser gives it fifth, NULL if unused
   * ({on_response, on_body, on_done, data, NULL}). */
  void (*on_body_drain)(isl_fetch_t *f);
} isl_fetch_callbacks_t;

/* ---- loop detection (hops.c) -------------------------------------------------------
 * Each subrequest an Isolde host sends carries its hop count in the
 * standard CDN-Loop header (RFC 8586): "CDN-Loop: isolde; loops=N". The
 * host that receives a request reads N back with isl_fetch_hops_parse and
 * sends N + 1 on the subrequests made for it. See docs/fetch.md for why a
 * client that sets the header itself can neither reset a loop's count nor
 * make anyone's request but its own fail. */
#define ISL_FETCH_LOOP_HEADER "CDN-Loop"
#define ISL_FETCH_LOOP_ID "isolde"
/* Never returned larger than this (a huge loops=N cannot overflow N + 1). */
#define ISL_FETCH_HOPS_CAP 1000000u

/* The hop count in one CDN-Loop header value (value[0..len), borrowed):
 * the largest of its "isolde" entries (loops=N, or 1 for an entry without
 * a valid loops parameter), 0 if it has none. Errs only upwards: entries
 * are looked for after every comma, even inside a quoted string, so that
 * nothing written before Isolde's own entry can hide it. */
unsigned isl_fetch_hops_parse(const char *value, size_t len);

/* ---- loading libcurl ------------------------------------------------------------------ */

/* Loads libcurl and initialises it now instead of on the first
 * isl_fetch_start (which then finds it loaded). Once per process: later and
 * concurrent calls wait for the first and return its result. Any thread;
 * it takes ~3.5 ms of CPU, so a server calls it off its loops once it
 * listens, e.g. from a uv_queue_work callback or a detached thread. 0, or
 * ISL_ESYS with err (may be NULL) saying why ("fetch: cannot load libcurl:
 * libcurl.so.4: cannot open shared object file: ..."). Optional: nothing
 * else depends on it. */
int isl_fetch_preload(isl_err_t *err);

/* ---- the client --------------------------------------------------------------------- */

/* *out is owned: isl_fetch_client_free. Does not load libcurl (the first
 * isl_fetch_start on it does). Returns 0 or ISL_ENOMEM. */
int isl_fetch_client_new(uv_loop_t *loop, isl_fetch_client_t **out);
/* Aborts everything in flight (no callbacks), closes its uv handles; the
 * memory is released once they are closed (the loop must run on). Not from
 * inside a fetch callback. NULL is allowed. */
void isl_fetch_client_free(isl_fetch_client_t *c);
/* Fetches in flight (started, on_done not yet called, not aborted). */
size_t isl_fetch_client_active(const isl_fetch_client_t *c);

/* ---- fetches ------------------------------------------------------------------------ */

/* Starts a subrequest. req, policy (NULL = public addresses only) and cb are
 * copied. *out (may be NULL) is valid until on_done returns or
 * isl_fetch_abort. Returns 0, or ISL_EINVAL (bad method, URL, scheme other
 * than http/https, header with CR/LF, body on GET/HEAD), ISL_ENOMEM or
 * ISL_ESYS (libcurl cannot be loaded) with err filled; then no callback is
 * called. The first call of the process loads libcurl (isl_fetch_preload)
 * unless that was done before. May be called from a callback. */
int isl_fetch_start(isl_fetch_client_t *c, const isl_fetch_request_t *req, const isl_fetch_policy_t *policy,
                    const isl_fetch_callbacks_t *cb, isl_fetch_t **out, isl_err_t *err);
/* No callback after this returns; frees f (at once, or once curl lets go
 * of it). Safe from inside a callback, also of f itself (not on_done). */
void isl_fetch_abort(isl_fetch_t *f);
/* paused 1: no on_body after this returns, and curl stops reading the
 * socket once its buffer is full (back-pressure). paused 0: delivery
 * resumes from a later loop iteration, never inside this call. */
void isl_fetch_pause(isl_fetch_t *f, int paused);
/* cb->data */
void *isl_fetch_data(isl_fetch_t *f);

/* ---- streamed request bodies (isl_fetch_request_t.body_stream) -----------------------
 * The caller writes the body while the request is under way; curl takes
 * it from a queue as the origin reads it. A write is never refused for
 * being over the bound: pacing is the caller's, by the return value and
 * on_body_drain (as with the http server's writes). A body cannot be sent
 * twice: in FOLLOW mode a redirect that would send it again (307, 308, any
 * 3xx but 301/302/303) fails the fetch with ISL_FETCH_EREDIRECT ("cannot
 * follow a 307 redirect from URL with a streamed request body ..."), and
 * 301/302/303, which turn it into a GET, are followed. A body that cannot
 * be sent whole is never ended as if it were: with a known length, its
 * last byte is held back until isl_fetch_body_end(f, 0), and a chunked
 * body's last chunk is only sent then. timeout_ms counts the upload too. */

/* Bytes queued per fetch at which isl_fetch_body_write asks the caller to
 * wait for on_body_drain. */
#ifndef ISL_FETCH_UPLOAD_QUEUE
#define ISL_FETCH_UPLOAD_QUEUE (256u << 10)
#endif

/* Copies data[0..len) into f's upload queue. Returns 0 (taken, room for
 * more), 1 (taken, but the queue now holds ISL_FETCH_UPLOAD_QUEUE bytes or
 * more: write again once on_body_drain has been called), or ISL_EINVAL
 * (nothing taken: not a body_stream fetch, the body was ended, or it would
 * go past body_stream_length). ISL_ENOMEM if the copy cannot be made. Any
 * time before on_done, also from inside f's callbacks; it calls none. */
int isl_fetch_body_write(isl_fetch_t *f, const void *data, size_t len);
/* Ends f's streamed body. err 0: the body is complete (the origin gets its
 * end once the queue has been sent); with a known length, fewer bytes than
 * body_stream_length count as err != 0. err != 0: the body cannot be
 * delivered whole: the upload is aborted (the connection is closed short
 * of the Content-Length, or before a chunked body's last chunk), and the
 * fetch ends with on_done(ISL_FETCH_ENET, "the request body could not be
 * sent whole: ...") unless it has ended or is aborted first. Calls no
 * callback; later calls are ignored. */
void isl_fetch_body_end(isl_fetch_t *f, int err);

#endif
