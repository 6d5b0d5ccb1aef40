/*
 * test_utf8_served.c - UTF-8 bodies converted in the host
 * (src/api/encoding.c) through a served worker, over real sockets: a
 * 10 MiB request body read with text() and sent back with new
 * Response(text), directly and through fetch() to an origin and back.
 * The bytes must come back exactly as the Encoding standard says: the BOM
 * stripped, each ill-formed sequence one U+FFFD, everything else
 * unchanged, and the string's length (UTF-16 code units) as expected.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fetch/origin.h"
#include "http/http_client.h"
#include "runtime/server_proc.h"
#include "test.h"

static const char worker_js[] =
    "export default {\n"
    "  async fetch(request, env) {\n"
    "    const path = new URL(request.url).pathname;\n"
    "    const text = await request.text();\n"
    "    if (path === '/echo') return new Response(text, { headers: { 'x-units': String(text.length) } });\n"
    "    /* /proxy: to the origin's echo (which puts the request line and headers before the body) and back */\n"
    "    const r = await fetch(env.ORIGIN + '/echo', { method: 'POST', body: text });\n"
    "    const all = await r.text();\n"
    "    const body = all.slice(all.indexOf('\\n\\n') + 2);\n"
    "    return new Response(body, { headers: { 'x-units': String(body.length) } });\n"
    "  },\n"
    "};\n";

/* One repetition: 1-, 2-, 3- and 4-byte characters, 6 UTF-16 code units. */
static const char piece[] = "a\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80 ";
#define PIECE_LEN (sizeof(piece) - 1)
#define PIECE_UNITS 6
#define REPS 953252 /* even; 10 MiB of pieces */
/* Ill-formed in the middle: FF, an overlong C0 80, an encoded surrogate
 * ED A0 80: 1 + 2 + 3 = 6 U+FFFD. At the end: a 4-byte character cut after
 * 3 bytes: 1 U+FFFD. */
static const char bad_mid[] = "\xff\xc0\x80\xed\xa0\x80";
static const char bad_end[] = "\xf0\x9f\x98";
static const char fffd[] = "\xef\xbf\xbd";

typedef struct {
  char *sent, *want;
  size_t sent_len, want_len, want_units;
} bodies_t;

static int make_bodies(bodies_t *b) {
  size_t half = (size_t)REPS / 2 * PIECE_LEN;
  b->sent_len = 3 + 2 * half + strlen(bad_mid) + strlen(bad_end);
  b->want_len = 2 * half + 7 * 3;
  b->want_units = (size_t)REPS * PIECE_UNITS + 7;
  b->sent = malloc(b->sent_len);
  b->want = malloc(b->want_len);
  if (!b->sent || !b->want) return -1;
  char *s = b->sent, *w = b->want;
  memcpy(s, "\xef\xbb\xbf", 3); /* a BOM, which text() strips */
  s += 3;
  for (int h = 0; h < 2; h++) {
    for (size_t i = 0; i < REPS / 2; i++, s += PIECE_LEN, w += PIECE_LEN) {
      memcpy(s, piece, PIECE_LEN);
      memcpy(w, piece, PIECE_LEN);
    }
    const char *bad = h == 0 ? bad_mid : bad_end;
    int n_fffd = h == 0 ? 6 : 1;
    memcpy(s, bad, strlen(bad));
    s += strlen(bad);
    for (int i = 0; i < n_fffd; i++, w += 3) memcpy(w, fffd, 3);
  }
  return (size_t)(s - b->sent) == b->sent_len && (size_t)(w - b->want) == b->want_len ? 0 : -1;
}

/* POSTs the body to path; checks the answer byte for byte. */
static void round_trip(int port, const char *path, const bodies_t *b) {
  test_http_conn_t c;
  CHECK(test_http_conn_open(&c, port) == 0);
  char head[256];
  snprintf(head, sizeof(head), "POST %s HTTP/1.1\r\nHost: x\r\nContent-Length: %zu\r\n\r\n", path, b->sent_len);
  CHECK(test_http_conn_send_str(&c, head) == 0);
  CHECK(test_http_conn_send(&c, b->sent, b->sent_len) == 0);
  test_http_resp_t r = {0};
  /* Generous for a busy machine and ASan: the conversions take a few ms idle. */
  CHECK(test_http_conn_read(&c, &r, 0, 60000) == 0);
  test_http_conn_close(&c);
  CHECK_MSG(r.status == 200, "%s answered %d: %.200s", path, r.status, r.body);
  const char *units = test_http_resp_header(&r, "x-units");
  char want_units[32];
  snprintf(want_units, sizeof(want_units), "%zu", b->want_units);
  CHECK_MSG(units && strcmp(units, want_units) == 0, "%s: text.length %s, want %s", path, units ? units : "(none)",
            want_units);
  const char *type = test_http_resp_header(&r, "content-type");
  CHECK(type && strcmp(type, "text/plain;charset=UTF-8") == 0);
  size_t first_diff = 0;
  while (first_diff < r.body_len && first_diff < b->want_len && r.body[first_diff] == b->want[first_diff]) first_diff++;
  CHECK_MSG(r.body_len == b->want_len && first_diff == b->want_len,
            "%s: %zu bytes back, want %zu; first difference at byte %zu", path, r.body_len, b->want_len, first_diff);
  test_http_resp_free(&r);
}

TEST(utf8_ten_mib_body_through_text_and_back_comes_out_byte_exact) {
  bodies_t b = {0};
  CHECK(make_bodies(&b) == 0);
  origin_t o;
  CHECK(origin_start(&o) == 0);
  test_server_t s = {0};
  CHECK(test_server_dir(&s) == 0);
  char main_path[512], cfg[2048];
  snprintf(main_path, sizeof(main_path), "%s", test_server_write(&s, "utf8/worker.js", worker_js));
  /* The proxy route holds several copies of 10 MiB (bytes, a UTF-16 string, the
   * origin's answer): more memory than the default 128 MiB, and CPU for
   * ASan on a busy machine. */
  snprintf(cfg, sizeof(cfg),
           "{\"listen\": {\"port\": 0}, \"threads\": 1, \"workers\": [{\"name\": \"utf8\", \"main\": \"%s\","
           " \"limits\": {\"cpu_ms\": 20000, \"memory_mb\": 512}, \"vars\": {\"ORIGIN\": \"http://127.0.0.1:%d\"},"
           " \"allow_origins\": [\"http://127.0.0.1:%d\"]}]}",
           main_path, o.port, o.port);
  CHECK(test_server_serve_config(&s, cfg) == 0);
  round_trip(s.port, "/echo", &b);
  round_trip(s.port, "/proxy", &b);
  CHECK_EQ_INT(test_server_stop(&s), 0);
  origin_stop(&o);
  free(b.sent);
  free(b.want);
}
