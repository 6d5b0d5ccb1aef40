/*
 * http_client.c - the blocking test client of http_client.h: plain sockets
 * with poll() for timeouts, and http-parser as a response parser paused at
 * the end of each message so pipelined responses are read one at a time.
 */
#include "http_client.h"

#include <arpa/inet.h>
#include <errno.h>
#include <http_parser.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

long long test_http_now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int test_http_conn_open(test_http_conn_t *c, int port) {
  memset(c, 0, sizeof(*c));
  c->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (c->fd < 0) return -errno;
  struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  int one = 1;
  setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  if (connect(c->fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
    int rc = -errno;
    close(c->fd);
    c->fd = -1;
    return rc;
  }
  return 0;
}

int test_http_send_all(int fd, const void *data, size_t len) {
  const char *p = data;
  while (len) {
    ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      return -errno;
    }
    if (n == 0) return -EPIPE;
    p += n;
    len -= (size_t)n;
  }
  return 0;
}

int test_http_conn_send(test_http_conn_t *c, const void *data, size_t len) {
  return test_http_send_all(c->fd, data, len);
}

size_t test_http_read_head(int fd, char *buf, size_t cap, int timeout_ms) {
  size_t len = 0;
  buf[0] = 0;
  while (len < cap - 1) {
    struct pollfd q = {fd, POLLIN, 0};
    if (poll(&q, 1, timeout_ms) <= 0) break;
    ssize_t n = recv(fd, buf + len, cap - 1 - len, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    len += (size_t)n;
    buf[len] = 0;
    if (strstr(buf, "\r\n\r\n")) break;
  }
  return len;
}

int test_http_conn_send_str(test_http_conn_t *c, const char *s) {
  return test_http_conn_send(c, s, strlen(s));
}

/* Reads more bytes into c->buf. 1 got some, 0 EOF, -ETIMEDOUT. */
static int fill(test_http_conn_t *c, long long deadline) {
  if (c->eof) return 0;
  if (c->len == sizeof(c->buf)) return -ENOBUFS;
  for (;;) {
    long long left = deadline - test_http_now_ms();
    if (left <= 0) return -ETIMEDOUT;
    struct pollfd pfd = {.fd = c->fd, .events = POLLIN};
    int n = poll(&pfd, 1, (int)left);
    if (n < 0 && errno == EINTR) continue;
    if (n == 0) return -ETIMEDOUT;
    ssize_t got = recv(c->fd, c->buf + c->len, sizeof(c->buf) - c->len, 0);
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) {
      c->eof = 1;
      return 0;
    }
    c->len += (size_t)got;
    return 1;
  }
}

/* ---- response parsing --------------------------------------------------------------- */

typedef struct {
  test_http_resp_t *r;
  int last; /* 0 none, 2 field, 3 value */
  int done;
  int head;
  size_t body_cap;
} parse_t;

static char *append(char *s, const char *at, size_t len) {
  size_t old = s ? strlen(s) : 0;
  s = realloc(s, old + len + 1);
  if (!s) abort();
  memcpy(s + old, at, len);
  s[old + len] = '\0';
  return s;
}

static int p_field(http_parser *p, const char *at, size_t len) {
  parse_t *ps = p->data;
  test_http_resp_t *r = ps->r;
  if (ps->last != 2) {
    if (r->n_headers == TEST_HTTP_MAX_HEADERS) return -1;
    r->n_headers++;
    r->headers[r->n_headers - 1].name = append(NULL, "", 0);
    r->headers[r->n_headers - 1].value = append(NULL, "", 0);
    ps->last = 2;
  }
  r->headers[r->n_headers - 1].name = append(r->headers[r->n_headers - 1].name, at, len);
  return 0;
}

static int p_value(http_parser *p, const char *at, size_t len) {
  parse_t *ps = p->data;
  test_http_resp_t *r = ps->r;
  if (r->n_headers == 0) return -1;
  ps->last = 3;
  r->headers[r->n_headers - 1].value = append(r->headers[r->n_headers - 1].value, at, len);
  return 0;
}

static int p_headers_complete(http_parser *p) {
  parse_t *ps = p->data;
  ps->r->status = p->status_code;
  ps->r->http_minor = p->http_minor;
  ps->r->chunked = (p->flags & F_CHUNKED) != 0;
  return ps->head ? 1 : 0; /* 1: no body follows */
}

static int p_body(http_parser *p, const char *at, size_t len) {
  parse_t *ps = p->data;
  test_http_resp_t *r = ps->r;
  if (r->body_len + len + 1 > ps->body_cap) {
    size_t cap = ps->body_cap ? ps->body_cap : 256;
    while (cap < r->body_len + len + 1) cap *= 2;
    r->body = realloc(r->body, cap);
    if (!r->body) abort();
    ps->body_cap = cap;
  }
  memcpy(r->body + r->body_len, at, len);
  r->body_len += len;
  r->body[r->body_len] = '\0';
  return 0;
}

