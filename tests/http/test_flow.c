/*
 * tests/http/test_flow.c - flow control without polling: the drain
 * ("proceed") callback a streaming handler waits on
 * (isl_http_req_on_drain), and back-pressure on request bodies
 * (isl_http_req_pause_body).
 *
 * The handler here streams "/fill?kb=N" (N KiB with Content-Length, in
 * 64 KiB writes, byte i of the body being pattern(i)): it writes only
 * while isl_http_req_write_state says 0 and otherwise waits for its drain
 * callback: no timer, no polling. Without the callback such a response
 * would stop for good at the first wait. "/upload" checks every body byte
 * against the same pattern and pauses the body (after its first piece, or
 * in on_request); the test thread resumes or releases it through a
 * uv_async_t of the loop. "/which" answers the loop index.
 *
 * What the tests stop: a server that makes a paced writer poll (or hangs
 * it, if it waits for an event that never comes: a drain across loops, a
 * client that went away), a drain callback after release (use after free
 * in a real handler; seen here as a "late" call), an upload the handler
 * cannot hold back (the client must block in send, with the body timeout
 * not firing while the handler holds it), and a paused request that, once
 * released, leaves its connection stuck.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "http_client.h"
#include "test.h"

#define PIECE (64u << 10)
#define MAX_TAGS 8

static unsigned char pattern(uint64_t i) {
  return (unsigned char)((i % 251) ^ (i >> 16));
}

static void sleep_ms(int ms) {
  struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

/* ---- the handler ------------------------------------------------------------------- */

typedef struct freq_s {
  isl_http_req_t *req;
  struct freq_s *next; /* every request of the test, freed after the server stopped */
  int tag;             /* the query's tag=, for per-request counters */
  int released;
  int release_on_abort;
  int give_up; /* at its first wait: register the drain callback, then end (chunked) and release */
  uint64_t total, sent;
  unsigned char *buf;
  /* uploads */
  int upload, pause_in_body, paused, paused_once;
  uint64_t received;
  int bad;
} freq_t;

static struct {
  pthread_mutex_t lock;
  freq_t *all;
  atomic_int requests, released, aborts;
  atomic_int drains[MAX_TAGS];      /* drain callbacks per tag */
  atomic_int drains_gone[MAX_TAGS]; /* ... that saw write_state -1 */
  atomic_int waits[MAX_TAGS];       /* on_drain registrations per tag */
  atomic_int first_state[MAX_TAGS]; /* write_state before the first write, +10 once seen */
  atomic_int drain_saw_wait;        /* a drain callback that found write_state 1 */
  atomic_int late;                  /* a drain callback after release */
  atomic_size_t max_pending;        /* the most isl_http_req_pending_bytes seen after a write */
  /* uploads */
  atomic_ullong received;       /* body bytes of the current upload */
  atomic_int paused;            /* the handler holds an upload paused */
  atomic_int pauses;            /* pause_body(1) calls */
  atomic_int body_while_paused; /* on_body / on_body_end while paused */
  atomic_int uploads_ok, uploads_bad;
  atomic_int command; /* 1 resume, 2 release the paused upload */
  freq_t *paused_req; /* loop thread only */
  uv_async_t *async;  /* the (single) loop's, for commands */
  atomic_int async_ready;
} g = {.lock = PTHREAD_MUTEX_INITIALIZER};

static void reset_globals(void) {
  pthread_mutex_lock(&g.lock);
  g.all = NULL;
  pthread_mutex_unlock(&g.lock);
  atomic_store(&g.requests, 0);
  atomic_store(&g.released, 0);
  atomic_store(&g.aborts, 0);
  for (int i = 0; i < MAX_TAGS; i++) {
    atomic_store(&g.drains[i], 0);
    atomic_store(&g.drains_gone[i], 0);
    atomic_store(&g.waits[i], 0);
    atomic_store(&g.first_state[i], 0);
  }
  atomic_store(&g.drain_saw_wait, 0);
  atomic_store(&g.late, 0);
  atomic_store(&g.max_pending, 0);
  atomic_store(&g.received, 0);
  atomic_store(&g.paused, 0);
  atomic_store(&g.pauses, 0);
  atomic_store(&g.body_while_paused, 0);
  atomic_store(&g.uploads_ok, 0);
  atomic_store(&g.uploads_bad, 0);
  atomic_store(&g.command, 0);
  g.paused_req = NULL;
  atomic_store(&g.async_ready, 0);
}

