/*
 * conn.c - one HTTP/1.1 connection: reading, parsing with llhttp, handing
 * requests to the handler, writing responses, limits and timeouts.
 *
 * Framing is strict, so that a proxy in front and this server can never
 * disagree on where a request ends (request smuggling): llhttp is built in
 * its strict mode (CRLF after chunk data, LF after every CR, no lenient
 * flag), and a small line scanner checks the head and the trailers before
 * llhttp sees them (no bare LF, no lone CR, max_header_bytes on the wire).
 * Any fault is a 400 and a close, never a second reading of the bytes.
 *
 * A connection has one parser and at most one exchange in progress
 * (c->cur). The parser is paused at the end of every message and resumed
 * only once that exchange's response has ended, so pipelined requests are
 * handed over strictly one at a time and answered in order; bytes read
 * meanwhile wait in c->pend (up to ISL_HTTP_MAX_PENDING_INPUT, then reading
 * stops). When a response ends outside the parser (from a timer, say), the
 * next request is parsed on a zero-delay timer rather than inside
 * isl_http_res_end, so the handler is never re-entered from its own call.
 *
 * Output is bounded too: when an exchange ends while cfg.max_queued_responses
 * answers or cfg.max_pending_output bytes wait for a client that does not
 * read (a pipeline sent and never read), the parser stays paused and reading
 * stops (out_blocked) until the write callbacks see both drained to half.
 * Writes go out with uv_try_write first, so only what the socket refuses is
 * queued and counted. A queued block of a request charged to an account
 * (a tenant, isl_http_req_set_account) is counted there too, whole, until
 * its write callback (or its cancellation) comes; isl_http_req_write_state
 * tells the handler to wait while the connection or the account is full.
 *
 * A handler told to wait does not poll: isl_http_req_on_drain registers a
 * one-shot callback on the loop's drain_wait list, called from the loop's
 * wake_timer once the connection is down to half of max_pending_output
 * and the account under its bound, or the client is gone. Write
 * completions, aborts and closes start wake_timer at once; while a waiter
 * is blocked on its account (which other loops' writes drain) it also
 * runs every ISL_HTTP_ACCOUNT_RECHECK_MS. isl_http_req_pause_body holds a
 * request body back: on_body / on_headers_complete return HPE_PAUSED so
 * llhttp stops where it is, reading stops, the body timer is off, and
 * on_body_resume (on the connection timer, next tick) resumes it all.
 *
 * The Host header and the request target are checked before the handler
 * sees a request (check_host_and_target): one Host, exactly host[:port],
 * and an absolute-form target only if it names that Host, handed over in
 * origin form (OPTIONS * is a 501), so that routing by Host and path and a
 * URL built from Host and target can never name two different hosts.
 *
 * One timer per connection serves whichever deadline applies to its state:
 * header timeout (HEADERS), body stall (BODY), keep-alive idle (IDLE),
 * linger (LINGER); none runs while the handler owns the exchange.
 *
 * Responses are framed here (Content-Length, chunked, or close-delimited for
 * HTTP/1.0) and every write is a uv_write of a freshly allocated block, so
 * the handler may write from any callback of the loop. Error responses
 * (400, 408, 413, 414, 431, 501, 503, 505) are canned, carry Connection: close,
 * and are followed by a lingering close: shut down the write side, then
 * read and discard until the client closes or ISL_HTTP_LINGER_MS passes, so
 * unread request bytes never turn the close into a reset that would destroy
 * the response.
 *
 * Requests live until both the handler has released them and their bytes
 * are on the wire (or cancelled); a request may outlive its connection, in
 * which case its conn pointer is NULL and res_* calls are no-ops.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "common/alloc.h"
#include "http/internal.h"

#define SRV(c) ((c)->loop->srv)

/* ---- private prototypes --------------------------------------------------------- */
static void conn_close(isl_http_conn_t *c);
static void conn_close_how(isl_http_conn_t *c, int reset);
static void conn_doomed(isl_http_conn_t *c);
static void conn_linger(isl_http_conn_t *c);
static void conn_fail(isl_http_conn_t *c, int status, const char *msg);
static void conn_drain_pending(isl_http_conn_t *c);
static void conn_out_check(isl_http_conn_t *c);
static void conn_maybe_resume(isl_http_conn_t *c);
static void on_timeout(uv_timer_t *t);
static void req_maybe_free(isl_http_reqi_t *r);
static void loop_wake_soon(isl_http_loopi_t *l);
static void drain_unlink(isl_http_reqi_t *r);
static int conn_has_drain_waiter(const isl_http_conn_t *c);
static int token_ok(const char *s, size_t len);
static int header_is(const isl_http_header_t *h, const char *name);

/* ---- helpers ------------------------------------------------------------------------ */

const char *isl_http_status_reason(int status) {
  switch (status) {
    case 100:
      return "Continue";
    case 101:
      return "Switching Protocols";
    case 200:
      return "OK";
    case 201:
      return "Created";
    case 202:
      return "Accepted";
    case 203:
      return "Non-Authoritative Information";
    case 204:
      return "No Content";
    case 205:
      return "Reset Content";
    case 206:
      return "Partial Content";
    case 300:
      return "Multiple Choices";
    case 301:
      return "Moved Permanently";
    case 302:
      return "Found";
    case 303:
      return "See Other";
    case 304:
      return "Not Modified";
    case 307:
      return "Temporary Redirect";
    case 308:
      return "Permanent Redirect";
    case 400:
      return "Bad Request";
    case 401:
      return "Unauthorized";
    case 402:
      return "Payment Required";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 406:
      return "Not Acceptable";
    case 408:
      return "Request Timeout";
    case 409:
      return "Conflict";
    case 410:
      return "Gone";
    case 411:
      return "Length Required";
    case 412:
      return "Precondition Failed";
    case 413:
      return "Content Too Large";
    case 414:
      return "URI Too Long";
    case 415:
      return "Unsupported Media Type";
    case 416:
      return "Range Not Satisfiable";
    case 417:
      return "Expectation Failed";
    case 422:
      return "Unprocessable Content";
    case 426:
      return "Upgrade Required";
    case 428:
      return "Precondition Required";
    case 429:
      return "Too Many Requests";
    case 431:
      return "Request Header Fields Too Large";
    case 451:
      return "Unavailable For Legal Reasons";
    case 500:
      return "Internal Server Error";
    case 501:
      return "Not Implemented";
    case 502:
      return "Bad Gateway";
    case 503:
      return "Service Unavailable";
    case 504:
      return "Gateway Timeout";
    case 505:
      return "HTTP Version Not Supported";
    default:
      return "Unknown";
  }
}

