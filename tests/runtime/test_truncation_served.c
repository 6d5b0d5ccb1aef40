/*
 * test_truncation_served.c - issue 12's "no silent truncation anywhere":
 * when a body cannot be delivered whole, the side that receives it gets an
 * error, never a normal end. Every case runs over real sockets against a
 * real `isolde serve`:
 *
 *   - to the client: a response cut mid-body (the CPU limit, an isolate
 *     reset, a body stream that errors, an origin that drops its
 *     connection) ends with the connection closed short of its
 *     Content-Length, or reset, or a chunked body without its final chunk;
 *   - to the handler: a request body that cannot be delivered whole (over
 *     http.max_body_mb, over the isolate's memory) and a subrequest's body
 *     cut by its origin make the handler's read reject.
 *
 * The origin here is a few raw sockets on a thread that send part of a
 * body and drop the connection, which no well-behaved server would do.
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
#include <unistd.h>

#include "http/http_client.h"
#include "server_proc.h"
#include "test.h"

/* ---- a rude origin ------------------------------------------------------------ */

#define DROP_TOTAL 1000000 /* what /cl-drop announces */
#define DROP_SENT 300000   /* what /cl-drop and /chunked-drop send before dropping the connection */

static int send_chunk(int fd, const char *data, size_t n) {
  char head[32];
  int hn = snprintf(head, sizeof(head), "%zx\r\n", n);
  return test_http_send_all(fd, head, (size_t)hn) || test_http_send_all(fd, data, n) ||
                 test_http_send_all(fd, "\r\n", 2)
             ? -1
             : 0;
}

static void *rude_conn(void *arg) {
  int fd = (int)(intptr_t)arg;
  char head[8192];
  test_http_read_head(fd, head, sizeof(head), 10000);
  static char piece[65536];
  memset(piece, 'x', sizeof(piece));
  char *sp = strchr(head, ' ');
  const char *target = sp ? sp + 1 : "/";
  int mb = test_http_query_int(target, "mb", 1);
  if (strncmp(target, "/cl-drop", 8) == 0) {
    char h[200];
    snprintf(h, sizeof(h), "HTTP/1.1 200 OK\r\nContent-Length: %d\r\nContent-Type: application/octet-stream\r\n\r\n",
             DROP_TOTAL);
    if (test_http_send_all(fd, h, strlen(h)) == 0)
      for (size_t sent = 0; sent < DROP_SENT;) {
        size_t n = DROP_SENT - sent < sizeof(piece) ? DROP_SENT - sent : sizeof(piece);
        if (test_http_send_all(fd, piece, n)) break;
        sent += n;
      }
  } else if (strncmp(target, "/chunked-drop", 13) == 0) {
    const char *h = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Type: application/octet-stream\r\n\r\n";
    if (test_http_send_all(fd, h, strlen(h)) == 0)
      for (size_t sent = 0; sent < DROP_SENT;) {
        size_t n = DROP_SENT - sent < sizeof(piece) ? DROP_SENT - sent : sizeof(piece);
        if (send_chunk(fd, piece, n)) break;
        sent += n;
      }
  } else if (strncmp(target, "/big", 4) == 0) { /* mb MiB, whole, with a Content-Length */
    char h[200];
    snprintf(h, sizeof(h), "HTTP/1.1 200 OK\r\nContent-Length: %lld\r\n\r\n", (long long)mb << 20);
    if (test_http_send_all(fd, h, strlen(h)) == 0)
      for (long long i = 0; i < (long long)mb * 16; i++)
        if (test_http_send_all(fd, piece, sizeof(piece))) break;
  } else {
    const char *h = "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n";
    test_http_send_all(fd, h, strlen(h));
  }
  close(fd); /* after part of a body: dropped */
  return NULL;
}

/* ---- the worker ---------------------------------------------------------------- */

