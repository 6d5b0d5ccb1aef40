/*
 * tests/http/test_alloc.c - the out-of-memory policy of common/alloc.h in
 * src/http (issue 12): the host used to abort() when a malloc failed, so
 * one failed allocation took every tenant down. Now a request that cannot
 * be served for want of memory gets a 503 or a closed connection, never a
 * crash, a hang or a wrong body, and the server goes on.
 *
 * Each test runs one scenario again and again against a server in this
 * process, with allocation number n (counted from the scenario's start)
 * failing (isl_alloc_fail_after: that one and every later one; or
 * isl_alloc_fail_once: that one only), for n = 1, 2, ... until a run
 * makes fewer than n allocations: so every allocation the scenario makes
 * has failed once. The scenario: one keep-alive connection with six
 * pipelined requests (many headers, a delayed answer so that the next
 * requests wait in the server's input buffer, a chunked upload with
 * Expect: 100-continue, a 300 KB response written in pieces with
 * Content-Length, a res_whole answer, a chunked 300 KB response), with
 * small socket buffers on both sides so that most of each big answer
 * queues in the server; then an HTTP/1.0 connection with a
 * close-delimited 300 KB answer. Each answer must be a 200 with exactly its body, or a 503 with
 * Connection: close after which the connection closes, or a close (a
 * close-delimited body cut by the failure must end with a reset, not a
 * FIN, or the client would take it for whole); within TEST_HTTP_TIMEOUT_MS.
 * After each run injection is off and a fresh request must get its 200.
 *
 * Injection is process-wide: the test client and this handler allocate
 * with malloc, so only the server's allocations count. The handler answers
 * from the loop thread only; no other test runs meanwhile.
 */
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/alloc.h"
#include "http_client.h"
#include "test.h"

#define BIG 300000

/* ---- the handler (malloc only) ---------------------------------------------------------- */

typedef struct {
  atomic_int requests, released, enomem;
} actx_t;

typedef struct {
  actx_t *ctx;
  isl_http_req_t *req;
  uv_timer_t timer;
  char *body;
  size_t len, cap;
  size_t headers;
  int timer_open; /* a delayed answer waits on timer */
  int closing;    /* timer closing: its close callback releases */
} areq_t;

static char pattern_at(size_t i) {
  return (char)('a' + (i * 7 + i / 26) % 26);
}

static char *pattern(size_t n) {
  char *p = malloc(n + 1);
  if (!p) abort();
  for (size_t i = 0; i < n; i++) p[i] = pattern_at(i);
  p[n] = 0;
  return p;
}

static void note(areq_t *x, int rc) {
  if (rc == ISL_ENOMEM) atomic_fetch_add(&x->ctx->enomem, 1);
}

static void areq_done(areq_t *x) {
  atomic_fetch_add(&x->ctx->released, 1);
  isl_http_req_release(x->req);
  free(x->body);
  free(x);
}

static void on_timer_closed(uv_handle_t *h) {
  areq_done(h->data);
}

/* The echo: "h=<headers> <body>". */
static void answer_echo(areq_t *x) {
  char head[32];
  int hn = snprintf(head, sizeof(head), "h=%zu ", x->headers);
  isl_http_header_t ct = {"Content-Type", 12, "text/plain", 10};
  note(x, isl_http_res_start(x->req, 200, NULL, &ct, 1, (int64_t)((size_t)hn + x->len)));
  note(x, isl_http_res_write(x->req, head, (size_t)hn));
  note(x, isl_http_res_write(x->req, x->body ? x->body : "", x->len));
  note(x, isl_http_res_end(x->req));
}

/* BIG bytes of the pattern in 64 KiB writes, Content-Length or not. */
static void answer_big(areq_t *x, int chunked) {
  char *p = pattern(BIG);
  note(x, isl_http_res_start(x->req, 200, NULL, NULL, 0, chunked ? -1 : BIG));
  for (size_t off = 0; off < BIG; off += 65536) {
    size_t n = BIG - off < 65536 ? BIG - off : 65536;
    note(x, isl_http_res_write(x->req, p + off, n));
  }
  note(x, isl_http_res_end(x->req));
  free(p);
}