/* "Date: Sun, 06 Nov 1994 08:49:37 GMT\r\n", cached per loop for a second. */
static const char *loop_date(isl_http_loopi_t *l) {
  static const char days[7][4] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
  static const char months[12][4] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                     "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  time_t now = time(NULL);
  if ((int64_t)now != l->date_sec) {
    struct tm tm;
    gmtime_r(&now, &tm);
    snprintf(l->date, sizeof(l->date), "Date: %s, %02d %s %04d %02d:%02d:%02d GMT\r\n", days[tm.tm_wday % 7],
             tm.tm_mday, months[tm.tm_mon % 12], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
    l->date_sec = (int64_t)now;
  }
  return l->date;
}

static void timer_set(isl_http_conn_t *c, uint32_t ms) {
  if (ms) uv_timer_start(&c->timer, on_timeout, c->doomed ? 0 : ms, 0);
}

static void read_stop(isl_http_conn_t *c) {
  if (!c->reading) return;
  uv_read_stop((uv_stream_t *)&c->tcp);
  c->reading = 0;
}

/* ---- writing ----------------------------------------------------------------------- */

typedef struct {
  uv_write_t w;
  isl_http_conn_t *c;
  isl_http_reqi_t *r;       /* NULL for canned responses */
  isl_http_account_t *acct; /* charged acct_len bytes while queued, or NULL */
  size_t len;               /* bytes still to write */
  size_t acct_len;          /* the whole write, of which this block is the rest */
  char data[];
} wblock_t;

static void on_write(uv_write_t *w, int status) {
  wblock_t *b = (wblock_t *)w;
  isl_http_conn_t *c = b->c;
  isl_http_reqi_t *r = b->r;
  isl_http_account_t *acct = b->acct;
  c->writes--;
  c->pending_bytes -= b->len;
  if (acct) atomic_fetch_sub(&acct->bytes, b->acct_len);
  free(b);
  /* Drain callbacks: this connection's waiter once it is down to half of
   * max_pending_output, and the loop's account-blocked waiters once this
   * account is under its bound (they run from wake_timer, next turn). */
  isl_http_loopi_t *l = c->loop;
  if (l->drain_wait) {
    const isl_http_config_t *cfg = &l->srv->cfg;
    if ((c->pending_bytes <= cfg->max_pending_output / 2 && conn_has_drain_waiter(c)) ||
        (acct && l->acct_blocked && atomic_load(&acct->bytes) < cfg->max_account_output))
      loop_wake_soon(l);
  }
  if (r) {
    r->writes--;
    if (r->out_queued && !r->writes) {
      r->out_queued = 0;
      c->answers_queued--;
    }
    req_maybe_free(r);
  }
  if (status < 0) {
    if (c->state != ISL_HTTP_CONN_CLOSED) conn_close(c);
    return;
  }
  conn_out_check(c);
}

static void on_kill_soon(uv_timer_t *t) {
  conn_doomed(t->data);
}

/* Every timer callback first checks this: a doomed connection (a write
 * failed, or an allocation did) closes on the next tick whatever deadline
 * was set since. */
#define DOOMED_CHECK(c) \
  do {                  \
    if ((c)->doomed) {  \
      conn_doomed(c);   \
      return;           \
    }                   \
  } while (0)

/* A write or an allocation failed: close (how: ISL_HTTP_DOOM_*), but not
 * from inside the handler's own call; on the next tick. The strongest of
 * two dooms wins. */
static void conn_doom(isl_http_conn_t *c, int how) {
  if (c->state == ISL_HTTP_CONN_CLOSED) return;
  if (how > c->doomed) c->doomed = how;
  uv_timer_start(&c->timer, on_kill_soon, 0, 0);
  loop_wake_soon(c->loop); /* write_state is -1 now */
}

/* The timer stops, unless the connection is doomed: then it fires now. */
static void timer_off(isl_http_conn_t *c) {
  if (c->doomed) {
    uv_timer_start(&c->timer, on_kill_soon, 0, 0);
  } else {
    uv_timer_stop(&c->timer);
  }
}

/* Sends the bytes of bufs (the caller's memory) on c. What the socket
 * takes at once is written now (uv_try_write, which refuses while earlier
 * writes wait, so the order holds); only the rest is copied into a block
 * and queued with uv_write: so pending_bytes, r->writes and answers_queued
 * count exactly what waits for a slow reader, and a client that reads
 * costs no copy and no allocation at all. If the block cannot be
 * allocated the connection is doomed: with `fresh` (the bytes begin a
 * response, nothing of which is on the wire) and nothing written, to a 503
 * (ISL_HTTP_DOOM_503), else to a reset, since the bytes already sent are a
 * cut message; returns ISL_ENOMEM then, else 0. */
static int conn_send(isl_http_conn_t *c, isl_http_reqi_t *r, const uv_buf_t *bufs, unsigned nbufs, int fresh) {
  if (c->state == ISL_HTTP_CONN_CLOSED || c->shut || c->doomed) return 0;
  size_t len = 0;
  for (unsigned i = 0; i < nbufs; i++) len += bufs[i].len;
  if (len == 0) return 0;
  int n = uv_try_write((uv_stream_t *)&c->tcp, bufs, nbufs);
  if (n < 0 && n != UV_EAGAIN) {
    conn_doom(c, ISL_HTTP_DOOM_CLOSE);
    return 0;
  }
  size_t done = n > 0 ? (size_t)n : 0;
  if (done >= len) return 0;
  wblock_t *b = isl_malloc(sizeof(wblock_t) + (len - done));
  if (!b) {
    if (fresh && !done) {
      /* Nothing of r's response is on the wire: as far as the client can
       * tell it has not started, and the 503 takes its place. */
      if (r) r->res = ISL_HTTP_RES_NONE;
      conn_doom(c, ISL_HTTP_DOOM_503);
    } else {
      conn_doom(c, ISL_HTTP_DOOM_RESET);
    }
    return ISL_ENOMEM;
  }
  char *p = b->data;
  size_t skip = done;
  for (unsigned i = 0; i < nbufs; i++) {
    size_t k = bufs[i].len;
    if (skip >= k) {
      skip -= k;
      continue;
    }
    memcpy(p, bufs[i].base + skip, k - skip);
    p += k - skip;
    skip = 0;
  }
  b->c = c;
  b->r = r;
  b->acct = NULL;
  b->len = len - done;
  uv_buf_t buf = uv_buf_init(b->data, (unsigned)b->len);
  if (uv_write(&b->w, (uv_stream_t *)&c->tcp, &buf, 1, on_write) != 0) {
    free(b);
    conn_doom(c, ISL_HTTP_DOOM_CLOSE);
    return 0;
  }
  c->writes++;
  c->pending_bytes += b->len;
  if (r) r->writes++;
  /* The account is charged the whole write while any of it waits (as
   * when every write was copied whole), though the block holds the rest. */
  if (r && r->acct) {
    b->acct = r->acct;
    b->acct_len = len;
    atomic_fetch_add(&b->acct->bytes, len);
  }
  return 0;
}

static int conn_send_copy(isl_http_conn_t *c, const char *s, size_t len, int fresh) {
  uv_buf_t buf = uv_buf_init((char *)s, (unsigned)len);
  return conn_send(c, NULL, &buf, 1, fresh);
}

/* A canned response with Connection: close. */
static void conn_send_error(isl_http_conn_t *c, int status, const char *msg) {
  char buf[512];
  int n = snprintf(buf, sizeof(buf),
                   "HTTP/1.1 %d %s\r\n%sContent-Type: text/plain; charset=utf-8\r\nContent-Length: %zu\r\n"
                   "Connection: close\r\n\r\n%s\n",
                   status, isl_http_status_reason(status), loop_date(c->loop), strlen(msg) + 1, msg);
  if (n > 0) conn_send_copy(c, buf, (size_t)n < sizeof(buf) ? (size_t)n : sizeof(buf) - 1, 1);
}

/* ---- requests ----------------------------------------------------------------------- */

/* NULL if out of memory. */
static isl_http_reqi_t *req_new(isl_http_conn_t *c) {
  isl_http_reqi_t *r = isl_calloc(1, sizeof(*r));
  if (!r) return NULL;
  isl_http_loopi_t *l = c->loop;
  r->loop = l;
  r->conn = c;
  memcpy(r->remote, c->remote, sizeof(r->remote));
  r->lnext = l->reqs;
  if (l->reqs) l->reqs->lprev = r;
  l->reqs = r;
  r->cnext = c->reqs;
  if (c->reqs) c->reqs->cprev = r;
  c->reqs = r;
  r->method = "";
  r->res_length = -1;
  return r;
}

static void req_unlink_conn(isl_http_reqi_t *r) {
  isl_http_conn_t *c = r->conn;
  if (!c) return;
  if (r->cprev) {
    r->cprev->cnext = r->cnext;
  } else {
    c->reqs = r->cnext;
  }
  if (r->cnext) r->cnext->cprev = r->cprev;
  r->cprev = r->cnext = NULL;
  if (c->cur == r) c->cur = NULL;
  r->conn = NULL;
}

void isl_http__req_free(isl_http_reqi_t *r) {
  isl_http_loopi_t *l = r->loop;
  drain_unlink(r);
  req_unlink_conn(r);
  if (r->lprev) {
    r->lprev->lnext = r->lnext;
  } else {
    l->reqs = r->lnext;
  }
  if (r->lnext) r->lnext->lprev = r->lprev;
  free(r->hbuf);
  free(r->offs);
  free(r->headers);
  free(r);
}

static void req_maybe_free(isl_http_reqi_t *r) {
  if (!r->released || r->writes || r->parsing || r->cb_depth) return;
  if (r->conn && r->conn->cur == r) return;
  isl_http__req_free(r);
}

/* The handler's callbacks, guarded so that a release inside cannot free r
 * under our feet. */
#define CALL_HANDLER(r, cb, ...)                       \
  do {                                                 \
    const isl_http_handler_t *h_ = &(r)->loop->srv->h; \
    if (h_->cb) {                                      \
      (r)->cb_depth++;                                 \
      h_->cb(__VA_ARGS__);                             \
      (r)->cb_depth--;                                 \
    }                                                  \
  } while (0)

/* The exchange is over for the handler (client gone or a limit tripped):
 * on_abort once if it was handed over and not finished. */
static void req_abort(isl_http_reqi_t *r) {
  if (r->aborted) return;
  int finished = r->body_done && r->res == ISL_HTTP_RES_ENDED;
  r->aborted = 1;
  if (r->handed && !finished && !r->released) CALL_HANDLER(r, on_abort, &r->pub);
  /* A drain callback still pending comes after on_abort, with state -1,
   * from wake_timer (unless on_abort released or cancelled it). */
  if (r->drain_list) loop_wake_soon(r->loop);
}

/* Appends len bytes to the header buffer: 0, or -1 if out of memory. */
static int hbuf_put(isl_http_reqi_t *r, const char *s, size_t len) {
  if (r->hlen + len + 1 > r->hcap) {
    size_t cap = r->hcap ? r->hcap : 256;
    while (cap < r->hlen + len + 1) cap *= 2;
    char *p = isl_realloc(r->hbuf, cap);
    if (!p) return -1;
    r->hbuf = p;
    r->hcap = cap;
  }
  memcpy(r->hbuf + r->hlen, s, len);
  r->hlen += len;
  return 0;
}

static int hbuf_end_token(isl_http_reqi_t *r) {
  return hbuf_put(r, "", 1); /* NUL */
}

/* If the exchange is complete (request read, response ended), the
 * connection may move on. The caller then calls req_maybe_free(r). */
static void exchange_check(isl_http_reqi_t *r) {
  isl_http_conn_t *c = r->conn;
  if (!c || c->cur != r || !r->body_done || r->res != ISL_HTTP_RES_ENDED) return;
  c->cur = NULL;
}

/* ---- the line scanner ------------------------------------------------------------------- */

/* llhttp, even strict, still takes a bare LF as a line end in two places:
 * after the request line and as the empty line that ends the head or the
 * trailers ("0\r\n\nGET /x ..." is a whole request and a second one to it,
 * where a proxy that wants CRLF sees one request). So the head and the
 * trailer section go through this scanner before the parser sees them:
 * every CR must be followed by LF and every LF must follow a CR (neither
 * can occur inside a line of a valid head), and the section must fit in
 * max_header_bytes, counted on the wire. The scanner finds the section's
 * end (the first empty line after a non-empty one, or the first empty line
 * of trailers) the way llhttp does, then lets the rest through unscanned:
 * chunk framing is llhttp's (strict mode), and bodies are data. Returns the
 * bytes of data the parser may have: all of len, or fewer, with *status
 * and *why set for the byte at that offset. */
static size_t scan_lines(isl_http_conn_t *c, const char *data, size_t len, int *status, const char **why) {
  size_t max = SRV(c)->cfg.max_header_bytes;
  for (size_t i = 0; i < len; i++) {
    if (c->scan_mode == ISL_HTTP_SCAN_BODY) return len;
    char ch = data[i];
    if (++c->head_bytes > max) {
      int request_line = c->scan_mode == ISL_HTTP_SCAN_HEAD && c->scan_lines == 0;
      *status = request_line ? 414 : 431;
      *why = request_line ? "request line too long" : "request header fields too large";
      return i;
    }
    if (c->scan_cr) {
      if (ch != '\n') {
        *status = 400;
        *why = "bad request: CR not followed by LF";
        return i;
      }
      c->scan_cr = 0;
      if (c->scan_line_len) {
        c->scan_lines++;
        c->scan_line_len = 0;
      } else if (c->scan_lines || c->scan_mode == ISL_HTTP_SCAN_TRAILERS) {
        /* The empty line that ends the section. (An empty line before the
         * request line is skipped, as llhttp does.) */
        c->scan_mode = ISL_HTTP_SCAN_BODY;
      }
    } else if (ch == '\r') {
      c->scan_cr = 1;
    } else if (ch == '\n') {
      *status = 400;
      *why = "bad request: LF without CR";
      return i;
    } else {
      c->scan_line_len++;
    }
  }
  return len;
}

/* The next bytes are a new request's head. */
static void scan_reset(isl_http_conn_t *c) {
  c->scan_mode = ISL_HTTP_SCAN_HEAD;
  c->scan_cr = 0;
  c->scan_lines = 0;
  c->scan_line_len = 0;
  c->head_bytes = 0;
}

/* ---- parser callbacks ----------------------------------------------------------------- */

/* What on_headers_complete and on_body return: HPE_PAUSED if the handler
 * has just paused the body (isl_http_req_pause_body), so that llhttp stops
 * right here and the rest of the bytes wait in c->pend; on_body_resume
 * resumes it. */
static int body_stop(isl_http_conn_t *c) {
  if (!c->body_paused) return 0;
  c->body_stopped = 1;
  return HPE_PAUSED;
}

/* A request that cannot be read into memory gets 503 and a close (as
 * common/alloc.h wants): the callback returns what this returns. No
 * handler has seen it yet. */
static int conn_oom_request(isl_http_conn_t *c) {
  conn_fail(c, 503, "service unavailable: the server is out of memory");
  return -1;
}

static int on_message_begin(llhttp_t *p) {
  isl_http_conn_t *c = p->data;
  if (c->state >= ISL_HTTP_CONN_LINGER) return -1;
  isl_http_reqi_t *r = req_new(c);
  if (!r) return conn_oom_request(c);
  r->parsing = 1;
  c->cur = r;
  if (c->state != ISL_HTTP_CONN_HEADERS) {
    c->state = ISL_HTTP_CONN_HEADERS;
    timer_set(c, SRV(c)->cfg.header_timeout_ms);
  }
  return 0;
}

/* The data callbacks below need no size check of their own: the scanner
 * has passed every byte of the head before llhttp sees it, so the header
 * buffer never outgrows max_header_bytes. */
static int on_url(llhttp_t *p, const char *at, size_t len) {
  isl_http_conn_t *c = p->data;
  isl_http_reqi_t *r = c->cur;
  if (c->state >= ISL_HTTP_CONN_LINGER || !r) return -1;
  r->last_cb = 1;
  if (hbuf_put(r, at, len) != 0) return conn_oom_request(c);
  r->url_len += len;
  return 0;
}

static int on_header_field(llhttp_t *p, const char *at, size_t len) {
  isl_http_conn_t *c = p->data;
  isl_http_reqi_t *r = c->cur;
  if (c->state >= ISL_HTTP_CONN_LINGER || !r) return -1;
  if (r->headers || r->handed) return 0; /* trailers: dropped (the scanner counts their bytes) */
  if (r->last_cb != 2) {
    if (hbuf_end_token(r) != 0) return conn_oom_request(c); /* the url or the previous value */
    if (r->n_headers >= ISL_HTTP_MAX_HEADERS) {
      conn_fail(c, 431, "too many request header fields");
      return -1;
    }
    if (r->n_headers == r->cap_headers) {
      size_t cap = r->cap_headers ? r->cap_headers * 2 : 16;
      void *offs = isl_realloc(r->offs, cap * sizeof(*r->offs));
      if (!offs) return conn_oom_request(c);
      r->offs = offs;
      r->cap_headers = cap;
    }
    r->offs[r->n_headers].name_off = r->hlen;
    r->offs[r->n_headers].name_len = 0;
    r->offs[r->n_headers].value_off = 0;
    r->offs[r->n_headers].value_len = 0;
    r->n_headers++;
    r->last_cb = 2;
  }
  if (hbuf_put(r, at, len) != 0) return conn_oom_request(c);
  r->offs[r->n_headers - 1].name_len += len;
  return 0;
}

static int on_header_value(llhttp_t *p, const char *at, size_t len) {
  isl_http_conn_t *c = p->data;
  isl_http_reqi_t *r = c->cur;
  if (c->state >= ISL_HTTP_CONN_LINGER || !r || r->n_headers == 0) return -1;
  if (r->headers || r->handed) return 0; /* trailers */
  if (r->last_cb != 3) {
    if (hbuf_end_token(r) != 0) return conn_oom_request(c); /* the name */
    r->offs[r->n_headers - 1].value_off = r->hlen;
    r->last_cb = 3;
  }
  if (hbuf_put(r, at, len) != 0) return conn_oom_request(c);
  r->offs[r->n_headers - 1].value_len += len;
  return 0;
}

/* Trims and compares a header value to a token, case-insensitively. */
static int value_is(const char *v, const char *token) {
  while (*v == ' ' || *v == '\t') v++;
  size_t n = strlen(token);
  if (strncasecmp(v, token, n) != 0) return 0;
  v += n;
  while (*v == ' ' || *v == '\t') v++;
  return *v == '\0';
}

/* ---- the Host header and the request target -------------------------------------------- */

/* The router picks a tenant by the Host header, and the worker reads its
 * host from request.url, which the URL parser makes of the same text: the
 * two must agree. So a Host (and the authority of an absolute-form target)
 * must be exactly host[:port] as RFC 3986 writes it, minus the two parts a
 * URL parser rewrites: "%61pi.test" becomes "api.test" and "2130706433",
 * "127.1" or "0x7f.0.0.1" become "127.0.0.1" for it, while the router
 * would match them as they are. No client sends either, so both are
 * refused, as is userinfo ("evil.test:1@victim.test": the router read the
 * host before the ':', the URL parser the one after the '@'). */

/* RFC 3986 IPv4address: four decimal octets, no leading zeros. */
static int ipv4_ok(const char *s, size_t n) {
  size_t i = 0;
  for (int part = 0; part < 4; part++) {
    if (part && (i >= n || s[i++] != '.')) return 0;
    size_t start = i;
    unsigned v = 0;
    while (i < n && i - start < 3 && s[i] >= '0' && s[i] <= '9') v = v * 10 + (unsigned)(s[i++] - '0');
    if (i == start || v > 255 || (i - start > 1 && s[start] == '0')) return 0;
  }
  return i == n;
}

/* 1 if a URL parser would read the name as a number (an IPv4 address in
 * one of its many spellings): the last label, after one trailing dot, is
 * all digits or 0x and hex digits. */
static int ends_in_number(const char *s, size_t n) {
  if (n && s[n - 1] == '.') n--;
  size_t start = n;
  while (start && s[start - 1] != '.') start--;
  const char *l = s + start;
  size_t ln = n - start;
  if (ln == 0) return 0;
  size_t i = 0;
  int hex = ln >= 2 && l[0] == '0' && (l[1] == 'x' || l[1] == 'X');
  if (hex) i = 2;
  for (; i < ln; i++) {
    char ch = l[i];
    int digit = ch >= '0' && ch <= '9';
    if (!digit && !(hex && ((ch >= 'a' && ch <= 'f') || (ch >= 'A' && ch <= 'F')))) return 0;
  }
  return 1;
}

/* reg-name: RFC 3986 unreserved and sub-delims (not pct-encoded, see
 * above), not empty; if it ends in a number, an IPv4address. */
static int reg_name_ok(const char *s, size_t n) {
  if (n == 0) return 0;
  for (size_t i = 0; i < n; i++) {
    unsigned char ch = (unsigned char)s[i];
    int alnum = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9');
    if (!alnum && (ch == 0 || !strchr("-._~!$&'()*+,;=", ch))) return 0;
  }
  if (ends_in_number(s, n)) return ipv4_ok(s, n) || (s[n - 1] == '.' && ipv4_ok(s, n - 1));
  return 1;
}

/* host [":" port]: host a reg-name, an IPv4 address or a bracketed IPv6
 * literal; port 1-5 digits up to 65535. */
static int authority_ok(const char *s, size_t n) {
  size_t hn;
  if (n && s[0] == '[') {
    const char *end = memchr(s, ']', n);
    char buf[INET6_ADDRSTRLEN];
    struct in6_addr a;
    if (!end) return 0;
    hn = (size_t)(end - s) + 1;
    if (hn - 2 == 0 || hn - 2 >= sizeof(buf)) return 0;
    memcpy(buf, s + 1, hn - 2);
    buf[hn - 2] = '\0';
    if (inet_pton(AF_INET6, buf, &a) != 1) return 0; /* no zone id, no IPvFuture */
  } else {
    const char *colon = memchr(s, ':', n);
    hn = colon ? (size_t)(colon - s) : n;
    if (!reg_name_ok(s, hn)) return 0; /* an IPv4 address is a reg-name too */
  }
  if (hn == n) return 1;
  if (s[hn] != ':' || n - hn - 1 == 0 || n - hn - 1 > 5) return 0;
  unsigned port = 0;
  for (size_t i = hn + 1; i < n; i++) {
    if (s[i] < '0' || s[i] > '9') return 0;
    port = port * 10 + (unsigned)(s[i] - '0');
  }
  return port <= 65535;
}

/* RFC 9112 3.2: one Host, required in HTTP/1.1, and a host[:port]; the
 * target in origin form or in absolute form naming the Host's authority,
 * which is then cut to its path and query in place, so the handler sees
 * one host and one path whatever form came. "OPTIONS *" asks about the
 * server as a whole, which no handler answers for (routed by its path it
 * went to whatever took unrouted requests, with the Host of another): 501.
 * NULL if the request may go on, else why not, with *status 400 or 501. */
static const char *check_host_and_target(isl_http_reqi_t *r, int method, int *status) {
  *status = 400;
  isl_http_header_t *host = NULL;
  for (size_t i = 0; i < r->n_headers; i++) {
    if (!header_is(&r->headers[i], "host")) continue;
    if (host) return "bad request: more than one Host";
    host = &r->headers[i];
  }
  if (!host && r->minor >= 1) return "bad request: an HTTP/1.1 request needs a Host";
  if (host) {
    char *v = r->hbuf + (host->value - r->hbuf); /* llhttp keeps the trailing blanks */
    while (host->value_len && (v[host->value_len - 1] == ' ' || v[host->value_len - 1] == '\t')) host->value_len--;
    v[host->value_len] = '\0';
    if (!authority_ok(v, host->value_len)) return "bad request: Host is not a host[:port]";
  }
  char *t = r->hbuf;
  if (t[0] == '/') return NULL;
  if (strcmp(t, "*") == 0 && method == HTTP_OPTIONS) {
    *status = 501;
    return "OPTIONS * is not supported";
  }
  size_t scheme = strncasecmp(t, "http://", 7) == 0 ? 7 : strncasecmp(t, "https://", 8) == 0 ? 8 : 0;
  if (!scheme) return "bad request: the target is neither /path nor http://host/path";
  const char *a = t + scheme;
  size_t an = strcspn(a, "/?#");
  if (!authority_ok(a, an)) return "bad request: the target's authority is not a host[:port]";
  if (!host || host->value_len != an || strncasecmp(host->value, a, an) != 0)
    return "bad request: the target's host is not the Host header's";
  const char *rest = a + an;
  size_t rn = strlen(rest);
  if (rest[0] == '/') {
    memmove(t, rest, rn + 1);
  } else { /* "http://host?q": the path is "/" */
    memmove(t + 1, rest, rn + 1);
    t[0] = '/';
  }
  r->url_len = strlen(t);
  return NULL;
}

/* Points the public header array into hbuf; a name whose value never came
 * gets "". 0, or -1 if out of memory. */
static int build_headers(isl_http_reqi_t *r) {
  if (r->last_cb == 2) {
    if (hbuf_end_token(r) != 0) return -1;
    r->offs[r->n_headers - 1].value_off = r->hlen;
  }
  if (hbuf_end_token(r) != 0) return -1;
  if (r->n_headers && !(r->headers = isl_malloc(r->n_headers * sizeof(*r->headers)))) return -1;
  for (size_t i = 0; i < r->n_headers; i++) {
    r->headers[i].name = r->hbuf + r->offs[i].name_off;
    r->headers[i].name_len = r->offs[i].name_len;
    r->headers[i].value = r->hbuf + r->offs[i].value_off;
    r->headers[i].value_len = r->offs[i].value_len;
  }
  return 0;
}

static int on_headers_complete(llhttp_t *p) {
  isl_http_conn_t *c = p->data;
  isl_http_reqi_t *r = c->cur;
  isl_http_server_t *s = SRV(c);
  if (c->state >= ISL_HTTP_CONN_LINGER || !r) return -1;
  if (build_headers(r) != 0) return conn_oom_request(c);
  r->method = llhttp_method_name((llhttp_method_t)p->method);
  r->minor = p->http_minor;
  if (p->http_major != 1) { /* llhttp also takes 0.9 and 2.0 */
    conn_fail(c, 505, "only HTTP/1.0 and HTTP/1.1 are supported");
    return -1;
  }
  for (size_t i = 0; i < r->n_headers; i++) {
    if (!token_ok(r->headers[i].name, r->headers[i].name_len)) { /* ": x" (an empty name) gets past llhttp */
      conn_fail(c, 400, "bad request: invalid header name");
      return -1;
    }
  }
  if (p->method == HTTP_CONNECT) {
    conn_fail(c, 501, "CONNECT is not supported");
    return -1;
  }
  /* Two Transfer-Encoding fields ("chunked" then "identity") are a
   * request-smuggling classic: proxies may frame the body differently.
   * llhttp refuses anything after "chunked" itself; this catches the
   * other order too. */
  size_t n_te = 0;
  for (size_t i = 0; i < r->n_headers; i++)
    if (header_is(&r->headers[i], "transfer-encoding")) n_te++;
  if (n_te > 1) {
    conn_fail(c, 400, "bad request: more than one Transfer-Encoding");
    return -1;
  }
  const char *te = isl_http_req_header_get(&r->pub, "transfer-encoding");
  if (te && !value_is(te, "chunked")) {
    conn_fail(c, 501, "unsupported transfer encoding");
    return -1;
  }
  /* A Transfer-Encoding llhttp did not take as chunked (an obs-fold after
   * it, say) would be refused by llhttp after the handler had the request:
   * refuse it before (found by tests/fuzz/http_request). */
  if (te && !(p->flags & F_CHUNKED)) {
    conn_fail(c, 400, "bad request: invalid Transfer-Encoding");
    return -1;
  }
  /* llhttp has refused Content-Length with Transfer-Encoding, and a
   * repeated Content-Length, already; without the header content_length
   * is 0. */
  if (p->flags & F_CHUNKED) {
    r->has_body = 1;
    r->body_length = -1;
  } else if (p->content_length > 0) {
    r->has_body = 1;
    r->body_length = (int64_t)p->content_length;
    if (p->content_length > s->cfg.max_body_bytes) {
      conn_fail(c, 413, "request body too large");
      return -1;
    }
  }
  int status;
  const char *bad = check_host_and_target(r, p->method, &status);
  if (bad) {
    conn_fail(c, status, bad);
    return -1;
  }
  p->upgrade = 0; /* Upgrade is not supported: the request is an ordinary one */
  r->keep_alive = llhttp_should_keep_alive(p) && !atomic_load(&s->stopping);
  if (!r->keep_alive) c->last_request = 1;
  r->is_head = p->method == HTTP_HEAD;
  const char *expect = isl_http_req_header_get(&r->pub, "expect");
  r->expect_continue = r->has_body && r->minor >= 1 && expect && value_is(expect, "100-continue");
  if (r->has_body) {
    c->state = ISL_HTTP_CONN_BODY;
    timer_set(c, s->cfg.body_timeout_ms);
  } else {
    c->state = ISL_HTTP_CONN_HANDLER;
    timer_off(c);
  }
  r->handed = 1;
  CALL_HANDLER(r, on_request, &r->pub);
  int dead = c->state >= ISL_HTTP_CONN_LINGER;
  if (!dead && r->expect_continue && r->res == ISL_HTTP_RES_NONE && !r->aborted && !r->released) {
    if (c->body_paused) {
      r->continue_due = 1; /* asking for the body now would defeat the pause: on resume */
    } else {
      conn_send_copy(c, "HTTP/1.1 100 Continue\r\n\r\n", 25, 1);
    }
  }
  req_maybe_free(r); /* only if the connection closed under the handler */
  return dead ? -1 : body_stop(c);
}

static int on_body(llhttp_t *p, const char *at, size_t len) {
  isl_http_conn_t *c = p->data;
  isl_http_reqi_t *r = c->cur;
  if (c->state >= ISL_HTTP_CONN_LINGER || !r) return -1;
  if (len == 0) return 0; /* llhttp flushes an empty span at the end of a buffer */
  r->body_bytes += len;
  if (r->body_bytes > SRV(c)->cfg.max_body_bytes) {
    conn_fail(c, 413, "request body too large");
    return -1;
  }
  timer_set(c, SRV(c)->cfg.body_timeout_ms);
  if (!r->aborted && !r->released) CALL_HANDLER(r, on_body, &r->pub, at, len);
  int dead = c->state >= ISL_HTTP_CONN_LINGER;
  req_maybe_free(r);
  return dead ? -1 : body_stop(c);
}

/* A chunk's size line has been read; content_length is its size. The last
 * chunk (size 0) pauses the parser, so that conn_execute learns where the
 * trailer section starts and scans it as it scans a head. */
static int on_chunk_header(llhttp_t *p) {
  isl_http_conn_t *c = p->data;
  if (c->state >= ISL_HTTP_CONN_LINGER) return -1;
  if (p->content_length != 0) return 0;
  c->trailers_next = 1;
  return HPE_PAUSED;
}

static int on_message_complete(llhttp_t *p) {
  isl_http_conn_t *c = p->data;
  isl_http_reqi_t *r = c->cur;
  if (c->state >= ISL_HTTP_CONN_LINGER || !r) return -1;
  r->body_done = 1;
  r->parsing = 0;
  c->state = ISL_HTTP_CONN_HANDLER;
  timer_off(c);
  if (!r->aborted && !r->released) CALL_HANDLER(r, on_body_end, &r->pub);
  int dead = c->state >= ISL_HTTP_CONN_LINGER;
  if (!dead) exchange_check(r);
  req_maybe_free(r);
  if (dead) return -1;
  /* Stop after every message; conn_execute decides whether to go on. */
  return HPE_PAUSED;
}

/* llhttp keeps a pointer to its settings for the parser's life. */
static const llhttp_settings_t parser_settings = {
    .on_message_begin = on_message_begin,
    .on_url = on_url,
    .on_header_field = on_header_field,
    .on_header_value = on_header_value,
    .on_headers_complete = on_headers_complete,
    .on_body = on_body,
    .on_chunk_header = on_chunk_header,
    .on_message_complete = on_message_complete,
};

/* ---- the connection's state machine -------------------------------------------------------- */

/* 1 if c has as many answers or bytes waiting for the client as it may. */
static int conn_out_full(const isl_http_conn_t *c) {
  const isl_http_config_t *cfg = &SRV(c)->cfg;
  return c->answers_queued >= cfg->max_queued_responses || c->pending_bytes >= cfg->max_pending_output;
}

/* The parser is paused after a message. Returns 1 if it may go on with the
 * next request now (0: the response is still to come, the connection
 * lingers, or its output is over a bound). */
static int conn_after_message(isl_http_conn_t *c) {
  if (c->doomed) return 0; /* closing on the next tick (conn_doomed) */
  if (c->cur) {            /* the response has not ended yet */
    c->state = ISL_HTTP_CONN_HANDLER;
    return 0;
  }
  if (c->last_request || c->loop->stopping || c->read_eof) {
    conn_linger(c);
    return 0;
  }
  if (conn_out_full(c)) {
    /* A client that sends and does not read: no new request until the
     * answers drain (conn_out_check resumes), and no more bytes read. */
    c->out_blocked = 1;
    c->state = ISL_HTTP_CONN_HANDLER;
    read_stop(c);
    return 0;
  }
  llhttp_resume(&c->parser);
  c->paused = 0;
  scan_reset(c);
  c->state = ISL_HTTP_CONN_IDLE;
  timer_set(c, SRV(c)->cfg.idle_timeout_ms);
  return 1;
}

static void conn_parse_error(isl_http_conn_t *c, llhttp_errno_t e) {
  char msg[160];
  const char *reason = llhttp_get_error_reason(&c->parser);
  if (!reason) reason = llhttp_errno_name(e);
  /* llhttp reads any digit.digit version and then refuses those it does not
   * know (all but 0.9, 1.0, 1.1 and 2.0) with this reason; a version that
   * is not digit.digit gets another. The former is a 505, as with 2.0, and
   * so is the HTTP/2 connection preface. */
  if ((e == HPE_INVALID_VERSION && strcmp(reason, "Invalid HTTP version") == 0) || e == HPE_PAUSED_H2_UPGRADE) {
    conn_fail(c, 505, "only HTTP/1.0 and HTTP/1.1 are supported");
    return;
  }
  snprintf(msg, sizeof(msg), "bad request: %s", reason);
  conn_fail(c, 400, msg);
}

/* Feeds data to the parser until it is consumed, the parser pauses at the
 * end of a message whose response is still to come, or the connection
 * fails. The head and trailers pass the line scanner first; the bytes
 * before a fault it finds are still parsed, so that whichever fault comes
 * first on the wire gives the answer. Returns the bytes consumed. */
static size_t conn_execute(isl_http_conn_t *c, const char *data, size_t len) {
  size_t off = 0;
  /* len 0: the parser was resumed after a body pause with nothing
   * buffered; it runs once on no bytes, to take the steps that need none
   * (the end of a message whose last body byte came before the pause). */
  int kick = len == 0;
  while ((off < len || kick) && c->state < ISL_HTTP_CONN_LINGER && !c->paused && !c->body_paused && !c->body_stopped) {
    int status = 0;
    const char *why = NULL;
    size_t n = scan_lines(c, data + off, len - off, &status, &why);
    if (n || kick) {
      kick = 0;
      c->in_execute = 1;
      llhttp_errno_t e = llhttp_execute(&c->parser, data + off, n);
      c->in_execute = 0;
      if (c->state >= ISL_HTTP_CONN_LINGER) return len;
      if (e == HPE_PAUSED && c->body_stopped) { /* the handler paused the body: the rest waits */
        off = (size_t)(llhttp_get_error_pos(&c->parser) - data);
        break;
      }
      if (e == HPE_PAUSED && !status) {
        off = (size_t)(llhttp_get_error_pos(&c->parser) - data);
        if (c->trailers_next) { /* the last chunk: trailers (or the empty line) follow */
          c->trailers_next = 0;
          c->scan_mode = ISL_HTTP_SCAN_TRAILERS;
          llhttp_resume(&c->parser);
          continue;
        }
        c->paused = 1;
        if (!conn_after_message(c)) break;
        continue;
      }
      if (e != HPE_OK && e != HPE_PAUSED) {
        conn_parse_error(c, e);
        return len;
      }
      off += n;
    }
    if (status) {
      /* The scanner never stops inside a section the parser could have
       * finished (so no pause came first, nothing was handed over). */
      conn_fail(c, status, why);
      return len;
    }
  }
  return off;
}

/* Read bytes that cannot be buffered are lost, and what they belonged to
 * with them. If the parser waits at the end of a message, they are the
 * next requests': the connection takes no further request (the current
 * exchange finishes, with Connection: close if its response has not
 * started) and discards what it reads from now on, so the lost requests
 * get a close, never a wrong reading. Otherwise they are (or may be) the
 * current request's: it fails as common/alloc.h wants, with 503 if its
 * response has not started, else a reset. */
static void conn_input_lost(isl_http_conn_t *c) {
  c->input_lost = 1;
  c->last_request = 1;
  if (c->cur) c->cur->keep_alive = 0;
  read_stop(c);
  if (c->paused) {
    if (!c->cur) conn_maybe_resume(c); /* on to conn_after_message, which lingers */
    return;
  }
  conn_doom(c, c->cur && c->cur->res != ISL_HTTP_RES_NONE ? ISL_HTTP_DOOM_RESET : ISL_HTTP_DOOM_503);
}

/* Buffers read bytes the parser cannot take now; on failure, see
 * conn_input_lost. */
static void pend_append(isl_http_conn_t *c, const char *data, size_t len) {
  if (c->input_lost) return;
  if (c->pend_len + len > c->pend_cap) {
    size_t cap = c->pend_cap ? c->pend_cap : 4096;
    while (cap < c->pend_len + len) cap *= 2;
    char *p = isl_realloc(c->pend, cap);
    if (!p) {
      conn_input_lost(c);
      return;
    }
    c->pend = p;
    c->pend_cap = cap;
  }
  memcpy(c->pend + c->pend_len, data, len);
  c->pend_len += len;
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
  (void)suggested;
  isl_http_conn_t *c = h->data;
  *buf = uv_buf_init(c->loop->rbuf, sizeof(c->loop->rbuf));
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf);

static void read_start(isl_http_conn_t *c) {
  if (c->reading || c->read_eof || c->state == ISL_HTTP_CONN_CLOSED) return;
  if ((c->out_blocked || c->body_paused) && c->state < ISL_HTTP_CONN_LINGER) return;
  if (uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) == 0) c->reading = 1;
}

