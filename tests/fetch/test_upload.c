/*
 * test_upload.c - streamed request bodies (isl_fetch_request_t.body_stream)
 * against a real origin on loopback: the project's own http server on a
 * thread, whose parser counts the body's bytes, checks their pattern and
 * says whether the body ended whole (on_body_end) or was cut (on_abort).
 *
 * The writer writes 64 KiB at a time until isl_fetch_body_write returns 1,
 * then waits for on_body_drain: no timers. After every write it checks the
 * queue (isl_fetch__upload_queued) against ISL_FETCH_UPLOAD_QUEUE plus one
 * write, and that 1 came back exactly when the queue reached the bound.
 */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fetch/fetch.h"
#include "fetch/internal.h"
#include "http/http_client.h"
#include "test.h"

#define MiB (1u << 20)
#define WSIZE (64u << 10) /* one write */

/* Byte i of every body: period 251, so a dropped, repeated or reordered
 * 64 KiB write shows. */
static void fill(unsigned char *buf, uint64_t off, size_t len) {
  unsigned v = (unsigned)(off % 251);
  for (size_t i = 0; i < len; i++) {
    buf[i] = (unsigned char)v;
    if (++v == 251) v = 0;
  }
}

/* ---- the origin ------------------------------------------------------------------------ */

typedef struct {
  test_http_server_t srv;
  int port;
  atomic_int requests, complete, incomplete, after;
  atomic_llong bytes;          /* body bytes received (all requests) */
  atomic_int bad_pattern;      /* a byte out of pattern */
  atomic_int chunked;          /* the last upload came with Transfer-Encoding: chunked */
  atomic_llong content_length; /* ... its Content-Length, -1 if none */
  atomic_int stall_ms;         /* the first body bytes of a request wait this long */
  atomic_int acks;             /* /duplex: one '.' answered per body piece read */
  atomic_int expect;           /* a request came with an Expect header */
} uorigin_t;

typedef struct {
  uint64_t off;
  int stalled;
  int duplex; /* /duplex: the answer starts at once and acks each piece */
} ureq_t;

static void o_request(isl_http_req_t *req) {
  uorigin_t *o = isl_http_server_handler_data(isl_http_loop_server(isl_http_req_loop(req)));
  ureq_t *u = calloc(1, sizeof *u);
  if (!u) abort();
  req->data = u;
  atomic_fetch_add(&o->requests, 1);
  const char *te = isl_http_req_header_get(req, "transfer-encoding");
  const char *cl = isl_http_req_header_get(req, "content-length");
  atomic_store(&o->chunked, te && strstr(te, "chunked") != NULL);
  atomic_store(&o->content_length, cl ? atoll(cl) : -1);
  if (isl_http_req_header_get(req, "expect")) atomic_store(&o->expect, 1);
  if (test_http_path_is(isl_http_req_target(req), "/duplex")) {
    u->duplex = 1;
    isl_http_res_start(req, 200, NULL, NULL, 0, -1);
  }
}

static void o_body(isl_http_req_t *req, const char *data, size_t len) {
  uorigin_t *o = isl_http_server_handler_data(isl_http_loop_server(isl_http_req_loop(req)));
  ureq_t *u = req->data;
  int stall = atomic_load(&o->stall_ms);
  if (stall && !u->stalled) {
    u->stalled = 1;
    usleep((useconds_t)stall * 1000u); /* reads nothing meanwhile: the origin's only thread */
  }
  unsigned v = (unsigned)(u->off % 251);
  for (size_t i = 0; i < len; i++) {
    if ((unsigned char)data[i] != v) {
      atomic_store(&o->bad_pattern, 1);
      break;
    }
    if (++v == 251) v = 0;
  }
  u->off += len;
  atomic_fetch_add(&o->bytes, (long long)len);
  if (u->duplex) {
    atomic_fetch_add(&o->acks, 1);
    isl_http_res_write(req, ".", 1);
  }
}