static const char WORKER[] =
    "export default { async fetch(req, env) {\n"
    "  const u = new URL(req.url);\n"
    "  const from = env.ORIGIN + (u.searchParams.get('p') || '/');\n"
    "  switch (u.pathname) {\n"
    "    case '/pass': return fetch(from);\n"
    "    case '/wrap': { const r = await fetch(from); return new Response(r.body, r); }\n"
    "    case '/pump': {\n" /* JS touches every byte: CPU per chunk */
    "      const r = await fetch(from), reader = r.body.getReader();\n"
    "      return new Response(new ReadableStream({ async pull(c) {\n"
    "        const { value, done } = await reader.read();\n"
    "        if (done) return c.close();\n"
    "        let sum = 0; for (let i = 0; i < value.length; i++) sum += value[i];\n"
    "        c.enqueue(value);\n"
    "      } }));\n"
    "    }\n"
    "    case '/read': {\n"
    "      const r = await fetch(from);\n"
    "      try { const b = await r.arrayBuffer(); return new Response('read ' + b.byteLength); }\n"
    "      catch (e) { return new Response('rejected ' + e.name + ': ' + e.message); }\n"
    "    }\n"
    "    case '/read-stream': {\n"
    "      const r = await fetch(from), reader = r.body.getReader();\n"
    "      let n = 0;\n"
    "      try { for (;;) { const { value, done } = await reader.read(); if (done) break; n += value.byteLength; } }\n"
    "      catch (e) { return new Response('rejected ' + e.name + ': ' + e.message); }\n"
    "      return new Response('read ' + n);\n"
    "    }\n"
    "    case '/broken-stream': {\n"
    "      let n = 0;\n"
    "      return new Response(new ReadableStream({ pull(c) {\n"
    "        if (n++ < 4) c.enqueue(new Uint8Array(1000).fill(120));\n"
    "        else c.error(new Error('the generator broke'));\n"
    "      } }), { headers: u.searchParams.has('length') ? { 'content-length': '10000' } : {} });\n"
    "    }\n"
    "    case '/oom-stream': {\n"
    "      let n = 0; const keep = [];\n"
    "      return new Response(new ReadableStream({ pull(c) {\n"
    "        if (n++ < 4) return c.enqueue(new Uint8Array(1000).fill(120));\n"
    "        for (;;) keep.push(new Array(1 << 16).fill(n));\n"
    "      } }));\n"
    "    }\n"
    "    case '/upload': {\n" /* counts the body as it reads it, after waiting wait= ms */
    "      const id = u.searchParams.get('id'), wait = +(u.searchParams.get('wait') || 0);\n"
    "      if (wait) await new Promise((r) => setTimeout(r, wait));\n"
    "      let n = 0;\n"
    "      try {\n"
    "        const reader = req.body.getReader();\n"
    "        for (;;) { const { value, done } = await reader.read(); if (done) break; n += value.byteLength; }\n"
    "        console.log('upload ' + id + ' got ' + n + ' bytes');\n"
    "        return new Response('got ' + n);\n"
    "      } catch (e) {\n"
    "        console.log('upload ' + id + ' rejected: ' + e.name + ': ' + e.message);\n"
    "        return new Response('rejected ' + e.name + ': ' + e.message);\n"
    "      }\n"
    "    }\n"
    "  }\n"
    "  return new Response('?', { status: 404 });\n"
    "} };\n";

/* One worker on edge.test, one loop; limits and http settings in JSON. */
static int start(test_server_t *s, int origin_port, const char *limits, const char *http) {
  char w[512], cfg[2048];
  if (test_server_dir(s) < 0) return -1;
  snprintf(w, sizeof(w), "%s", test_server_write(s, "edge/worker.js", WORKER));
  snprintf(cfg, sizeof(cfg),
           "{\"listen\": {\"port\": 0}, \"threads\": 1, %s%s%s \"workers\": [{\"name\": \"edge\", \"main\": \"%s\", "
           "\"vars\": {\"ORIGIN\": \"http://127.0.0.1:%d\"}, \"allow_origins\": [\"http://127.0.0.1:%d\"], "
           "\"routes\": [\"edge.test/*\"], \"limits\": %s}]}",
           http ? "\"http\": " : "", http ? http : "", http ? "," : "", w, origin_port, origin_port, limits);
  return test_server_serve_config(s, cfg);
}