/* The client closed its side (or the connection broke). */
static void conn_on_eof(isl_http_conn_t *c) {
  c->read_eof = 1;
  c->reading = 0;
  if (c->state == ISL_HTTP_CONN_LINGER) {
    if (c->shut == 2) conn_close(c);
  } else if (c->cur) {
    conn_close(c); /* mid-request or waiting for the response: the client is gone */
  } else {
    conn_linger(c); /* between requests: let a response still being written finish */
  }
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf) {
  isl_http_conn_t *c = s->data;
  if (n == 0 || c->state == ISL_HTTP_CONN_CLOSED) return;
  if (n < 0) {
    uv_read_stop(s);
    if (n == UV_EOF) {
      conn_on_eof(c);
    } else {
      c->read_eof = 1;
      c->reading = 0;
      conn_close(c);
    }
    return;
  }
  if (c->state == ISL_HTTP_CONN_LINGER || c->input_lost || c->doomed) return; /* discarded */
  size_t len = (size_t)n;
  if (c->pend_len || c->paused || c->body_paused || c->body_stopped) {
    pend_append(c, buf->base, len);
  } else {
    size_t used = conn_execute(c, buf->base, len);
    if (c->state >= ISL_HTTP_CONN_LINGER) return;
    if (used < len) pend_append(c, buf->base + used, len - used);
  }
  if (c->pend_len > ISL_HTTP_MAX_PENDING_INPUT) read_stop(c);
}

