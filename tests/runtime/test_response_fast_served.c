/*
 * test_response_fast_served.c - the common request path of issue 12 over
 * real sockets: a Response whose body is none, a string or bytes goes to
 * the host whole in one call (host.respondWhole: the host encodes a string
 * as UTF-8, writes status, headers and body at once with a Content-Length,
 * and with no waitUntil work finishes the request in the same call), and
 * the handler's Request is made lazily from the host's parsed request.
 * Each case checks the exact bytes on the wire (read raw, to the close),
 * so a fast path that encoded, framed or dropped anything differently
 * from the general one fails here.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "http/http_client.h"
#include "runtime/server_proc.h"
#include "test.h"

static const char worker_js[] =
    "let saved = null;\n"
    "export default {\n"
    "  async fetch(request, env, ctx) {\n"
    "    const path = new URL(request.url).pathname;\n"
    "    if (path === '/utf8') return new Response('\\u00e9\\u20ac\\u{1F600}');\n"
    "    if (path === '/lone') return new Response('a\\ud800b');\n"
    "    if (path === '/ab') return new Response(new Uint8Array([0, 1, 2, 255]).buffer);\n"
    "    if (path === '/view') return new Response(new Uint8Array([9, 8, 7, 6, 5]).subarray(1, 4));\n"
    "    if (path === '/read') {\n"
    "      const r = new Response('x', { headers: { 'X-A': '1' } });\n"
    "      console.log('ct=' + r.headers.get('content-type'));\n"
    "      r.headers.set('x-b', '2');\n"
    "      return r;\n"
    "    }\n"
    "    if (path === '/cookies') {\n"
    "      const r = new Response('c');\n"
    "      r.headers.append('Set-Cookie', 'a=1');\n"
    "      r.headers.append('set-cookie', 'b=2');\n"
    "      r.headers.append('x-dup', '1');\n"
    "      r.headers.append('X-Dup', '2');\n"
    "      return r;\n"
    "    }\n"
    "    if (path === '/record') return new Response('d', { headers: { 'x-dup': 'a', 'X-DUP': 'b', 'content-type': "
    "'a/b' } });\n"
    "    if (path === '/json') return Response.json({ a: 1 }, { status: 201, statusText: 'Made' });\n"
    "    if (path === '/204') return new Response(null, { status: 204, headers: { 'x-n': '1' } });\n"
    "    if (path === '/304') return new Response(null, { status: 304 });\n"
    "    if (path === '/await') { await new Promise((r) => setTimeout(r, 5)); return new Response('later'); }\n"
    "    if (path === '/wait') {\n"
    "      ctx.waitUntil(new Promise((r) => setTimeout(r, 100)).then(() => console.log('waited-done')));\n"
    "      return new Response('w');\n"
    "    }\n"
    "    if (path === '/twice') { if (!saved) saved = new Response('once'); return saved; }\n"
    "    if (path === '/echo') {\n"
    "      const v = request.headers.get('x-e');\n"
    "      const all = [...request.headers].map(([k, x]) => k + '=' + x.length).join(',');\n"
    "      return new Response(request.method + ' ' + request.url + ' ' + v.length + ':' + v.charCodeAt(3) + ' ' + "
    "all,\n"
    "                          { headers: { 'x-back': v } });\n"
    "    }\n"
    "    if (path === '/clone') { const c = request.clone(); return new Response(c.headers.get('x-e') === "
    "request.headers.get('x-e') ? 'same' : 'differ'); }\n"
    "    if (path === '/signal') return new Response(String(request.signal.aborted));\n"
    "    return new Response('?', { status: 404 });\n"
    "  },\n"
    "};\n";

typedef struct {
  char *raw;
  size_t len;
  char *body; /* into raw, after the head */
  size_t body_len;
} raw_resp_t;

/* Sends req on a new connection and reads every byte until the server
 * closes (requests carry Connection: close). 0 or -1. */
