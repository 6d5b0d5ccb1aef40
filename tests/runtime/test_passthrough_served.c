/*
 * test_passthrough_served.c - issue 12's host streams, over real sockets
 * against a real `isolde serve` and a real origin:
 *
 *   - pass-through never enters the isolate: `return fetch(url)`,
 *     `new Response(r.body, r)` and an echoed request body stream whole
 *     under a CPU limit far too small for JS to touch their bytes, with
 *     the server's memory flat and the tenant charged no CPU for them;
 *   - back-pressure both ways: a client that does not read pauses the
 *     origin, a handler that does not read pauses the client's upload,
 *     and the host's memory stays flat in every combination of a slow
 *     client, a slow origin and a slow handler;
 *   - a body that is read gets every byte, in order (a byte pattern the
 *     origin and the client check), by text(), arrayBuffer() and a reader.
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
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "http/http_client.h"
#include "server_proc.h"
#include "test.h"

/* Byte i of every body here: a pattern no cut, repeat or reorder keeps. */
static unsigned char pattern(long long i) {
  return (unsigned char)((i * 7 + i / 4093) & 0xff);
}

static void fill_pattern(unsigned char *buf, long long from, size_t n) {
  for (size_t i = 0; i < n; i++) buf[i] = pattern(from + (long long)i);
}

static void sleep_ms(int ms) {
  struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

/* ---- the origin -------------------------------------------------------------------
 * GET /big?mb=N&slow=MS: N MiB of the pattern with a Content-Length, a
 * pause of MS ms after each MiB. POST /count: reads the body (Content-Length
 * or chunked is not needed: the edge sends a length), checks the pattern,
 * answers "count=<n> ok=<0|1>". POST /hold: never reads the body. */

/* What the last /count saw: bytes, and whether they were all of its length. */
static atomic_llong last_count = -1;
static atomic_int last_count_whole = -1;

static void *origin_conn(void *arg) {
  int fd = (int)(intptr_t)arg;
  char head[8192];
  size_t hn = test_http_read_head(fd, head, sizeof(head), 30000);
  if (!hn) {
    close(fd);
    return NULL;
  }
  char *sp = strchr(head, ' ');
  const char *target = sp ? sp + 1 : "/";
  static __thread unsigned char piece[1 << 16];
  if (strncmp(target, "/big", 4) == 0) {
    long long total = (long long)test_http_query_int(target, "mb", 1) << 20;
    int slow = test_http_query_int(target, "slow", 0);
    char h[200];
    snprintf(h, sizeof(h), "HTTP/1.1 200 OK\r\nContent-Length: %lld\r\nContent-Type: application/octet-stream\r\n\r\n",
             total);
    if (test_http_send_all(fd, h, strlen(h)) == 0)
      for (long long off = 0; off < total; off += sizeof(piece)) {
        fill_pattern(piece, off, sizeof(piece));
        if (test_http_send_all(fd, piece, sizeof(piece))) break;
        if (slow && (off + (long long)sizeof(piece)) % (1 << 20) == 0) sleep_ms(slow);
      }
  } else if (strncmp(target, "/hold", 5) == 0) {
    /* Never reads the body: waits 2 s (or until the peer closes), then closes. */
    for (int i = 0; i < 20; i++) {
      struct pollfd p = {fd, POLLRDHUP, 0};
      if (poll(&p, 1, 100) > 0 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR))) break;
    }
  } else if (strncmp(target, "/count", 6) == 0) {
    long long length = -1;
    int chunked = 0;
    for (char *l = strstr(head, "\r\n"); l; l = strstr(l + 2, "\r\n")) {
      if (strncasecmp(l + 2, "content-length:", 15) == 0) length = atoll(l + 17);
      if (strncasecmp(l + 2, "transfer-encoding:", 18) == 0 && strstr(l + 20, "chunked")) chunked = 1;
    }
    /* The head read may have taken body bytes with it. */
    char *end = strstr(head, "\r\n\r\n");
    long long got = 0, left = 0; /* left: data bytes of the current chunk */
    int ok = 1, last = 0, size_len = 0;
    char size_line[32];
    const unsigned char *in = end ? (const unsigned char *)end + 4 : NULL;
    size_t n = end ? hn - (size_t)(end + 4 - head) : 0;
    for (;;) {
      for (size_t i = 0; i < n; i++) {
        if (!chunked || left > 0) {
          ok &= in[i] == pattern(got++);
          if (chunked && --left == 0) size_len = -2; /* then its CRLF */
          continue;
        }
        if (size_len < 0) { /* the CRLF after a chunk's data */
          size_len = in[i] == '\n' ? 0 : size_len;
          continue;
        }
        if (in[i] != '\n') {
          if (size_len < 31) size_line[size_len++] = (char)in[i];
          continue;
        }
        size_line[size_len] = 0;
        size_len = 0;
        left = strtoll(size_line, NULL, 16);
        if (left == 0) last = 1;
      }
      if (last || (!chunked && length >= 0 && got >= length)) break;
      ssize_t k = recv(fd, piece, sizeof(piece), 0);
      if (k <= 0) break;
      in = piece;
      n = (size_t)k;
    }
    if (chunked) length = last ? got : -1; /* whole only with its last chunk */
    atomic_store(&last_count_whole, got == length);
    atomic_store(&last_count, got);
    char b[100], h[200];
    int bn = snprintf(b, sizeof(b), "count=%lld ok=%d", got, ok && got == length);
    snprintf(h, sizeof(h), "HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n", bn);
    if (test_http_send_all(fd, h, strlen(h)) == 0) test_http_send_all(fd, b, (size_t)bn);
  } else {
    const char *h = "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n";
    test_http_send_all(fd, h, strlen(h));
  }
  close(fd);
  return NULL;
}

