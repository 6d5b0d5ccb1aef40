/*
 * test_header_record_served.c - a Response's plain-record headers
 * (`new Response(body, { headers: { ... } })`) over real sockets. The
 * common record goes to the host in one call (host.headerRecord,
 * src/api/headers.c), which checks, lower-cases, trims and sorts it and
 * adds the body's Content-Type; anything else (a value to convert, a name
 * twice, a value with a line feed) goes entry by entry. Each case reads
 * the raw bytes on the wire, or the error the worker caught, so a fast
 * path that let a bad header out, dropped or reordered a line, or doubled
 * a Content-Type fails here.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "http/http_client.h"
#include "runtime/server_proc.h"
#include "test.h"

static const char worker_js[] =
    "function caught(f) { try { f(); return 'none'; } catch (e) { return e.constructor.name + ':' + e.message; } }\n"
    "export default {\n"
    "  fetch(request) {\n"
    "    const path = new URL(request.url).pathname;\n"
    "    if (path === '/bench') return new Response('{}', { headers: { 'content-type': 'application/json', "
    "'cache-control': 'no-store', 'x-bench': 'json' } });\n"
    "    if (path === '/plain') return new Response('p', { headers: { 'x-z': '1', 'a-b': '2', 'X-Up': 'Mixed Case' } "
    "});\n"
    "    if (path === '/trim') return new Response('t', { headers: { 'x-s': ' \\t sp \\t ', 'x-e': '\\u00e9', "
    "'x-empty': "
    "'' } });\n"
    "    if (path === '/dup') return new Response('d', { headers: { 'x-d': 'a', 'X-D': 'b' } });\n"
    "    if (path === '/lf') return new Response('l', { headers: { 'x-l': 'v\\n', 'x-n': 5 } });\n"
    "    if (path === '/json') return Response.json({ a: 1 }, { headers: { 'x-j': '1' } });\n"
    "    if (path === '/blob') return new Response(new Blob(['b'], { type: 'x/y' }), { headers: { 'x-b': '1' } });\n"
    "    if (path === '/given') return new Response('g', { headers: { 'Content-Type': 'a/b' } });\n"
    "    if (path === '/read') {\n"
    "      const r = new Response('r', { headers: { 'x-r': '1', 'B': '2' } });\n"
    "      return new Response([...r.headers].join(';'));\n"
    "    }\n"
    "    if (path === '/errors') {\n"
    "      const seen = [];\n"
    "      const out = [\n"
    "        caught(() => new Response('', { headers: { ok: '1', 'a b': 'x' } })),\n"
    "        caught(() => new Response('', { headers: { x: 'a\\u0000b' } })),\n"
    "        caught(() => new Response('', { headers: { x: '\\u0100' } })),\n"
    "        caught(() => new Response('', { headers: { '\\u0100': 'v' } })),\n"
    "        caught(() => new Response('', { headers: { x: 'a\\rb' } })),\n"
    "        caught(() => new Response('', { headers: { x: '1', [Symbol('s')]: '2' } })),\n"
    "        caught(() => new Response('', { headers: { 'a b': 'x', get y() { seen.push('y'); return 'v'; } } })),\n"
    "      ];\n"
    "      return new Response(out.join('\\n'));\n"
    "    }\n"
    "    return new Response('?', { status: 404 });\n"
    "  },\n"
    "};\n";

typedef struct {
  char *raw;
  size_t len;
  char *body;
} raw_resp_t;

/* GET path on a new connection (Connection: close), every byte to the close. */
static int get(int port, const char *path, raw_resp_t *out) {
  memset(out, 0, sizeof(*out));
  char req[256];
  int n = snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", path);
  test_http_conn_t c;
  if (test_http_conn_open(&c, port) != 0) return -1;
  if (test_http_conn_send(&c, req, (size_t)n) != 0) {
    test_http_conn_close(&c);
    return -1;
  }
  size_t cap = 1 << 16;
  out->raw = malloc(cap + 1);
  for (int tries = 0; tries < 1000;) {
    ssize_t k = recv(c.fd, out->raw + out->len, cap - out->len, 0);
    if (k > 0) {
      out->len += (size_t)k;
      if (out->len == cap) break;
    } else if (k == 0) {
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
  end[2] = 0;
  return 0;
}

static void raw_free(raw_resp_t *r) {
  free(r->raw);
  memset(r, 0, sizeof(*r));
}

/* Where the head has this exact line, or NULL. */
static const char *line_at(const raw_resp_t *r, const char *line) {
  char want[512];
  snprintf(want, sizeof(want), "\r\n%s\r\n", line);
  return strstr(r->raw, want);
}

static int count(const char *hay, const char *needle) {
  int n = 0;
  for (const char *p = hay; (p = strstr(p, needle)) != NULL; p++) n++;
  return n;
}

static int start(test_server_t *s) {
  if (test_server_dir(s) < 0) return -1;
  const char *main_path = test_server_write(s, "worker.js", worker_js);
  if (!main_path) return -1;
  char cfg[1024];
  snprintf(cfg, sizeof(cfg),
           "{\"listen\": {\"port\": 0}, \"threads\": 1, \"workers\": [{\"name\": \"rec\", \"main\": \"%s\"}]}",
           main_path);
  return test_server_serve_config(s, cfg);
}

/* The lines of a record reach the wire lower-cased, trimmed, sorted by
 * name, each once, with the body's Content-Type added only when the record
 * has none: for the one-call path and the entry-by-entry one alike. */
TEST(header_record_lines_reach_the_wire_sorted_trimmed_and_typed_once) {
  test_server_t s = {0};
  CHECK(start(&s) == 0);
  raw_resp_t r;

  CHECK(get(s.port, "/bench", &r) == 0);
  const char *a = line_at(&r, "cache-control: no-store"), *b = line_at(&r, "content-type: application/json"),
             *c = line_at(&r, "x-bench: json");
  CHECK_MSG(a && b && c && a < b && b < c, "%s", r.raw);
  CHECK_EQ_INT(count(r.raw, "content-type"), 1);
  raw_free(&r);

  CHECK(get(s.port, "/plain", &r) == 0);
  a = line_at(&r, "a-b: 2");
  b = line_at(&r, "content-type: text/plain;charset=UTF-8");
  c = line_at(&r, "x-up: Mixed Case");
  const char *d = line_at(&r, "x-z: 1");
  CHECK_MSG(a && b && c && d && a < b && b < c && c < d, "%s", r.raw);
  raw_free(&r);

  CHECK(get(s.port, "/trim", &r) == 0);
  CHECK_MSG(line_at(&r, "x-s: sp") != NULL, "%s", r.raw);
  CHECK_MSG(line_at(&r, "x-e: \xe9") != NULL, "a byte-string value goes out as its byte: %s", r.raw);
  CHECK_MSG(strstr(r.raw, "\r\nx-empty:") != NULL, "%s", r.raw);
  raw_free(&r);

  CHECK(get(s.port, "/dup", &r) == 0);
  CHECK_MSG(line_at(&r, "x-d: a, b") != NULL, "one name in two spellings is combined: %s", r.raw);
  raw_free(&r);

  CHECK(get(s.port, "/lf", &r) == 0);
  CHECK_MSG(line_at(&r, "x-l: v") != NULL && line_at(&r, "x-n: 5") != NULL, "%s", r.raw);
  raw_free(&r);

  CHECK(get(s.port, "/json", &r) == 0);
  CHECK_MSG(line_at(&r, "content-type: application/json") != NULL && line_at(&r, "x-j: 1") != NULL, "%s", r.raw);
  CHECK_EQ_INT(count(r.raw, "content-type"), 1);
  raw_free(&r);

  CHECK(get(s.port, "/blob", &r) == 0);
  CHECK_MSG(line_at(&r, "content-type: x/y") != NULL && line_at(&r, "x-b: 1") != NULL, "%s", r.raw);
  raw_free(&r);

  CHECK(get(s.port, "/given", &r) == 0);
  CHECK_MSG(line_at(&r, "content-type: a/b") != NULL, "%s", r.raw);
  CHECK_EQ_INT(count(r.raw, "content-type"), 1);
  raw_free(&r);

  CHECK(get(s.port, "/read", &r) == 0);
  CHECK_MSG(strcmp(r.body, "b,2;content-type,text/plain;charset=UTF-8;x-r,1") == 0, "%s", r.body);
  raw_free(&r);
  CHECK_EQ_INT(test_server_stop(&s), 0);
}

/* A record with a header that could split the response (a name with a
 * space, a value with NUL or CR) or that is not a byte string throws the
 * error Headers would, naming the first bad entry: the one-call check
 * never lets one through. */
TEST(header_record_refuses_response_splitting_and_wide_names_and_values) {
  test_server_t s = {0};
  CHECK(start(&s) == 0);
  raw_resp_t r;
  CHECK(get(s.port, "/errors", &r) == 0);
  const char *want =
      "TypeError:Headers.append: invalid header name \"a b\"\n"
      "TypeError:Headers.append: invalid header value\n"
      "TypeError:Headers.append: the string contains a character above U+00FF\n"
      "TypeError:Headers.append: the string contains a character above U+00FF\n"
      "TypeError:Headers.append: invalid header value\n"
      "TypeError:Headers: header names must be strings\n"
      "TypeError:Headers.append: invalid header name \"a b\"";
  CHECK_MSG(strcmp(r.body, want) == 0, "%s", r.body);
  raw_free(&r);
  CHECK_EQ_INT(test_server_stop(&s), 0);
}
