/*
 * fetch.c - the HTTP client behind fetch(): libcurl's multi interface
 * driven by a libuv loop.
 *
 * curl owns the protocol (HTTP/1.1, TLS with OpenSSL and the system CA
 * store, redirects, chunked decoding, connection and DNS caches); we own
 * the waiting. curl's socket callback tells us which fds to watch, and we
 * keep one uv_poll_t per fd; its timer callback tells us when to wake it,
 * and we keep one uv_timer_t. Either event calls curl_multi_socket_action,
 * then we collect finished transfers. Nothing blocks the loop and no thread
 * is started per request (curl's threaded resolver starts one per host-name
 * lookup; CURLOPT_QUICK_EXIT lets an aborted lookup's thread finish alone
 * instead of being joined on the loop).
 *
 * Re-entrancy is the hard part. libcurl forbids adding or removing easy
 * handles from inside its callbacks, and users may abort, pause or start
 * fetches from inside theirs. So every call into curl or into a user
 * callback runs at depth > 0; at depth > 0 abort only marks the fetch and
 * queues it, start only queues the add, and `settle` does the queued work
 * and reads curl's finished transfers once the depth is back to 0. Resuming
 * a paused fetch makes curl deliver buffered bytes synchronously, so it is
 * deferred to a zero timer (`kick`) and never happens inside
 * isl_fetch_pause.
 *
 * Pausing: isl_fetch_pause(f, 1) only sets a flag; the next body write from
 * curl returns CURL_WRITEFUNC_PAUSE, which makes curl keep that chunk and
 * stop reading the socket, so at most one chunk is held per paused fetch.
 *
 * Streamed request bodies: isl_fetch_body_write copies into a queue that
 * curl's read callback empties; an empty queue returns CURL_READFUNC_PAUSE,
 * and the next write or the end resumes the send side from the same zero
 * timer. curl_easy_pause sets both directions at once, so f keeps one bit
 * per direction (curl_paused: receive, send_paused: send) and every call
 * passes both. A body that cannot be sent whole must never end as if it
 * were: with a known length the last byte stays queued until the end is
 * declared, curl sends a chunked body's last chunk only on EOF (which only
 * isl_fetch_body_end(f, 0) gives), and isl_fetch_body_end(f, err) takes f
 * out of curl from the zero timer, which closes its connection mid-body.
 *
 * The response head is collected line by line in the header callback and
 * handed over at its end, unless curl is about to follow it (a 3xx with
 * Location in follow mode) or it is a 1xx; trailers are ignored.
 *
 * libcurl itself is loaded on first use (curl_lazy.c), so a client starts
 * without its multi handle: the first isl_fetch_start loads libcurl if
 * needed and makes the multi handle; until then the client owns only its
 * two uv timers.
 */
#include <arpa/inet.h>
#include <assert.h>
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <curl/curl.h>

#include "common/alloc.h"
#include "fetch/fetch.h"
#include "fetch/internal.h"

/* ---- types -------------------------------------------------------------------------- */

typedef struct sock_s {
  uv_poll_t poll;
  isl_fetch_client_t *c;
  curl_socket_t fd;
  int closed;
  int events; /* what curl asked to watch (UV_READABLE | UV_WRITABLE) */
  struct sock_s *prev, *next;
} sock_t;

struct isl_fetch_client_s {
  uv_loop_t *loop;
  CURLM *multi;     /* NULL until the first isl_fetch_start */
  uv_timer_t timer; /* curl's timeout */
  uv_timer_t kick;  /* deferred resumes */
  uv_timer_t idle;  /* the fetches' no-progress deadlines (timeout_ms) */
  isl_fetch_t *all; /* every fetch not yet freed */
  isl_fetch_t *queue, *queue_tail;
  sock_t *socks;
  size_t active;
  int depth; /* > 0 while inside curl or a user callback */
  int settling;
  int closing;
  int open_handles; /* uv handles not yet closed; the client is freed at 0 */
};

/* One piece of a streamed request body's queue. */
typedef struct up_chunk_s {
  struct up_chunk_s *next;
  size_t off, len, cap; /* data[off..len) is queued */
  char data[];
} up_chunk_t;

struct isl_fetch_s {
  isl_fetch_client_t *c;
  CURL *easy;
  struct curl_slist *hdrs;
  isl_fetch_callbacks_t cb;
  isl_fetch__policy_t pol;
  int redirect;
  uint32_t timeout_ms;
  uint64_t deadline_ms; /* uv_now at which it times out without progress */
  size_t max_header_bytes;
  /* the response head being collected: "name\0value\0" pairs */
  char *head;
  size_t head_len, head_cap, n_hdr, head_bytes;
  int status, has_location, head_complete;
  char status_text[128];
  /* state */
  int in_multi, queued, aborted, done, responded;
  int paused, curl_paused, want_resume;
  /* the streamed request body (body_stream) */
  int up_stream;
  int64_t up_length;            /* -1 = unknown (chunked) */
  uint64_t up_written, up_sent; /* taken by body_write; handed to curl */
  size_t up_queued;             /* up_written - up_sent */
  up_chunk_t *up_head, *up_tail;
  int up_closed;              /* isl_fetch_body_end was called */
  int up_ended;               /* ... with err 0 and the whole body */
  int up_failed, up_fail_now; /* ... otherwise; the kick takes f out of curl */
  int up_removed;             /* ... and has done so */
  int send_paused, want_send; /* curl's send side is paused; resume it */
  int drain_wanted;           /* a write returned 1: call on_body_drain */
  char up_msg[160];
  int err; /* decided by us (policy, head too large, redirect mode) */
  char msg[320];
  char errbuf[CURL_ERROR_SIZE];
  isl_fetch_t *prev, *next, *qnext;
};

/* ---- private prototypes ------------------------------------------------------------- */

static void settle(isl_fetch_client_t *c);
static void release(isl_fetch_t *f);
static void on_kick(uv_timer_t *t);

__attribute__((format(printf, 2, 3))) static void setmsg(isl_fetch_t *f, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(f->msg, sizeof f->msg, fmt, ap);
  va_end(ap);
}

/* ---- errors ------------------------------------------------------------------------- */

const char *isl_fetch_strerror(int code) {
  switch (code) {
#define ISL_FETCH_ERR_MSG(name, value, msg) \
  case value:                               \
    return msg;
    ISL_FETCH_ERRNO_MAP(ISL_FETCH_ERR_MSG)
#undef ISL_FETCH_ERR_MSG
  }
  if (code <= -4000) return isl_strerror(code);
  return uv_strerror(code);
}