/* Parses what was buffered while the parser was paused. */
static void conn_drain_pending(isl_http_conn_t *c) {
  while (c->pend_len && !c->paused && !c->body_paused && !c->body_stopped && c->state < ISL_HTTP_CONN_LINGER) {
    size_t used = conn_execute(c, c->pend, c->pend_len);
    if (c->state >= ISL_HTTP_CONN_LINGER) return;
    memmove(c->pend, c->pend + used, c->pend_len - used);
    c->pend_len -= used;
    if (used == 0) break;
  }
  if (c->state < ISL_HTTP_CONN_LINGER && c->pend_len <= ISL_HTTP_MAX_PENDING_INPUT) read_start(c);
}

/* The response ended outside the parser: go on with the next request on
 * the next tick. */
static void on_resume(uv_timer_t *t) {
  isl_http_conn_t *c = t->data;
  DOOMED_CHECK(c);
  if (c->state >= ISL_HTTP_CONN_LINGER || !c->paused || c->cur) return;
  if (conn_after_message(c)) conn_drain_pending(c);
}

static void conn_maybe_resume(isl_http_conn_t *c) {
  if (c->in_execute || !c->paused || c->cur || c->state >= ISL_HTTP_CONN_LINGER) return;
  uv_timer_start(&c->timer, on_resume, 0, 0);
}

