/*
 * http_drive.c - the real HTTP server driven from a fuzz target's thread
 * (http_drive.h has the design: one loop turned by hand, one loopback
 * connection per input, a recording handler whose answers depend on the
 * request target).
 *
 * The handler is strict about the callback contract of src/http/http.h:
 * whatever the server does wrong with a request's life (a callback after
 * release or after on_abort, a second on_body_end, body bytes after the
 * end) is a crash here, so the fuzzer keeps the input.
 */
#include "fuzz/common/http_drive.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "http/internal.h"

/* ---- state -------------------------------------------------------------------------- */

/* Wall time after which a connection the server should have dealt with
 * counts as a hang: far above anything an idle or loaded machine needs
 * (milliseconds), well below libFuzzer's -timeout. */
#define HANG_MS 20000

static isl_http_server_t *srv;
static isl_http_loopi_t *lp; /* the server's only loop */
static fz_http_run_t *cur;   /* the run in progress */

typedef struct {
  isl_http_req_t *req;
  fz_req_t *rec; /* in cur->reqs, or &own beyond FZ_HTTP_MAX_REQS */
  fz_req_t own;
  int seq;
  uv_timer_t timer;
  int timer_open;
} xreq_t;

static void die(const char *what, int seq) __attribute__((noreturn));
static void die(const char *what, int seq) {
  fprintf(stderr, "http_drive: %s (request %d)\n", what, seq);
  abort();
}

static void *xrealloc(void *p, size_t n) {
  p = realloc(p, n ? n : 1);
  if (!p) abort();
  return p;
}

static char *xstrndup(const char *s, size_t n) {
  char *d = xrealloc(NULL, n + 1);
  memcpy(d, s, n);
  d[n] = 0;
  return d;
}

static void rec_free(fz_req_t *r) {
  free(r->target);
  for (size_t i = 0; i < r->n_headers; i++) {
    free(r->names[i]);
    free(r->values[i]);
  }
  free(r->names);
  free(r->values);
  free(r->name_lens);
  free(r->value_lens);
  free(r->body);
  memset(r, 0, sizeof(*r));
}

int fz_http_mode_of(const char *target, size_t len) {
  static const struct {
    const char *prefix;
    int mode;
  } modes[] = {{"/async", FZ_MODE_ASYNC},
               {"/early", FZ_MODE_EARLY},
               {"/stream", FZ_MODE_STREAM},
               {"/release", FZ_MODE_RELEASE},
               {"/hold", FZ_MODE_HOLD}};
  for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
    size_t n = strlen(modes[i].prefix);
    if (len >= n && memcmp(target, modes[i].prefix, n) == 0) return modes[i].mode;
  }
  return FZ_MODE_ECHO;
}

/* ---- the handler ---------------------------------------------------------------------- */

static void x_release(xreq_t *x) {
  x->rec->released = 1;
  isl_http_req_release(x->req);
  if (x->rec == &x->own) rec_free(&x->own);
  free(x);
}

static void on_timer_closed(uv_handle_t *h) {
  x_release(h->data);
}

static void check_rc(int rc, xreq_t *x, const char *what) {
  if (rc != 0) die(what, x->seq);
}

static void answer(xreq_t *x, int chunked, const char *fixed) {
  char seq[16], head[32];
  snprintf(seq, sizeof(seq), "%d", x->seq);
  int hn = snprintf(head, sizeof(head), "seq %d\n", x->seq);
  isl_http_header_t hs[] = {{"Content-Type", 12, "text/plain", 10}, {"X-Seq", 5, seq, strlen(seq)}};
  isl_http_req_t *req = x->req;
  if (fixed) {
    size_t n = strlen(fixed);
    check_rc(isl_http_res_start(req, 200, NULL, hs, 2, (int64_t)n), x, "res_start refused a valid response");
    check_rc(isl_http_res_write(req, fixed, n), x, "res_write refused");
  } else if (chunked) {
    check_rc(isl_http_res_start(req, 200, NULL, hs, 2, -1), x, "res_start refused a valid response");
    check_rc(isl_http_res_write(req, head, (size_t)hn), x, "res_write refused");
    check_rc(isl_http_res_write(req, x->rec->body, x->rec->body_len), x, "res_write refused");
    check_rc(isl_http_res_write(req, "end\n", 4), x, "res_write refused");
  } else {
    int64_t n = hn + (int64_t)x->rec->body_len;
    check_rc(isl_http_res_start(req, 200, NULL, hs, 2, n), x, "res_start refused a valid response");
    check_rc(isl_http_res_write(req, head, (size_t)hn), x, "res_write refused");
    check_rc(isl_http_res_write(req, x->rec->body, x->rec->body_len), x, "res_write refused");
  }
  check_rc(isl_http_res_end(req), x, "res_end refused");
  x->rec->answered = 1;
}