const char *isl_fetch_err_name(int code) {
  switch (code) {
#define ISL_FETCH_ERR_NAME(name, value, msg) \
  case value:                                \
    return "ISL_FETCH_" #name;
    ISL_FETCH_ERRNO_MAP(ISL_FETCH_ERR_NAME)
#undef ISL_FETCH_ERR_NAME
    case UV_ECONNREFUSED:
      return "UV_ECONNREFUSED";
    case UV_ETIMEDOUT:
      return "UV_ETIMEDOUT";
  }
  if (code <= -4000) return isl_err_name(code);
  return uv_err_name(code);
}

/* ---- the deferred-work queue -------------------------------------------------------- */

static void enqueue(isl_fetch_t *f) {
  isl_fetch_client_t *c = f->c;
  if (f->queued) return;
  f->queued = 1;
  f->qnext = NULL;
  if (c->queue_tail)
    c->queue_tail->qnext = f;
  else
    c->queue = f;
  c->queue_tail = f;
}

static isl_fetch_t *dequeue(isl_fetch_client_t *c) {
  isl_fetch_t *f = c->queue;
  if (!f) return NULL;
  c->queue = f->qnext;
  if (!c->queue) c->queue_tail = NULL;
  f->queued = 0;
  f->qnext = NULL;
  return f;
}

/* ---- uv handles ---------------------------------------------------------------------- */

static void client_handle_closed(uv_handle_t *h) {
  isl_fetch_client_t *c = h->data;
  if (--c->open_handles == 0) free(c);
}

/* ---- no progress for timeout_ms ------------------------------------------------------
 * Every fetch has a deadline, timeout_ms after its last progress (a
 * header line, a body chunk, upload bytes taken, its start); time while
 * it is paused by its caller (receive paused, or an upload waiting for
 * the caller's bytes) does not count. One timer per client wakes at the
 * earliest deadline; a fetch past its own is taken out of curl and ends
 * with UV_ETIMEDOUT. */
static void progress(isl_fetch_t *f) {
  f->deadline_ms = uv_now(f->c->loop) + f->timeout_ms;
}

static void idle_check(uv_timer_t *t);

static void idle_arm(isl_fetch_client_t *c) {
  uint64_t now = uv_now(c->loop), next = 0;
  for (isl_fetch_t *f = c->all; f; f = f->next) {
    if (f->aborted || f->done) continue;
    if (!next || f->deadline_ms < next) next = f->deadline_ms;
  }
  if (!next) {
    uv_timer_stop(&c->idle);
    return;
  }
  uv_timer_start(&c->idle, idle_check, next > now ? next - now : 0, 0);
}

static void sock_closed(uv_handle_t *h) {
  sock_t *s = h->data;
  isl_fetch_client_t *c = s->c;
  free(s);
  if (--c->open_handles == 0 && c->closing) free(c);
}

static void sock_close(sock_t *s) {
  isl_fetch_client_t *c = s->c;
  if (s->closed) return;
  s->closed = 1;
  if (s->prev)
    s->prev->next = s->next;
  else
    c->socks = s->next;
  if (s->next) s->next->prev = s->prev;
  uv_poll_stop(&s->poll);
  uv_close((uv_handle_t *)&s->poll, sock_closed);
}

static void on_poll(uv_poll_t *h, int status, int events) {
  sock_t *s = h->data;
  isl_fetch_client_t *c = s->c;
  int flags = 0, running = 0;
  if (s->closed || c->closing) return;
  if (status < 0) {
    /* libuv reports a socket error (POLLERR, e.g. a reset) as UV_EBADF and
     * stops the handle. Let curl do the I/O and meet the error itself: a
     * reused keep-alive connection the origin closed as the request went
     * out is then retried on a fresh one, as curl does, instead of failing
     * the fetch with "select/poll returned error". Watch on meanwhile. */
    flags = (s->events & UV_READABLE ? CURL_CSELECT_IN : 0) | (s->events & UV_WRITABLE ? CURL_CSELECT_OUT : 0);
    uv_poll_start(&s->poll, s->events, on_poll);
  }
  if (events & UV_READABLE) flags |= CURL_CSELECT_IN;
  if (events & UV_WRITABLE) flags |= CURL_CSELECT_OUT;
  c->depth++;
  curl_multi_socket_action(c->multi, s->fd, flags, &running);
  c->depth--;
  settle(c);
}

static void on_timeout(uv_timer_t *t) {
  isl_fetch_client_t *c = t->data;
  int running = 0;
  if (c->closing) return;
  c->depth++;
  curl_multi_socket_action(c->multi, CURL_SOCKET_TIMEOUT, 0, &running);
  c->depth--;
  settle(c);
}

/* CURLMOPT_SOCKETFUNCTION */
static int curl_socket_cb(CURL *easy, curl_socket_t fd, int what, void *userp, void *socketp) {
  isl_fetch_client_t *c = userp;
  sock_t *s = socketp;
  (void)easy;
  if (what == CURL_POLL_REMOVE) {
    if (s) {
      sock_close(s);
      if (!c->closing) curl_multi_assign(c->multi, fd, NULL);
    }
    return 0;
  }
  if (c->closing) return 0;
  if (!s || s->closed) {
    s = calloc(1, sizeof *s);
    if (!s) return -1;
    s->c = c;
    s->fd = fd;
    if (uv_poll_init_socket(c->loop, &s->poll, fd) != 0) {
      free(s);
      return -1;
    }
    s->poll.data = s;
    c->open_handles++;
    s->next = c->socks;
    if (c->socks) c->socks->prev = s;
    c->socks = s;
    curl_multi_assign(c->multi, fd, s);
  }
  int events = 0;
  if (what & CURL_POLL_IN) events |= UV_READABLE;
  if (what & CURL_POLL_OUT) events |= UV_WRITABLE;
  s->events = events;
  uv_poll_start(&s->poll, events, on_poll);
  return 0;
}

/* CURLMOPT_TIMERFUNCTION */
static int curl_timer_cb(CURLM *multi, long timeout_ms, void *userp) {
  isl_fetch_client_t *c = userp;
  (void)multi;
  if (c->closing) return 0;
  if (timeout_ms < 0)
    uv_timer_stop(&c->timer);
  else
    uv_timer_start(&c->timer, on_timeout, (uint64_t)timeout_ms, 0);
  return 0;
}

/* ---- the response head -------------------------------------------------------------- */

static void head_reset(isl_fetch_t *f) {
  f->head_len = 0;
  f->n_hdr = 0;
  f->head_bytes = 0;
  f->status = 0;
  f->status_text[0] = '\0';
  f->has_location = 0;
  f->head_complete = 0;
}