/* ---- a client that tells a whole body from a cut one ---------------------------- */

typedef struct {
  int status;
  int chunked;
  long long length; /* Content-Length, or -1 */
  long long got;    /* body bytes received */
  int complete;     /* the framing says the body ended: Content-Length reached, or the final chunk came */
  int closed;       /* the connection ended (EOF or reset) */
  int reset;        /* ... by a reset */
  int timed_out;    /* no byte for the timeout */
} outcome_t;

#define OFMT "status=%d chunked=%d length=%lld got=%lld complete=%d closed=%d reset=%d timed_out=%d"
#define OARGS(o) (o).status, (o).chunked, (o).length, (o).got, (o).complete, (o).closed, (o).reset, (o).timed_out

enum { CH_SIZE, CH_EXT, CH_SIZE_LF, CH_DATA, CH_DATA_CR, CH_DATA_LF, CH_TRAILER, CH_DONE };

typedef struct {
  int state;
  long long left;
  int line_len; /* trailer line length so far */
} chunk_parser_t;

/* Feeds body bytes through the chunked decoder; counts data bytes. -1 on a framing error. */
static int chunk_feed(chunk_parser_t *p, outcome_t *o, const char *b, size_t n) {
  for (size_t i = 0; i < n && p->state != CH_DONE; i++) {
    char ch = b[i];
    switch (p->state) {
      case CH_SIZE:
        if (ch == '\r') {
          p->state = CH_SIZE_LF;
        } else if (ch == ';') {
          p->state = CH_EXT;
        } else {
          int d = ch >= '0' && ch <= '9'   ? ch - '0'
                  : ch >= 'a' && ch <= 'f' ? ch - 'a' + 10
                  : ch >= 'A' && ch <= 'F' ? ch - 'A' + 10
                                           : -1;
          if (d < 0) return -1;
          p->left = p->left * 16 + d;
        }
        break;
      case CH_EXT:
        if (ch == '\r') p->state = CH_SIZE_LF;
        break;
      case CH_SIZE_LF:
        if (ch != '\n') return -1;
        p->state = p->left ? CH_DATA : CH_TRAILER;
        p->line_len = 0;
        break;
      case CH_DATA: {
        size_t take = n - i < (size_t)p->left ? n - i : (size_t)p->left;
        o->got += (long long)take;
        p->left -= (long long)take;
        i += take - 1;
        if (!p->left) p->state = CH_DATA_CR;
        break;
      }
      case CH_DATA_CR:
        if (ch != '\r') return -1;
        p->state = CH_DATA_LF;
        break;
      case CH_DATA_LF:
        if (ch != '\n') return -1;
        p->state = CH_SIZE;
        break;
      case CH_TRAILER:
        if (ch == '\n') {
          if (p->line_len == 0) p->state = CH_DONE;
          p->line_len = 0;
        } else if (ch != '\r') {
          p->line_len++;
        }
        break;
    }
  }
  if (p->state == CH_DONE) o->complete = 1;
  return 0;
}

/* Sends a GET for path to edge.test and reads the whole answer, counting
 * (not keeping) the body, until its framing says it ended or the
 * connection ends. */