static int p_message_complete(http_parser *p) {
  parse_t *ps = p->data;
  ps->done = 1;
  ps->r->keep_alive = http_should_keep_alive(p);
  http_parser_pause(p, 1);
  return 0;
}

static const http_parser_settings resp_settings = {
    .on_header_field = p_field,
    .on_header_value = p_value,
    .on_headers_complete = p_headers_complete,
    .on_body = p_body,
    .on_message_complete = p_message_complete,
};

int test_http_conn_read(test_http_conn_t *c, test_http_resp_t *r, int head, int timeout_ms) {
  memset(r, 0, sizeof(*r));
  r->body = calloc(1, 1);
  parse_t ps = {.r = r, .head = head, .body_cap = 1};
  http_parser p;
  http_parser_init(&p, HTTP_RESPONSE);
  p.data = &ps;
  long long deadline = test_http_now_ms() + timeout_ms;
  for (;;) {
    if (c->len) {
      size_t n = http_parser_execute(&p, &resp_settings, c->buf, c->len);
      memmove(c->buf, c->buf + n, c->len - n);
      c->len -= n;
      if (ps.done) return 0;
      if (HTTP_PARSER_ERRNO(&p) != HPE_OK) return -EPROTO;
    }
    int rc = fill(c, deadline);
    if (rc < 0) return rc;
    if (rc == 0) { /* EOF: completes a close-delimited body */
      http_parser_execute(&p, &resp_settings, NULL, 0);
      return ps.done ? 0 : -ECONNRESET;
    }
  }
}

int test_http_conn_wait_close(test_http_conn_t *c, int timeout_ms) {
  long long deadline = test_http_now_ms() + timeout_ms;
  for (;;) {
    c->len = 0;
    int rc = fill(c, deadline);
    if (rc == 0) return 1;
    if (rc < 0) return 0;
  }
}

void test_http_conn_close(test_http_conn_t *c) {
  if (c->fd >= 0) close(c->fd);
  c->fd = -1;
}

int test_http_request(int port, const char *raw, test_http_resp_t *r) {
  test_http_conn_t *c = malloc(sizeof(*c));
  if (!c) abort();
  int rc = test_http_conn_open(c, port);
  if (rc == 0) rc = test_http_conn_send_str(c, raw);
  if (rc == 0) {
    do {
      rc = test_http_conn_read(c, r, strncmp(raw, "HEAD ", 5) == 0, TEST_HTTP_TIMEOUT_MS);
      if (rc == 0 && r->status >= 100 && r->status < 200) {
        test_http_resp_free(r);
        continue;
      }
      break;
    } while (1);
  } else {
    memset(r, 0, sizeof(*r));
  }
  test_http_conn_close(c);
  free(c);
  return rc;
}

const char *test_http_resp_header(const test_http_resp_t *r, const char *name) {
  for (size_t i = 0; i < r->n_headers; i++)
    if (strcasecmp(r->headers[i].name, name) == 0) return r->headers[i].value;
  return NULL;
}

void test_http_resp_free(test_http_resp_t *r) {
  for (size_t i = 0; i < r->n_headers; i++) {
    free(r->headers[i].name);
    free(r->headers[i].value);
  }
  free(r->body);
  memset(r, 0, sizeof(*r));
}

/* ---- a server on a thread ------------------------------------------------------------ */

static void server_thread(void *arg) {
  test_http_server_t *t = arg;
  t->rc = isl_http_server_run(t->srv);
}

int test_http_server_start(test_http_server_t *t, const isl_http_config_t *cfg, const isl_http_handler_t *h,
                           isl_err_t *err) {
  memset(t, 0, sizeof(*t));
  isl_http_config_t c = cfg ? *cfg : (isl_http_config_t){0};
  if (!c.host) c.host = "127.0.0.1";
  int rc = isl_http_server_new(&c, h, &t->srv, err);
  if (rc != 0) return rc;
  t->port = isl_http_server_port(t->srv);
  rc = uv_thread_create(&t->thread, server_thread, t);
  if (rc != 0) {
    isl_http_server_free(t->srv);
    t->srv = NULL;
  }
  return rc;
}

int test_http_server_join(test_http_server_t *t) {
  if (!t->srv) return 0;
  uv_thread_join(&t->thread);
  isl_http_server_free(t->srv);
  t->srv = NULL;
  return t->rc;
}

int test_http_server_stop(test_http_server_t *t) {
  if (!t->srv) return 0;
  isl_http_server_stop(t->srv);
  return test_http_server_join(t);
}

/* ---- malformed.txt ---------------------------------------------------------------- */