static void o_body_end(isl_http_req_t *req) {
  uorigin_t *o = isl_http_server_handler_data(isl_http_loop_server(isl_http_req_loop(req)));
  ureq_t *u = req->data;
  const char *t = isl_http_req_target(req);
  char text[64];
  /* counted before the answer, which the test may see at once */
  if (!test_http_path_is(t, "/after")) atomic_fetch_add(&o->complete, 1);
  if (u->duplex) {
    isl_http_res_end(req);
  } else if (test_http_path_is(t, "/redirect")) {
    isl_http_header_t h = {"Location", 8, "/after", 6};
    isl_http_res_start(req, test_http_query_int(t, "code", 302), NULL, &h, 1, 0);
    isl_http_res_end(req);
  } else if (test_http_path_is(t, "/after")) {
    snprintf(text, sizeof text, "after %s %llu", isl_http_req_method(req), (unsigned long long)u->off);
    atomic_fetch_add(&o->after, 1);
    isl_http_res_simple(req, 200, NULL, text);
  } else {
    snprintf(text, sizeof text, "%s received %llu", isl_http_req_method(req), (unsigned long long)u->off);
    isl_http_res_simple(req, 200, NULL, text);
  }
  free(u);
  req->data = NULL;
  isl_http_req_release(req);
}

static void o_abort(isl_http_req_t *req) {
  uorigin_t *o = isl_http_server_handler_data(isl_http_loop_server(isl_http_req_loop(req)));
  atomic_fetch_add(&o->incomplete, 1);
  free(req->data);
  req->data = NULL;
  isl_http_req_release(req);
}

static int uorigin_start(uorigin_t *o) {
  isl_http_handler_t h = {0};
  isl_http_config_t cfg = {0};
  isl_err_t err = {0};
  h.on_request = o_request;
  h.on_body = o_body;
  h.on_body_end = o_body_end;
  h.on_abort = o_abort;
  h.data = o;
  cfg.threads = 1;
  cfg.drain_timeout_ms = 500;
  cfg.max_body_bytes = 1ull << 30;
  cfg.body_timeout_ms = 60000;
  int rc = test_http_server_start(&o->srv, &cfg, &h, &err);
  if (rc != 0) {
    fprintf(stderr, "upload origin: %s\n", err.msg);
    return rc;
  }
  o->port = o->srv.port;
  return 0;
}

/* ---- the client and the writer ------------------------------------------------------------ */

typedef struct {
  uv_loop_t loop;
  uv_timer_t tick; /* keeps UV_RUN_ONCE returning; not the writer's */
  isl_fetch_client_t *c;
  uorigin_t o;
} ufx_t;

static void on_tick(uv_timer_t *t) {
  (void)t;
}

static int ufx_start(ufx_t *x) {
  memset(x, 0, sizeof *x);
  if (uv_loop_init(&x->loop) != 0) return -1;
  uv_timer_init(&x->loop, &x->tick);
  uv_timer_start(&x->tick, on_tick, 5, 5);
  if (isl_fetch_client_new(&x->loop, &x->c) != 0) return -1;
  return uorigin_start(&x->o);
}

static int ufx_stop(ufx_t *x) {
  isl_fetch_client_free(x->c);
  uv_close((uv_handle_t *)&x->tick, NULL);
  uv_run(&x->loop, UV_RUN_DEFAULT);
  int rc = uv_loop_close(&x->loop);
  test_http_server_stop(&x->o.srv);
  return rc;
}

/* Runs x's loop until cond holds or ms pass; evaluates to cond. */
#define RUN_UNTIL(x, cond, ms)                                                    \
  ({                                                                              \
    long long end_ = test_http_now_ms() + (ms);                                   \
    while (!(cond) && test_http_now_ms() < end_) uv_run(&(x)->loop, UV_RUN_ONCE); \
    (cond);                                                                       \
  })

/* Runs x's loop for ms. */
static void run_for(ufx_t *x, int ms) {
  long long end = test_http_now_ms() + ms;
  while (test_http_now_ms() < end) uv_run(&x->loop, UV_RUN_ONCE);
}