static int raw_exchange(int port, const char *req, size_t req_len, raw_resp_t *out) {
  memset(out, 0, sizeof(*out));
  test_http_conn_t c;
  if (test_http_conn_open(&c, port) != 0) return -1;
  if (test_http_conn_send(&c, req, req_len) != 0) {
    test_http_conn_close(&c);
    return -1;
  }
  size_t cap = 1 << 16;
  out->raw = malloc(cap + 1);
  for (int tries = 0; tries < 1000;) {
    ssize_t n = recv(c.fd, out->raw + out->len, cap - out->len, 0);
    if (n > 0) {
      out->len += (size_t)n;
      if (out->len == cap) break;
    } else if (n == 0) {
      break;
    } else if (errno == EAGAIN || errno == EINTR) {
      tries++;
      usleep(10000);
    } else {
      break;
    }
  }
  test_http_conn_close(&c);
  out->raw[out->len] = 0;
  char *end = strstr(out->raw, "\r\n\r\n");
  if (!end) return -1;
  out->body = end + 4;
  out->body_len = out->len - (size_t)(out->body - out->raw);
  end[2] = 0; /* the head, as a string, ends with its last CRLF */
  return 0;
}

static int get(int port, const char *method, const char *path, raw_resp_t *out) {
  char req[512];
  int n = snprintf(req, sizeof(req), "%s %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", method, path);
  return raw_exchange(port, req, (size_t)n, out);
}

/* The head has this exact line (case-sensitive, with its CRLF). */
static int has_line(const raw_resp_t *r, const char *line) {
  char want[512];
  snprintf(want, sizeof(want), "\r\n%s\r\n", line);
  return strstr(r->raw, want) != NULL;
}

static int count_lines(const raw_resp_t *r, const char *prefix) {
  int n = 0;
  for (const char *p = r->raw; (p = strstr(p, prefix)) != NULL; p++) n++;
  return n;
}

static int start(test_server_t *s) {
  if (test_server_dir(s) < 0) return -1;
  const char *main_path = test_server_write(s, "worker.js", worker_js);
  if (!main_path) return -1;
  char cfg[1024];
  snprintf(cfg, sizeof(cfg),
           "{\"listen\": {\"port\": 0}, \"threads\": 1, \"workers\": [{\"name\": \"fast\", \"main\": \"%s\"}]}",
           main_path);
  return test_server_serve_config(s, cfg);
}

static void raw_free(raw_resp_t *r) {
  free(r->raw);
  memset(r, 0, sizeof(*r));
}

/* A string body is UTF-8 on the wire, encoded by the host: the exact bytes,
 * Content-Length in bytes (not UTF-16 units), lone surrogates as U+FFFD;
 * bytes bodies (an ArrayBuffer, a view of part of one) go as they are. */
TEST(response_fast_bodies_are_byte_exact_with_their_length) {
  test_server_t s = {0};
  CHECK(start(&s) == 0);
  raw_resp_t r;
  CHECK(get(s.port, "GET", "/utf8", &r) == 0);
  CHECK_MSG(strncmp(r.raw, "HTTP/1.1 200 OK\r\n", 17) == 0, "%s", r.raw);
  CHECK(has_line(&r, "Content-Length: 9"));
  CHECK(has_line(&r, "content-type: text/plain;charset=UTF-8"));
  CHECK_EQ_INT((int)r.body_len, 9);
  CHECK(memcmp(r.body, "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80", 9) == 0);
  raw_free(&r);

  CHECK(get(s.port, "GET", "/lone", &r) == 0);
  CHECK(has_line(&r, "Content-Length: 5"));
  CHECK_EQ_INT((int)r.body_len, 5);
  CHECK(memcmp(r.body,
               "a\xef\xbf\xbd"
               "b",
               5) == 0);
  raw_free(&r);

  CHECK(get(s.port, "GET", "/ab", &r) == 0);
  CHECK(has_line(&r, "Content-Length: 4"));
  CHECK_MSG(strcasestr(r.raw, "content-type") == NULL, "a buffer body has no type: %s", r.raw);
  CHECK_EQ_INT((int)r.body_len, 4);
  CHECK(memcmp(r.body, "\x00\x01\x02\xff", 4) == 0);
  raw_free(&r);

  CHECK(get(s.port, "GET", "/view", &r) == 0);
  CHECK(has_line(&r, "Content-Length: 3"));
  CHECK_EQ_INT((int)r.body_len, 3);
  CHECK(memcmp(r.body, "\x08\x07\x06", 3) == 0);
  raw_free(&r);

  /* HEAD: the length of the body that a GET gets, and no body. */
  CHECK(get(s.port, "HEAD", "/utf8", &r) == 0);
  CHECK(has_line(&r, "Content-Length: 9"));
  CHECK_EQ_INT((int)r.body_len, 0);
  raw_free(&r);
  CHECK_EQ_INT(test_server_stop(&s), 0);
}