/* After the server has stopped: every request the handler ever had. */
static void free_requests(void) {
  pthread_mutex_lock(&g.lock);
  freq_t *x = g.all, *next;
  for (; x; x = next) {
    next = x->next;
    free(x->buf);
    free(x);
  }
  g.all = NULL;
  pthread_mutex_unlock(&g.lock);
}

/* Released, but kept (see free_requests), so that a late drain callback
 * is counted rather than a use after free in the release build. */
static void done(freq_t *x) {
  if (x->released) return;
  x->released = 1;
  if (g.paused_req == x) g.paused_req = NULL;
  atomic_fetch_add(&g.released, 1);
  isl_http_req_release(x->req);
}

static void on_drained(isl_http_req_t *req, void *arg);

/* Writes while write_state is 0, then waits for the drain callback. */
static void pump(freq_t *x) {
  isl_http_req_t *req = x->req;
  for (;;) {
    int st = isl_http_req_write_state(req);
    if (atomic_load(&g.first_state[x->tag]) == 0) atomic_store(&g.first_state[x->tag], st + 10);
    if (st < 0) {
      done(x);
      return;
    }
    if (st == 1) {
      atomic_fetch_add(&g.waits[x->tag], 1);
      isl_http_req_on_drain(req, on_drained, x);
      if (x->give_up) { /* released with the callback pending: it must never come */
        isl_http_res_end(req);
        done(x);
      }
      return;
    }
    if (x->sent == x->total) {
      isl_http_res_end(req);
      done(x);
      return;
    }
    size_t n = x->total - x->sent < PIECE ? (size_t)(x->total - x->sent) : PIECE;
    for (size_t i = 0; i < n; i++) x->buf[i] = pattern(x->sent + i);
    isl_http_res_write(req, x->buf, n);
    x->sent += n;
    size_t pending = isl_http_req_pending_bytes(req), seen = atomic_load(&g.max_pending);
    while (pending > seen && !atomic_compare_exchange_weak(&g.max_pending, &seen, pending)) {
    }
  }
}

static void on_drained(isl_http_req_t *req, void *arg) {
  freq_t *x = arg;
  if (x->released) {
    atomic_fetch_add(&g.late, 1);
    return;
  }
  atomic_fetch_add(&g.drains[x->tag], 1);
  int st = isl_http_req_write_state(req);
  if (st == 1) atomic_fetch_add(&g.drain_saw_wait, 1);
  if (st < 0) atomic_fetch_add(&g.drains_gone[x->tag], 1);
  pump(x);
}

static const char owner = 'o';

static void answer(isl_http_req_t *req, const char *text) {
  isl_http_res_simple(req, 200, NULL, text);
}

static void upload_pause(freq_t *x) {
  isl_http_req_pause_body(x->req, 1);
  x->paused = x->paused_once = 1;
  g.paused_req = x;
  atomic_store(&g.paused, 1);
  atomic_fetch_add(&g.pauses, 1);
}

static void start_fill(freq_t *x) {
  isl_http_req_t *req = x->req;
  const char *t = isl_http_req_target(req);
  x->total = (uint64_t)test_http_query_int(t, "kb", 1024) << 10;
  x->release_on_abort = test_http_query_int(t, "release_on_abort", 0);
  x->give_up = test_http_query_int(t, "give_up", 0);
  x->buf = malloc(PIECE);
  if (!x->buf) abort();
  if (test_http_query_int(t, "acct", 0)) isl_http_req_set_account(req, &owner);
  isl_http_res_start(req, 200, NULL, NULL, 0, x->give_up ? -1 : (int64_t)x->total);
  pump(x);
}