static void close_timer(areq_t *x) {
  x->timer_open = 0;
  x->closing = 1;
  uv_close((uv_handle_t *)&x->timer, on_timer_closed);
}

static void on_later(uv_timer_t *t) {
  areq_t *x = t->data;
  close_timer(x); /* first: an answer may abort x on a later tick */
  answer_echo(x);
}

static void on_request(isl_http_req_t *req) {
  actx_t *ctx = isl_http_server_handler_data(isl_http_loop_server(isl_http_req_loop(req)));
  atomic_fetch_add(&ctx->requests, 1);
  areq_t *x = calloc(1, sizeof(*x));
  if (!x) abort();
  x->ctx = ctx;
  x->req = req;
  x->headers = isl_http_req_header_count(req);
  req->data = x;
}

static void on_body(isl_http_req_t *req, const char *data, size_t len) {
  areq_t *x = req->data;
  if (x->len + len + 1 > x->cap) {
    x->cap = (x->len + len + 1) * 2;
    x->body = realloc(x->body, x->cap);
    if (!x->body) abort();
  }
  memcpy(x->body + x->len, data, len);
  x->len += len;
}

static void on_body_end(isl_http_req_t *req) {
  areq_t *x = req->data;
  const char *t = isl_http_req_target(req);
  if (test_http_path_is(t, "/later")) {
    uv_timer_init(isl_http_loop_uv(isl_http_req_loop(req)), &x->timer);
    x->timer.data = x;
    x->timer_open = 1;
    uv_timer_start(&x->timer, on_later, 2, 0);
    return;
  }
  if (test_http_path_is(t, "/big")) {
    answer_big(x, test_http_query_int(t, "chunked", 0));
  } else if (test_http_path_is(t, "/whole")) {
    char *p = pattern(BIG);
    note(x, isl_http_res_whole(req, 200, NULL, NULL, 0, p, BIG));
    free(p);
  } else {
    answer_echo(x);
  }
  areq_done(x);
}

/* A delayed answer's timer is closed here; it releases from its close
 * callback. Anything else releases now. */
static void on_abort(isl_http_req_t *req) {
  areq_t *x = req->data;
  if (x->timer_open) {
    uv_timer_stop(&x->timer);
    close_timer(x);
  } else if (!x->closing) {
    areq_done(x);
  }
}

/* ---- the client -------------------------------------------------------------------------- */

typedef struct {
  int ok, s503, closed, cut_by_reset, enomem;
  char why[256];
} outcome_t;

static const char *const headers20 =
    "X-A0: 0000000000\r\nX-A1: 1111111111\r\nX-A2: 2222222222\r\nX-A3: 3333333333\r\nX-A4: 4444444444\r\n"
    "X-A5: 5555555555\r\nX-A6: 6666666666\r\nX-A7: 7777777777\r\nX-A8: 8888888888\r\nX-A9: 9999999999\r\n"
    "X-B0: 0000000000\r\nX-B1: 1111111111\r\nX-B2: 2222222222\r\nX-B3: 3333333333\r\nX-B4: 4444444444\r\n"
    "X-B5: 5555555555\r\nX-B6: 6666666666\r\nX-B7: 7777777777\r\nX-B8: 8888888888\r\nX-B9: 9999999999\r\n";

static int port_of(int fd, int peer) {
  struct sockaddr_in sa;
  socklen_t len = sizeof(sa);
  int rc = peer ? getpeername(fd, (struct sockaddr *)&sa, &len) : getsockname(fd, (struct sockaddr *)&sa, &len);
  return rc == 0 && sa.sin_family == AF_INET ? ntohs(sa.sin_port) : -1;
}

