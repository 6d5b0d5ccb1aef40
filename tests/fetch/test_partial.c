/*
 * test_partial.c - src/fetch against an origin that drops its connection
 * mid-body (issue 12, "no silent truncation"): a body short of its
 * Content-Length, or chunked without its last chunk, ends with an error
 * in on_done that says so, never with err 0 as if it were whole. The
 * origin is raw sockets on a thread, since no proper server does this.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "fetch/fetch.h"
#include "http/http_client.h"
#include "test.h"

#define PART_SENT 100000 /* body bytes sent before the drop */

typedef struct {
  int fd, port;
  atomic_int stop;
  pthread_t thread;
} dropper_t;

/* /cl: Content-Length 1000000, PART_SENT sent; /chunked: one chunk of
 * PART_SENT, no last chunk; /whole: all of a Content-Length 1000 body. */
static void serve_one(int fd) {
  char head[4096];
  test_http_read_head(fd, head, sizeof(head), 10000);
  static char body[PART_SENT];
  memset(body, 'p', sizeof(body));
  if (strncmp(head, "GET /cl ", 8) == 0) {
    const char *h = "HTTP/1.1 200 OK\r\nContent-Length: 1000000\r\n\r\n";
    if (test_http_send_all(fd, h, strlen(h)) == 0) test_http_send_all(fd, body, PART_SENT);
  } else if (strncmp(head, "GET /chunked ", 13) == 0) {
    char h[128];
    snprintf(h, sizeof(h), "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n%x\r\n", PART_SENT);
    if (test_http_send_all(fd, h, strlen(h)) == 0 && test_http_send_all(fd, body, PART_SENT) == 0)
      test_http_send_all(fd, "\r\n", 2);
  } else {
    const char *h = "HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n";
    if (test_http_send_all(fd, h, strlen(h)) == 0) test_http_send_all(fd, body, 1000);
  }
  close(fd);
}

static void *dropper_main(void *arg) {
  dropper_t *d = arg;
  while (!atomic_load(&d->stop)) {
    struct pollfd p = {d->fd, POLLIN, 0};
    if (poll(&p, 1, 50) <= 0) continue;
    int c = accept(d->fd, NULL, NULL);
    if (c >= 0) serve_one(c);
  }
  return NULL;
}

static int dropper_start(dropper_t *d) {
  memset(d, 0, sizeof(*d));
  d->fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {0};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t al = sizeof(a);
  if (d->fd < 0 || bind(d->fd, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(d->fd, 16) < 0 ||
      getsockname(d->fd, (struct sockaddr *)&a, &al) < 0)
    return -1;
  d->port = ntohs(a.sin_port);
  return pthread_create(&d->thread, NULL, dropper_main, d) == 0 ? 0 : -1;
}

static void dropper_stop(dropper_t *d) {
  atomic_store(&d->stop, 1);
  pthread_join(d->thread, NULL);
  close(d->fd);
}

typedef struct {
  int dones, err, responses;
  uint64_t total;
  char msg[512];
} seen_t;

static void seen_response(isl_fetch_t *f, int status, const char *text, const isl_http_header_t *h, size_t n,
                          const char *url) {
  (void)status, (void)text, (void)h, (void)n, (void)url;
  ((seen_t *)isl_fetch_data(f))->responses++;
}

static void seen_body(isl_fetch_t *f, const char *data, size_t len) {
  (void)data;
  ((seen_t *)isl_fetch_data(f))->total += len;
}

static void seen_done(isl_fetch_t *f, int err, const char *msg) {
  seen_t *s = isl_fetch_data(f);
  s->dones++;
  s->err = err;
  snprintf(s->msg, sizeof(s->msg), "%s", msg);
}

static void on_tick(uv_timer_t *t) {
  (void)t;
}

/* Fetches path from the dropper on a fresh loop and client; fills *s. */
static int fetch_path(int port, const char *path, seen_t *s) {
  uv_loop_t loop;
  uv_timer_t tick;
  isl_fetch_client_t *c = NULL;
  memset(s, 0, sizeof(*s));
  if (uv_loop_init(&loop) != 0) return -1;
  uv_timer_init(&loop, &tick);
  uv_timer_start(&tick, on_tick, 5, 5);
  int rc = isl_fetch_client_new(&loop, &c);
  char u[128];
  snprintf(u, sizeof(u), "http://127.0.0.1:%d%s", port, path);
  isl_fetch_request_t req = {.method = "GET", .url = u};
  static const isl_fetch_policy_t open_policy = {1, NULL, 0, NULL, 0};
  isl_fetch_callbacks_t cb = {seen_response, seen_body, seen_done, s, NULL};
  isl_fetch_t *f;
  isl_err_t err = {0};
  if (rc == 0) rc = isl_fetch_start(c, &req, &open_policy, &cb, &f, &err);
  long long end = test_http_now_ms() + 10000;
  while (rc == 0 && !s->dones && test_http_now_ms() < end) uv_run(&loop, UV_RUN_ONCE);
  isl_fetch_client_free(c);
  uv_close((uv_handle_t *)&tick, NULL);
  uv_run(&loop, UV_RUN_DEFAULT);
  int lc = uv_loop_close(&loop);
  return rc ? rc : lc;
}

TEST(fetch_origin_dropping_mid_body_ends_in_an_error_never_a_whole_body) {
  dropper_t d;
  CHECK(dropper_start(&d) == 0);
  static const char *const paths[] = {"/cl", "/chunked"};
  for (size_t i = 0; i < 2; i++) {
    seen_t s;
    CHECK_EQ_INT(fetch_path(d.port, paths[i], &s), 0);
    CHECK_MSG(s.dones == 1 && s.responses == 1, "%s: dones %d responses %d", paths[i], s.dones, s.responses);
    CHECK_MSG(s.err != 0, "%s ended as if whole after %llu bytes", paths[i], (unsigned long long)s.total);
    CHECK_MSG(strstr(s.msg, "closed before the whole response body arrived") != NULL, "%s: %s", paths[i], s.msg);
    CHECK_MSG(s.total <= PART_SENT, "%s: %llu bytes", paths[i], (unsigned long long)s.total);
  }
  /* A whole body from the same origin is whole. */
  seen_t s;
  CHECK_EQ_INT(fetch_path(d.port, "/whole", &s), 0);
  CHECK_MSG(s.err == 0 && s.total == 1000, "err %d (%s), %llu bytes", s.err, s.msg, (unsigned long long)s.total);
  dropper_stop(&d);
}