static void on_request(isl_http_req_t *req) {
  const char *t = isl_http_req_target(req);
  freq_t *x = calloc(1, sizeof(*x));
  if (!x) abort();
  x->req = req;
  req->data = x;
  x->tag = test_http_query_int(t, "tag", 0);
  if (x->tag < 0 || x->tag >= MAX_TAGS) x->tag = 0;
  pthread_mutex_lock(&g.lock);
  x->next = g.all;
  g.all = x;
  pthread_mutex_unlock(&g.lock);
  atomic_fetch_add(&g.requests, 1);
  if (test_http_path_is(t, "/upload")) {
    x->upload = 1;
    x->pause_in_body = test_http_query_int(t, "in_body", 1);
    atomic_store(&g.received, 0);
    if (!x->pause_in_body) upload_pause(x);
  }
  if (test_http_path_is(t, "/fill") && test_http_query_int(t, "early", 0)) start_fill(x); /* before the body */
}

static void on_body(isl_http_req_t *req, const char *data, size_t len) {
  freq_t *x = req->data;
  if (x->paused) atomic_fetch_add(&g.body_while_paused, 1);
  for (size_t i = 0; i < len && !x->bad; i++)
    if ((unsigned char)data[i] != pattern(x->received + i)) x->bad = 1;
  x->received += len;
  atomic_store(&g.received, x->received);
  if (x->upload && x->pause_in_body && !x->paused_once) upload_pause(x);
}

static void on_body_end(isl_http_req_t *req) {
  freq_t *x = req->data;
  const char *t = isl_http_req_target(req);
  if (x->paused) atomic_fetch_add(&g.body_while_paused, 1);
  if (x->upload) {
    char text[64];
    snprintf(text, sizeof(text), "%s %llu", x->bad ? "bad" : "ok", (unsigned long long)x->received);
    atomic_fetch_add(x->bad ? &g.uploads_bad : &g.uploads_ok, 1);
    answer(req, text);
    done(x);
  } else if (test_http_path_is(t, "/which")) {
    answer(req, isl_http_loop_index(isl_http_req_loop(req)) ? "1" : "0");
    done(x);
  } else if (test_http_path_is(t, "/fill")) {
    if (!x->buf) start_fill(x);
  } else {
    isl_http_res_simple(req, 404, NULL, "no");
    done(x);
  }
}

static void on_abort(isl_http_req_t *req) {
  freq_t *x = req->data;
  atomic_fetch_add(&g.aborts, 1);
  if (x->release_on_abort || !x->buf) done(x); /* a /fill that waits keeps req until its drain callback */
}

static void on_command(uv_async_t *a) {
  (void)a;
  int cmd = atomic_exchange(&g.command, 0);
  freq_t *x = g.paused_req;
  if (!cmd || !x) return;
  x->paused = 0;
  atomic_store(&g.paused, 0);
  g.paused_req = NULL;
  if (cmd == 1) {
    isl_http_req_pause_body(x->req, 0);
  } else {
    done(x); /* no response: the server answers 500 and discards the rest of the body */
  }
}

static void on_loop_start(isl_http_loop_t *loop) {
  if (isl_http_loop_index(loop) != 0) return;
  uv_async_t *a = malloc(sizeof(*a));
  if (!a) abort();
  uv_async_init(isl_http_loop_uv(loop), a, on_command);
  loop->data = a;
  g.async = a;
  atomic_store(&g.async_ready, 1);
}

static void on_async_closed(uv_handle_t *h) {
  free(h);
}

static void on_loop_stop(isl_http_loop_t *loop) {
  if (!loop->data) return;
  atomic_store(&g.async_ready, 0);
  uv_close((uv_handle_t *)loop->data, on_async_closed);
}

static int start(test_http_server_t *t, const isl_http_config_t *cfg) {
  reset_globals();
  isl_http_handler_t h = {.on_loop_start = on_loop_start,
                          .on_loop_stop = on_loop_stop,
                          .on_request = on_request,
                          .on_body = on_body,
                          .on_body_end = on_body_end,
                          .on_abort = on_abort};
  isl_err_t err = {0};
  int rc = test_http_server_start(t, cfg, &h, &err);
  if (rc) printf("  server: %s\n", err.msg);
  for (int i = 0; rc == 0 && i < 1000 && !atomic_load(&g.async_ready); i++) sleep_ms(5);
  return rc;
}

static void command(int cmd) {
  atomic_store(&g.command, cmd);
  uv_async_send(g.async);
}