/* Headers read or changed after the Response was made, duplicates and
 * Set-Cookie: the wire shows the list as it is when the handler returns,
 * sorted and combined as Workers does (Set-Cookie one line per value). */
TEST(response_fast_headers_changed_after_construction_reach_the_wire) {
  test_server_t s = {0};
  CHECK(start(&s) == 0);
  raw_resp_t r;
  CHECK(get(s.port, "GET", "/read", &r) == 0);
  CHECK_MSG(has_line(&r, "x-a: 1") && has_line(&r, "x-b: 2"), "%s", r.raw);
  CHECK(has_line(&r, "content-type: text/plain;charset=UTF-8"));
  CHECK(test_server_wait_output(&s, "ct=text/plain;charset=UTF-8", 5000));
  raw_free(&r);

  CHECK(get(s.port, "GET", "/cookies", &r) == 0);
  CHECK_MSG(has_line(&r, "set-cookie: a=1") && has_line(&r, "set-cookie: b=2"), "%s", r.raw);
  CHECK_EQ_INT(count_lines(&r, "set-cookie:"), 2);
  CHECK(has_line(&r, "x-dup: 1, 2"));
  raw_free(&r);

  /* A record init with two spellings of one name: combined; its own
   * Content-Type wins over the string body's default. */
  CHECK(get(s.port, "GET", "/record", &r) == 0);
  CHECK_MSG(has_line(&r, "x-dup: a, b"), "%s", r.raw);
  CHECK(has_line(&r, "content-type: a/b"));
  CHECK_EQ_INT(count_lines(&r, "content-type:"), 1);
  raw_free(&r);

  CHECK(get(s.port, "GET", "/json", &r) == 0);
  CHECK_MSG(strncmp(r.raw, "HTTP/1.1 201 Made\r\n", 19) == 0, "%s", r.raw);
  CHECK(has_line(&r, "content-type: application/json"));
  CHECK(has_line(&r, "Content-Length: 7"));
  CHECK(r.body_len == 7 && memcmp(r.body, "{\"a\":1}", 7) == 0);
  raw_free(&r);
  CHECK_EQ_INT(test_server_stop(&s), 0);
}

/* 204 and 304 carry no body and no length; a handler's promise (pending
 * when it returns) still answers; and waitUntil work keeps the request
 * alive after the fast answer: its timer fires and logs (were the request
 * finished with the answer, the timer would be cancelled). */