typedef struct {
  ufx_t *x;
  isl_fetch_t *f;
  const char *method; /* NULL = POST */
  uint64_t total;     /* the body's length */
  uint64_t limit;     /* the writer writes up to here (total unless cut short) */
  uint64_t written;
  int auto_end; /* isl_fetch_body_end(f, 0) once limit == total is written */
  int ended;
  int waiting; /* got 1: waits for on_body_drain */
  int ones, drains, drains_unasked, drains_inside_write, in_write;
  int bad_rc; /* an unexpected return, or 1 not matching the queue */
  size_t queued_max;
  long long wait_since, max_wait_ms;
  long long outstanding_max; /* written - received by the origin */
  size_t rss0, rss_max;
  int abort_in_drain, aborted, after_abort;
  int pause_recv; /* isl_fetch_pause(f, 1) at the first body bytes */
  int recv_paused, body_while_paused;
  uint64_t resp_total;
  /* what came back */
  int responses, status, dones, err;
  char msg[512], body[128];
  size_t body_len;
} writer_t;

static size_t rss_bytes(void) {
  long pages = 0, rss = 0;
  FILE *fp = fopen("/proc/self/statm", "r");
  if (!fp) return 0;
  if (fscanf(fp, "%ld %ld", &pages, &rss) != 2) rss = 0;
  fclose(fp);
  return (size_t)rss * (size_t)sysconf(_SC_PAGESIZE);
}

static void pump(writer_t *w) {
  static unsigned char buf[WSIZE];
  while (!w->waiting && w->written < w->limit && !w->bad_rc) {
    size_t n = w->limit - w->written < WSIZE ? (size_t)(w->limit - w->written) : WSIZE;
    fill(buf, w->written, n);
    w->in_write = 1;
    int rc = isl_fetch_body_write(w->f, buf, n);
    w->in_write = 0;
    size_t q = isl_fetch__upload_queued(w->f);
    if (q > w->queued_max) w->queued_max = q;
    if (rc < 0 || rc != (q >= ISL_FETCH_UPLOAD_QUEUE)) {
      w->bad_rc = rc < 0 ? rc : 1000 + rc;
      return;
    }
    w->written += n;
    long long out = (long long)w->written - atomic_load(&w->x->o.bytes);
    if (out > w->outstanding_max) w->outstanding_max = out;
    if (rc == 1) {
      w->waiting = 1;
      w->ones++;
      w->wait_since = test_http_now_ms();
    }
  }
  if (w->auto_end && !w->ended && w->written == w->total) {
    w->ended = 1;
    isl_fetch_body_end(w->f, 0);
  }
}

static void w_drain(isl_fetch_t *f) {
  writer_t *w = isl_fetch_data(f);
  if (w->aborted) w->after_abort++;
  w->drains++;
  if (w->in_write) w->drains_inside_write++;
  if (!w->waiting) w->drains_unasked++;
  w->waiting = 0;
  long long waited = test_http_now_ms() - w->wait_since;
  if (waited > w->max_wait_ms) w->max_wait_ms = waited;
  size_t rss = rss_bytes();
  if (rss > w->rss_max) w->rss_max = rss;
  if (w->abort_in_drain) {
    isl_fetch_abort(f);
    w->aborted = 1;
    return;
  }
  pump(w);
}

static void w_response(isl_fetch_t *f, int status, const char *text, const isl_http_header_t *h, size_t n,
                       const char *url) {
  writer_t *w = isl_fetch_data(f);
  (void)text, (void)h, (void)n, (void)url;
  if (w->aborted) w->after_abort++;
  w->responses++;
  w->status = status;
}

static void w_body(isl_fetch_t *f, const char *data, size_t len) {
  writer_t *w = isl_fetch_data(f);
  if (w->aborted) w->after_abort++;
  if (w->recv_paused) w->body_while_paused++;
  w->resp_total += len;
  if (w->pause_recv) {
    w->pause_recv = 0;
    w->recv_paused = 1;
    isl_fetch_pause(f, 1);
  }
  size_t room = sizeof w->body - 1 - w->body_len;
  if (len > room) len = room;
  memcpy(w->body + w->body_len, data, len);
  w->body_len += len;
  w->body[w->body_len] = '\0';
}