/* The server's socket of the client's connection c is in this process:
 * gives it a small send buffer, so that the kernel takes little of an
 * answer and the rest queues in the server (loopback's send buffers grow
 * to MBs otherwise), where the allocations under test are. Waits for the
 * accept, up to 2 s, unless the server closes first (accept without
 * memory). */
static void shrink_server_sndbuf(test_http_conn_t *c, int port) {
  int mine = port_of(c->fd, 0);
  for (long long end = test_http_now_ms() + 2000; test_http_now_ms() < end;) {
    DIR *d = opendir("/proc/self/fd");
    struct dirent *e;
    int found = 0;
    while (d && !found && (e = readdir(d)) != NULL) {
      int fd = atoi(e->d_name);
      struct stat st;
      if (fd <= 2 || fd == c->fd || fstat(fd, &st) != 0 || !S_ISSOCK(st.st_mode)) continue;
      if (port_of(fd, 0) != port || port_of(fd, 1) != mine) continue;
      int small = 4096;
      setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &small, sizeof(small));
      found = 1;
    }
    if (d) closedir(d);
    struct pollfd q = {c->fd, POLLIN, 0};
    if (found || poll(&q, 1, 1) > 0) return; /* set, or the server closed */
  }
}

/* Connects with a small receive buffer, so that big answers queue in the
 * server. */