TEST(response_fast_no_body_statuses_promises_and_wait_until) {
  test_server_t s = {0};
  CHECK(start(&s) == 0);
  raw_resp_t r;
  CHECK(get(s.port, "GET", "/204", &r) == 0);
  CHECK_MSG(strncmp(r.raw, "HTTP/1.1 204 No Content\r\n", 25) == 0, "%s", r.raw);
  CHECK(has_line(&r, "x-n: 1"));
  CHECK(strcasestr(r.raw, "content-length") == NULL && strcasestr(r.raw, "transfer-encoding") == NULL);
  CHECK_EQ_INT((int)r.body_len, 0);
  raw_free(&r);

  CHECK(get(s.port, "GET", "/304", &r) == 0);
  CHECK(strncmp(r.raw, "HTTP/1.1 304 Not Modified\r\n", 27) == 0);
  CHECK_EQ_INT((int)r.body_len, 0);
  raw_free(&r);

  CHECK(get(s.port, "GET", "/await", &r) == 0);
  CHECK(has_line(&r, "Content-Length: 5"));
  CHECK(r.body_len == 5 && memcmp(r.body, "later", 5) == 0);
  raw_free(&r);

  CHECK(get(s.port, "GET", "/wait", &r) == 0);
  CHECK(r.body_len == 1 && r.body[0] == 'w');
  raw_free(&r);
  CHECK_MSG(test_server_wait_output(&s, "waited-done", 10000), "the waitUntil work was cut with the answer");
  CHECK_EQ_INT(test_server_stop(&s), 0);
}

/* A Response returned twice: its body was used by the first answer, so the
 * second request gets a 500 and the error in the tenant's log, as before. */
TEST(response_fast_same_response_twice_fails_the_second_time) {
  test_server_t s = {0};
  CHECK(start(&s) == 0);
  raw_resp_t r;
  CHECK(get(s.port, "GET", "/twice", &r) == 0);
  CHECK(strncmp(r.raw, "HTTP/1.1 200 ", 13) == 0);
  CHECK(r.body_len == 4 && memcmp(r.body, "once", 4) == 0);
  raw_free(&r);
  CHECK(get(s.port, "GET", "/twice", &r) == 0);
  CHECK_MSG(strncmp(r.raw, "HTTP/1.1 500 ", 13) == 0, "%s", r.raw);
  raw_free(&r);
  CHECK(test_server_wait_output(&s, "Body has already been used", 5000));
  CHECK_EQ_INT(test_server_stop(&s), 0);
}

/* The lazily made Request: method, url and headers exactly as sent, a
 * header byte E9 (not UTF-8) reaching JS as U+00E9 and going back out as
 * the byte E9; a client's own CF-Connecting-IP replaced; clone() and
 * signal still work on the lazy object. */
TEST(request_lazy_values_are_byte_exact_both_ways) {
  test_server_t s = {0};
  CHECK(start(&s) == 0);
  static const char req[] =
      "PATCH /echo?q=1 HTTP/1.1\r\nHost: x\r\nX-E: caf\xe9\r\nCF-Connecting-IP: 6.6.6.6\r\n"
      "Connection: close\r\nContent-Length: 0\r\n\r\n";
  raw_resp_t r;
  CHECK(raw_exchange(s.port, req, sizeof(req) - 1, &r) == 0);
  CHECK_MSG(strncmp(r.raw, "HTTP/1.1 200 ", 13) == 0, "%s", r.raw);
  CHECK_MSG(has_line(&r, "x-back: caf\xe9"), "the value went out as other bytes: %s", r.raw);
  const char *want = "PATCH http://x/echo?q=1 4:233 cf-connecting-ip=9,connection=5,content-length=1,host=1,x-e=4";
  CHECK_MSG(r.body_len == strlen(want) && memcmp(r.body, want, r.body_len) == 0, "body: %.*s", (int)r.body_len, r.body);
  raw_free(&r);

  static const char req2[] = "GET /clone HTTP/1.1\r\nHost: x\r\nX-E: \xe9t\xe9\r\nConnection: close\r\n\r\n";
  CHECK(raw_exchange(s.port, req2, sizeof(req2) - 1, &r) == 0);
  CHECK(r.body_len == 4 && memcmp(r.body, "same", 4) == 0);
  raw_free(&r);
  CHECK(get(s.port, "GET", "/signal", &r) == 0);
  CHECK(r.body_len == 5 && memcmp(r.body, "false", 5) == 0);
  raw_free(&r);
  CHECK_EQ_INT(test_server_stop(&s), 0);
}