static void w_done(isl_fetch_t *f, int err, const char *msg) {
  writer_t *w = isl_fetch_data(f);
  if (w->aborted) w->after_abort++;
  w->dones++;
  w->err = err;
  snprintf(w->msg, sizeof w->msg, "%s", msg);
  w->f = NULL;
}

static const isl_fetch_policy_t open_policy = {1, NULL, 0, NULL, 0};

/* Starts a streamed upload of total bytes (length: total, or -1 for
 * chunked) to path, and writes up to limit. */
static int upload(ufx_t *x, writer_t *w, const char *path, uint64_t total, int chunked, uint64_t limit) {
  char u[160];
  isl_err_t err = {0};
  w->x = x;
  w->total = total;
  w->limit = limit;
  w->rss0 = w->rss_max = rss_bytes();
  snprintf(u, sizeof u, "http://127.0.0.1:%d%s", x->o.port, path);
  isl_fetch_request_t req = {.method = w->method ? w->method : "POST",
                             .url = u,
                             .timeout_ms = 180000,
                             .body_stream = 1,
                             .body_stream_length = chunked ? -1 : (int64_t)total};
  isl_fetch_callbacks_t cb = {w_response, w_body, w_done, w, w_drain};
  int rc = isl_fetch_start(x->c, &req, &open_policy, &cb, &w->f, &err);
  if (rc) {
    snprintf(w->msg, sizeof w->msg, "%s", err.msg);
    return rc;
  }
  pump(w);
  return 0;
}

/* The writer kept to the contract and the queue to its bound. */
#define CHECK_WRITER(w)                                                                                        \
  do {                                                                                                         \
    CHECK_MSG((w)->bad_rc == 0, "body_write returned %d (1000 + rc: 1 did not match the queue)", (w)->bad_rc); \
    CHECK_MSG((w)->queued_max <= ISL_FETCH_UPLOAD_QUEUE + WSIZE, "queue held %zu bytes", (w)->queued_max);     \
    CHECK_MSG((w)->drains_inside_write == 0, "on_body_drain ran inside isl_fetch_body_write");                 \
    CHECK_MSG((w)->drains_unasked == 0, "on_body_drain without a write that returned 1");                      \
  } while (0)

static void whole_upload(int chunked) {
  ufx_t x;
  writer_t w = {0};
  uint64_t total = 64ull * MiB;
  CHECK(ufx_start(&x) == 0);
  w.auto_end = 1;
  w.method = chunked ? "PUT" : "POST";
  CHECK_EQ_INT(upload(&x, &w, "/upload", total, chunked, total), 0);
  CHECK_MSG(RUN_UNTIL(&x, w.dones == 1, 150000), "no on_done after %llu of %llu bytes written",
            (unsigned long long)w.written, (unsigned long long)total);
  CHECK_MSG(w.err == 0, "err %d: %s", w.err, w.msg);
  CHECK_EQ_INT(w.status, 200);
  char want[64];
  snprintf(want, sizeof want, "%s received %llu", w.method, (unsigned long long)total);
  CHECK_EQ_STR(w.body, want);
  CHECK_WRITER(&w);
  CHECK(w.ones >= 1 && w.drains >= 1);
  CHECK_EQ_INT(atomic_load(&x.o.requests), 1);
  CHECK_EQ_INT(atomic_load(&x.o.complete), 1);
  CHECK_EQ_INT(atomic_load(&x.o.incomplete), 0);
  CHECK_EQ_INT(atomic_load(&x.o.bytes), (long long)total);
  CHECK_EQ_INT(atomic_load(&x.o.bad_pattern), 0);
  CHECK_EQ_INT(atomic_load(&x.o.chunked), chunked);
  CHECK_EQ_INT(atomic_load(&x.o.content_length), chunked ? -1 : (long long)total);
  CHECK_EQ_INT(atomic_load(&x.o.expect), 0); /* no Expect: 100-continue, no wait for it */
  if (!test_under_sanitizer())               /* a queue without a bound would hold most of the 64 MiB */
    CHECK_MSG(w.rss_max < w.rss0 + 24 * MiB, "RSS grew by %zu MiB", (w.rss_max - w.rss0) / MiB);
  CHECK_EQ_INT(ufx_stop(&x), 0);
}