/* A write completed: if the connection waits for its output to drain and
 * it has drained to half of both bounds, go on with the next request (on
 * the next tick, as after a response that ended outside the parser). */
static void conn_out_check(isl_http_conn_t *c) {
  const isl_http_config_t *cfg = &SRV(c)->cfg;
  if (!c->out_blocked || c->state >= ISL_HTTP_CONN_LINGER) return;
  if (c->answers_queued > cfg->max_queued_responses / 2 || c->pending_bytes > cfg->max_pending_output / 2) return;
  c->out_blocked = 0;
  conn_maybe_resume(c);
}

/* ---- request bodies: pause and resume (isl_http_req_pause_body) ----------------------- */

/* The handler resumed the body (or released the request): on the next
 * tick, the body timeout runs again, a held-back 100 Continue goes out,
 * llhttp goes on from where on_headers_complete or on_body stopped it, the
 * bytes buffered meanwhile are parsed, and reading starts again. */
static void on_body_resume(uv_timer_t *t) {
  isl_http_conn_t *c = t->data;
  DOOMED_CHECK(c);
  if (c->state >= ISL_HTTP_CONN_LINGER || c->body_paused) return;
  isl_http_reqi_t *r = c->cur;
  if (c->state == ISL_HTTP_CONN_BODY) timer_set(c, SRV(c)->cfg.body_timeout_ms);
  if (r && r->continue_due) {
    r->continue_due = 0;
    if (r->res == ISL_HTTP_RES_NONE && !r->aborted && !r->released)
      conn_send_copy(c, "HTTP/1.1 100 Continue\r\n\r\n", 25, 1);
  }
  if (c->body_stopped) {
    c->body_stopped = 0;
    llhttp_resume(&c->parser);
    if (!c->pend_len) {
      conn_execute(c, c->loop->rbuf, 0);
      if (c->state >= ISL_HTTP_CONN_LINGER) return;
    }
  }
  conn_drain_pending(c);
}