static void get_as(int port, int minor, const char *path, int timeout_ms, outcome_t *o) {
  memset(o, 0, sizeof(*o));
  o->length = -1;
  test_http_conn_t c;
  if (test_http_conn_open(&c, port) != 0) return;
  char req[512];
  snprintf(req, sizeof(req), "GET %s HTTP/1.%d\r\nHost: edge.test\r\nConnection: close\r\n\r\n", path, minor);
  if (test_http_conn_send_str(&c, req) != 0) {
    test_http_conn_close(&c);
    return;
  }
  static char buf[1 << 16];
  char head[16384];
  size_t hlen = 0;
  int in_body = 0;
  chunk_parser_t cp = {0};
  for (;;) {
    struct pollfd p = {c.fd, POLLIN, 0};
    int pr = poll(&p, 1, timeout_ms);
    if (pr == 0) {
      o->timed_out = 1;
      break;
    }
    ssize_t k = recv(c.fd, buf, sizeof(buf), 0);
    if (k < 0 && errno == EINTR) continue;
    if (k <= 0) {
      o->closed = 1;
      o->reset = k < 0 && errno == ECONNRESET;
      break;
    }
    const char *b = buf;
    size_t n = (size_t)k;
    if (!in_body) {
      size_t take = n < sizeof(head) - 1 - hlen ? n : sizeof(head) - 1 - hlen;
      memcpy(head + hlen, b, take);
      hlen += take;
      head[hlen] = 0;
      char *end = strstr(head, "\r\n\r\n");
      if (!end) continue;
      in_body = 1;
      size_t head_bytes = (size_t)(end + 4 - head);
      size_t body_here = hlen - head_bytes; /* bytes of this read past the head */
      b = b + take - body_here;
      n = body_here + (n - take);
      *end = 0;
      sscanf(head, "HTTP/1.%*d %d", &o->status);
      for (char *line = strstr(head, "\r\n"); line; line = strstr(line + 2, "\r\n")) {
        if (strncasecmp(line + 2, "content-length:", 15) == 0) o->length = atoll(line + 17);
        if (strncasecmp(line + 2, "transfer-encoding:", 18) == 0 && strstr(line + 20, "chunked")) o->chunked = 1;
      }
      if (!o->chunked && o->length == 0) o->complete = 1;
    }
    if (o->chunked) {
      if (chunk_feed(&cp, o, b, n) < 0) break;
    } else {
      o->got += (long long)n;
      if (o->length >= 0 && o->got >= o->length) o->complete = 1;
    }
    if (o->complete) break;
  }
  test_http_conn_close(&c);
  if (getenv("TRUNC_DEBUG")) fprintf(stderr, "GET %s HTTP/1.%d: " OFMT "\n", path, minor, OARGS(*o));
}

static void get(int port, const char *path, int timeout_ms, outcome_t *o) {
  get_as(port, 1, path, timeout_ms, o);
}

/* A response the client can take for whole when it is not: a 2xx whose
 * framing ended (all of its Content-Length, or the final chunk; or a close
 * with neither, which ends an HTTP/1.0-style body) with fewer bytes than
 * the whole body. */
static int silently_short(const outcome_t *o, long long whole) {
  if (o->status < 200 || o->status > 299) return 0;
  int ended_normally = o->complete || (o->closed && !o->reset && !o->chunked && o->length < 0);
  return ended_normally && o->got < whole;
}

/* The client was told: not a 2xx, or the body ended without its framing's end. */
static int told_of_error(const outcome_t *o) {
  if (o->status < 200 || o->status > 299) return o->status != 0 || o->closed;
  return !o->complete && o->closed && (o->reset || o->chunked || o->length >= 0);
}

/* ---- the tests -------------------------------------------------------------------- */

/* The first case: a response passed through from fetch() was cut
 * when the pumping JS ran into the CPU limit, and the client got a
 * normal-looking 200 with a short body. With a 20 ms limit, a 256 MiB
 * body that JS touches (/pump: it is cut after about 200 KiB on an idle
 * machine) is always cut, and the client must see the cut, in HTTP/1.1
 * and in HTTP/1.0 (where only a reset can say it); a pure pass-through
 * (/pass) is piped by the host and arrives whole. */