TEST(fetch_upload_streams_64_mib_with_content_length_in_a_bounded_queue) {
  whole_upload(0);
}

TEST(fetch_upload_streams_64_mib_chunked_in_a_bounded_queue) {
  whole_upload(1);
}

static long long sysctl_max(const char *path) {
  long long a = 0, b = 0, c = 0;
  FILE *fp = fopen(path, "r");
  if (!fp) return -1;
  if (fscanf(fp, "%lld %lld %lld", &a, &b, &c) != 3) c = -1;
  fclose(fp);
  return c;
}

/* The origin reads nothing for 3 s: the writer is told to wait and hears
 * nothing until it reads again, and what is written but not received
 * stays within the queue plus the sockets' buffers. */
TEST(fetch_upload_to_a_stalled_origin_waits_for_drain_in_bounded_memory) {
  ufx_t x;
  writer_t w = {0};
  uint64_t total = 64ull * MiB;
  CHECK(ufx_start(&x) == 0);
  atomic_store(&x.o.stall_ms, 3000);
  w.auto_end = 1;
  CHECK_EQ_INT(upload(&x, &w, "/upload", total, 0, total), 0);
  CHECK_MSG(RUN_UNTIL(&x, w.dones == 1, 150000), "no on_done after %llu bytes written", (unsigned long long)w.written);
  CHECK_MSG(w.err == 0, "err %d: %s", w.err, w.msg);
  CHECK_EQ_INT(atomic_load(&x.o.complete), 1);
  CHECK_EQ_INT(atomic_load(&x.o.bytes), (long long)total);
  CHECK_EQ_INT(atomic_load(&x.o.bad_pattern), 0);
  CHECK_WRITER(&w);
  /* 3000 ms of stall; the writer waited at least a tenth of it at once */
  CHECK_MSG(w.max_wait_ms >= 300, "longest wait for on_body_drain %lld ms", w.max_wait_ms);
  /* in flight at most: the queue, one write, curl's 64 KiB buffer, both
   * sockets' buffers at their largest (tcp_wmem, tcp_rmem), and 1 MiB */
  long long wmem = sysctl_max("/proc/sys/net/ipv4/tcp_wmem"), rmem = sysctl_max("/proc/sys/net/ipv4/tcp_rmem");
  long long bound = ISL_FETCH_UPLOAD_QUEUE + 2 * WSIZE + wmem + rmem + MiB;
  if (wmem > 0 && rmem > 0 && bound < (long long)total)
    CHECK_MSG(w.outstanding_max <= bound, "%lld bytes written and not received (bound %lld)", w.outstanding_max, bound);
  else
    fprintf(stderr, "  (socket buffers too large to bound what is in flight: %lld + %lld)\n", wmem, rmem);
  if (!test_under_sanitizer())
    CHECK_MSG(w.rss_max < w.rss0 + 24 * MiB, "RSS grew by %zu MiB", (w.rss_max - w.rss0) / MiB);
  CHECK_EQ_INT(ufx_stop(&x), 0);
}

/* body_end(f, err) after part of the body, and after all of it but before
 * its end: the origin's parser sees the body cut (the connection closed
 * short of the Content-Length, or a chunked body without its last chunk),
 * never a whole one, and on_done reports the error. */