/* ---- the worker ------------------------------------------------------------------ */

static const char WORKER[] =
    "export default { async fetch(req, env) {\n"
    "  const u = new URL(req.url);\n"
    "  const from = env.ORIGIN + (u.searchParams.get('p') || '/');\n"
    "  const wait = +(u.searchParams.get('wait') || 0);\n"
    "  if (wait) await new Promise((r) => setTimeout(r, wait));\n"
    "  switch (u.pathname) {\n"
    "    case '/pass': return fetch(from);\n"
    "    case '/wrap': { const r = await fetch(from); return new Response(r.body, r); }\n"
    "    case '/echo': return new Response(req.body, { headers: { 'content-type': 'application/octet-stream' } });\n"
    "    case '/forward': return fetch(from, { method: 'POST', body: req.body });\n"
    "    case '/text': { const t = await (await fetch(from)).text(); return new Response('text ' + t.length); }\n"
    "    case '/sum': {\n" /* a reader: every byte checked against the pattern in JS */
    "      const reader = (u.searchParams.has('up') ? req.body : (await fetch(from)).body).getReader();\n"
    "      let n = 0, ok = true;\n"
    "      for (;;) { const { value, done } = await reader.read(); if (done) break;\n"
    "        for (let i = 0; i < value.length; i += 997) ok = ok && value[i] === (((n + i) * 7 + Math.floor((n + i) / "
    "4093)) & 255);\n"
    "        n += value.length; }\n"
    "      return new Response('sum ' + n + ' ' + ok);\n"
    "    }\n"
    "    case '/buffer': { const b = await req.arrayBuffer(); return new Response('buffer ' + b.byteLength); }\n"
    "  }\n"
    "  return new Response('?', { status: 404 });\n"
    "} };\n";