TEST(truncation_pass_through_cut_by_the_cpu_limit_is_an_error_for_the_client) {
  test_raw_origin_t origin;
  CHECK(test_raw_origin_start(&origin, rude_conn) == 0);
  test_server_t s = {0};
  CHECK(start(&s, origin.port, "{\"cpu_ms\": 20}", NULL) == 0);
  outcome_t o;
  get(s.port, "/pump?p=/big?mb=256", 30000, &o);
  CHECK_MSG(!silently_short(&o, 256ll << 20), "cut silently: " OFMT, OARGS(o));
  CHECK_MSG(told_of_error(&o), "a 256 MiB body JS touched went through a 20 ms limit, or no error: " OFMT, OARGS(o));
  if (!test_server_wait_output(&s, "CPU time limit of 20 ms", 10000)) {
    char *out = test_server_output(&s);
    CHECK_MSG(0, "the tenant's log does not say the CPU limit cut it: %s", out);
  }
  /* HTTP/1.0: a body without a length ends with the connection, so only a
   * reset can tell the client it was cut. */
  get_as(s.port, 0, "/pump?p=/big?mb=256", 30000, &o);
  CHECK_MSG(!silently_short(&o, 256ll << 20), "HTTP/1.0, cut silently: " OFMT, OARGS(o));
  CHECK_MSG(told_of_error(&o) && o.reset, "HTTP/1.0: " OFMT, OARGS(o));
  /* A pure pass-through never enters the isolate (host_body.c's pipe):
   * the 20 ms limit cannot cut it, so it arrives whole. */
  get(s.port, "/pass?p=/big?mb=256", 30000, &o);
  CHECK_MSG(o.complete && o.got == 256ll << 20, "a pass-through was not delivered whole: " OFMT, OARGS(o));
  CHECK_EQ_INT(test_server_stop(&s), 0);
  test_raw_origin_stop(&origin);
}

/* An origin that drops its connection mid-body: the worker's client, fed
 * through `return fetch(url)` or `new Response(r.body, r)`, gets the cut
 * too (short of the origin's Content-Length, or no final chunk). */
TEST(truncation_origin_dropping_mid_body_is_an_error_for_the_client) {
  test_raw_origin_t origin;
  CHECK(test_raw_origin_start(&origin, rude_conn) == 0);
  test_server_t s = {0};
  CHECK(start(&s, origin.port, "{\"cpu_ms\": 5000}", NULL) == 0);
  static const char *const paths[] = {"/pass?p=/cl-drop", "/pass?p=/chunked-drop", "/wrap?p=/cl-drop",
                                      "/wrap?p=/chunked-drop", "/pump?p=/chunked-drop"};
  for (int minor = 0; minor <= 1; minor++)
    for (size_t i = 0; i < sizeof(paths) / sizeof(*paths); i++) {
      outcome_t o;
      get_as(s.port, minor, paths[i], 20000, &o);
      CHECK_MSG(!silently_short(&o, DROP_TOTAL), "%s HTTP/1.%d cut silently: " OFMT, paths[i], minor, OARGS(o));
      CHECK_MSG(told_of_error(&o), "%s HTTP/1.%d: " OFMT, paths[i], minor, OARGS(o));
      CHECK_MSG(o.got <= DROP_SENT, "%s: more than the origin sent: " OFMT, paths[i], OARGS(o));
    }
  /* The tenant's log says why. */
  CHECK(test_server_wait_output(&s, "[edge] error:", 5000));
  char *out = test_server_output(&s);
  CHECK_MSG(strstr(out, "fetch failed") != NULL, "log: %s", out);
  free(out);
  CHECK_EQ_INT(test_server_stop(&s), 0);
  test_raw_origin_stop(&origin);
}

/* A ReadableStream the handler built that errors after 4000 bytes, and one
 * whose producer runs the isolate out of memory (reset): the client's
 * response is aborted, chunked or with a Content-Length, and the tenant's
 * log says why; the next request is served as usual. */