static int head_append(isl_fetch_t *f, const char *s, size_t n) {
  if (f->head_len + n + 1 > f->head_cap) {
    size_t cap = f->head_cap ? f->head_cap : 1024;
    while (cap < f->head_len + n + 1) cap *= 2;
    char *p = realloc(f->head, cap);
    if (!p) return -1;
    f->head = p;
    f->head_cap = cap;
  }
  memcpy(f->head + f->head_len, s, n);
  f->head[f->head_len + n] = '\0';
  f->head_len += n + 1;
  return 0;
}

static const char *effective_url(isl_fetch_t *f) {
  char *u = NULL;
  curl_easy_getinfo(f->easy, CURLINFO_EFFECTIVE_URL, &u);
  return u ? u : "";
}

__attribute__((format(printf, 3, 4))) static size_t fail_transfer(isl_fetch_t *f, int err, const char *fmt, ...);

/* Hands the collected head to on_response (once). Runs at depth > 0.
 * -1 when the host is out of memory (f->err says so: the transfer fails,
 * common/alloc.h's policy). */
static int deliver_head(isl_fetch_t *f) {
  isl_http_header_t small[32], *h = small;
  if (f->responded || f->aborted) return 0;
  if (f->cb.on_response && f->n_hdr > sizeof small / sizeof small[0]) {
    h = isl_malloc(f->n_hdr * sizeof *h);
    if (!h) return (int)fail_transfer(f, ISL_ENOMEM, "out of memory for the response headers") - 1;
  }
  f->responded = 1;
  if (!f->cb.on_response) return 0;
  const char *p = f->head;
  for (size_t i = 0; i < f->n_hdr; i++) {
    h[i].name = p;
    h[i].name_len = strlen(p);
    p += h[i].name_len + 1;
    h[i].value = p;
    h[i].value_len = strlen(p);
    p += h[i].value_len + 1;
  }
  f->cb.on_response(f, f->status, f->status_text, h, f->n_hdr, effective_url(f));
  if (h != small) free(h);
  return 0;
}

/* Records our reason for ending the transfer (the first one wins) and
 * returns what makes curl end it (CURLE_WRITE_ERROR). */
__attribute__((format(printf, 3, 4))) static size_t fail_transfer(isl_fetch_t *f, int err, const char *fmt, ...) {
  if (!f->err) {
    va_list ap;
    f->err = err;
    va_start(ap, fmt);
    vsnprintf(f->msg, sizeof f->msg, fmt, ap);
    va_end(ap);
  }
  return 0;
}

/* CURLOPT_HEADERFUNCTION: one whole line at a time, CRLF included. */
static size_t on_header(char *p, size_t size, size_t nitems, void *ud) {
  isl_fetch_t *f = ud;
  size_t n = size * nitems, len = n;
  progress(f);
  if (f->aborted) return 0;
  if (f->responded) return n; /* trailers */
  while (len && (p[len - 1] == '\n' || p[len - 1] == '\r')) len--;
  if (len >= 5 && memcmp(p, "HTTP/", 5) == 0) {
    /* a new response: 1xx, a redirect curl follows, or the final one */
    head_reset(f);
    f->head_bytes = n;
    const char *sp = memchr(p, ' ', len);
    if (!sp || len - (size_t)(sp + 1 - p) < 3)
      return fail_transfer(f, ISL_FETCH_EPROTO, "invalid status line from %s", effective_url(f));
    const char *code = sp + 1;
    if (!isdigit((unsigned char)code[0]) || !isdigit((unsigned char)code[1]) || !isdigit((unsigned char)code[2]))
      return fail_transfer(f, ISL_FETCH_EPROTO, "invalid status line from %s", effective_url(f));
    f->status = (code[0] - '0') * 100 + (code[1] - '0') * 10 + (code[2] - '0');
    const char *reason = code + 3;
    size_t rlen = len - (size_t)(reason - p);
    if (rlen && *reason == ' ') reason++, rlen--;
    if (rlen >= sizeof f->status_text) rlen = sizeof f->status_text - 1;
    memcpy(f->status_text, reason, rlen);
    f->status_text[rlen] = '\0';
    return n;
  }
  f->head_bytes += n;
  if (f->head_bytes > f->max_header_bytes) {
    return fail_transfer(f, ISL_FETCH_EPROTO, "response headers larger than %zu bytes", f->max_header_bytes);
  }
  if (len == 0) { /* end of this head */
    if (f->status < 200) return n;
    f->head_complete = 1;
    if (f->status >= 300 && f->status < 400 && f->has_location) {
      /* curl turns a POST into a GET on 301/302/303 (a streamed body is
       * always sent as one) and sends the body again on the others */
      if (f->redirect == ISL_FETCH_REDIRECT_FOLLOW && f->up_stream && f->status != 301 && f->status != 302 &&
          f->status != 303)
        return fail_transfer(f, ISL_FETCH_EREDIRECT,
                             "cannot follow a %d redirect from %s with a streamed request body (it would have to "
                             "be sent again)",
                             f->status, effective_url(f));
      if (f->redirect == ISL_FETCH_REDIRECT_FOLLOW) return n; /* curl follows; the next head resets */
      if (f->redirect == ISL_FETCH_REDIRECT_ERROR)
        return fail_transfer(f, ISL_FETCH_EREDIRECT, "redirect from %s refused (redirect mode is \"error\")",
                             effective_url(f));
    }
    if (deliver_head(f) < 0) return 0;
    return f->aborted ? 0 : n;
  }
  if (*p == ' ' || *p == '\t') return n; /* obsolete line folding: dropped */
  const char *colon = memchr(p, ':', len);
  if (!colon || colon == p) return n; /* not a header: ignored, as browsers do */
  size_t nlen = (size_t)(colon - p);
  const char *v = colon + 1, *end = p + len;
  while (v < end && (*v == ' ' || *v == '\t')) v++;
  while (end > v && (end[-1] == ' ' || end[-1] == '\t')) end--;
  if (head_append(f, p, nlen) != 0 || head_append(f, v, (size_t)(end - v)) != 0)
    return fail_transfer(f, ISL_ENOMEM, "out of memory for the response headers");
  f->n_hdr++;
  if (nlen == 8 && strncasecmp(p, "location", 8) == 0) f->has_location = 1;
  return n;
}

/* CURLOPT_WRITEFUNCTION: body bytes (de-chunked, not content-decoded). */
static size_t on_write(char *p, size_t size, size_t nitems, void *ud) {
  isl_fetch_t *f = ud;
  size_t n = size * nitems;
  progress(f);
  if (f->aborted) return 0;
  if (!f->responded) {
    if (deliver_head(f) < 0) return 0;
    if (f->aborted) return 0;
  }
  if (f->paused) {
    f->curl_paused = 1;
    return CURL_WRITEFUNC_PAUSE;
  }
  if (n && f->cb.on_body) f->cb.on_body(f, p, n);
  return f->aborted ? 0 : n;
}