static void cut_upload(int chunked, int all_written) {
  ufx_t x;
  writer_t w = {0};
  uint64_t total = 8ull * MiB, limit = all_written ? total : 2 * MiB;
  CHECK(ufx_start(&x) == 0);
  CHECK_EQ_INT(upload(&x, &w, "/upload", total, chunked, limit), 0);
  /* everything the client will send before the end: all but the last byte
   * with a Content-Length, all of it chunked */
  long long expect = all_written ? (long long)total - (chunked ? 0 : 1) : MiB;
  CHECK_MSG(RUN_UNTIL(&x, atomic_load(&x.o.bytes) >= expect, 60000), "origin got %lld bytes",
            (long long)atomic_load(&x.o.bytes));
  if (all_written) { /* and no more: the body is not over until it is ended */
    run_for(&x, 100);
    CHECK_EQ_INT(atomic_load(&x.o.bytes), expect);
    CHECK_EQ_INT(atomic_load(&x.o.complete), 0);
  }
  isl_fetch_body_end(w.f, UV_ECONNRESET);
  CHECK(RUN_UNTIL(&x, w.dones == 1, 10000));
  CHECK_EQ_INT(w.err, ISL_FETCH_ENET);
  CHECK_MSG(strstr(w.msg, "the request body could not be sent whole") != NULL, "%s", w.msg);
  CHECK_MSG(RUN_UNTIL(&x, atomic_load(&x.o.incomplete) + atomic_load(&x.o.complete) >= 1, 10000),
            "the origin never saw the request end");
  CHECK_EQ_INT(atomic_load(&x.o.complete), 0);
  CHECK_EQ_INT(atomic_load(&x.o.incomplete), 1);
  CHECK(atomic_load(&x.o.bytes) < (long long)total || chunked);
  CHECK_EQ_INT(atomic_load(&x.o.bad_pattern), 0);
  CHECK_WRITER(&w);
  CHECK_EQ_INT(ufx_stop(&x), 0);
}

TEST(fetch_upload_ended_with_an_error_is_never_seen_whole_by_the_origin) {
  for (int chunked = 0; chunked < 2; chunked++) {
    for (int all = 0; all < 2; all++) {
      cut_upload(chunked, all);
      CHECK_MSG(!test__failed, "chunked %d, all bytes written %d", chunked, all);
    }
  }
}