static int start(test_server_t *s, int origin_port, int cpu_ms) {
  char w[512], cfg[2048];
  if (test_server_dir(s) < 0) return -1;
  snprintf(w, sizeof(w), "%s", test_server_write(s, "edge/worker.js", WORKER));
  snprintf(cfg, sizeof(cfg),
           "{\"listen\": {\"port\": 0}, \"threads\": 1, \"http\": {\"max_body_mb\": 2048}, \"routes\": [{\"pattern\": "
           "\"direct.test/*\", \"origin\": \"http://127.0.0.1:%d\"}], \"workers\": [{\"name\": "
           "\"edge\", \"main\": \"%s\", \"vars\": {\"ORIGIN\": \"http://127.0.0.1:%d\"}, \"allow_origins\": "
           "[\"http://127.0.0.1:%d\"], \"routes\": [\"edge.test/*\"], \"limits\": {\"cpu_ms\": %d}}]}",
           origin_port, w, origin_port, origin_port, cpu_ms);
  return test_server_serve_config(s, cfg);
}

/* ---- a client that checks what it gets ----------------------------------------------- */

typedef struct {
  int status;
  long long length, got;
  int pattern_ok, complete;
  long peak_rss_kb;
  char text[256]; /* the body's first bytes, NUL-terminated */
} got_t;

/* Sends head (and, with upload > 0, that many pattern bytes as its body,
 * pausing pause_ms after each MiB), then reads the response, checking the
 * pattern when check is set, pausing read_pause_ms after each MiB read,
 * and sampling the server's RSS. */
static void exchange_at(test_server_t *s, const char *host, const char *method, const char *path, long long upload,
                        int pause_ms, int read_pause_ms, int check, got_t *g) {
  memset(g, 0, sizeof(*g));
  g->length = -1;
  g->pattern_ok = 1;
  test_http_conn_t c;
  if (test_http_conn_open(&c, s->port) != 0) return;
  char head[512];
  if (upload > 0)
    snprintf(head, sizeof(head), "%s %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\nContent-Length: %lld\r\n\r\n",
             method, path, host, upload);
  else
    snprintf(head, sizeof(head), "%s %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n", method, path, host);
  if (test_http_conn_send_str(&c, head) != 0) goto out;
  static unsigned char buf[1 << 16];
  for (long long off = 0; off < upload; off += sizeof(buf)) {
    size_t n = upload - off < (long long)sizeof(buf) ? (size_t)(upload - off) : sizeof(buf);
    fill_pattern(buf, off, n);
    if (test_http_conn_send(&c, buf, n) != 0) goto out;
    if ((off + (long long)n) % (1 << 20) == 0) {
      long kb = test_server_rss_kb(s);
      if (kb > g->peak_rss_kb) g->peak_rss_kb = kb;
      if (pause_ms) sleep_ms(pause_ms);
    }
  }
  char h[8192];
  size_t hn = test_http_read_head(c.fd, h, sizeof(h) - 1, 60000);
  if (!hn) goto out;
  h[hn] = 0;
  sscanf(h, "HTTP/1.1 %d", &g->status);
  char *end = strstr(h, "\r\n\r\n");
  for (char *l = strstr(h, "\r\n"); l && l < end; l = strstr(l + 2, "\r\n"))
    if (strncasecmp(l + 2, "content-length:", 15) == 0) g->length = atoll(l + 17);
  size_t extra = end ? hn - (size_t)(end + 4 - h) : 0;
  for (size_t i = 0; i < extra; i++) {
    if (check && (unsigned char)end[4 + i] != pattern(g->got)) g->pattern_ok = 0;
    if (g->got < (long long)sizeof(g->text) - 1) g->text[g->got] = end[4 + i];
    g->got++;
  }
  long long next_mark = 1 << 20;
  while (g->length < 0 || g->got < g->length) {
    struct pollfd p = {c.fd, POLLIN, 0};
    if (poll(&p, 1, 60000) <= 0) break;
    ssize_t k = recv(c.fd, buf, sizeof(buf), 0);
    if (k < 0 && errno == EINTR) continue;
    if (k <= 0) break;
    if (check)
      for (ssize_t i = 0; i < k; i++)
        if (buf[i] != pattern(g->got + i)) g->pattern_ok = 0;
    for (ssize_t i = 0; i < k && g->got + i < (long long)sizeof(g->text) - 1; i++) g->text[g->got + i] = (char)buf[i];
    g->got += k;
    if (g->got >= next_mark) {
      next_mark += 1 << 20;
      long kb = test_server_rss_kb(s);
      if (kb > g->peak_rss_kb) g->peak_rss_kb = kb;
      if (read_pause_ms) sleep_ms(read_pause_ms);
    }
  }
  g->complete = g->length >= 0 && g->got == g->length;
out:
  test_http_conn_close(&c);
}