/* ---- the streamed request body ---------------------------------------------------------- */

/* Resumes curl's send side from the zero timer (never inside the caller). */
static void resume_send(isl_fetch_t *f) {
  if (!f->send_paused || f->want_send) return;
  f->want_send = 1;
  uv_timer_start(&f->c->kick, on_kick, 0, 0);
}

static void up_free(isl_fetch_t *f) {
  while (f->up_head) {
    up_chunk_t *k = f->up_head;
    f->up_head = k->next;
    free(k);
  }
  f->up_tail = NULL;
  f->up_queued = 0;
}

/* CURLOPT_READFUNCTION: the next bytes of a streamed body. */
static size_t on_read(char *buf, size_t size, size_t nitems, void *ud) {
  isl_fetch_t *f = ud;
  size_t cap = size * nitems, n = 0;
  progress(f);
  if (f->aborted || f->up_failed) return CURL_READFUNC_ABORT;
  if (f->up_length >= 0 && !f->up_ended) {
    /* the last byte waits for isl_fetch_body_end(f, 0) */
    uint64_t left = (uint64_t)f->up_length - f->up_sent;
    uint64_t may = left ? left - 1 : 0;
    if (cap > may) cap = (size_t)may;
  }
  while (n < cap && f->up_head) {
    up_chunk_t *k = f->up_head;
    size_t take = k->len - k->off;
    if (take > cap - n) take = cap - n;
    memcpy(buf + n, k->data + k->off, take);
    k->off += take;
    n += take;
    if (k->off == k->len) {
      f->up_head = k->next;
      if (!f->up_head) f->up_tail = NULL;
      free(k);
    }
  }
  f->up_sent += n;
  f->up_queued -= n;
  if (n == 0) {
    if (f->up_ended) return 0; /* EOF: curl ends the body (the last chunk, if chunked) */
    f->send_paused = 1;
    return CURL_READFUNC_PAUSE;
  }
  if (f->drain_wanted && f->up_queued <= ISL_FETCH_UPLOAD_QUEUE / 2) {
    f->drain_wanted = 0;
    if (f->cb.on_body_drain) f->cb.on_body_drain(f);
    if (f->aborted || f->up_failed) return CURL_READFUNC_ABORT;
  }
  return n;
}

/* CURLOPT_SEEKFUNCTION: curl wants to send the body again (a retry on a
 * new connection after a reused one failed). Possible only if none of it
 * has been handed over yet. */
static int on_seek(void *ud, curl_off_t offset, int origin) {
  isl_fetch_t *f = ud;
  if (offset == 0 && origin == SEEK_SET && f->up_sent == 0) return CURL_SEEKFUNC_OK;
  if (!f->err) {
    f->err = ISL_FETCH_ENET;
    setmsg(f, "the request to %s has to be sent again, and its streamed body cannot be", effective_url(f));
  }
  return CURL_SEEKFUNC_CANTSEEK;
}

size_t isl_fetch__upload_queued(const isl_fetch_t *f) {
  return f->up_queued;
}

int isl_fetch_body_write(isl_fetch_t *f, const void *data, size_t len) {
  if (!f || !f->up_stream || f->aborted || f->done || f->up_closed) return ISL_EINVAL;
  if (f->up_length >= 0 && len > (uint64_t)f->up_length - f->up_written) return ISL_EINVAL;
  if (len) {
    up_chunk_t *k = f->up_tail;
    size_t room = k ? k->cap - k->len : 0, put = len < room ? len : room;
    if (put) { /* fill the last piece first: small writes do not each cost one */
      memcpy(k->data + k->len, data, put);
      k->len += put;
    }
    if (put < len) {
      size_t rest = len - put, cap = rest < (16u << 10) ? (16u << 10) : rest;
      up_chunk_t *nk = malloc(sizeof *nk + cap);
      if (!nk) {
        if (k) k->len -= put;
        return ISL_ENOMEM;
      }
      nk->next = NULL;
      nk->off = 0;
      nk->cap = cap;
      nk->len = rest;
      memcpy(nk->data, (const char *)data + put, rest);
      if (k)
        k->next = nk;
      else
        f->up_head = nk;
      f->up_tail = nk;
    }
    f->up_written += len;
    f->up_queued += len;
    resume_send(f);
  }
  if (f->up_queued >= ISL_FETCH_UPLOAD_QUEUE) {
    f->drain_wanted = 1;
    return 1;
  }
  return 0;
}

void isl_fetch_body_end(isl_fetch_t *f, int err) {
  if (!f || !f->up_stream || f->aborted || f->done || f->up_closed) return;
  f->up_closed = 1;
  if (!err && f->up_length >= 0 && f->up_written != (uint64_t)f->up_length) {
    snprintf(f->up_msg, sizeof f->up_msg,
             "the request body could not be sent whole: it ended after %llu of its %lld bytes",
             (unsigned long long)f->up_written, (long long)f->up_length);
  } else if (err) {
    snprintf(f->up_msg, sizeof f->up_msg,
             "the request body could not be sent whole: its source failed after %llu bytes",
             (unsigned long long)f->up_written);
  } else {
    f->up_ended = 1;
    resume_send(f);
    return;
  }
  /* taken out of curl from the zero timer: its connection is closed mid-body */
  f->up_failed = 1;
  f->up_fail_now = 1;
  f->drain_wanted = 0;
  uv_timer_start(&f->c->kick, on_kick, 0, 0);
}

/* ---- the policy, on every connection ------------------------------------------------ */

/* CURLOPT_OPENSOCKETFUNCTION: before each new connection. A refusal makes
 * curl try the next address; if none is left the transfer fails with
 * COULDNT_CONNECT and f->err says why. */
static curl_socket_t on_opensocket(void *ud, curlsocktype purpose, struct curl_sockaddr *a) {
  isl_fetch_t *f = ud;
  char msg[sizeof f->msg];
  if (purpose != CURLSOCKTYPE_IPCXN) return CURL_SOCKET_BAD;
  if (isl_fetch__policy_check(&f->pol, effective_url(f), &a->addr, NULL, msg, sizeof msg) != 0) {
    if (!f->err) {
      f->err = ISL_FETCH_EBLOCKED;
      memcpy(f->msg, msg, sizeof msg);
    }
    return CURL_SOCKET_BAD;
  }
  return socket(a->family, a->socktype | SOCK_CLOEXEC, a->protocol);
}

/* "1.2.3.4" / "::1" and a port into ss; AF_UNSPEC (judged private) if ip
 * is neither. */