TEST(truncation_response_stream_erroring_mid_way_aborts_the_client_and_logs_why) {
  test_raw_origin_t origin;
  CHECK(test_raw_origin_start(&origin, rude_conn) == 0);
  test_server_t s = {0};
  CHECK(start(&s, origin.port, "{\"cpu_ms\": 5000, \"memory_mb\": 32}", NULL) == 0);
  outcome_t o;
  get(s.port, "/broken-stream", 20000, &o);
  CHECK_EQ_INT(o.status, 200);
  CHECK_MSG(!silently_short(&o, 10000) && told_of_error(&o) && o.chunked, "chunked: " OFMT, OARGS(o));
  CHECK_MSG(o.got == 4000, "the bytes before the error still came: " OFMT, OARGS(o));
  CHECK(test_server_wait_output(&s, "the generator broke", 5000));
  get(s.port, "/broken-stream?length", 20000, &o);
  CHECK_EQ_INT(o.status, 200);
  CHECK_MSG(!silently_short(&o, 10000) && told_of_error(&o) && o.length == 10000, "with a length: " OFMT, OARGS(o));
  get_as(s.port, 0, "/broken-stream", 20000, &o);
  CHECK_MSG(!silently_short(&o, 10000) && told_of_error(&o), "HTTP/1.0: " OFMT, OARGS(o));
  get(s.port, "/oom-stream", 20000, &o);
  CHECK_MSG(!silently_short(&o, 1 << 20) && told_of_error(&o), "isolate reset: " OFMT, OARGS(o));
  CHECK(test_server_wait_output(&s, "memory limit of 32 MiB exceeded", 5000));
  char *out = test_server_output(&s);
  CHECK_MSG(strstr(out, "response body") != NULL, "the log does not say the response body failed: %s", out);
  free(out);
  test_http_resp_t r = {0};
  CHECK(test_http_request(s.port, "GET /read?p=/big?mb=1 HTTP/1.1\r\nHost: edge.test\r\nConnection: close\r\n\r\n",
                          &r) == 0);
  CHECK_EQ_STR(r.body, "read 1048576");
  test_http_resp_free(&r);
  CHECK_EQ_INT(test_server_stop(&s), 0);
  test_raw_origin_stop(&origin);
}

/* A subrequest whose origin dies mid-body, with a Content-Length or
 * chunked: the worker's read of the body rejects (text()/arrayBuffer() and
 * a reader alike), never ends with part of it. */
TEST(truncation_origin_dropping_mid_body_rejects_the_workers_read) {
  test_raw_origin_t origin;
  CHECK(test_raw_origin_start(&origin, rude_conn) == 0);
  test_server_t s = {0};
  CHECK(start(&s, origin.port, "{\"cpu_ms\": 5000}", NULL) == 0);
  static const char *const paths[] = {"/read?p=/cl-drop", "/read?p=/chunked-drop", "/read-stream?p=/cl-drop",
                                      "/read-stream?p=/chunked-drop"};
  for (size_t i = 0; i < sizeof(paths) / sizeof(*paths); i++) {
    char raw[512];
    snprintf(raw, sizeof(raw), "GET %s HTTP/1.1\r\nHost: edge.test\r\nConnection: close\r\n\r\n", paths[i]);
    test_http_resp_t r = {0};
    CHECK(test_http_request(s.port, raw, &r) == 0);
    CHECK_EQ_INT(r.status, 200);
    CHECK_MSG(strncmp(r.body, "rejected TypeError: ", 20) == 0, "%s: %s", paths[i], r.body);
    test_http_resp_free(&r);
  }
  /* A whole body still reads whole. */
  test_http_resp_t r = {0};
  CHECK(test_http_request(s.port, "GET /read?p=/big?mb=4 HTTP/1.1\r\nHost: edge.test\r\nConnection: close\r\n\r\n",
                          &r) == 0);
  CHECK_EQ_STR(r.body, "read 4194304");
  test_http_resp_free(&r);
  CHECK_EQ_INT(test_server_stop(&s), 0);
  test_raw_origin_stop(&origin);
}