static void body_resume_soon(isl_http_conn_t *c) {
  if (c->state < ISL_HTTP_CONN_LINGER && !c->doomed) uv_timer_start(&c->timer, on_body_resume, 0, 0);
}

void isl_http_req_pause_body(isl_http_req_t *req, int paused) {
  isl_http_reqi_t *r = (isl_http_reqi_t *)req;
  isl_http_conn_t *c = r->conn;
  if (!c || c->cur != r || r->aborted || r->released || r->body_done || c->state >= ISL_HTTP_CONN_LINGER || c->doomed)
    return;
  if (paused) {
    if (c->body_paused) return;
    c->body_paused = 1; /* on_body / on_headers_complete stop llhttp (body_stop); on_read buffers */
    read_stop(c);
    uv_timer_stop(&c->timer); /* the body timeout: the wait is the handler's (or a resume still due) */
  } else if (c->body_paused) {
    c->body_paused = 0;
    body_resume_soon(c);
  }
}

static void on_conn_closed(uv_handle_t *h) {
  isl_http_conn_t *c = h->data;
  if (--c->closes > 0) return;
  isl_http_loopi_t *l = c->loop;
  if (c->prev) {
    c->prev->next = c->next;
  } else {
    l->conns = c->next;
  }
  if (c->next) c->next->prev = c->prev;
  if (c->counted) atomic_fetch_sub(&l->srv->n_conns, 1);
  free(c->pend);
  free(c);
  isl_http__loop_conn_gone(l);
}

/* Closes now: requests in flight are aborted, queued writes cancelled.
 * With reset, the socket is closed with a TCP reset (SO_LINGER 0) rather
 * than a FIN: a response cut mid-body must never end the way a whole one
 * does, and a FIN is how a close-delimited body (HTTP/1.0, no length)
 * ends. */
static void conn_close_how(isl_http_conn_t *c, int reset) {
  if (c->state == ISL_HTTP_CONN_CLOSED) return;
  c->state = ISL_HTTP_CONN_CLOSED;
  c->cur = NULL;
  isl_http_reqi_t *r;
  while ((r = c->reqs) != NULL) {
    req_unlink_conn(r);
    r->parsing = 0;
    if (!r->handed) r->released = 1; /* never seen by the handler: ours */
    r->cb_depth++;
    req_abort(r);
    r->cb_depth--;
    req_maybe_free(r);
  }
  c->closes = 2;
  loop_wake_soon(c->loop); /* the drain callbacks of its requests: state -1 */
  /* uv_tcp_close_reset refuses a socket being shut down (already FIN'd). */
  if (!reset || uv_tcp_close_reset(&c->tcp, on_conn_closed) != 0) uv_close((uv_handle_t *)&c->tcp, on_conn_closed);
  uv_close((uv_handle_t *)&c->timer, on_conn_closed);
}

static void conn_close(isl_http_conn_t *c) {
  conn_close_how(c, 0);
}

static void on_shutdown(uv_shutdown_t *sr, int status) {
  isl_http_conn_t *c = sr->data;
  if (c->state == ISL_HTTP_CONN_CLOSED) return;
  c->shut = 2;
  if (status < 0 || c->read_eof) conn_close(c);
}

/* No more requests: drop the current one if the handler never saw it, let
 * queued writes finish, send FIN, and discard input until the client
 * closes or the linger time is up. */
static void conn_linger(isl_http_conn_t *c) {
  if (c->state >= ISL_HTTP_CONN_LINGER) return;
  c->state = ISL_HTTP_CONN_LINGER;
  c->last_request = 1;
  c->out_blocked = 0;
  isl_http_reqi_t *r = c->cur;
  if (r && !r->handed) {
    r->parsing = 0;
    r->released = 1;
    c->cur = NULL;
    req_maybe_free(r);
  }
  if (!c->in_execute) c->pend_len = 0;
  uint32_t linger = ISL_HTTP_LINGER_MS;
  if (c->loop->stopping && SRV(c)->cfg.drain_timeout_ms < linger) linger = SRV(c)->cfg.drain_timeout_ms;
  uv_timer_start(&c->timer, on_timeout, c->doomed ? 0 : linger, 0);
  c->shutdown.data = c;
  if (uv_shutdown(&c->shutdown, (uv_stream_t *)&c->tcp, on_shutdown) != 0) {
    conn_close(c);
    return;
  }
  c->shut = 1;
  read_start(c);
  loop_wake_soon(c->loop); /* write_state is -1 now */
}

/* A limit tripped or the request is malformed: answer `status` if nothing
 * was sent for the current exchange, then close. */
static void conn_fail(isl_http_conn_t *c, int status, const char *msg) {
  if (c->state >= ISL_HTTP_CONN_LINGER) return;
  isl_http_reqi_t *r = c->cur;
  int started = r && r->res != ISL_HTTP_RES_NONE;
  if (r && r->handed) {
    r->cb_depth++;
    req_abort(r);
    r->cb_depth--;
    if (c->state >= ISL_HTTP_CONN_LINGER) return;
  }
  if (started) {
    conn_close(c);
    return;
  }
  if (r && r->handed) {
    r->parsing = 0;
    c->cur = NULL;
    req_maybe_free(r);
  }
  conn_send_error(c, status, msg);
  conn_linger(c);
}

/* The next tick of a conn_doom: close, or for ISL_HTTP_DOOM_503 fail the
 * current exchange with 503 as conn_fail does (on_abort if the handler
 * has it, the answer, a lingering close). */
static void conn_doomed(isl_http_conn_t *c) {
  int how = c->doomed;
  if (how != ISL_HTTP_DOOM_503 || c->state >= ISL_HTTP_CONN_LINGER) {
    conn_close_how(c, how == ISL_HTTP_DOOM_RESET);
    return;
  }
  c->doomed = ISL_HTTP_DOOM_NONE;
  uv_timer_stop(&c->timer);
  conn_fail(c, 503, "service unavailable: the server is out of memory");
}

static void on_timeout(uv_timer_t *t) {
  isl_http_conn_t *c = t->data;
  DOOMED_CHECK(c);
  switch (c->state) {
    case ISL_HTTP_CONN_IDLE:
      conn_linger(c);
      break;
    case ISL_HTTP_CONN_HEADERS:
      conn_fail(c, 408, "request header timeout");
      break;
    case ISL_HTTP_CONN_BODY:
      conn_fail(c, 408, "request body timeout");
      break;
    case ISL_HTTP_CONN_LINGER:
      conn_close(c);
      break;
    default:
      break;
  }
}

static void on_unaccepted_closed(uv_handle_t *h) {
  free(h->data);
}

static void on_spare_closed(uv_handle_t *h) {
  isl_http_loopi_t *l = h->data;
  l->spare_busy = 0;
  if (!l->accept_waiting) return;
  l->accept_waiting = 0;
  if (l->listener_open && !l->stopping) isl_http__conn_accept(l);
}

/* No memory for the connection: it is accepted into the loop's spare
 * handle and closed at once (common/alloc.h). A listener whose connection
 * is not accepted is no longer watched by libuv, so one that comes while
 * the spare is still closing waits there for on_spare_closed. */
static void conn_accept_oom(isl_http_loopi_t *l) {
  if (l->spare_busy) {
    l->accept_waiting = 1;
    return;
  }
  uv_tcp_init(&l->uv, &l->spare);
  l->spare.data = l;
  l->spare_busy = 1;
  uv_accept((uv_stream_t *)&l->listener, (uv_stream_t *)&l->spare);
  uv_close((uv_handle_t *)&l->spare, on_spare_closed);
}