TEST(fetch_upload_past_or_short_of_its_length_is_refused_never_sent_short) {
  ufx_t x;
  CHECK(ufx_start(&x) == 0);
  static unsigned char buf[64];
  /* past the length: EINVAL and nothing taken; the rest then completes it */
  {
    writer_t w = {0};
    uint64_t total = MiB;
    CHECK_EQ_INT(upload(&x, &w, "/upload", total, 0, total - 10), 0);
    CHECK(RUN_UNTIL(&x, w.written == total - 10, 30000));
    size_t q = isl_fetch__upload_queued(w.f);
    fill(buf, w.written, 20);
    CHECK_EQ_INT(isl_fetch_body_write(w.f, buf, 20), ISL_EINVAL);
    CHECK_EQ_INT(isl_fetch__upload_queued(w.f), q);
    fill(buf, w.written, 10);
    CHECK(isl_fetch_body_write(w.f, buf, 10) >= 0);
    CHECK_EQ_INT(isl_fetch_body_write(w.f, buf, 1), ISL_EINVAL);
    isl_fetch_body_end(w.f, 0);
    CHECK_EQ_INT(isl_fetch_body_write(w.f, buf, 0), ISL_EINVAL); /* ended */
    CHECK(RUN_UNTIL(&x, w.dones == 1, 30000));
    CHECK_MSG(w.err == 0, "err %d: %s", w.err, w.msg);
    char want[64];
    snprintf(want, sizeof want, "POST received %llu", (unsigned long long)total);
    CHECK_EQ_STR(w.body, want);
    CHECK_EQ_INT(atomic_load(&x.o.complete), 1);
    CHECK_EQ_INT(atomic_load(&x.o.bad_pattern), 0);
  }
  /* ended with err 0 short of the length: an error, and the origin sees a
   * cut body */
  {
    writer_t w = {0};
    atomic_store(&x.o.bytes, 0);
    CHECK_EQ_INT(upload(&x, &w, "/upload", MiB, 0, MiB / 2), 0);
    CHECK(RUN_UNTIL(&x, atomic_load(&x.o.bytes) >= MiB / 2, 30000));
    isl_fetch_body_end(w.f, 0);
    CHECK(RUN_UNTIL(&x, w.dones == 1, 10000));
    CHECK_EQ_INT(w.err, ISL_FETCH_ENET);
    CHECK_MSG(strstr(w.msg, "could not be sent whole: it ended after 524288 of its 1048576 bytes") != NULL, "%s",
              w.msg);
    CHECK(RUN_UNTIL(&x, atomic_load(&x.o.incomplete) == 1, 10000));
    CHECK_EQ_INT(atomic_load(&x.o.complete), 1); /* the first one only */
  }
  /* misuse */
  {
    writer_t w = {0};
    char u[128];
    isl_err_t err = {0};
    isl_fetch_t *f = NULL;
    snprintf(u, sizeof u, "http://127.0.0.1:%d/upload", x.o.port);
    isl_fetch_callbacks_t cb = {w_response, w_body, w_done, &w, w_drain};
    isl_fetch_request_t get = {.method = "GET", .url = u, .body_stream = 1, .body_stream_length = -1};
    CHECK_EQ_INT(isl_fetch_start(x.c, &get, &open_policy, &cb, &f, &err), ISL_EINVAL);
    isl_fetch_request_t both = {.method = "POST", .url = u, .body = "x", .body_len = 1, .body_stream = 1};
    CHECK_EQ_INT(isl_fetch_start(x.c, &both, &open_policy, &cb, &f, &err), ISL_EINVAL);
    isl_fetch_request_t neg = {.method = "POST", .url = u, .body_stream = 1, .body_stream_length = -2};
    CHECK_EQ_INT(isl_fetch_start(x.c, &neg, &open_policy, &cb, &f, &err), ISL_EINVAL);
    isl_fetch_request_t whole = {.method = "POST", .url = u, .body = "abc", .body_len = 3};
    CHECK_EQ_INT(isl_fetch_start(x.c, &whole, &open_policy, &cb, &f, &err), 0);
    CHECK_EQ_INT(isl_fetch_body_write(f, "x", 1), ISL_EINVAL); /* not a streamed body */
    isl_fetch_body_end(f, 0);                                  /* ignored */
    CHECK(RUN_UNTIL(&x, w.dones == 1, 10000));
    CHECK_MSG(w.err == 0, "err %d: %s", w.err, w.msg);
    CHECK_EQ_STR(w.body, "POST received 3");
  }
  CHECK_EQ_INT(ufx_stop(&x), 0);
}

/* isl_fetch_abort mid-upload, from the test and from inside on_body_drain:
 * nothing is called after it, the origin sees the body cut, and nothing
 * leaks (ASan). */
TEST(fetch_upload_abort_mid_body_calls_nothing_after) {
  for (int in_drain = 0; in_drain < 2; in_drain++) {
    ufx_t x;
    writer_t w = {0};
    CHECK(ufx_start(&x) == 0);
    CHECK_EQ_INT(upload(&x, &w, "/upload", 64ull * MiB, in_drain, 64ull * MiB), 0);
    CHECK(RUN_UNTIL(&x, atomic_load(&x.o.bytes) >= MiB, 30000));
    if (in_drain) {
      w.abort_in_drain = 1;
      CHECK(RUN_UNTIL(&x, w.aborted, 30000));
    } else {
      isl_fetch_abort(w.f);
      w.aborted = 1;
    }
    CHECK_MSG(RUN_UNTIL(&x, atomic_load(&x.o.incomplete) == 1, 10000), "the origin saw no cut body");
    run_for(&x, 100);
    CHECK_EQ_INT(w.after_abort, 0);
    CHECK_EQ_INT(w.dones, 0);
    CHECK_EQ_INT(atomic_load(&x.o.complete), 0);
    CHECK_EQ_INT(isl_fetch_client_active(x.c), 0);
    CHECK_EQ_INT(ufx_stop(&x), 0);
  }
}