static void to_sockaddr(const char *ip, int port, struct sockaddr_storage *ss) {
  struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
  struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;
  memset(ss, 0, sizeof *ss);
  if (ip && inet_pton(AF_INET, ip, &s4->sin_addr) == 1) {
    s4->sin_family = AF_INET;
    s4->sin_port = htons((uint16_t)port);
  } else if (ip && inet_pton(AF_INET6, ip, &s6->sin6_addr) == 1) {
    s6->sin6_family = AF_INET6;
    s6->sin6_port = htons((uint16_t)port);
  } else {
    ss->ss_family = AF_UNSPEC;
  }
}

/* CURLOPT_PREREQFUNCTION: before each request is sent, on a new or reused
 * connection; the connection's own address tells whether it goes to this
 * machine. */
static int on_prereq(void *ud, char *ip, char *local_ip, int port, int local_port) {
  isl_fetch_t *f = ud;
  struct sockaddr_storage ss, self;
  to_sockaddr(ip, port, &ss);
  to_sockaddr(local_ip, local_port, &self);
  if (isl_fetch__policy_check(&f->pol, effective_url(f), (struct sockaddr *)&ss, (struct sockaddr *)&self, f->msg,
                              sizeof f->msg) != 0) {
    f->err = ISL_FETCH_EBLOCKED;
    return CURL_PREREQFUNC_ABORT;
  }
  if (f->err == ISL_FETCH_EBLOCKED) f->err = 0; /* an earlier address was refused, this one is fine */
  return CURL_PREREQFUNC_OK;
}

/* ---- finishing ---------------------------------------------------------------------- */

static void host_port(isl_fetch_t *f, char *buf, size_t cap) {
  char origin[512];
  const char *o = origin;
  if (isl_fetch__origin(effective_url(f), origin, sizeof origin) != 0) {
    snprintf(buf, cap, "%s", effective_url(f));
    return;
  }
  const char *sep = strstr(o, "://");
  const char *hp = sep ? sep + 3 : o;
  size_t n = strlen(hp);
  if (n >= cap) n = cap - 1;
  memcpy(buf, hp, n);
  buf[n] = '\0';
}

/* The error code and message for curl's result rc. */
static int classify(isl_fetch_t *f, CURLcode rc) {
  char hp[300];
  const char *why = f->errbuf[0] ? f->errbuf : curl_easy_strerror(rc);
  if (rc == CURLE_OK) return 0;
  if (f->err) return f->err; /* ours: policy, head size, redirect mode */
  host_port(f, hp, sizeof hp);
  switch (rc) {
    case CURLE_COULDNT_RESOLVE_HOST: {
      char *host = NULL;
      CURLU *u = curl_url();
      if (u && curl_url_set(u, CURLUPART_URL, effective_url(f), 0) == CURLUE_OK)
        curl_url_get(u, CURLUPART_HOST, &host, 0);
      setmsg(f, "DNS lookup of %s failed", host ? host : hp);
      curl_free(host);
      curl_url_cleanup(u);
      return ISL_FETCH_EDNS;
    }
    case CURLE_COULDNT_CONNECT: {
      long os = 0;
      curl_easy_getinfo(f->easy, CURLINFO_OS_ERRNO, &os);
      if (os == ECONNREFUSED) {
        setmsg(f, "connection refused by %s", hp);
        return UV_ECONNREFUSED;
      }
      setmsg(f, "could not connect to %s: %s", hp, why);
      return ISL_FETCH_ENET;
    }
    case CURLE_OPERATION_TIMEDOUT:
      setmsg(f, "timed out after %u ms without progress", (unsigned)f->timeout_ms);
      return UV_ETIMEDOUT;
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_ENGINE_NOTFOUND:
    case CURLE_SSL_ENGINE_SETFAILED:
    case CURLE_SSL_ENGINE_INITFAILED:
    case CURLE_SSL_ISSUER_ERROR:
    case CURLE_SSL_CRL_BADFILE:
    case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
    case CURLE_SSL_INVALIDCERTSTATUS:
    case CURLE_SSL_SHUTDOWN_FAILED:
    case CURLE_USE_SSL_FAILED:
      setmsg(f, "TLS handshake with %s failed: %s", hp, why);
      return ISL_FETCH_ETLS;
    case CURLE_PEER_FAILED_VERIFICATION:
      setmsg(f, "TLS certificate of %s not accepted: %s", hp, why);
      return ISL_FETCH_ETLS;
    case CURLE_TOO_MANY_REDIRECTS:
      setmsg(f, "too many redirects (more than %d)", ISL_FETCH_MAX_REDIRECTS);
      return ISL_FETCH_EREDIRECT;
    case CURLE_UNSUPPORTED_PROTOCOL:
      setmsg(f, "blocked: only http and https URLs may be fetched (%s)", why);
      return ISL_FETCH_EBLOCKED;
    case CURLE_PARTIAL_FILE: /* short of its Content-Length, or chunked without its last chunk */
      setmsg(f, "the connection to %s closed before the whole response body arrived: %s", hp, why);
      return ISL_FETCH_ENET;
    case CURLE_OUT_OF_MEMORY:
      setmsg(f, "out of memory");
      return ISL_ENOMEM;
    case CURLE_WEIRD_SERVER_REPLY:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
    case CURLE_BAD_CONTENT_ENCODING:
    case CURLE_RANGE_ERROR:
    case CURLE_HTTP_RETURNED_ERROR:
    case CURLE_URL_MALFORMAT:
      setmsg(f, "invalid response from %s: %s", hp, why);
      return ISL_FETCH_EPROTO;
    default:
      setmsg(f, "connection to %s failed: %s", hp, why);
      return ISL_FETCH_ENET;
  }
}

/* curl is done with f: tell the user (at depth > 0) and free it. */
static void finish(isl_fetch_t *f, CURLcode rc) {
  isl_fetch_client_t *c = f->c;
  int err = classify(f, rc);
  if (f->up_failed && (err == 0 || f->up_removed || (rc == CURLE_ABORTED_BY_CALLBACK && !f->err))) {
    err = ISL_FETCH_ENET; /* never complete with a body that was not sent whole */
    setmsg(f, "%s", f->up_msg);
  }
  c->depth++;
  if (err == 0 && !f->responded && deliver_head(f) < 0) err = ISL_ENOMEM; /* no body bytes (HEAD, 204, empty) */
  if (!f->aborted) {
    f->done = 1;
    c->active--;
    if (f->cb.on_done) f->cb.on_done(f, err, err ? f->msg : "");
  }
  c->depth--;
  if (f->queued)
    f->aborted = 1; /* aborted from on_response: the queue frees it */
  else
    release(f);
}