static void on_async(uv_timer_t *t) {
  xreq_t *x = t->data;
  answer(x, 0, NULL);
  x->timer_open = 0;
  uv_close((uv_handle_t *)&x->timer, on_timer_closed);
}

static void on_request(isl_http_req_t *req) {
  if (!cur) die("on_request outside a run", -1);
  xreq_t *x = calloc(1, sizeof(*x));
  if (!x) abort();
  x->req = req;
  x->seq = cur->n_reqs++;
  x->rec = x->seq < FZ_HTTP_MAX_REQS ? &cur->reqs[x->seq] : &x->own;
  req->data = x;
  fz_req_t *r = x->rec;
  snprintf(r->method, sizeof(r->method), "%s", isl_http_req_method(req));
  const char *target = isl_http_req_target(req);
  r->target = xstrndup(target, strlen(target));
  r->n_headers = isl_http_req_header_count(req);
  r->names = xrealloc(NULL, r->n_headers * sizeof(char *));
  r->values = xrealloc(NULL, r->n_headers * sizeof(char *));
  r->name_lens = xrealloc(NULL, r->n_headers * sizeof(size_t));
  r->value_lens = xrealloc(NULL, r->n_headers * sizeof(size_t));
  for (size_t i = 0; i < r->n_headers; i++) {
    const isl_http_header_t *h = isl_http_req_header(req, i);
    if (!h || !h->name || !h->value) die("a header without a name or value", x->seq);
    if (strlen(h->name) != h->name_len || strlen(h->value) != h->value_len)
      die("a header whose length disagrees with its NUL", x->seq);
    r->names[i] = xstrndup(h->name, h->name_len);
    r->values[i] = xstrndup(h->value, h->value_len);
    r->name_lens[i] = h->name_len;
    r->value_lens[i] = h->value_len;
  }
  r->has_body = isl_http_req_has_body(req);
  r->minor = isl_http_req_version_minor(req);
  r->got_request = 1;
  r->mode = fz_http_mode_of(target, strlen(target));
  if (r->mode == FZ_MODE_EARLY) answer(x, 0, "early");
}

static void on_body(isl_http_req_t *req, const char *data, size_t len) {
  xreq_t *x = req->data;
  if (x->rec->body_ends || x->rec->aborts) die("on_body after on_body_end or on_abort", x->seq);
  if (len == 0) die("on_body with no bytes", x->seq);
  fz_req_t *r = x->rec;
  if (r->body_len + len > r->body_cap) {
    r->body_cap = (r->body_len + len) * 2;
    r->body = xrealloc(r->body, r->body_cap);
  }
  memcpy(r->body + r->body_len, data, len);
  r->body_len += len;
}

static void on_body_end(isl_http_req_t *req) {
  xreq_t *x = req->data;
  if (x->rec->body_ends || x->rec->aborts) die("a second on_body_end, or one after on_abort", x->seq);
  x->rec->body_ends++;
  switch (x->rec->mode) {
    case FZ_MODE_ECHO:
      answer(x, 0, NULL);
      x_release(x);
      break;
    case FZ_MODE_STREAM:
      answer(x, 1, NULL);
      x_release(x);
      break;
    case FZ_MODE_ASYNC:
      uv_timer_init(isl_http_loop_uv(isl_http_req_loop(req)), &x->timer);
      x->timer.data = x;
      x->timer_open = 1;
      uv_timer_start(&x->timer, on_async, 0, 0);
      break;
    case FZ_MODE_EARLY:
    case FZ_MODE_RELEASE:
      x_release(x);
      break;
    default: /* FZ_MODE_HOLD: waits for on_abort */
      break;
  }
}

static void on_abort(isl_http_req_t *req) {
  xreq_t *x = req->data;
  if (x->rec->aborts) die("a second on_abort", x->seq);
  x->rec->aborts++;
  /* Allowed after abort, and a no-op. */
  if (isl_http_res_simple(req, 500, NULL, "ignored") != 0) die("res_simple after abort is not a no-op", x->seq);
  if (x->timer_open) {
    x->timer_open = 0;
    uv_timer_stop(&x->timer);
    uv_close((uv_handle_t *)&x->timer, on_timer_closed);
  } else {
    x_release(x);
  }
}

/* ---- the server --------------------------------------------------------------------------- */