/* 307/308 would send the body again, which a stream cannot: a clear error.
 * 301/302/303 turn the POST into a GET, which needs no body. */
TEST(fetch_upload_redirect_307_fails_clearly_and_303_becomes_a_get) {
  ufx_t x;
  CHECK(ufx_start(&x) == 0);
  static const int codes[] = {307, 308, 303, 302};
  for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++) {
    writer_t w = {0};
    char path[64];
    int chunked = (int)(i & 1);
    snprintf(path, sizeof path, "/redirect?code=%d", codes[i]);
    atomic_store(&x.o.after, 0);
    w.auto_end = 1;
    CHECK_EQ_INT(upload(&x, &w, path, 300000, chunked, 300000), 0);
    CHECK(RUN_UNTIL(&x, w.dones == 1, 30000));
    if (codes[i] >= 307) {
      CHECK_EQ_INT(w.err, ISL_FETCH_EREDIRECT);
      char want[64];
      snprintf(want, sizeof want, "cannot follow a %d redirect", codes[i]);
      CHECK_MSG(strstr(w.msg, want) && strstr(w.msg, "with a streamed request body"), "%s", w.msg);
      CHECK_EQ_INT(atomic_load(&x.o.after), 0);
    } else {
      CHECK_MSG(w.err == 0, "%d: err %d: %s", codes[i], w.err, w.msg);
      CHECK_EQ_INT(w.status, 200);
      CHECK_EQ_STR(w.body, "after GET 0");
      CHECK_EQ_INT(atomic_load(&x.o.after), 1);
    }
  }
  CHECK_EQ_INT(atomic_load(&x.o.complete), 4); /* each POST arrived whole */
  CHECK_EQ_INT(atomic_load(&x.o.incomplete), 0);
  CHECK_EQ_INT(atomic_load(&x.o.bad_pattern), 0);
  CHECK_EQ_INT(ufx_stop(&x), 0);
}

/* Both directions at once: the origin answers at once and acks every piece
 * it reads; the client pauses the answer at its first byte and keeps
 * uploading. The upload goes on to its end while the answer stays paused
 * (curl's pause covers both directions: resuming one must keep the other),
 * and the paused answer is whole once resumed. */
TEST(fetch_upload_goes_on_while_the_answer_is_paused) {
  ufx_t x;
  writer_t w = {0};
  uint64_t total = 16ull * MiB;
  CHECK(ufx_start(&x) == 0);
  w.auto_end = 1;
  w.pause_recv = 1;
  CHECK_EQ_INT(upload(&x, &w, "/duplex", total, 1, total), 0);
  CHECK_MSG(RUN_UNTIL(&x, atomic_load(&x.o.complete) == 1, 60000), "the origin got %lld bytes, the writer wrote %llu",
            (long long)atomic_load(&x.o.bytes), (unsigned long long)w.written);
  run_for(&x, 100);
  CHECK(w.recv_paused);
  CHECK_EQ_INT(w.body_while_paused, 0);
  CHECK_EQ_INT(w.dones, 0);
  CHECK(w.resp_total >= 1 && w.resp_total < (uint64_t)atomic_load(&x.o.acks));
  w.recv_paused = 0;
  isl_fetch_pause(w.f, 0);
  CHECK(RUN_UNTIL(&x, w.dones == 1, 30000));
  CHECK_MSG(w.err == 0, "err %d: %s", w.err, w.msg);
  CHECK_EQ_INT(w.resp_total, atomic_load(&x.o.acks));
  CHECK_EQ_INT(atomic_load(&x.o.bytes), (long long)total);
  CHECK_EQ_INT(atomic_load(&x.o.bad_pattern), 0);
  CHECK_WRITER(&w);
  CHECK_EQ_INT(ufx_stop(&x), 0);
}