/* Removes f from curl and the client and frees it. Never at depth > 0. */
static void release(isl_fetch_t *f) {
  isl_fetch_client_t *c = f->c;
  if (f->in_multi) curl_multi_remove_handle(c->multi, f->easy);
  curl_easy_cleanup(f->easy);
  curl_slist_free_all(f->hdrs);
  isl_fetch__policy_clear(&f->pol);
  free(f->head);
  up_free(f);
  if (f->prev)
    f->prev->next = f->next;
  else
    c->all = f->next;
  if (f->next) f->next->prev = f->prev;
  free(f);
}

/* Does the queued work and reads finished transfers, until neither is left.
 * Runs only at depth 0 and never nested. */
static void settle(isl_fetch_client_t *c) {
  if (c->depth > 0 || c->settling || c->closing) return;
  c->settling = 1;
  for (;;) {
    int progress = 0;
    isl_fetch_t *f;
    while ((f = dequeue(c))) {
      progress = 1;
      if (f->aborted) {
        release(f);
      } else if (!f->in_multi) {
        if (curl_multi_add_handle(c->multi, f->easy) == CURLM_OK) {
          f->in_multi = 1;
        } else {
          f->err = ISL_ENOMEM;
          setmsg(f, "could not start the request");
          finish(f, CURLE_OUT_OF_MEMORY);
        }
      }
    }
    CURLMsg *m;
    int left;
    while ((m = curl_multi_info_read(c->multi, &left))) {
      if (m->msg != CURLMSG_DONE) continue;
      CURLcode rc = m->data.result;
      char *priv = NULL;
      curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, &priv);
      f = (isl_fetch_t *)(void *)priv;
      progress = 1;
      if (f->aborted) {
        if (!f->queued) release(f);
      } else {
        finish(f, rc);
      }
      break; /* the user may have aborted others: read the queue first */
    }
    if (!progress) break;
  }
  c->settling = 0;
}

static void on_kick(uv_timer_t *t) {
  isl_fetch_client_t *c = t->data;
  if (c->closing) return;
  /* Streamed bodies that cannot be sent whole: out of curl now, at depth 0,
   * which closes their connections mid-body. A fetch that on_done aborts or
   * starts is only marked or queued here, so `next` stays valid. */
  for (isl_fetch_t *f = c->all, *next; f; f = next) {
    next = f->next;
    if (!f->up_fail_now) continue;
    f->up_fail_now = 0;
    if (f->aborted || f->done || !f->in_multi) continue; /* not yet added: on_read aborts it */
    curl_multi_remove_handle(c->multi, f->easy);
    f->in_multi = 0;
    f->up_removed = 1;
    finish(f, CURLE_ABORTED_BY_CALLBACK);
  }
  c->depth++;
  for (isl_fetch_t *f = c->all, *next; f; f = next) {
    next = f->next;
    if ((!f->want_resume && !f->want_send) || f->aborted) continue;
    if (f->want_resume) f->want_resume = 0, f->curl_paused = 0;
    if (f->want_send) f->want_send = 0, f->send_paused = 0;
    /* both directions at once: the other one stays as it is */
    int mask = (f->curl_paused ? CURLPAUSE_RECV : 0) | (f->send_paused ? CURLPAUSE_SEND : 0);
    curl_easy_pause(f->easy, mask); /* may call on_write at once */
  }
  c->depth--;
  settle(c);
}

static void idle_check(uv_timer_t *t) {
  isl_fetch_client_t *c = t->data;
  if (c->closing) return;
  uint64_t now = uv_now(c->loop);
  for (isl_fetch_t *f = c->all, *next; f; f = next) {
    next = f->next;
    if (f->aborted || f->done) continue;
    int waiting = f->paused || f->curl_paused || (f->send_paused && !f->up_ended);
    if (waiting || !f->in_multi) {
      progress(f); /* the caller's wait, or not started yet: not the origin's */
      continue;
    }
    if (now < f->deadline_ms) continue;
    curl_multi_remove_handle(c->multi, f->easy);
    f->in_multi = 0;
    finish(f, CURLE_OPERATION_TIMEDOUT); /* "timed out", UV_ETIMEDOUT */
  }
  settle(c);
  if (!c->closing) idle_arm(c);
}

/* ---- the client ---------------------------------------------------------------------- */

int isl_fetch_client_new(uv_loop_t *loop, isl_fetch_client_t **out) {
  isl_fetch_client_t *c = calloc(1, sizeof *c);
  if (!c) return ISL_ENOMEM;
  c->loop = loop;
  uv_timer_init(loop, &c->timer);
  uv_timer_init(loop, &c->kick);
  uv_timer_init(loop, &c->idle);
  uv_unref((uv_handle_t *)&c->idle); /* transfers keep the loop alive, not their deadlines */
  c->timer.data = c;
  c->kick.data = c;
  c->idle.data = c;
  c->open_handles = 3;
  *out = c;
  return 0;
}

/* Loads libcurl (once per process) and makes c's multi handle (once per
 * client). 0, or ISL_ESYS / ISL_ENOMEM with err. */
static int client_multi(isl_fetch_client_t *c, isl_err_t *err) {
  int rc;
  if (c->multi) return 0;
  if ((rc = isl_fetch__curl_load(err)) != 0) return rc;
  c->multi = curl_multi_init();
  if (!c->multi) return isl_err_set(err, ISL_ENOMEM, "fetch: out of memory");
  curl_multi_setopt(c->multi, CURLMOPT_SOCKETFUNCTION, curl_socket_cb);
  curl_multi_setopt(c->multi, CURLMOPT_SOCKETDATA, c);
  curl_multi_setopt(c->multi, CURLMOPT_TIMERFUNCTION, curl_timer_cb);
  curl_multi_setopt(c->multi, CURLMOPT_TIMERDATA, c);
  curl_multi_setopt(c->multi, CURLMOPT_MAXCONNECTS, 64L);
  return 0;
}

size_t isl_fetch_client_active(const isl_fetch_client_t *c) {
  return c->active;
}

void isl_fetch_client_free(isl_fetch_client_t *c) {
  if (!c) return;
  assert(c->depth == 0 && "isl_fetch_client_free from inside a fetch callback");
  while (c->all) {
    c->all->queued = 0;
    release(c->all); /* curl's socket callback closes their polls */
  }
  c->queue = c->queue_tail = NULL;
  c->closing = 1;
  while (c->socks) sock_close(c->socks);
  if (c->multi) curl_multi_cleanup(c->multi); /* closes cached connections */
  c->multi = NULL;
  uv_timer_stop(&c->timer);
  uv_timer_stop(&c->kick);
  uv_timer_stop(&c->idle);
  uv_close((uv_handle_t *)&c->timer, client_handle_closed);
  uv_close((uv_handle_t *)&c->kick, client_handle_closed);
  uv_close((uv_handle_t *)&c->idle, client_handle_closed);
}