static int open_small(test_http_conn_t *c, int port) {
  memset(c, 0, sizeof(*c));
  c->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (c->fd < 0) return -errno;
  int small = 16384;
  setsockopt(c->fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
  struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(c->fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
    int rc = -errno;
    close(c->fd);
    c->fd = -1;
    return rc;
  }
  shrink_server_sndbuf(c, port);
  return 0;
}

/* The pipelined connection: six requests, then each answer in turn.
 * 0, or -1 with o->why. */
static int run_pipelined(int port, outcome_t *o, const char *const expect[6]) {
  char raw[4096];
  snprintf(raw, sizeof(raw),
           "POST /echo HTTP/1.1\r\nHost: x\r\n%sContent-Length: 11\r\n\r\nhello world"
           "GET /later HTTP/1.1\r\nHost: x\r\n\r\n"
           "POST /echo HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nTransfer-Encoding: chunked\r\n\r\n"
           "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"
           "GET /big HTTP/1.1\r\nHost: x\r\n\r\n"
           "GET /whole HTTP/1.1\r\nHost: x\r\n\r\n"
           "GET /big?chunked=1 HTTP/1.1\r\nHost: x\r\n\r\n",
           headers20);
  test_http_conn_t *c = malloc(sizeof(*c));
  if (!c) abort();
  int rc = open_small(c, port);
  if (rc != 0) {
    snprintf(o->why, sizeof(o->why), "connect: %d", rc);
    free(c);
    return -1;
  }
  test_http_conn_send_str(c, raw); /* a failure here shows as a close below */
  int result = 0;
  for (int i = 0; i < 6; i++) {
    test_http_resp_t r;
    rc = test_http_conn_read(c, &r, 0, TEST_HTTP_TIMEOUT_MS);
    if (rc == 0 && r.status == 100 && i == 2) { /* the 100 Continue of the third */
      test_http_resp_free(&r);
      rc = test_http_conn_read(c, &r, 0, TEST_HTTP_TIMEOUT_MS);
    }
    if (rc == -ECONNRESET) { /* closed: this and the rest got no answer */
      o->closed++;
      test_http_resp_free(&r);
      break;
    }
    if (rc != 0) {
      snprintf(o->why, sizeof(o->why), "answer %d: read %d (%s)", i, rc, rc == -ETIMEDOUT ? "a hang" : "garbage");
      test_http_resp_free(&r);
      result = -1;
      break;
    }
    if (r.status == 503) {
      const char *conn = test_http_resp_header(&r, "Connection");
      int closes = conn && strcmp(conn, "close") == 0;
      test_http_resp_free(&r);
      o->s503++;
      if (!closes) {
        snprintf(o->why, sizeof(o->why), "answer %d: a 503 without Connection: close", i);
        result = -1;
      } else if (!test_http_conn_wait_close(c, TEST_HTTP_TIMEOUT_MS)) {
        snprintf(o->why, sizeof(o->why), "answer %d: no close after a 503", i);
        result = -1;
      }
      break;
    }
    const char *want = expect[i];
    if (r.status != 200 || r.body_len != strlen(want) || memcmp(r.body, want, r.body_len) != 0) {
      snprintf(o->why, sizeof(o->why), "answer %d: status %d, %zu bytes: \"%.40s\"", i, r.status, r.body_len, r.body);
      test_http_resp_free(&r);
      result = -1;
      break;
    }
    o->ok++;
    test_http_resp_free(&r);
  }
  test_http_conn_close(c);
  free(c);
  return result;
}

/* The HTTP/1.0 connection: a close-delimited BIG answer, read raw so that
 * a reset and a FIN differ. 0, or -1 with o->why. */
static int run_close_delimited(int port, outcome_t *o, const char *big) {
  test_http_conn_t c;
  int rc = open_small(&c, port);
  if (rc != 0) {
    snprintf(o->why, sizeof(o->why), "connect: %d", rc);
    return -1;
  }
  test_http_conn_send_str(&c, "GET /big?chunked=1 HTTP/1.0\r\n\r\n");
  size_t cap = BIG + 4096, len = 0;
  char *buf = malloc(cap);
  if (!buf) abort();
  int reset = 0, result = 0;
  long long deadline = test_http_now_ms() + TEST_HTTP_TIMEOUT_MS;
  for (;;) {
    long long left = deadline - test_http_now_ms();
    struct pollfd q = {c.fd, POLLIN, 0};
    if (left <= 0 || poll(&q, 1, (int)left) <= 0) {
      snprintf(o->why, sizeof(o->why), "HTTP/1.0: a hang after %zu bytes", len);
      result = -1;
      break;
    }
    ssize_t n = recv(c.fd, buf + len, cap - len, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      reset = errno == ECONNRESET;
      break;
    }
    if (n == 0) break;
    len += (size_t)n;
    if (len == cap) {
      snprintf(o->why, sizeof(o->why), "HTTP/1.0: more bytes than an answer");
      result = -1;
      break;
    }
  }
  test_http_conn_close(&c);
  if (result == 0) {
    char *end = memmem(buf, len, "\r\n\r\n", 4);
    size_t body = end ? (size_t)(end + 4 - buf) : len;
    if (!end) {
      o->closed++; /* nothing, or a cut head: no answer either way */
    } else if (memcmp(buf, "HTTP/1.1 503", 12) == 0) {
      o->s503++;
    } else if (memcmp(buf, "HTTP/1.1 200", 12) != 0) {
      snprintf(o->why, sizeof(o->why), "HTTP/1.0: \"%.12s\"", buf);
      result = -1;
    } else if (len - body > BIG || memcmp(buf + body, big, len - body) != 0) {
      snprintf(o->why, sizeof(o->why), "HTTP/1.0: a wrong body");
      result = -1;
    } else if (len - body == BIG && !reset) {
      o->ok++;
    } else if (reset) {
      o->cut_by_reset++; /* cut, and the client can tell */
    } else {
      snprintf(o->why, sizeof(o->why), "HTTP/1.0: a body cut at %zu of %d bytes ended by a FIN, as if whole",
               len - body, BIG);
      result = -1;
    }
  }
  free(buf);
  return result;
}

/* ---- the tests --------------------------------------------------------------------------- */

typedef void (*inject_fn)(long n);

static int still_serving(int port) {
  test_http_resp_t r;
  int rc = test_http_request(port, "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n\r\nping", &r);
  int ok = rc == 0 && r.status == 200 && strcmp(r.body, "h=2 ping") == 0;
  test_http_resp_free(&r);
  return ok;
}

/* Runs the scenario with allocation n failing (inject), n = 1, 2, ...
 * until a run has no injected failure. Injection is always off when this
 * returns. 0, or -1 with why. */
static int sweep(int port, inject_fn inject, outcome_t *total, int *runs, long *allocs, char *why, size_t cap) {
  char *big = pattern(BIG);
  /* The echoes count their headers: Host, 20 and Content-Length; Host;
   * Host, Expect and Transfer-Encoding. */
  const char *const expect[6] = {"h=22 hello world", "h=1 ", "h=3 hello world", big, big, big};
  int result = 0;
  long n = 1;
  for (; n <= 1000; n++) {
    outcome_t o = {0};
    long before = isl_alloc_injected();
    inject(n);
    int rc = run_pipelined(port, &o, expect);
    if (rc == 0) rc = run_close_delimited(port, &o, big);
    isl_alloc_fail_after(-1);
    total->ok += o.ok;
    total->s503 += o.s503;
    total->closed += o.closed;
    total->cut_by_reset += o.cut_by_reset;
    if (rc != 0) {
      snprintf(why, cap, "allocation %ld failing: %s", n, o.why);
      result = -1;
      break;
    }
    if (!still_serving(port)) {
      snprintf(why, cap, "allocation %ld failing: a fresh request got no 200 after", n);
      result = -1;
      break;
    }
    if (isl_alloc_injected() == before) { /* the run made fewer than n allocations */
      if (o.ok != 7) {
        snprintf(why, cap, "a run with no failure got %d answers of 7", o.ok);
        result = -1;
      }
      break;
    }
  }
  if (result == 0 && n > 1000) {
    snprintf(why, cap, "no run without a failure in 1000");
    result = -1;
  }
  *runs = (int)n;
  *allocs = n - 1;
  free(big);
  return result;
}

static void alloc_test(inject_fn inject, int sticky) {
  static actx_t ctx;
  memset(&ctx, 0, sizeof(ctx));
  isl_http_handler_t h = {
      .on_request = on_request, .on_body = on_body, .on_body_end = on_body_end, .on_abort = on_abort, .data = &ctx};
  isl_http_config_t cfg = {.threads = 1, .drain_timeout_ms = 2000};
  test_http_server_t t;
  isl_err_t err = {0};
  CHECK_MSG(test_http_server_start(&t, &cfg, &h, &err) == 0, "%s", err.msg);
  outcome_t total = {0};
  int runs = 0;
  long allocs = 0;
  char why[512] = "";
  long before = isl_alloc_injected();
  int rc = sweep(t.port, inject, &total, &runs, &allocs, why, sizeof(why));
  long failed = isl_alloc_injected() - before;
  int stop_rc = test_http_server_stop(&t);
  printf(
      "  %ld allocations failed in %d runs: %d answers whole, %d 503s, %d closes, %d cut by a reset; "
      "%d ISL_ENOMEM to the handler\n",
      failed, runs, total.ok, total.s503, total.closed, total.cut_by_reset, atomic_load(&ctx.enomem));
  CHECK_MSG(rc == 0, "%s", why);
  CHECK_EQ_INT(stop_rc, 0);
  CHECK_EQ_INT(atomic_load(&ctx.released), atomic_load(&ctx.requests));
  /* The scenario reached enough of the server to mean something: every
   * one of its allocations failed once, and each kind of failure came. */
  CHECK_MSG(allocs >= 20, "only %ld allocations in the scenario", allocs);
  CHECK(total.s503 > 0);
  CHECK(total.closed > 0);
  if (sticky) CHECK(atomic_load(&ctx.enomem) > 0);
}

static void fail_after(long n) {
  isl_alloc_fail_after(n);
}
static void fail_once(long n) {
  isl_alloc_fail_once(n);
}

TEST(http_oom_from_any_allocation_on_gets_503_or_a_close_never_a_crash_hang_or_wrong_body) {
  alloc_test(fail_after, 1);
}

TEST(http_oom_of_any_one_allocation_costs_at_most_its_connection) {
  alloc_test(fail_once, 0);
}