/* "\r\n" and friends to bytes; returns the length. */
static size_t unescape(const char *s, char *out) {
  size_t n = 0;
  while (*s) {
    if (*s != '\\' || !s[1]) {
      out[n++] = *s++;
      continue;
    }
    s++;
    switch (*s) {
      case 'r':
        out[n++] = '\r';
        s++;
        break;
      case 'n':
        out[n++] = '\n';
        s++;
        break;
      case 't':
        out[n++] = '\t';
        s++;
        break;
      case 'x': {
        char hex[3] = {s[1], s[1] ? s[2] : 0, 0};
        out[n++] = (char)strtol(hex, NULL, 16);
        s += s[1] && s[2] ? 3 : 1;
        break;
      }
      default:
        out[n++] = *s++;
        break;
    }
  }
  return n;
}

int test_http_malformed_cases(int port, FILE *cases, int (*still_serving)(int port), char *why, size_t cap) {
  char line[4096], raw[4096];
  int n = 0, lineno = 0;
  while (fgets(line, sizeof(line), cases)) {
    lineno++;
    line[strcspn(line, "\n")] = '\0';
    if (line[0] == '#' || line[0] == '\0') continue;
    char *sp = strchr(line, ' ');
    if (!sp) continue;
    *sp = '\0';
    int any = strcmp(line, "any") == 0, want = atoi(line);
    size_t len = unescape(sp + 1, raw);
    test_http_conn_t c;
    test_http_resp_t r;
    if (test_http_conn_open(&c, port) != 0) {
      snprintf(why, cap, "malformed.txt:%d: cannot connect", lineno);
      return -1;
    }
    test_http_conn_send(&c, raw, len);
    /* Some cases stall until a header or body timeout (300 ms in the
     * tests that run them): the waits keep 10x that and more. */
    int rc = test_http_conn_read(&c, &r, 0, TEST_HTTP_TIMEOUT_MS);
    int ok = any ? (rc == 0 ? r.status >= 400 : rc == -ECONNRESET) : rc == 0 && r.status == want;
    int status = r.status;
    test_http_resp_free(&r);
    int closed = ok && test_http_conn_wait_close(&c, TEST_HTTP_TIMEOUT_MS);
    test_http_conn_close(&c);
    if (!ok) {
      snprintf(why, cap, "malformed.txt:%d: want %s, got status %d (read %d)", lineno, line, status, rc);
      return -1;
    }
    if (!closed || !still_serving(port)) {
      snprintf(why, cap, "malformed.txt:%d: %s", lineno, closed ? "server stopped serving" : "no close");
      return -1;
    }
    n++;
  }
  return n;
}

/* ---- request targets, for test handlers -------------------------------------------- */

int test_http_query_int(const char *target, const char *key, int def) {
  const char *q = strchr(target, '?');
  size_t klen = strlen(key);
  while (q) {
    q++;
    if (strncmp(q, key, klen) == 0 && q[klen] == '=') return atoi(q + klen + 1);
    q = strchr(q, '&');
  }
  return def;
}

int test_http_path_is(const char *target, const char *path) {
  size_t n = strlen(path);
  return strncmp(target, path, n) == 0 && (target[n] == '\0' || target[n] == '?');
}

int test_http_stalled_client(int port, const char *raw) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  int small = 4096;
  setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
  struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  size_t len = strlen(raw);
  if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 || write(fd, raw, len) != (ssize_t)len) {
    close(fd);
    return -1;
  }
  return fd;
}

static void *raw_origin_main(void *arg) {
  test_raw_origin_t *o = arg;
  while (!atomic_load(&o->stop)) {
    struct pollfd p = {o->fd, POLLIN, 0};
    if (poll(&p, 1, 100) <= 0) continue;
    int fd = accept(o->fd, NULL, NULL);
    if (fd < 0) continue;
    pthread_t t;
    if (pthread_create(&t, NULL, o->conn, (void *)(intptr_t)fd) == 0) {
      pthread_detach(t);
    } else {
      close(fd);
    }
  }
  return NULL;
}

int test_raw_origin_start(test_raw_origin_t *o, void *(*conn)(void *)) {
  o->conn = conn;
  o->fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {0};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t al = sizeof(a);
  if (o->fd < 0 || bind(o->fd, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(o->fd, 64) < 0 ||
      getsockname(o->fd, (struct sockaddr *)&a, &al) < 0)
    return -1;
  o->port = ntohs(a.sin_port);
  atomic_store(&o->stop, 0);
  return pthread_create(&o->thread, NULL, raw_origin_main, o) == 0 ? 0 : -1;
}

void test_raw_origin_stop(test_raw_origin_t *o) {
  atomic_store(&o->stop, 1);
  pthread_join(o->thread, NULL);
  close(o->fd);
}