static void exchange(test_server_t *s, const char *method, const char *path, long long upload, int pause_ms,
                     int read_pause_ms, int check, got_t *g) {
  exchange_at(s, "edge.test", method, path, upload, pause_ms, read_pause_ms, check, g);
}

/* The cpu_us of the last request log line for path. */
static long long logged_cpu_us(test_server_t *s, const char *path) {
  char *out = test_server_output(s);
  long long cpu = -1;
  char needle[300];
  snprintf(needle, sizeof(needle), "path=%s ", path);
  for (char *p = out ? strstr(out, needle) : NULL; p; p = strstr(p + 1, needle)) {
    char *c = strstr(p, "cpu_us=");
    char *nl = strchr(p, '\n');
    if (c && (!nl || c < nl)) cpu = atoll(c + 7);
  }
  free(out);
  return cpu;
}

/* On failure the server's output says why. */
static int said(test_server_t *s, int ok) {
  if (!ok) {
    test_server_wait_output(s, "] error", 2000);
    char *out = test_server_output(s);
    printf("  the server printed:\n%s\n", out ? out : "");
    free(out);
  }
  return ok;
}

#define GFMT "status=%d length=%lld got=%lld complete=%d pattern_ok=%d text=%.80s"
#define GARGS(g) (g).status, (g).length, (g).got, (g).complete, (g).pattern_ok, (g).text

/* ---- the tests ------------------------------------------------------------------------ */

/* The target: 1 GiB passed through with RSS flat (+-16 MB) and
 * no tenant CPU charged for the streaming. The CPU limit is 20 ms: a JS
 * pump would be cut after a few hundred KiB (truncation tests), so a
 * whole, byte-exact GiB means no byte went through JS. */
TEST(passthrough_a_gib_streams_whole_with_flat_memory_and_no_tenant_cpu) {
  test_raw_origin_t o;
  CHECK(test_raw_origin_start(&o, origin_conn) == 0);
  test_server_t s = {0};
  CHECK(start(&s, o.port, 20) == 0);
  int mb = test_under_sanitizer() ? 256 : 1024;
  got_t g;
  exchange(&s, "GET", "/warm", 0, 0, 0, 0, &g); /* the instance exists before the baseline */
  long before = test_server_rss_kb(&s);
  char path[100];
  snprintf(path, sizeof(path), "/pass?p=/big?mb=%d", mb);
  exchange(&s, "GET", path, 0, 0, 0, 1, &g);
  CHECK_MSG(said(&s, g.status == 200 && g.complete && g.pattern_ok && g.got == (long long)mb << 20), GFMT, GARGS(g));
  if (!test_under_sanitizer())
    CHECK_MSG(g.peak_rss_kb - before < 16 * 1024, "RSS grew by %ld KiB passing %d MiB through", g.peak_rss_kb - before,
              mb);
  CHECK(test_server_wait_output(&s, "path=/pass ", 5000));
  long long cpu = logged_cpu_us(&s, "/pass");
  CHECK_MSG(cpu >= 0 && cpu < 20000, "the tenant was charged %lld us for a pass-through", cpu);
  char *out = test_server_output(&s);
  CHECK_MSG(!strstr(out, "CPU time limit"), "%s", out);
  free(out);
  /* new Response(r.body, r): the same pipe. */
  snprintf(path, sizeof(path), "/wrap?p=/big?mb=%d", mb / 4);
  exchange(&s, "GET", path, 0, 0, 0, 1, &g);
  CHECK_MSG(said(&s, g.status == 200 && g.complete && g.pattern_ok && g.got == (long long)mb / 4 << 20), GFMT,
            GARGS(g));
  CHECK_EQ_INT(test_server_stop(&s), 0);
  test_raw_origin_stop(&o);
}