/* Starts an upload of `total` body bytes (chunked when total < 0) to
 * /upload?id=id on a new connection: sends its head; 0 or -1. */
static int upload_begin(int port, const char *id, long long total, test_http_conn_t *c) {
  if (test_http_conn_open(c, port) != 0) return -1;
  char head[512];
  if (total >= 0)
    snprintf(head, sizeof(head), "POST /upload?id=%s HTTP/1.1\r\nHost: edge.test\r\nContent-Length: %lld\r\n\r\n", id,
             total);
  else
    snprintf(head, sizeof(head), "POST /upload?id=%s HTTP/1.1\r\nHost: edge.test\r\nTransfer-Encoding: chunked\r\n\r\n",
             id);
  if (test_http_conn_send_str(c, head) != 0) return -1;
  return 0;
}

/* Sends n more body bytes ('u'), chunked or not; stops quietly when the
 * server has closed. */
static void upload_more(test_http_conn_t *c, int chunked, long long n) {
  static char piece[65536];
  memset(piece, 'u', sizeof(piece));
  while (n > 0) {
    size_t k = n < (long long)sizeof(piece) ? (size_t)n : sizeof(piece);
    if (chunked ? send_chunk(c->fd, piece, k) : test_http_send_all(c->fd, piece, k)) return;
    n -= (long long)k;
  }
}

/* The log line the worker wrote for upload id ("got N bytes" or
 * "rejected: ..."), waiting up to ms; malloc'd, or NULL. */
static char *upload_result(test_server_t *s, const char *id, int ms) {
  char needle[64];
  snprintf(needle, sizeof(needle), "upload %s ", id);
  if (!test_server_wait_output(s, needle, ms)) return NULL;
  char *out = test_server_output(s);
  char *at = strstr(out, needle), *end = at ? strchr(at, '\n') : NULL;
  char *line = at ? strndup(at, end ? (size_t)(end - at) : strlen(at)) : NULL;
  if (getenv("TRUNC_DEBUG")) fprintf(stderr, "server output:\n%s\n", out);
  free(out);
  return line;
}

/* A chunked upload that crosses http.max_body_mb (1 MiB) mid-stream: the
 * client gets 413 and the handler, already reading, sees its read reject,
 * not a normal end after the first MiB. So does one whose client leaves
 * mid-body. */
TEST(truncation_upload_over_max_body_mb_rejects_the_handlers_read) {
  test_server_t s = {0};
  CHECK(start(&s, 9, "{\"cpu_ms\": 5000}", "{\"max_body_mb\": 1}") == 0);
  test_http_conn_t c;
  CHECK(upload_begin(s.port, "over", -1, &c) == 0);
  upload_more(&c, 1, 3 << 20);
  test_http_resp_t r = {0};
  int rc = test_http_conn_read(&c, &r, 0, 20000);
  CHECK_MSG(rc == 0 || rc == -ECONNRESET, "rc %d", rc);
  CHECK_MSG(r.status == 413 || rc == -ECONNRESET, "status %d", r.status);
  test_http_resp_free(&r);
  test_http_conn_close(&c);
  char *line = upload_result(&s, "over", 10000);
  CHECK_MSG(line && strstr(line, "rejected: ") != NULL, "the handler's read: %s", line ? line : "(never ended)");
  free(line);
  /* A client that leaves after 100 KiB of 512 KiB: the read rejects too. */
  CHECK(upload_begin(s.port, "gone", 512 << 10, &c) == 0);
  upload_more(&c, 0, 100 << 10);
  test_http_conn_close(&c);
  line = upload_result(&s, "gone", 10000);
  CHECK_MSG(line && strstr(line, "rejected: ") != NULL, "the handler's read: %s", line ? line : "(never ended)");
  free(line);
  CHECK_EQ_INT(test_server_stop(&s), 0);
}