/* Waits up to ms for *v >= want. */
static int wait_for(atomic_int *v, int want, int ms) {
  for (int waited = 0; atomic_load(v) < want && waited < ms; waited += 5) sleep_ms(5);
  return atomic_load(v);
}

/* ---- a raw client ------------------------------------------------------------------- */

/* Connects; rcvbuf > 0 is set before connecting (the window stays small). */
static int dial(int port, int rcvbuf) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  if (rcvbuf > 0) setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

static int send_str(int fd, const char *s) {
  return test_http_send_all(fd, s, strlen(s));
}

/* Reads a response head, byte by byte (nothing of the body is taken):
 * the status, and Content-Length in *clen (-1 if none). */
static int read_head(int fd, long long *clen, int timeout_ms) {
  char head[4096];
  size_t len = 0;
  *clen = -1;
  while (len < sizeof(head) - 1) {
    struct pollfd q = {fd, POLLIN, 0};
    if (poll(&q, 1, timeout_ms) <= 0) return 0;
    ssize_t n = recv(fd, head + len, 1, 0);
    if (n <= 0) return 0;
    len++;
    head[len] = '\0';
    if (len >= 4 && memcmp(head + len - 4, "\r\n\r\n", 4) == 0) break;
  }
  int status = 0;
  if (sscanf(head, "HTTP/1.%*d %d", &status) != 1) return 0;
  const char *cl = strcasestr(head, "\r\ncontent-length:");
  if (cl) *clen = atoll(cl + 17);
  return status;
}

/* Reads exactly len body bytes; with check, each must be pattern(i).
 * Returns the bytes read that were right (len if all came and matched). */
static uint64_t read_body(int fd, uint64_t len, int check, char *text, size_t text_cap) {
  static char buf[1 << 16];
  uint64_t got = 0;
  while (got < len) {
    struct pollfd q = {fd, POLLIN, 0};
    if (poll(&q, 1, 10000) <= 0) break;
    size_t want = len - got < sizeof(buf) ? (size_t)(len - got) : sizeof(buf);
    ssize_t n = recv(fd, buf, want, 0);
    if (n <= 0) break;
    for (ssize_t i = 0; check && i < n; i++)
      if ((unsigned char)buf[i] != pattern(got + (uint64_t)i)) return got + (uint64_t)i;
    if (text && got < text_cap - 1) {
      size_t k = (size_t)n < text_cap - 1 - got ? (size_t)n : text_cap - 1 - (size_t)got;
      memcpy(text + got, buf, k);
      text[got + k] = '\0';
    }
    got += (uint64_t)n;
  }
  return got;
}

/* A keep-alive GET /which on fd: the loop index, or -1. */
static int which_loop(int fd) {
  long long clen;
  char text[8] = "";
  if (send_str(fd, "GET /which HTTP/1.1\r\nHost: x\r\n\r\n") != 0) return -1;
  if (read_head(fd, &clen, 5000) != 200 || clen != 1) return -1;
  if (read_body(fd, 1, 0, text, sizeof(text)) != 1) return -1;
  return text[0] - '0';
}

/* ---- on_drain ---------------------------------------------------------------------------- */

/* 64 MiB to a client that reads nothing for a while and then everything:
 * the handler's only pacing is write_state and the drain callback. */
