/*
 * test_header_bytes_served.c - header values are byte strings in every
 * direction (issue 12: one codec, src/api/bytestring.c), over real
 * sockets: a served worker's fetch() sends U+00E9 as the one byte E9 (not
 * the UTF-8 C3 A9, which an origin would read as two other characters),
 * an origin's bytes 80..FF reach the worker as U+0080..U+00FF (not U+FFFD,
 * which would lose them), the Cache API gives back the bytes it was given,
 * and a code point above U+00FF is refused by Headers (TypeError).
 *
 * The origin is a raw socket on a thread of the test, so the test sees the
 * exact bytes isolde sent and sends exactly the bytes it means to.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "http/http_client.h"
#include "runtime/server_proc.h"
#include "test.h"

/* ---- a raw origin ---------------------------------------------------------- */

typedef struct {
  int fd, port;
  atomic_int stop;
  pthread_t thread;
  pthread_mutex_t lock;
  char head[8192]; /* the last request head received, raw (NUL-terminated) */
  size_t head_len;
  int requests;
} raw_origin_t;

/* Its one answer: obs-text bytes in a header and in the reason phrase. */
static const char origin_answer[] =
    "HTTP/1.1 200 Caf\xe9\r\n"
    "X-O: caf\xe9\r\n"
    "X-All: %s\r\n"
    "Content-Length: 2\r\n"
    "Connection: close\r\n\r\nok";

static void *origin_main(void *arg) {
  raw_origin_t *o = arg;
  char high[129]; /* the bytes 80..FF */
  for (int i = 0; i < 128; i++) high[i] = (char)(0x80 + i);
  high[128] = 0;
  char answer[512];
  int answer_len = snprintf(answer, sizeof(answer), origin_answer, high);
  while (!atomic_load(&o->stop)) {
    struct pollfd p = {o->fd, POLLIN, 0};
    if (poll(&p, 1, 50) <= 0) continue;
    int c = accept(o->fd, NULL, NULL);
    if (c < 0) continue;
    char buf[sizeof(o->head)];
    size_t len = test_http_read_head(c, buf, sizeof(buf), 10000); /* no request here has a body */
    pthread_mutex_lock(&o->lock);
    memcpy(o->head, buf, len + 1);
    o->head_len = len;
    o->requests++;
    pthread_mutex_unlock(&o->lock);
    test_http_send_all(c, answer, (size_t)answer_len);
    shutdown(c, SHUT_WR);
    char drain[256];
    struct pollfd q = {c, POLLIN, 0};
    while (poll(&q, 1, 2000) > 0 && recv(c, drain, sizeof(drain), 0) > 0) {
    }
    close(c);
  }
  return NULL;
}