void isl_http__conn_accept(isl_http_loopi_t *l) {
  isl_http_server_t *s = l->srv;
  isl_http_conn_t *c = isl_calloc(1, sizeof(*c));
  if (!c) {
    conn_accept_oom(l);
    return;
  }
  c->loop = l;
  uv_tcp_init(&l->uv, &c->tcp);
  c->tcp.data = c;
  if (uv_accept((uv_stream_t *)&l->listener, (uv_stream_t *)&c->tcp) != 0) {
    uv_close((uv_handle_t *)&c->tcp, on_unaccepted_closed);
    return;
  }
  uv_timer_init(&l->uv, &c->timer);
  c->timer.data = c;
  c->next = l->conns;
  if (l->conns) l->conns->prev = c;
  l->conns = c;
  l->n_conns++;
  uv_tcp_nodelay(&c->tcp, 1);
  struct sockaddr_storage ss;
  int len = sizeof(ss);
  strcpy(c->remote, "unknown");
  if (uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&ss, &len) == 0) {
    if (ss.ss_family == AF_INET6) {
      uv_ip6_name((struct sockaddr_in6 *)&ss, c->remote, sizeof(c->remote));
    } else if (ss.ss_family == AF_INET) {
      uv_ip4_name((struct sockaddr_in *)&ss, c->remote, sizeof(c->remote));
    }
  }
  llhttp_init(&c->parser, HTTP_REQUEST, &parser_settings); /* strict: no lenient flag is set */
  c->parser.data = c;
  scan_reset(c);
  c->state = ISL_HTTP_CONN_HEADERS;
  unsigned n = atomic_fetch_add(&s->n_conns, 1);
  c->counted = 1;
  if (n >= s->cfg.max_connections) {
    atomic_fetch_sub(&s->n_conns, 1);
    c->counted = 0;
    conn_send_error(c, 503, "too many connections");
    conn_linger(c);
    return;
  }
  timer_set(c, s->cfg.header_timeout_ms);
  read_start(c);
}

void isl_http__conn_stop(isl_http_conn_t *c) {
  switch (c->state) {
    case ISL_HTTP_CONN_IDLE:
    case ISL_HTTP_CONN_HEADERS:
      conn_linger(c);
      break;
    case ISL_HTTP_CONN_BODY:
    case ISL_HTTP_CONN_HANDLER:
      c->last_request = 1;
      if (c->cur) c->cur->keep_alive = 0;
      break;
    default:
      break;
  }
}

void isl_http__conn_kill(isl_http_conn_t *c) {
  conn_close(c);
}

/* ---- requests: accessors ---------------------------------------------------------------- */

#define REQI(req) ((isl_http_reqi_t *)(req))
#define CREQI(req) ((const isl_http_reqi_t *)(req))

isl_http_loop_t *isl_http_req_loop(isl_http_req_t *req) {
  return &REQI(req)->loop->pub;
}
const char *isl_http_req_method(const isl_http_req_t *req) {
  return CREQI(req)->method;
}
const char *isl_http_req_target(const isl_http_req_t *req) {
  return CREQI(req)->hbuf ? CREQI(req)->hbuf : "";
}
int isl_http_req_version_minor(const isl_http_req_t *req) {
  return CREQI(req)->minor;
}
size_t isl_http_req_header_count(const isl_http_req_t *req) {
  return CREQI(req)->headers ? CREQI(req)->n_headers : 0;
}

const isl_http_header_t *isl_http_req_header(const isl_http_req_t *req, size_t i) {
  const isl_http_reqi_t *r = CREQI(req);
  return r->headers && i < r->n_headers ? &r->headers[i] : NULL;
}

const char *isl_http_req_header_get(const isl_http_req_t *req, const char *name) {
  const isl_http_reqi_t *r = CREQI(req);
  if (!r->headers) return NULL;
  for (size_t i = 0; i < r->n_headers; i++)
    if (strcasecmp(r->headers[i].name, name) == 0) return r->headers[i].value;
  return NULL;
}

int isl_http_req_has_body(const isl_http_req_t *req) {
  return CREQI(req)->has_body;
}
int64_t isl_http_req_body_length(const isl_http_req_t *req) {
  return CREQI(req)->body_length;
}
const char *isl_http_req_remote_addr(const isl_http_req_t *req) {
  return CREQI(req)->remote;
}
int isl_http_req_aborted(const isl_http_req_t *req) {
  return CREQI(req)->aborted || !CREQI(req)->conn;
}

size_t isl_http_req_pending_bytes(const isl_http_req_t *req) {
  const isl_http_reqi_t *r = CREQI(req);
  return r->conn && !r->aborted ? r->conn->pending_bytes : 0;
}

int isl_http_req_set_account(isl_http_req_t *req, const void *owner) {
  isl_http_reqi_t *r = REQI(req);
  if (r->res != ISL_HTTP_RES_NONE) return ISL_EINVAL;
  r->acct = owner ? isl_http__account(r->loop->srv, owner) : NULL;
  return owner && !r->acct ? ISL_ENOMEM : 0;
}

int isl_http_req_write_state(const isl_http_req_t *req) {
  const isl_http_reqi_t *r = CREQI(req);
  const isl_http_conn_t *c = r->conn;
  if (!c || r->aborted || c->state == ISL_HTTP_CONN_CLOSED || c->shut || c->doomed) return -1;
  const isl_http_config_t *cfg = &r->loop->srv->cfg;
  if (c->pending_bytes >= cfg->max_pending_output) return 1;
  if (r->acct && atomic_load(&r->acct->bytes) >= cfg->max_account_output) return 1;
  return 0;
}

/* ---- flow control: drain callbacks (isl_http_req_on_drain) ------------------------------------ */

/* A waiter is in loop->drain_wait until it is due, then in
 * loop->drain_fire for the wake_timer run that calls it. wake_timer runs
 * at once when something may have made a waiter due (a write completion
 * of its connection or of an account, an abort, a close) and every
 * ISL_HTTP_ACCOUNT_RECHECK_MS while a waiter is blocked on its account,
 * which writes on other loops drain. */

static isl_http_reqi_t **drain_head(isl_http_reqi_t *r, int which) {
  return which == 1 ? &r->loop->drain_wait : &r->loop->drain_fire;
}

static void drain_link(isl_http_reqi_t *r, int which) {
  isl_http_reqi_t **head = drain_head(r, which);
  r->drain_list = which;
  r->dprev = NULL;
  r->dnext = *head;
  if (*head) (*head)->dprev = r;
  *head = r;
}

static void drain_unlink(isl_http_reqi_t *r) {
  if (!r->drain_list) return;
  if (r->dprev) {
    r->dprev->dnext = r->dnext;
  } else {
    *drain_head(r, r->drain_list) = r->dnext;
  }
  if (r->dnext) r->dnext->dprev = r->dprev;
  r->dprev = r->dnext = NULL;
  r->drain_list = 0;
}

static int conn_has_drain_waiter(const isl_http_conn_t *c) {
  for (const isl_http_reqi_t *r = c->reqs; r; r = r->cnext)
    if (r->drain_list == 1) return 1;
  return 0;
}

/* 1 if r's drain callback is due: the client is gone (write_state -1), or
 * the connection is down to half of max_pending_output (a low-water mark,
 * so that a waiter gets room for more than one write) and the account is
 * under max_account_output (write_state 0). *acct_blocked: the account is
 * what it waits for. */
static int drain_due(const isl_http_reqi_t *r, int *acct_blocked) {
  if (isl_http_req_write_state(&r->pub) < 0) return 1;
  const isl_http_config_t *cfg = &r->loop->srv->cfg;
  int acct_ok = !r->acct || atomic_load(&r->acct->bytes) < cfg->max_account_output;
  if (!acct_ok) *acct_blocked = 1;
  return acct_ok && r->conn->pending_bytes <= cfg->max_pending_output / 2;
}

/* Calls the drain callbacks that are due (all of them with `all`); a
 * callback may register, cancel or release anything. */
static void drain_run(isl_http_loopi_t *l, int all) {
  size_t blocked = 0;
  isl_http_reqi_t *r, *next;
  for (r = l->drain_wait; r; r = next) {
    next = r->dnext;
    int ab = 0;
    if (all || drain_due(r, &ab)) {
      drain_unlink(r);
      drain_link(r, 2);
    } else if (ab) {
      blocked++;
    }
  }
  l->acct_blocked = blocked;
  while ((r = l->drain_fire) != NULL) {
    drain_unlink(r);
    void (*cb)(isl_http_req_t *, void *) = r->drain_cb;
    void *arg = r->drain_arg;
    r->drain_cb = NULL;
    r->drain_arg = NULL;
    r->cb_depth++;
    cb(&r->pub, arg);
    r->cb_depth--;
    req_maybe_free(r);
  }
}

static void on_wake(uv_timer_t *t) {
  isl_http_loopi_t *l = t->data;
  l->wake_kicked = 0;
  drain_run(l, 0);
  if (l->wake_kicked || !l->wake_open) return; /* a callback made another waiter due: at once */
  if (l->acct_blocked && l->drain_wait) uv_timer_start(t, on_wake, ISL_HTTP_ACCOUNT_RECHECK_MS, 0);
}

static void loop_wake_soon(isl_http_loopi_t *l) {
  if (!l->drain_wait || !l->wake_open) return;
  l->wake_kicked = 1;
  uv_timer_start(&l->wake_timer, on_wake, 0, 0);
}

void isl_http__drain_stop(isl_http_loopi_t *l) {
  if (!l->wake_open) return;
  l->wake_open = 0; /* from here on_drain registers nothing */
  uv_close((uv_handle_t *)&l->wake_timer, NULL);
  drain_run(l, 1); /* no connection is left: every state is -1 */
}

void isl_http_req_on_drain(isl_http_req_t *req, void (*cb)(isl_http_req_t *req, void *arg), void *arg) {
  isl_http_reqi_t *r = REQI(req);
  isl_http_loopi_t *l = r->loop;
  drain_unlink(r); /* replaces (or, with cb NULL, cancels) a pending one */
  r->drain_cb = NULL;
  r->drain_arg = NULL;
  if (!cb || r->released || !l->wake_open) return;
  r->drain_cb = cb;
  r->drain_arg = arg;
  drain_link(r, 1);
  int ab = 0;
  if (drain_due(r, &ab)) {
    loop_wake_soon(l); /* never from inside this call */
  } else if (ab) {
    l->acct_blocked++;
    if (!uv_is_active((uv_handle_t *)&l->wake_timer))
      uv_timer_start(&l->wake_timer, on_wake, ISL_HTTP_ACCOUNT_RECHECK_MS, 0);
  }
}

/* ---- responses --------------------------------------------------------------------------- */

/* 1 if the request can still be answered, 0 if res_* must be a no-op
 * (also once its connection is doomed: it closes on the next tick). */