TEST(http_flow_drain_paces_a_large_response_to_a_slow_reader_without_polling) {
  isl_http_config_t cfg = {.threads = 1, .max_pending_output = 256u << 10, .drain_timeout_ms = 2000};
  test_http_server_t t;
  CHECK(start(&t, &cfg) == 0);
  int fd = dial(t.port, 16384);
  CHECK(fd >= 0);
  uint64_t total = 64ull << 20;
  CHECK(send_str(fd, "GET /fill?kb=65536&tag=1 HTTP/1.1\r\nHost: x\r\n\r\n") == 0);
  /* Not reading: the server's queue fills and the handler waits. */
  CHECK_MSG(wait_for(&g.waits[1], 1, 10000) >= 1, "the handler never had to wait");
  sleep_ms(300);
  long long clen;
  CHECK_EQ_INT(read_head(fd, &clen, 5000), 200);
  CHECK_EQ_INT(clen, (long long)total);
  uint64_t got = read_body(fd, total, 1, NULL, 0);
  CHECK_MSG(got == total, "got %llu of %llu bytes right", (unsigned long long)got, (unsigned long long)total);
  close(fd);
  CHECK_EQ_INT(wait_for(&g.released, 1, 10000), 1);
  CHECK_MSG(atomic_load(&g.drains[1]) > 0, "no drain callback");
  CHECK_EQ_INT(atomic_load(&g.drain_saw_wait), 0);
  CHECK_EQ_INT(atomic_load(&g.late), 0);
  size_t maxp = atomic_load(&g.max_pending);
  CHECK_MSG(maxp <= cfg.max_pending_output + PIECE, "the server queued %zu bytes", maxp);
  printf("  %d waits, %d drain callbacks, at most %zu bytes queued\n", atomic_load(&g.waits[1]),
         atomic_load(&g.drains[1]), maxp);
  CHECK_EQ_INT(test_http_server_stop(&t), 0);
  free_requests();
}

/* One account over two loops: a waiter blocked by its account wakes when
 * another loop's connection drains it (no write of its own completes). */
TEST(http_flow_drain_of_an_account_blocked_writer_comes_when_another_loop_drains) {
  isl_http_config_t cfg = {
      .threads = 2, .max_pending_output = 64u << 20, .max_account_output = 1u << 20, .drain_timeout_ms = 2000};
  test_http_server_t t;
  CHECK(start(&t, &cfg) == 0);
  /* A connection on each loop. */
  int fds[2] = {-1, -1};
  for (int i = 0; i < 64 && (fds[0] < 0 || fds[1] < 0); i++) {
    int fd = dial(t.port, 4096);
    CHECK(fd >= 0);
    int li = which_loop(fd);
    CHECK(li == 0 || li == 1);
    if (fds[li] < 0) {
      fds[li] = fd;
    } else {
      close(fd);
    }
  }
  CHECK_MSG(fds[0] >= 0 && fds[1] >= 0, "no connection on each loop");
  int a = fds[0], b = fds[1];
  /* a fills the account (16 MiB, never read for now) and waits. */
  CHECK(send_str(a, "GET /fill?kb=16384&acct=1&tag=2 HTTP/1.1\r\nHost: x\r\n\r\n") == 0);
  CHECK_MSG(wait_for(&g.waits[2], 1, 10000) >= 1, "a never waited");
  /* (Once the kernel has taken what it takes of a's answer.) */
  size_t held = 0;
  for (int i = 0; i < 100; i++) {
    sleep_ms(100);
    held = isl_http_server_account_bytes(t.srv, &owner);
    if (held >= cfg.max_account_output && i >= 2) break;
  }
  CHECK_MSG(held >= cfg.max_account_output, "the account holds %zu bytes", held);
  /* b, on the other loop, is told to wait before its first write. Its
   * answer is one write, small beside the bound: what its client leaves
   * unread cannot keep a's answer from draining. */
  CHECK(send_str(b, "GET /fill?kb=64&acct=1&tag=3 HTTP/1.1\r\nHost: x\r\n\r\n") == 0);
  CHECK_MSG(wait_for(&g.waits[3], 1, 10000) >= 1, "b never waited");
  CHECK_EQ_INT(atomic_load(&g.first_state[3]), 11);
  sleep_ms(200);
  CHECK_EQ_INT(atomic_load(&g.drains[3]), 0); /* the account is still full */
  /* a's client reads: the account drains on loop 0, and b (loop 1) goes on. */
  long long clen;
  CHECK_EQ_INT(read_head(a, &clen, 5000), 200);
  uint64_t got = read_body(a, 16u << 20, 1, NULL, 0);
  CHECK_MSG(got == 16u << 20, "a got %llu bytes right", (unsigned long long)got);
  CHECK_EQ_INT(read_head(b, &clen, 10000), 200);
  got = read_body(b, 64u << 10, 1, NULL, 0);
  CHECK_MSG(got == 64u << 10, "b got %llu bytes right", (unsigned long long)got);
  int requests = atomic_load(&g.requests); /* the /which of every connection tried, two /fill */
  CHECK_EQ_INT(wait_for(&g.released, requests, 10000), requests);
  CHECK_MSG(atomic_load(&g.drains[3]) > 0, "b's drain callback never came");
  CHECK_EQ_INT(atomic_load(&g.drain_saw_wait), 0);
  CHECK_EQ_INT(atomic_load(&g.late), 0);
  close(a);
  close(b);
  CHECK_EQ_INT(test_http_server_stop(&t), 0);
  free_requests();
}