/* An upload echoed back (new Response(request.body)) and one read whole
 * (arrayBuffer(), in the host) arrive byte-exact under the same 20 ms
 * limit; the echo needs the client to read while it sends, which the
 * pipe's back-pressure handles. */
TEST(passthrough_an_echoed_upload_streams_back_byte_exact) {
  test_raw_origin_t o;
  CHECK(test_raw_origin_start(&o, origin_conn) == 0);
  test_server_t s = {0};
  CHECK(start(&s, o.port, 20) == 0);
  got_t g;
  exchange(&s, "POST", "/buffer", 8 << 20, 0, 0, 0, &g);
  CHECK_MSG(said(&s, g.status == 200 && strcmp(g.text, "buffer 8388608") == 0), GFMT, GARGS(g));
  /* (the small echo fits in the socket buffers both ways) */
  exchange(&s, "POST", "/echo", 1 << 20, 0, 0, 1, &g);
  CHECK_MSG(said(&s, g.status == 200 && g.complete && g.pattern_ok && g.got == 1 << 20), GFMT, GARGS(g));
  CHECK_EQ_INT(test_server_stop(&s), 0);
  test_raw_origin_stop(&o);
}

/* Slow client x fast origin, fast client x slow origin, slow handler x
 * fast uploader: the host holds a bounded amount in each (the client's
 * queue and the origin's transfer paused, the upload's socket not read),
 * and every byte arrives in order. */
TEST(passthrough_slow_clients_origins_and_handlers_keep_host_memory_flat) {
  test_raw_origin_t o;
  CHECK(test_raw_origin_start(&o, origin_conn) == 0);
  test_server_t s = {0};
  CHECK(start(&s, o.port, 200) == 0);
  got_t g;
  exchange(&s, "GET", "/warm", 0, 0, 0, 0, &g);
  long before = test_server_rss_kb(&s);
  int san = test_under_sanitizer();
  /* A slow client (a pause per MiB) of a fast 64 MiB origin. */
  exchange(&s, "GET", "/pass?p=/big?mb=64", 0, 0, 20, 1, &g);
  CHECK_MSG(said(&s, g.status == 200 && g.complete && g.pattern_ok), GFMT, GARGS(g));
  if (!san) CHECK_MSG(g.peak_rss_kb - before < 16 * 1024, "slow client: RSS grew by %ld KiB", g.peak_rss_kb - before);
  /* A slow origin read by a reader in JS. */
  exchange(&s, "GET", "/sum?p=/big?mb=8%26slow=20", 0, 0, 0, 0, &g);
  CHECK_MSG(said(&s, g.status == 200 && strcmp(g.text, "sum 8388608 true") == 0), GFMT, GARGS(g));
  /* text() of a fetch() body, gathered and decoded by the host. */
  exchange(&s, "GET", "/text?p=/big?mb=4", 0, 0, 0, 0, &g);
  CHECK_MSG(said(&s, g.status == 200 && strncmp(g.text, "text ", 5) == 0 && atoll(g.text + 5) > 0), GFMT, GARGS(g));
  /* A handler that waits 1 s before it reads a 64 MiB upload from a
   * client that sends as fast as the sockets take it: while it waits, the
   * client is held back and the server holds a bounded queue; then the
   * handler reads every byte in JS. */
  before = test_server_rss_kb(&s); /* the reads above grew the isolate's heap */
  test_http_conn_t c;
  CHECK(test_http_conn_open(&c, s.port) == 0);
  CHECK(test_http_conn_send_str(&c,
                                "POST /sum?up=1&wait=1000 HTTP/1.1\r\nHost: edge.test\r\nConnection: "
                                "close\r\nContent-Length: 67108864\r\n\r\n") == 0);
  static unsigned char buf[1 << 16];
  long long sent = 0, t0 = test_http_now_ms();
  while (test_http_now_ms() - t0 < 500) { /* the handler waits 1 s */
    fill_pattern(buf, sent, sizeof(buf));
    ssize_t n = send(c.fd, buf, sizeof(buf), MSG_DONTWAIT | MSG_NOSIGNAL);
    if (n > 0)
      sent += n;
    else
      sleep_ms(5);
  }
  long held = test_server_rss_kb(&s) - before;
  CHECK_MSG(sent < (32ll << 20), "the client sent %lld bytes to a handler that was not reading", sent);
  if (!san) CHECK_MSG(held < 8 * 1024, "a waiting handler's upload grew the server by %ld KiB", held);
  while (sent < (64ll << 20)) {
    size_t k = (64ll << 20) - sent < (long long)sizeof(buf) ? (size_t)((64ll << 20) - sent) : sizeof(buf);
    fill_pattern(buf, sent, k);
    CHECK(test_http_conn_send(&c, buf, k) == 0);
    sent += (long long)k;
  }
  test_http_resp_t r = {0};
  CHECK(test_http_conn_read(&c, &r, 0, 60000) == 0);
  CHECK_MSG(said(&s, r.status == 200 && r.body && strcmp(r.body, "sum 67108864 true") == 0), "%d %s", r.status,
            r.body ? r.body : "");
  test_http_resp_free(&r);
  test_http_conn_close(&c);
  CHECK_EQ_INT(test_server_stop(&s), 0);
  test_raw_origin_stop(&o);
}