/* ---- starting a fetch ---------------------------------------------------------------- */

static int is_tchar(int ch) {
  return isalnum(ch) || (ch && strchr("!#$%&'*+-.^_`|~", ch));
}

static int header_dropped(const char *name, size_t len) {
  static const char *const drop[] = {"connection", "keep-alive",       "transfer-encoding",   "te",
                                     "trailer",    "upgrade",          "content-length",      "host",
                                     "expect",     "proxy-connection", "proxy-authorization", "proxy-authenticate",
                                     NULL};
  for (const char *const *d = drop; *d; d++)
    if (strlen(*d) == len && strncasecmp(*d, name, len) == 0) return 1;
  return 0;
}

static int add_header(struct curl_slist **list, const char *line) {
  struct curl_slist *l = curl_slist_append(*list, line);
  if (!l) return -1;
  *list = l;
  return 0;
}

/* Builds the curl header list of req into *out. ISL_EINVAL with err. */
static int build_headers(const isl_fetch_request_t *req, struct curl_slist **out, isl_err_t *err) {
  struct curl_slist *list = NULL;
  int has_accept = 0, has_ctype = 0;
  char stackbuf[1024];
  for (size_t i = 0; i < req->n_headers; i++) {
    const isl_http_header_t *h = &req->headers[i];
    if (h->name_len == 0) goto bad;
    for (size_t k = 0; k < h->name_len; k++)
      if (!is_tchar((unsigned char)h->name[k])) goto bad;
    for (size_t k = 0; k < h->value_len; k++)
      if (h->value[k] == '\r' || h->value[k] == '\n' || h->value[k] == '\0') goto bad;
    if (header_dropped(h->name, h->name_len)) continue;
    if (h->name_len == 6 && strncasecmp(h->name, "accept", 6) == 0) has_accept = 1;
    if (h->name_len == 12 && strncasecmp(h->name, "content-type", 12) == 0) has_ctype = 1;
    /* curl: "Name;" sends an empty value, "Name:" would remove the header */
    size_t vlen = h->value_len;
    while (vlen && (h->value[vlen - 1] == ' ' || h->value[vlen - 1] == '\t')) vlen--;
    size_t need = h->name_len + vlen + 3;
    char *line = need <= sizeof stackbuf ? stackbuf : malloc(need);
    if (!line) goto nomem;
    if (vlen)
      snprintf(line, need, "%.*s: %.*s", (int)h->name_len, h->name, (int)vlen, h->value);
    else
      snprintf(line, need, "%.*s;", (int)h->name_len, h->name);
    int rc = add_header(&list, line);
    if (line != stackbuf) free(line);
    if (rc != 0) goto nomem;
    continue;
  bad:
    curl_slist_free_all(list);
    return isl_err_set(err, ISL_EINVAL, "fetch: invalid header %.*s", (int)(h->name_len > 64 ? 64 : h->name_len),
                       h->name);
  }
  /* the hop count, after the caller's own CDN-Loop lines (hops.c) */
  if (req->hops) {
    snprintf(stackbuf, sizeof stackbuf, "%s: %s; loops=%u", ISL_FETCH_LOOP_HEADER, ISL_FETCH_LOOP_ID, req->hops);
    if (add_header(&list, stackbuf) != 0) goto nomem;
  }
  /* none of curl's own: no Accept, no form Content-Type, no Expect: 100-continue */
  if ((!has_accept && add_header(&list, "Accept:") != 0) || (!has_ctype && add_header(&list, "Content-Type:") != 0) ||
      add_header(&list, "Expect:") != 0)
    goto nomem;
  *out = list;
  return 0;
nomem:
  curl_slist_free_all(list);
  return isl_err_set(err, ISL_ENOMEM, "fetch: out of memory");
}

/* Sets the method and body on f->easy. */
static int set_method(isl_fetch_t *f, const isl_fetch_request_t *req, isl_err_t *err) {
  const char *m = req->method ? req->method : "GET";
  size_t mlen = strlen(m);
  static const char *const std[] = {"GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH", NULL};
  char up[16];
  if (mlen == 0 || mlen > 64) goto bad;
  for (size_t i = 0; i < mlen; i++)
    if (!is_tchar((unsigned char)m[i])) goto bad;
  for (const char *const *s = std; *s; s++) {
    if (strcasecmp(m, *s) == 0) { /* normalised as fetch() does */
      snprintf(up, sizeof up, "%s", *s);
      m = up;
      break;
    }
  }
  if (!strcasecmp(m, "CONNECT") || !strcasecmp(m, "TRACE") || !strcasecmp(m, "TRACK"))
    return isl_err_set(err, ISL_EINVAL, "fetch: method %s is not allowed", m);
  int has_body = req->body_len > 0 || req->body_stream;
  if (req->body_stream && (req->body || req->body_len || req->body_stream_length < -1))
    return isl_err_set(err, ISL_EINVAL, "fetch: a streamed body has no body/body_len and a length >= -1");
  if (!strcmp(m, "GET") || !strcmp(m, "HEAD")) {
    if (has_body) return isl_err_set(err, ISL_EINVAL, "fetch: a %s request cannot have a body", m);
    if (!strcmp(m, "GET"))
      curl_easy_setopt(f->easy, CURLOPT_HTTPGET, 1L);
    else
      curl_easy_setopt(f->easy, CURLOPT_NOBODY, 1L);
    return 0;
  }
  if (req->body_stream) {
    /* sent as a POST (under its own method), so that 301/302/303 turn it
     * into a GET as for a whole body; the read callback gives the bytes,
     * and a length of -1 makes curl send it chunked */
    if (strcmp(m, "POST") != 0) curl_easy_setopt(f->easy, CURLOPT_CUSTOMREQUEST, m);
    curl_easy_setopt(f->easy, CURLOPT_POST, 1L);
    curl_easy_setopt(f->easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->body_stream_length);
    curl_easy_setopt(f->easy, CURLOPT_READFUNCTION, on_read);
    curl_easy_setopt(f->easy, CURLOPT_READDATA, f);
    curl_easy_setopt(f->easy, CURLOPT_SEEKFUNCTION, on_seek);
    curl_easy_setopt(f->easy, CURLOPT_SEEKDATA, f);
    f->up_stream = 1;
    f->up_length = req->body_stream_length;
    return 0;
  }
  if (strcmp(m, "POST") == 0) {
    curl_easy_setopt(f->easy, CURLOPT_POST, 1L);
  } else {
    curl_easy_setopt(f->easy, CURLOPT_CUSTOMREQUEST, m);
    if (!has_body && strcmp(m, "PUT") != 0 && strcmp(m, "PATCH") != 0) return 0; /* no Content-Length */
  }
  curl_easy_setopt(f->easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->body_len);
  if (curl_easy_setopt(f->easy, CURLOPT_COPYPOSTFIELDS, has_body ? (const char *)req->body : "") != CURLE_OK)
    return isl_err_set(err, ISL_ENOMEM, "fetch: out of memory for the request body");
  return 0;
bad:
  return isl_err_set(err, ISL_EINVAL, "fetch: invalid method \"%.64s\"", m);
}