static int raw_origin_start(raw_origin_t *o) {
  memset(o, 0, sizeof(*o));
  pthread_mutex_init(&o->lock, NULL);
  o->fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  socklen_t alen = sizeof(a);
  if (o->fd < 0 || bind(o->fd, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(o->fd, 16) < 0 ||
      getsockname(o->fd, (struct sockaddr *)&a, &alen) < 0) {
    printf("  origin: %s\n", strerror(errno));
    return -1;
  }
  o->port = ntohs(a.sin_port);
  return pthread_create(&o->thread, NULL, origin_main, o) == 0 ? 0 : -1;
}

static void raw_origin_stop(raw_origin_t *o) {
  atomic_store(&o->stop, 1);
  pthread_join(o->thread, NULL);
  close(o->fd);
  pthread_mutex_destroy(&o->lock);
}

/* The origin's last request head has this exact line (with its CRLF):
 * 1, else 0 after printing the head as hex where it is not ASCII. */
static int origin_got_line(raw_origin_t *o, const char *line) {
  char want[256];
  snprintf(want, sizeof(want), "\r\n%s\r\n", line);
  pthread_mutex_lock(&o->lock);
  int ok = strstr(o->head, want) != NULL;
  if (!ok) {
    printf("  the origin did not get \"%s\"; its request head was:\n  ", line);
    for (size_t i = 0; i < o->head_len; i++) {
      unsigned char c = (unsigned char)o->head[i];
      if (c >= 0x20 && c < 0x7f)
        putchar(c);
      else if (c == '\n')
        printf("\\n\n  ");
      else
        printf("<%02X>", c);
    }
    putchar('\n');
  }
  pthread_mutex_unlock(&o->lock);
  return ok;
}

/* ---- the worker ------------------------------------------------------------ */

static const char worker_js[] =
    "const codes = (s) => s === null ? 'null' : [...s].map((c) => c.charCodeAt(0)).join(',');\n"
    "export default {\n"
    "  async fetch(request, env) {\n"
    "    const path = new URL(request.url).pathname;\n"
    "    if (path === '/out') {\n"
    "      const r = await fetch(env.ORIGIN + '/out', { headers: { 'x-t': '\\u00e9', 'x-u': '\\u00ff',\n"
    "                                                      'x-v': 'caf\\u00e9 \\u0080\\u00ff' } });\n"
    "      await r.text();\n"
    "      return new Response('sent');\n"
    "    }\n"
    "    if (path === '/in') {\n"
    "      const r = await fetch(env.ORIGIN + '/in');\n"
    "      await r.text();\n"
    "      return new Response('o=' + codes(r.headers.get('x-o')) + ' all=' + codes(r.headers.get('x-all')) +\n"
    "                          ' st=' + codes(r.statusText),\n"
    "                          { headers: { 'x-back': r.headers.get('x-o') } });\n"
    "    }\n"
    "    if (path === '/wide') {\n"
    "      const names = [];\n"
    "      for (const f of [() => new Headers({ 'x-w': '\\u0100' }), () => new Headers().append('x-w', 'a\\u20acb'),\n"
    "                       () => new Response('x', { headers: { 'x-w': '\\ud83d\\ude00' } }),\n"
    "                       () => fetch(env.ORIGIN + '/wide', { headers: { 'x-w': '\\u0100' } })]) {\n"
    "        try { await f(); names.push('none'); } catch (e) { names.push(e.name); }\n"
    "      }\n"
    "      return new Response(names.join(' '));\n"
    "    }\n"
    "    if (path === '/cache-put') {\n"
    "      const r = new Response('c', { headers: { 'x-c': 'caf\\u00e9\\u00ff\\u0080', 'cache-control': 'max-age=600' "
    "} "
    "});\n"
    "      await caches.default.put('http://bytes.test/c', r);\n"
    "      return new Response('put');\n"
    "    }\n"
    "    if (path === '/cache-get') {\n"
    "      const hit = await caches.default.match('http://bytes.test/c');\n"
    "      if (!hit) return new Response('miss', { status: 404 });\n"
    "      const v = hit.headers.get('x-c');\n"
    "      return new Response('c=' + codes(v), { headers: { 'x-c': v } });\n"
    "    }\n"
    "    if (path === '/reason') return new Response('r', { statusText: 'Caf\\u00e9' });\n"
    "    if (path === '/reason-stream') return new Response(new Blob(['r']).stream(), { statusText: 'Caf\\u00e9' });\n"
    "    return new Response('?', { status: 404 });\n"
    "  },\n"
    "};\n";

static int start(test_server_t *s, int origin_port) {
  if (test_server_dir(s) < 0) return -1;
  const char *main_path = test_server_write(s, "worker.js", worker_js);
  if (!main_path) return -1;
  char path[512], cfg[2048];
  snprintf(path, sizeof(path), "%s", main_path);
  snprintf(cfg, sizeof(cfg),
           "{\"listen\": {\"port\": 0}, \"threads\": 1, \"workers\": [{\"name\": \"bytes\", \"main\": \"%s\", "
           "\"vars\": {\"ORIGIN\": \"http://127.0.0.1:%d\"}, \"allow_origins\": [\"http://127.0.0.1:%d\"], "
           "\"limits\": {\"cpu_ms\": 1000}}]}",
           path, origin_port, origin_port);
  return test_server_serve_config(s, cfg);
}

/* GET path: 0 with *r filled (free with test_http_resp_free), else -1. */
static int get(int port, const char *path, test_http_resp_t *r) {
  char raw[256];
  snprintf(raw, sizeof(raw), "GET %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", path);
  memset(r, 0, sizeof(*r));
  return test_http_request(port, raw, r) == 0 ? 0 : -1;
}

static char *all_high_codes(void) {
  static char s[128 * 4 + 1];
  size_t n = 0;
  for (int c = 0x80; c <= 0xff; c++) n += (size_t)snprintf(s + n, sizeof(s) - n, c == 0x80 ? "%d" : ",%d", c);
  return s;
}

/* A subrequest's header U+00E9 / U+00FF goes out as the single byte E9 /
 * FF: as UTF-8 (C3 A9) an origin would read "Ã©", another value. */
TEST(header_bytes_subrequest_sends_one_byte_per_code_point) {
  raw_origin_t o;
  CHECK(raw_origin_start(&o) == 0);
  test_server_t s = {0};
  CHECK(start(&s, o.port) == 0);
  test_http_resp_t r;
  CHECK(get(s.port, "/out", &r) == 0);
  CHECK_MSG(r.status == 200 && strcmp(r.body, "sent") == 0, "%d %s", r.status, r.body);
  test_http_resp_free(&r);
  CHECK(origin_got_line(&o, "x-t: \xe9"));
  CHECK(origin_got_line(&o, "x-u: \xff"));
  CHECK(origin_got_line(&o, "x-v: caf\xe9 \x80\xff"));
  CHECK_EQ_INT(test_server_stop(&s), 0);
  raw_origin_stop(&o);
}

/* An origin's header bytes E9 and 80..FF (and its reason phrase) reach
 * the worker as U+00E9 and U+0080..U+00FF, not U+FFFD; and handed to a
 * Response they go to the client as the same bytes. */
TEST(header_bytes_from_an_origin_reach_the_worker_as_code_points) {
  raw_origin_t o;
  CHECK(raw_origin_start(&o) == 0);
  test_server_t s = {0};
  CHECK(start(&s, o.port) == 0);
  test_http_resp_t r;
  CHECK(get(s.port, "/in", &r) == 0);
  char want[1024];
  snprintf(want, sizeof(want), "o=99,97,102,233 all=%s st=67,97,102,233", all_high_codes());
  CHECK_MSG(r.status == 200 && strcmp(r.body, want) == 0, "%d\n  got  %s\n  want %s", r.status, r.body, want);
  const char *back = test_http_resp_header(&r, "x-back");
  CHECK_MSG(back && strcmp(back, "caf\xe9") == 0, "x-back: %s", back ? back : "(none)");
  test_http_resp_free(&r);
  CHECK_EQ_INT(test_server_stop(&s), 0);
  raw_origin_stop(&o);
}

/* A code point above U+00FF is no byte: Headers refuses it with a
 * TypeError (in Headers, a Response's init and fetch()'s), and no
 * subrequest goes out with it. */
TEST(header_bytes_above_u00ff_are_refused_by_headers) {
  raw_origin_t o;
  CHECK(raw_origin_start(&o) == 0);
  test_server_t s = {0};
  CHECK(start(&s, o.port) == 0);
  test_http_resp_t r;
  CHECK(get(s.port, "/wide", &r) == 0);
  CHECK_MSG(r.status == 200 && strcmp(r.body, "TypeError TypeError TypeError TypeError") == 0, "%d %s", r.status,
            r.body);
  test_http_resp_free(&r);
  pthread_mutex_lock(&o.lock);
  int requests = o.requests;
  pthread_mutex_unlock(&o.lock);
  CHECK_EQ_INT(requests, 0);
  CHECK_EQ_INT(test_server_stop(&s), 0);
  raw_origin_stop(&o);
}

/* The Cache API gives back the header it was given, in a later request:
 * the same code points to JS, the same bytes to the client. */
TEST(header_bytes_survive_a_cache_round_trip) {
  raw_origin_t o;
  CHECK(raw_origin_start(&o) == 0);
  test_server_t s = {0};
  CHECK(start(&s, o.port) == 0);
  test_http_resp_t r;
  CHECK(get(s.port, "/cache-put", &r) == 0);
  CHECK_MSG(r.status == 200 && strcmp(r.body, "put") == 0, "%d %s", r.status, r.body);
  test_http_resp_free(&r);
  CHECK(get(s.port, "/cache-get", &r) == 0);
  CHECK_MSG(r.status == 200 && strcmp(r.body, "c=99,97,102,233,255,128") == 0, "%d %s", r.status, r.body);
  const char *c = test_http_resp_header(&r, "x-c");
  CHECK_MSG(c && strcmp(c, "caf\xe9\xff\x80") == 0, "x-c: %s", c ? c : "(none)");
  test_http_resp_free(&r);
  CHECK_EQ_INT(test_server_stop(&s), 0);
  raw_origin_stop(&o);
}

/* A Response's statusText is a byte string too: U+00E9 leaves as the byte
 * E9 in the status line, on the one-write path and on the streamed one. */
TEST(header_bytes_status_text_leaves_as_one_byte_per_code_point) {
  test_server_t s = {0};
  CHECK(start(&s, 1) == 0);
  static const char *const paths[] = {"/reason", "/reason-stream"};
  for (int i = 0; i < 2; i++) {
    test_http_conn_t c;
    CHECK(test_http_conn_open(&c, s.port) == 0);
    char raw[128];
    snprintf(raw, sizeof(raw), "GET %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", paths[i]);
    CHECK(test_http_conn_send_str(&c, raw) == 0);
    char head[64] = {0};
    size_t got = 0;
    while (got < sizeof(head) - 1) {
      ssize_t n = read(c.fd, head + got, sizeof(head) - 1 - got);
      if (n <= 0) break;
      got += (size_t)n;
    }
    test_http_conn_close(&c);
    CHECK_MSG(strncmp(head, "HTTP/1.1 200 Caf\xe9\r\n", 19) == 0, "%s: status line %.20s", paths[i], head);
  }
  CHECK_EQ_INT(test_server_stop(&s), 0);
}