/* Uploads stream to the origin, through a worker (fetch(url, {body:
 * request.body})) and through a route with only an origin, byte-exact
 * (the origin checks the pattern), with the server's memory flat, under a
 * CPU limit no JS copy of 64 MiB would fit in. */
TEST(passthrough_uploads_stream_to_the_origin_with_flat_memory) {
  test_raw_origin_t o;
  CHECK(test_raw_origin_start(&o, origin_conn) == 0);
  test_server_t s = {0};
  CHECK(start(&s, o.port, 20) == 0);
  got_t g;
  exchange(&s, "GET", "/warm", 0, 0, 0, 0, &g);
  long before = test_server_rss_kb(&s);
  int san = test_under_sanitizer();
  exchange(&s, "POST", "/forward?p=/count", 64 << 20, 0, 0, 0, &g);
  CHECK_MSG(said(&s, g.status == 200 && strcmp(g.text, "count=67108864 ok=1") == 0), GFMT, GARGS(g));
  if (!san) CHECK_MSG(g.peak_rss_kb - before < 16 * 1024, "worker upload: RSS grew by %ld KiB", g.peak_rss_kb - before);
  exchange_at(&s, "direct.test", "POST", "/count", 64 << 20, 0, 0, 0, &g);
  CHECK_MSG(said(&s, g.status == 200 && strcmp(g.text, "count=67108864 ok=1") == 0), GFMT, GARGS(g));
  if (!san) CHECK_MSG(g.peak_rss_kb - before < 16 * 1024, "route upload: RSS grew by %ld KiB", g.peak_rss_kb - before);
  CHECK_EQ_INT(test_server_stop(&s), 0);
  test_raw_origin_stop(&o);
}

/* The case: six unfinished 100 MB uploads through a route with an
 * origin made the host buffer each whole (+827 MB). Now each client sends
 * what the sockets and a bounded queue take and then waits: the server
 * grows by a few MiB at most. */