/* A client that goes away while the handler waits: the callback comes with
 * write_state -1 (after on_abort), and never for a request released in
 * on_abort. */
TEST(http_flow_drain_reports_a_vanished_client_and_never_calls_after_release) {
  isl_http_config_t cfg = {.threads = 1, .max_pending_output = 256u << 10, .drain_timeout_ms = 2000};
  test_http_server_t t;
  CHECK(start(&t, &cfg) == 0);
  int keep = dial(t.port, 4096), rel = dial(t.port, 4096);
  CHECK(keep >= 0 && rel >= 0);
  CHECK(send_str(keep, "GET /fill?kb=65536&tag=4 HTTP/1.1\r\nHost: x\r\n\r\n") == 0);
  CHECK(send_str(rel, "GET /fill?kb=65536&tag=5&release_on_abort=1 HTTP/1.1\r\nHost: x\r\n\r\n") == 0);
  CHECK(wait_for(&g.waits[4], 1, 10000) >= 1);
  CHECK(wait_for(&g.waits[5], 1, 10000) >= 1);
  /* Unread bytes: close sends a reset. */
  close(keep);
  close(rel);
  CHECK_EQ_INT(wait_for(&g.released, 2, 10000), 2);
  CHECK_EQ_INT(wait_for(&g.aborts, 2, 10000), 2);
  CHECK_EQ_INT(atomic_load(&g.drains_gone[4]), 1);
  CHECK_EQ_INT(atomic_load(&g.drains[4]), 1);
  sleep_ms(100);
  CHECK_EQ_INT(atomic_load(&g.drains[5]), 0);
  CHECK_EQ_INT(atomic_load(&g.late), 0);
  CHECK(test_http_server_stop(&t) == 0);
  free_requests();
}

/* Released with its callback pending, after its response ended: the
 * request lives on while its body is still to come, and as the client
 * reads the answer the connection drains below half, yet the callback
 * never comes. */
TEST(http_flow_drain_is_never_called_after_release_while_writes_drain) {
  isl_http_config_t cfg = {.threads = 1, .max_pending_output = 256u << 10, .drain_timeout_ms = 2000};
  test_http_server_t t;
  CHECK(start(&t, &cfg) == 0);
  int fd = dial(t.port, 4096);
  CHECK(fd >= 0);
  CHECK(send_str(fd,
                 "POST /fill?kb=4096&tag=6&give_up=1&early=1 HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n"
                 "12345") == 0);
  CHECK_EQ_INT(wait_for(&g.released, 1, 10000), 1);
  CHECK_EQ_INT(atomic_load(&g.waits[6]), 1);
  char buf[8192];
  size_t got = 0;
  for (;;) {
    struct pollfd q = {fd, POLLIN, 0};
    if (poll(&q, 1, 300) <= 0) break;
    ssize_t n = recv(fd, buf, sizeof(buf), 0);
    if (n <= 0) break;
    got += (size_t)n;
  }
  CHECK_MSG(got > cfg.max_pending_output, "read %zu bytes", got);
  CHECK(send_str(fd, "67890") == 0); /* the body ends: the request can go */
  CHECK_EQ_INT(which_loop(fd), 0);
  close(fd);
  CHECK_EQ_INT(atomic_load(&g.drains[6]), 0);
  CHECK_EQ_INT(atomic_load(&g.late), 0);
  CHECK_EQ_INT(test_http_server_stop(&t), 0);
  free_requests();
}

/* ---- pause_body -------------------------------------------------------------------------- */

/* The upload's wire bytes: the body (pattern) with Content-Length, or in
 * 60 KiB chunks. */