static int check_url(const char *url, isl_err_t *err) {
  CURLU *u = curl_url();
  char *scheme = NULL;
  int rc = 0;
  if (!u) return isl_err_set(err, ISL_ENOMEM, "fetch: out of memory");
  if (!url || curl_url_set(u, CURLUPART_URL, url, CURLU_NON_SUPPORT_SCHEME) != CURLUE_OK ||
      curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK)
    rc = isl_err_set(err, ISL_EINVAL, "fetch: invalid URL \"%.200s\"", url ? url : "(null)");
  else if (strcmp(scheme, "http") != 0 && strcmp(scheme, "https") != 0)
    rc = isl_err_set(err, ISL_EINVAL, "fetch: only http and https URLs may be fetched, not %s:", scheme);
  curl_free(scheme);
  curl_url_cleanup(u);
  return rc;
}

int isl_fetch_start(isl_fetch_client_t *c, const isl_fetch_request_t *req, const isl_fetch_policy_t *policy,
                    const isl_fetch_callbacks_t *cb, isl_fetch_t **out, isl_err_t *err) {
  int rc;
  if (out) *out = NULL;
  if (!c || c->closing || !req || !cb) return isl_err_set(err, ISL_EINVAL, "fetch: invalid arguments");
  if ((rc = client_multi(c, err)) != 0) return rc;
  if ((rc = check_url(req->url, err)) != 0) return rc;
  if (req->redirect < ISL_FETCH_REDIRECT_FOLLOW || req->redirect > ISL_FETCH_REDIRECT_ERROR)
    return isl_err_set(err, ISL_EINVAL, "fetch: invalid redirect mode %d", req->redirect);
  isl_fetch_t *f = calloc(1, sizeof *f);
  if (!f) return isl_err_set(err, ISL_ENOMEM, "fetch: out of memory");
  f->c = c;
  f->cb = *cb;
  f->redirect = req->redirect;
  f->timeout_ms = req->timeout_ms ? req->timeout_ms : ISL_FETCH_TIMEOUT_MS;
  f->max_header_bytes = req->max_header_bytes ? req->max_header_bytes : ISL_FETCH_MAX_HEADER_BYTES;
  if ((rc = isl_fetch__policy_copy(&f->pol, policy, err)) != 0) goto fail;
  f->easy = curl_easy_init();
  if (!f->easy) {
    rc = isl_err_set(err, ISL_ENOMEM, "fetch: out of memory");
    goto fail;
  }
  if ((rc = build_headers(req, &f->hdrs, err)) != 0) goto fail;
  if ((rc = set_method(f, req, err)) != 0) goto fail;
  CURL *e = f->easy;
  if (curl_easy_setopt(e, CURLOPT_URL, req->url) != CURLE_OK) {
    rc = isl_err_set(err, ISL_EINVAL, "fetch: invalid URL \"%.200s\"", req->url);
    goto fail;
  }
  curl_easy_setopt(e, CURLOPT_PRIVATE, (char *)f);
  curl_easy_setopt(e, CURLOPT_ERRORBUFFER, f->errbuf);
  curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(e, CURLOPT_QUICK_EXIT, 1L);
  curl_easy_setopt(e, CURLOPT_PROXY, "");
  curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(e, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(e, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
  curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, f->redirect == ISL_FETCH_REDIRECT_FOLLOW ? 1L : 0L);
  curl_easy_setopt(e, CURLOPT_MAXREDIRS, (long)ISL_FETCH_MAX_REDIRECTS);
  /* timeout_ms is a time without progress (idle_check), not a cap on the
   * whole exchange: a long body passed through to a slow client is not
   * cut while bytes move. Connecting is one such wait. */
  curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long)f->timeout_ms);
  curl_easy_setopt(e, CURLOPT_HTTP_CONTENT_DECODING, 0L);
  curl_easy_setopt(e, CURLOPT_HTTP_TRANSFER_DECODING, 1L);
  curl_easy_setopt(e, CURLOPT_HTTPHEADER, f->hdrs);
  curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt(e, CURLOPT_HEADERDATA, f);
  curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_write);
  curl_easy_setopt(e, CURLOPT_WRITEDATA, f);
  curl_easy_setopt(e, CURLOPT_OPENSOCKETFUNCTION, on_opensocket);
  curl_easy_setopt(e, CURLOPT_OPENSOCKETDATA, f);
  curl_easy_setopt(e, CURLOPT_PREREQFUNCTION, on_prereq);
  curl_easy_setopt(e, CURLOPT_PREREQDATA, f);
  curl_easy_setopt(e, CURLOPT_TCP_NODELAY, 1L);

  f->next = c->all;
  if (c->all) c->all->prev = f;
  c->all = f;
  c->active++;
  if (c->depth > 0 || c->settling) {
    enqueue(f); /* curl may not be entered from its callbacks */
  } else if (curl_multi_add_handle(c->multi, e) != CURLM_OK) {
    c->active--;
    release(f);
    return isl_err_set(err, ISL_ENOMEM, "fetch: could not start the request");
  } else {
    f->in_multi = 1;
  }
  progress(f);
  if (!uv_is_active((uv_handle_t *)&c->idle)) idle_arm(c);
  if (out) *out = f;
  return 0;
fail:
  if (f->easy) curl_easy_cleanup(f->easy);
  curl_slist_free_all(f->hdrs);
  isl_fetch__policy_clear(&f->pol);
  free(f);
  return rc;
}

void isl_fetch_abort(isl_fetch_t *f) {
  if (!f || f->aborted || f->done) return;
  isl_fetch_client_t *c = f->c;
  f->aborted = 1;
  c->active--;
  if (c->depth > 0 || c->settling || f->queued)
    enqueue(f);
  else
    release(f);
}

void isl_fetch_pause(isl_fetch_t *f, int paused) {
  if (!f || f->aborted || f->done) return;
  if (paused) {
    f->paused = 1;
    f->want_resume = 0;
    return;
  }
  f->paused = 0;
  if (f->curl_paused) {
    f->want_resume = 1;
    uv_timer_start(&f->c->kick, on_kick, 0, 0);
  }
}

void *isl_fetch_data(isl_fetch_t *f) {
  return f->cb.data;
}