void fz_http_init(const isl_http_config_t *cfg) {
  if (srv) return;
  signal(SIGPIPE, SIG_IGN); /* the server writes to sockets the client may have closed */
  isl_http_config_t c = *cfg;
  c.host = "127.0.0.1";
  c.port = 0;
  c.threads = 1;
  isl_http_handler_t h = {0};
  h.on_request = on_request;
  h.on_body = on_body;
  h.on_body_end = on_body_end;
  h.on_abort = on_abort;
  isl_err_t err = {0};
  if (isl_http_server_new(&c, &h, &srv, &err) != 0) {
    fprintf(stderr, "http_drive: cannot make the server: %s\n", err.msg);
    abort();
  }
  lp = &srv->loops[0];
}

static void pump(int rounds) {
  for (int i = 0; i < rounds; i++) uv_run(&lp->uv, UV_RUN_NOWAIT);
}

static int64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Reads what the server sent; returns 1 once the read side has ended. */
static int drain(int fd, fz_http_run_t *run) {
  for (;;) {
    if (run->resp_cap - run->resp_len < 4096) {
      run->resp_cap = run->resp_cap ? run->resp_cap * 2 : 16384;
      run->resp = xrealloc(run->resp, run->resp_cap);
    }
    ssize_t n = read(fd, run->resp + run->resp_len, run->resp_cap - run->resp_len);
    if (n > 0) {
      run->resp_len += (size_t)n;
      continue;
    }
    if (n == 0) return 1;
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) return 0;
    if (errno == ECONNRESET) run->client_reset = 1;
    return 1;
  }
}

static void send_all(int fd, const uint8_t *p, size_t n, fz_http_run_t *run) {
  int64_t deadline = now_ms() + HANG_MS;
  while (n) {
    ssize_t k = write(fd, p, n);
    if (k > 0) {
      p += k;
      n -= (size_t)k;
      continue;
    }
    if (k < 0 && errno == EINTR) continue;
    if (k < 0 && errno != EAGAIN && errno != EWOULDBLOCK) return; /* the server closed: the rest is moot */
    if (now_ms() > deadline) die("the server stopped reading", -1);
    pump(1);
    drain(fd, run);
  }
}

void fz_http_run(const uint8_t *data, size_t len, const size_t *segs, size_t n_segs, fz_http_run_t *run) {
  memset(run, 0, sizeof(*run));
  cur = run;
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) die("socket", -1);
  struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)srv->port)};
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  /* Blocking: the kernel completes the handshake from the listen backlog. */
  if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) die("connect", -1);
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
  size_t before = lp->n_conns;
  int64_t deadline = now_ms() + HANG_MS;
  while (lp->n_conns == before) {
    if (now_ms() > deadline) die("the server did not accept", -1);
    pump(1);
  }

  size_t off = 0;
  for (size_t i = 0; i <= n_segs && off < len; i++) {
    size_t n = i < n_segs ? segs[i] : len - off;
    if (n > len - off) n = len - off;
    send_all(fd, data + off, n, run);
    off += n;
    pump(4);
    drain(fd, run);
  }
  shutdown(fd, SHUT_WR);

  /* The server must now close the connection and let go of every request.
   * Nothing in that path waits for a timer, so HANG_MS of wall time (spent
   * polling the client socket) means it is stuck. */
  int eof = 0;
  deadline = now_ms() + HANG_MS;
  while (!(eof && lp->n_conns == before && !lp->reqs)) {
    if (now_ms() > deadline) {
      fprintf(stderr, "http_drive: hang: client eof=%d, server conns=%zu (want %zu), requests left=%s\n", eof,
              lp->n_conns, before, lp->reqs ? "yes" : "no");
      abort();
    }
    pump(1);
    if (!eof) {
      eof = drain(fd, run);
      if (!eof) {
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        poll(&pfd, 1, 1);
      }
    }
  }
  /* Both sides have closed: an abortive close spares the client's port a
   * TIME_WAIT (thousands of connections a second would exhaust them where
   * the kernel does not reuse them on loopback). */
  struct linger lg = {1, 0};
  setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
  close(fd);
  pump(2);
  cur = NULL;
  int n = run->n_reqs < FZ_HTTP_MAX_REQS ? run->n_reqs : FZ_HTTP_MAX_REQS;
  for (int i = 0; i < n; i++)
    if (!run->reqs[i].released) die("a request was never released", i);
}

void fz_http_run_free(fz_http_run_t *run) {
  int n = run->n_reqs < FZ_HTTP_MAX_REQS ? run->n_reqs : FZ_HTTP_MAX_REQS;
  for (int i = 0; i < n; i++) rec_free(&run->reqs[i]);
  free(run->resp);
  memset(run, 0, sizeof(*run));
}