static int res_live(isl_http_reqi_t *r) {
  return r->conn && !r->aborted && r->conn->state != ISL_HTTP_CONN_CLOSED && !r->conn->doomed;
}

static int header_is(const isl_http_header_t *h, const char *name) {
  size_t n = strlen(name);
  return h->name_len == n && strncasecmp(h->name, name, n) == 0;
}

static int token_ok(const char *s, size_t len) {
  if (len == 0) return 0;
  for (size_t i = 0; i < len; i++) {
    unsigned char ch = (unsigned char)s[i];
    if (ch <= 32 || ch >= 127 || strchr("()<>@,;:\\\"/[]?={}", ch)) return 0;
  }
  return 1;
}

static int value_ok(const char *s, size_t len) {
  for (size_t i = 0; i < len; i++)
    if (s[i] == '\r' || s[i] == '\n' || s[i] == '\0') return 0;
  return 1;
}

/* Heads that fit are built on the stack; a bigger one is allocated. */
#define RES_HEAD_STACK 2048

/* Builds the status line and headers of r's response into `stack`
 * (RES_HEAD_STACK bytes) or, if they do not fit, into a block allocated
 * here (*heap, which the caller frees); *len is the head's size. 0, or
 * ISL_EINVAL on misuse, or ISL_ENOMEM (nothing changed: the caller dooms
 * the connection to a 503). */
static int res_head(isl_http_reqi_t *r, int status, const char *reason, const isl_http_header_t *headers, size_t n,
                    int64_t content_length, char *stack, char **heap, char **head, size_t *len) {
  *heap = NULL;
  if (r->res != ISL_HTTP_RES_NONE || status < 200 || status > 999 || content_length < -1 || (n && !headers))
    return ISL_EINVAL;
  if (!reason) reason = isl_http_status_reason(status);
  if (!value_ok(reason, strlen(reason))) return ISL_EINVAL;
  size_t size = 320 + strlen(reason);
  for (size_t i = 0; i < n; i++) {
    if (!headers[i].name || !token_ok(headers[i].name, headers[i].name_len)) return ISL_EINVAL;
    if (headers[i].value_len && (!headers[i].value || !value_ok(headers[i].value, headers[i].value_len)))
      return ISL_EINVAL;
    size += headers[i].name_len + headers[i].value_len + 4;
  }
  char *p = stack;
  if (size > RES_HEAD_STACK && !(p = *heap = isl_malloc(size))) return ISL_ENOMEM;
  *head = p;
  isl_http_conn_t *c = r->conn;
  if (c->last_request || c->loop->stopping) r->keep_alive = 0;
  r->no_body = r->is_head || status == 204 || status == 304;
  char framing[64] = "";
  if (status == 204 || status == 304) {
    r->res_length = -1;
  } else if (content_length >= 0) {
    snprintf(framing, sizeof(framing), "Content-Length: %lld\r\n", (long long)content_length);
    r->res_length = content_length;
  } else if (r->minor >= 1) {
    snprintf(framing, sizeof(framing), "Transfer-Encoding: chunked\r\n");
    r->chunked = !r->no_body;
    r->res_length = -1;
  } else if (!r->no_body) {
    r->close_delimited = 1;
    r->keep_alive = 0;
    r->res_length = -1;
  }
  if (!r->keep_alive) c->last_request = 1;
  const char *conn_hdr = r->keep_alive ? "Connection: keep-alive\r\n" : "Connection: close\r\n";

  p += sprintf(p, "HTTP/1.1 %d %s\r\n%s%s%s", status, reason, loop_date(c->loop), conn_hdr, framing);
  for (size_t i = 0; i < n; i++) {
    const isl_http_header_t *h = &headers[i];
    if (header_is(h, "date") || header_is(h, "connection") || header_is(h, "content-length") ||
        header_is(h, "transfer-encoding"))
      continue;
    memcpy(p, h->name, h->name_len);
    p += h->name_len;
    *p++ = ':';
    *p++ = ' ';
    if (h->value_len) memcpy(p, h->value, h->value_len);
    p += h->value_len;
    *p++ = '\r';
    *p++ = '\n';
  }
  *p++ = '\r';
  *p++ = '\n';
  r->res = ISL_HTTP_RES_STARTED;
  *len = (size_t)(p - *head);
  return 0;
}

/* A head that could not be allocated: nothing of the response was sent,
 * so the exchange gets a 503 on the next tick (conn_doomed). */
static int res_oom(isl_http_reqi_t *r) {
  conn_doom(r->conn, ISL_HTTP_DOOM_503);
  return ISL_ENOMEM;
}

int isl_http_res_start(isl_http_req_t *req, int status, const char *reason, const isl_http_header_t *headers, size_t n,
                       int64_t content_length) {
  isl_http_reqi_t *r = REQI(req);
  if (!res_live(r)) return 0;
  char stack[RES_HEAD_STACK], *heap, *head;
  size_t len;
  int rc = res_head(r, status, reason, headers, n, content_length, stack, &heap, &head, &len);
  if (rc == ISL_ENOMEM) return res_oom(r);
  if (rc) return rc;
  uv_buf_t buf = uv_buf_init(head, (unsigned)len);
  rc = conn_send(r->conn, r, &buf, 1, 1);
  free(heap);
  return rc;
}

int isl_http_res_whole(isl_http_req_t *req, int status, const char *reason, const isl_http_header_t *headers, size_t n,
                       const void *body, size_t body_len) {
  isl_http_reqi_t *r = REQI(req);
  if (!res_live(r)) return 0;
  if (body_len && !body) return ISL_EINVAL;
  char stack[RES_HEAD_STACK], *heap, *head;
  size_t len;
  int rc = res_head(r, status, reason, headers, n, (int64_t)body_len, stack, &heap, &head, &len);
  if (rc == ISL_ENOMEM) return res_oom(r);
  if (rc) return rc;
  uv_buf_t bufs[2] = {uv_buf_init(head, (unsigned)len), uv_buf_init((char *)body, (unsigned)body_len)};
  unsigned nbufs = 1;
  if (!r->no_body && body_len) {
    nbufs = 2;
    r->res_written = body_len;
  }
  rc = conn_send(r->conn, r, bufs, nbufs, 1);
  free(heap);
  if (rc) return rc;
  return isl_http_res_end(req);
}

int isl_http_res_write(isl_http_req_t *req, const void *data, size_t len) {
  isl_http_reqi_t *r = REQI(req);
  if (!res_live(r)) return 0;
  if (r->res != ISL_HTTP_RES_STARTED || (len && !data)) return ISL_EINVAL;
  if (len == 0 || r->no_body) return 0;
  if (r->res_length >= 0 && r->res_written + len > (uint64_t)r->res_length) return ISL_EINVAL;
  r->res_written += len;
  if (r->chunked) {
    char head[24];
    int hn = snprintf(head, sizeof(head), "%zx\r\n", len);
    uv_buf_t bufs[3] = {uv_buf_init(head, (unsigned)hn), uv_buf_init((char *)data, (unsigned)len),
                        uv_buf_init("\r\n", 2)};
    return conn_send(r->conn, r, bufs, 3, 0);
  }
  uv_buf_t buf = uv_buf_init((char *)data, (unsigned)len);
  return conn_send(r->conn, r, &buf, 1, 0);
}

int isl_http_res_end(isl_http_req_t *req) {
  isl_http_reqi_t *r = REQI(req);
  if (!res_live(r)) return 0;
  if (r->res != ISL_HTTP_RES_STARTED) return ISL_EINVAL;
  isl_http_conn_t *c = r->conn;
  int rc = 0;
  if (r->chunked) {
    uv_buf_t buf = uv_buf_init("0\r\n\r\n", 5);
    rc = conn_send(c, r, &buf, 1, 0);
  }
  if (!r->no_body && r->res_length >= 0 && r->res_written < (uint64_t)r->res_length)
    c->last_request = 1; /* short body: only closing can tell the client */
  if (r->writes) {       /* an answer waiting for the client to read: counts against the output bound */
    r->out_queued = 1;
    c->answers_queued++;
  }
  r->res = ISL_HTTP_RES_ENDED;
  exchange_check(r);
  conn_maybe_resume(c);
  req_maybe_free(r);
  return rc;
}

int isl_http_res_simple(isl_http_req_t *req, int status, const char *content_type, const char *body) {
  if (!body) body = "";
  isl_http_header_t h = {"Content-Type", 12, content_type ? content_type : "text/plain; charset=utf-8", 0};
  h.value_len = strlen(h.value);
  size_t len = strlen(body);
  return isl_http_res_whole(req, status, NULL, &h, 1, body, len);
}

void isl_http_req_release(isl_http_req_t *req) {
  isl_http_reqi_t *r = REQI(req);
  if (!r || r->released) return;
  drain_unlink(r); /* never called after release */
  r->drain_cb = NULL;
  r->drain_arg = NULL;
  isl_http_conn_t *c = r->conn;
  if (c && c->cur == r && c->body_paused) {
    /* The rest of the body is read and discarded as for any released
     * request (the exchange ends with it): reading resumes next turn. */
    c->body_paused = 0;
    body_resume_soon(c);
  }
  if (res_live(r) && r->res != ISL_HTTP_RES_ENDED) {
    if (r->res == ISL_HTTP_RES_NONE) {
      isl_http_res_simple(req, 500, NULL, "internal error: the handler gave no response\n");
    } else {
      /* A cut response: only a reset can tell the client, whatever the
       * framing (a chunked body without its last chunk, a body short of
       * its Content-Length, or a close-delimited one, which a FIN would
       * end as if whole). No on_abort for a request the handler let go. */
      r->released = 1;
      r->cb_depth++;
      conn_close_how(r->conn, 1);
      r->cb_depth--;
    }
  }
  r->released = 1;
  req_maybe_free(r);
}