/* A 48 MiB upload into an isolate of 32 MiB, whose handler starts reading
 * only after a second (the body waits in its stream meanwhile: it arrives
 * in tens of milliseconds): the handler's read rejects, or the request
 * fails (the isolate is reset, 503); it never sees a normal end after
 * part of the body, which it used to after 25 MiB. */
TEST(truncation_upload_beyond_the_isolates_memory_never_ends_normally_for_the_handler) {
  test_server_t s = {0};
  CHECK(start(&s, 9, "{\"cpu_ms\": 10000, \"memory_mb\": 32}", NULL) == 0);
  test_http_conn_t c;
  long long total = 48ll << 20;
  CHECK(upload_begin(s.port, "big&wait=1000", total, &c) == 0);
  upload_more(&c, 0, total);
  test_http_resp_t r = {0};
  int rc = test_http_conn_read(&c, &r, 0, 30000);
  if (getenv("TRUNC_DEBUG")) fprintf(stderr, "big: rc %d status %d %s\n", rc, r.status, r.body);
  test_http_conn_close(&c);
  char expect[64];
  snprintf(expect, sizeof(expect), "got %lld", total);
  CHECK_MSG(rc == -ECONNRESET || r.status == 503 || strncmp(r.body, "rejected ", 9) == 0 || strcmp(r.body, expect) == 0,
            "rc %d status %d: %s", rc, r.status, r.body);
  int answered = r.status == 200; /* else the isolate was reset: its handler never ended */
  test_http_resp_free(&r);
  char *line = answered ? upload_result(&s, "big", 5000) : NULL;
  CHECK_MSG(!line || !strstr(line, " got ") || strstr(line, expect), "the handler got part of the body: %s", line);
  free(line);
  CHECK_EQ_INT(test_server_stop(&s), 0);
}

/* While a neighbouring request's upload fills the isolate (its handler
 * does not read it for 3 s), a victim's 8 MiB upload to the same tenant,
 * read at once, reaches its handler whole or fails with an error: it once
 * reached it as 3,125 bytes and a normal end. */
TEST(truncation_neighbours_big_upload_never_shortens_a_victims_upload) {
  test_server_t s = {0};
  CHECK(start(&s, 9, "{\"cpu_ms\": 10000, \"memory_mb\": 48}", NULL) == 0);
  test_http_conn_t hog, victim;
  long long hog_total = 64ll << 20, victim_total = 8ll << 20;
  CHECK(upload_begin(s.port, "hog&wait=3000", hog_total, &hog) == 0);
  upload_more(&hog, 0, 44ll << 20);
  CHECK(upload_begin(s.port, "victim", victim_total, &victim) == 0);
  upload_more(&victim, 0, victim_total);
  test_http_resp_t r = {0};
  int rc = test_http_conn_read(&victim, &r, 0, 30000);
  if (getenv("TRUNC_DEBUG")) fprintf(stderr, "victim: rc %d status %d %s\n", rc, r.status, r.body);
  char expect[64];
  snprintf(expect, sizeof(expect), "got %lld", victim_total);
  CHECK_MSG(rc == -ECONNRESET || r.status == 503 || strncmp(r.body, "rejected ", 9) == 0 || strcmp(r.body, expect) == 0,
            "victim: rc %d status %d: %s", rc, r.status, r.body);
  int answered = r.status == 200;
  test_http_resp_free(&r);
  test_http_conn_close(&victim);
  test_http_conn_close(&hog);
  char *line = answered ? upload_result(&s, "victim", 5000) : NULL;
  CHECK_MSG(!line || !strstr(line, " got ") || strstr(line, expect), "the victim's handler got part: %s", line);
  free(line);
  CHECK_EQ_INT(test_server_stop(&s), 0);
}