static char *upload_wire(const char *target, uint64_t body, int chunked, size_t *len) {
  size_t cap = (size_t)body + (size_t)(body / 1000) + 4096;
  char *w = malloc(cap);
  if (!w) abort();
  size_t n = (size_t)snprintf(w, cap, "POST %s HTTP/1.1\r\nHost: x\r\n", target);
  if (chunked) {
    n += (size_t)snprintf(w + n, cap - n, "Transfer-Encoding: chunked\r\n\r\n");
  } else {
    n += (size_t)snprintf(w + n, cap - n, "Content-Length: %llu\r\n\r\n", (unsigned long long)body);
  }
  for (uint64_t off = 0; off < body;) {
    uint64_t piece = chunked ? 60u << 10 : body;
    if (piece > body - off) piece = body - off;
    if (chunked) n += (size_t)snprintf(w + n, cap - n, "%llx\r\n", (unsigned long long)piece);
    for (uint64_t i = 0; i < piece; i++) w[n++] = (char)pattern(off + i);
    off += piece;
    if (chunked) {
      memcpy(w + n, "\r\n", 2);
      n += 2;
    }
  }
  if (chunked) {
    memcpy(w + n, "0\r\n\r\n", 5);
    n += 5;
  }
  *len = n;
  return w;
}

/* Sends from w[*off] on without blocking until the socket has taken
 * nothing for 200 ms (or all is sent). */
static void send_until_stalled(int fd, const char *w, size_t len, size_t *off) {
  int fl = fcntl(fd, F_GETFL);
  fcntl(fd, F_SETFL, fl | O_NONBLOCK);
  while (*off < len) {
    ssize_t n = send(fd, w + *off, len - *off, MSG_NOSIGNAL);
    if (n > 0) {
      *off += (size_t)n;
      continue;
    }
    if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) break;
    struct pollfd q = {fd, POLLOUT, 0};
    if (poll(&q, 1, 200) == 0) break;
  }
  fcntl(fd, F_SETFL, fl);
}

/* A 32 MiB upload the handler pauses, for 1 s, with a 300 ms body
 * timeout: the client blocks, nothing reaches on_body meanwhile, no 408;
 * then every byte arrives, right. */
static void paused_upload(int chunked, int in_body) {
  isl_http_config_t cfg = {.threads = 1, .body_timeout_ms = 300, .drain_timeout_ms = 2000};
  test_http_server_t t;
  CHECK(start(&t, &cfg) == 0);
  uint64_t body = 32u << 20;
  char target[64];
  snprintf(target, sizeof(target), "/upload?in_body=%d", in_body);
  size_t len, off = 0;
  char *w = upload_wire(target, body, chunked, &len);
  int fd = dial(t.port, 0);
  CHECK(fd >= 0);
  int small = 64 << 10;
  setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &small, sizeof(small));
  long long t0 = test_http_now_ms();
  send_until_stalled(fd, w, len, &off);
  CHECK_EQ_INT(wait_for(&g.pauses, 1, 10000), 1);
  long long paused_at = test_http_now_ms();
  send_until_stalled(fd, w, len, &off); /* the socket takes nothing more */
  uint64_t r1 = atomic_load(&g.received);
  sleep_ms(200);
  uint64_t r2 = atomic_load(&g.received);
  size_t sent_paused = off;
  /* Hold the pause for 1 s in all, over three body timeouts. */
  long long held = test_http_now_ms() - paused_at;
  if (held < 1000) sleep_ms((int)(1000 - held));
  uint64_t r3 = atomic_load(&g.received);
  command(1);
  CHECK(test_http_send_all(fd, w + off, len - off) == 0);
  long long clen;
  char text[64] = "";
  int status = read_head(fd, &clen, 10000);
  if (status == 200 && clen > 0 && clen < 60) read_body(fd, (uint64_t)clen, 0, text, sizeof(text));
  close(fd);
  free(w);
  printf("  paused after %llu bytes (%lld ms in), the client stalled at %zu bytes sent\n", (unsigned long long)r1,
         paused_at - t0, sent_paused);
  CHECK_EQ_INT(status, 200);
  char want[64];
  snprintf(want, sizeof(want), "ok %llu", (unsigned long long)body);
  CHECK_EQ_STR(text, want);
  CHECK_MSG(r1 == r2 && r2 == r3, "on_body while paused: %llu, %llu, %llu bytes", (unsigned long long)r1,
            (unsigned long long)r2, (unsigned long long)r3);
  CHECK_MSG(r1 < (8u << 20), "%llu bytes reached on_body before the pause", (unsigned long long)r1);
  if (!in_body) CHECK_EQ_INT(r1, 0);
  CHECK_MSG(sent_paused < len / 2, "the client sent %zu of %zu bytes to a paused upload", sent_paused, len);
  CHECK_EQ_INT(atomic_load(&g.body_while_paused), 0);
  CHECK_EQ_INT(atomic_load(&g.uploads_ok), 1);
  CHECK_EQ_INT(test_http_server_stop(&t), 0);
  free_requests();
}