TEST(passthrough_unfinished_uploads_through_a_route_are_not_buffered) {
  test_raw_origin_t o;
  CHECK(test_raw_origin_start(&o, origin_conn) == 0);
  test_server_t s = {0};
  CHECK(start(&s, o.port, 20) == 0);
  long before = test_server_rss_kb(&s);
  enum { N = 6 };
  test_http_conn_t c[N];
  static unsigned char buf[1 << 16];
  long long sent[N] = {0};
  for (int i = 0; i < N; i++) {
    CHECK(test_http_conn_open(&c[i], s.port) == 0);
    /* /hold: the origin never reads the body. */
    CHECK(test_http_conn_send_str(
              &c[i], "POST /hold HTTP/1.1\r\nHost: direct.test\r\nContent-Length: 104857600\r\n\r\n") == 0);
  }
  /* For about 1 s (the origin holds 2 s), each client sends whatever the
   * sockets take, without blocking. Buffered whole, all 600 MB would go in
   * that time over loopback. */
  long long t0 = test_http_now_ms();
  while (test_http_now_ms() - t0 < 1000) {
    int moved = 0;
    for (int i = 0; i < N; i++) {
      for (int k = 0; k < 64 && sent[i] < (100ll << 20); k++) {
        fill_pattern(buf, sent[i], sizeof(buf));
        long long left = (100ll << 20) - sent[i];
        ssize_t n =
            send(c[i].fd, buf, left < (long long)sizeof(buf) ? (size_t)left : sizeof(buf), MSG_DONTWAIT | MSG_NOSIGNAL);
        if (n <= 0) break;
        sent[i] += n;
        moved = 1;
      }
    }
    if (!moved) sleep_ms(5);
  }
  long grown = test_server_rss_kb(&s) - before;
  for (int i = 0; i < N; i++) {
    CHECK_MSG(sent[i] < (100ll << 20), "client %d sent all of its 100 MB: nothing held it back", i);
    test_http_conn_close(&c[i]);
  }
  if (!test_under_sanitizer()) CHECK_MSG(grown < 32 * 1024, "six stalled uploads grew the server by %ld KiB", grown);
  CHECK_EQ_INT(test_server_stop(&s), 0);
  test_raw_origin_stop(&o);
}

/* A client that goes away mid-upload: the upload it was forwarding (by a
 * worker, by an origin-only route) reaches the origin cut, never as a
 * shorter complete body. */
TEST(passthrough_an_upload_cut_by_the_client_reaches_the_origin_cut) {
  test_raw_origin_t o;
  CHECK(test_raw_origin_start(&o, origin_conn) == 0);
  test_server_t s = {0};
  CHECK(start(&s, o.port, 200) == 0);
  static const char *const heads[] = {
      "POST /forward?p=/count HTTP/1.1\r\nHost: edge.test\r\nContent-Length: 33554432\r\n\r\n",
      "POST /count HTTP/1.1\r\nHost: direct.test\r\nContent-Length: 33554432\r\n\r\n",
      "POST /forward?p=/count HTTP/1.1\r\nHost: edge.test\r\nTransfer-Encoding: chunked\r\n\r\n"};
  static unsigned char buf[1 << 16];
  for (int i = 0; i < 3; i++) {
    atomic_store(&last_count, -1);
    test_http_conn_t c;
    CHECK(test_http_conn_open(&c, s.port) == 0);
    CHECK(test_http_conn_send_str(&c, heads[i]) == 0);
    int chunked = strstr(heads[i], "chunked") != NULL;
    for (long long off = 0; off < (4 << 20); off += sizeof(buf)) {
      fill_pattern(buf, off, sizeof(buf));
      if (chunked) CHECK(test_http_conn_send_str(&c, "10000\r\n") == 0);
      CHECK(test_http_conn_send(&c, buf, sizeof(buf)) == 0);
      if (chunked) CHECK(test_http_conn_send_str(&c, "\r\n") == 0);
    }
    test_http_conn_close(&c); /* 4 of 32 MiB (or of an unended chunked body): cut */
    long long t0 = test_http_now_ms();
    while (atomic_load(&last_count) < 0 && test_http_now_ms() - t0 < 20000) sleep_ms(10);
    long long got = atomic_load(&last_count);
    CHECK_MSG(got >= 0, "case %d: the origin never saw the upload end", i);
    CHECK_MSG(got < (32ll << 20) && !atomic_load(&last_count_whole), "case %d: the origin took %lld bytes as whole", i,
              got);
  }
  CHECK_EQ_INT(test_server_stop(&s), 0);
  test_raw_origin_stop(&o);
}