TEST(http_flow_pause_body_holds_back_a_content_length_upload_without_a_body_timeout) {
  paused_upload(0, 1);
}

TEST(http_flow_pause_body_holds_back_a_chunked_upload_paused_in_on_request) {
  paused_upload(1, 0);
}

TEST(http_flow_pause_body_holds_back_a_chunked_upload_paused_in_on_body) {
  paused_upload(1, 1);
}

/* Paused in on_request, a request without a body gets no on_body_end
 * until resumed (the parser goes on from the end of the head with no
 * bytes buffered). */
TEST(http_flow_pause_body_holds_back_the_end_of_an_empty_body) {
  isl_http_config_t cfg = {.threads = 1, .drain_timeout_ms = 2000};
  test_http_server_t t;
  CHECK(start(&t, &cfg) == 0);
  int fd = dial(t.port, 0);
  CHECK(fd >= 0);
  CHECK(send_str(fd, "GET /upload?in_body=0 HTTP/1.1\r\nHost: x\r\n\r\n") == 0);
  CHECK_EQ_INT(wait_for(&g.pauses, 1, 10000), 1);
  sleep_ms(200);
  CHECK_EQ_INT(atomic_load(&g.uploads_ok), 0);
  command(1);
  long long clen;
  char text[64] = "";
  CHECK_EQ_INT(read_head(fd, &clen, 10000), 200);
  CHECK(clen > 0 && clen < 60);
  read_body(fd, (uint64_t)clen, 0, text, sizeof(text));
  CHECK_EQ_STR(text, "ok 0");
  CHECK_EQ_INT(atomic_load(&g.body_while_paused), 0);
  close(fd);
  CHECK_EQ_INT(test_http_server_stop(&t), 0);
  free_requests();
}

/* Released while paused: the server answers 500, reads and discards the
 * rest of the body, and the connection serves the next request. */
TEST(http_flow_pause_body_then_release_discards_the_rest_and_keeps_the_connection) {
  isl_http_config_t cfg = {.threads = 1, .body_timeout_ms = 300, .drain_timeout_ms = 2000};
  test_http_server_t t;
  CHECK(start(&t, &cfg) == 0);
  size_t len, off = 0;
  char *w = upload_wire("/upload?in_body=1", 32u << 20, 0, &len);
  int fd = dial(t.port, 0);
  CHECK(fd >= 0);
  send_until_stalled(fd, w, len, &off);
  CHECK_EQ_INT(wait_for(&g.pauses, 1, 10000), 1);
  send_until_stalled(fd, w, len, &off);
  CHECK_MSG(off < len / 2, "the client sent %zu of %zu bytes to a paused upload", off, len);
  command(2);
  int rc = test_http_send_all(fd, w + off, len - off);
  free(w);
  CHECK_EQ_INT(rc, 0);
  long long clen;
  CHECK_EQ_INT(read_head(fd, &clen, 10000), 500);
  CHECK(clen > 0 && read_body(fd, (uint64_t)clen, 0, NULL, 0) == (uint64_t)clen);
  CHECK_EQ_INT(which_loop(fd), 0);
  close(fd);
  CHECK_EQ_INT(atomic_load(&g.uploads_ok) + atomic_load(&g.uploads_bad), 0);
  CHECK_EQ_INT(atomic_load(&g.requests), 2);
  CHECK_EQ_INT(wait_for(&g.released, 2, 5000), 2);
  CHECK_EQ_INT(test_http_server_stop(&t), 0);
  free_requests();
}
