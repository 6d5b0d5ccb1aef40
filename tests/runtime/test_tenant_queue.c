/* tests/runtime/test_tenant_queue.c - the host memory held for one tenant's
 * clients is bounded (http.max_tenant_queued_mb), over a real `isolde
 * serve`. A tenant streams large responses to many clients that never
 * read: each connection may hold up to max_queued_kb (1 MiB) queued, so
 * without a bound per tenant 128 such clients make the host hold 128 MiB
 * and more. With the tenant's bound at 4 MiB its writes wait instead, the
 * server's memory stays flat, and a second tenant's responses (a 2 MiB
 * stream included) are not held up by the first one's slow clients. */
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "http/http_client.h"
#include "runtime/server_proc.h"
#include "test.h"

/* Streams 16 MiB per request, one shared 64 KiB piece at a time (so the
 * isolate holds no copies), and logs every MiB it has handed out in all. */
static const char *const flood_js =
    "const PIECE = new Uint8Array(64 << 10).fill(120);\n"
    "let total = 0;\n"
    "export default { fetch(request) {\n"
    "  if (new URL(request.url).pathname === '/small') return new Response('small');\n"
    "  let left = 256;\n"
    "  return new Response(new ReadableStream({ pull(c) {\n"
    "    if (left-- === 0) return c.close();\n"
    "    c.enqueue(PIECE);\n"
    "    total += PIECE.byteLength;\n"
    "    if (total % (1 << 20) === 0) console.log(`flood handed out ${total >> 20} MiB`);\n"
    "  } }));\n"
    "} };\n";

/* Answers "quiet", and 2 MiB streamed on /big. */
static const char *const quiet_js =
    "export default { fetch(request) {\n"
    "  if (new URL(request.url).pathname !== '/big') return new Response('quiet');\n"
    "  const piece = new Uint8Array(64 << 10).fill(121);\n"
    "  let left = 32;\n"
    "  return new Response(new ReadableStream({ pull(c) {\n"
    "    if (left-- === 0) return c.close();\n"
    "    c.enqueue(piece);\n"
    "  } }));\n"
    "} };\n";

enum { CLIENTS = 128 };

/* The largest "flood handed out N MiB" the server printed so far. */
static int flood_mib(const test_server_t *s) {
  char *out = test_server_output(s);
  int most = 0;
  for (const char *p = out; (p = strstr(p, "flood handed out ")); p++) {
    int n = atoi(p + 17);
    if (n > most) most = n;
  }
  free(out);
  return most;
}

static void sleep_ms(int ms) {
  struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

TEST(tenant_queue_clients_that_never_read_cannot_make_the_host_hold_more_than_the_tenants_bound) {
  test_server_t s = {0};
  CHECK(test_server_dir(&s) == 0);
  char flood[512], quiet[512], cfg[2048];
  snprintf(flood, sizeof(flood), "%s", test_server_write(&s, "flood/flood.js", flood_js));
  snprintf(quiet, sizeof(quiet), "%s", test_server_write(&s, "quiet/quiet.js", quiet_js));
  /* CPU per request raised well above what streaming costs (a few ms per
   * MiB on an idle machine, many times that under ASan). */
  snprintf(cfg, sizeof(cfg),
           "{\"listen\": {\"port\": 0}, \"threads\": 1, \"http\": {\"max_tenant_queued_mb\": 4}, \"workers\": ["
           "{\"name\": \"flood\", \"main\": \"%s\", \"routes\": [\"flood.test/*\"], \"limits\": {\"cpu_ms\": 30000}},"
           "{\"name\": \"quiet\", \"main\": \"%s\", \"routes\": [\"quiet.test/*\"], \"limits\": {\"cpu_ms\": 30000}}]}",
           flood, quiet);
  /* Under ASan, freed blocks wait in its quarantine (up to 256 MiB), so the
   * server's RSS would show every byte that ever passed, not what it
   * holds: the server under test runs without one. */
  char *asan = getenv("ASAN_OPTIONS") ? strdup(getenv("ASAN_OPTIONS")) : NULL;
  char opts[1024];
  snprintf(opts, sizeof(opts), "%s%squarantine_size_mb=0:thread_local_quarantine_size_kb=0", asan ? asan : "",
           asan && *asan ? ":" : "");
  setenv("ASAN_OPTIONS", opts, 1);
  int started = test_server_serve_config(&s, cfg);
  if (asan) {
    setenv("ASAN_OPTIONS", asan, 1);
  } else {
    unsetenv("ASAN_OPTIONS");
  }
  free(asan);
  CHECK(started == 0);

  /* Both tenants have an isolate, and the flood tenant has streamed a
   * whole response to a client that reads, before the baseline is taken. */
  test_http_resp_t r = {0};
  CHECK(test_http_request(s.port, "GET /stream HTTP/1.1\r\nHost: flood.test\r\nConnection: close\r\n\r\n", &r) == 0);
  CHECK_EQ_INT(r.body_len, 16u << 20);
  test_http_resp_free(&r);
  CHECK(test_http_request(s.port, "GET / HTTP/1.1\r\nHost: quiet.test\r\nConnection: close\r\n\r\n", &r) == 0);
  CHECK_EQ_STR(r.body, "quiet");
  test_http_resp_free(&r);
  long before = test_server_rss_kb(&s);
  CHECK(before > 0);

  int fds[CLIENTS];
  for (int i = 0; i < CLIENTS; i++) {
    fds[i] = test_http_stalled_client(s.port, "GET /stream HTTP/1.1\r\nHost: flood.test\r\n\r\n");
    CHECK(fds[i] >= 0);
  }
  /* The flood tenant writes until its bound (4 MiB, plus what the sockets
   * took) stops it: wait for it to have got that far past the warm-up, then until it has
   * handed out nothing more for a second (or 30 s in all). */
  int last = -1;
  for (int waited = 0, still = 0; waited < 30000 && still < 1000; waited += 50) {
    int now = flood_mib(&s);
    still = now == last && now >= 16 + 4 ? still + 50 : 0;
    last = now;
    sleep_ms(50);
  }
  CHECK_MSG(last >= 16 + 4, "the flood tenant handed out only %d MiB", last);
  long most = 0;
  for (int i = 0; i < 10; i++) {
    long kb = test_server_rss_kb(&s);
    if (kb > most) most = kb;
    sleep_ms(50);
  }
  printf("  %d clients that do not read: the flood tenant handed out %d MiB, server RSS +%ld KiB\n", CLIENTS, last,
         most - before);
  /* Without a bound per tenant the host holds about 1 MiB per connection:
   * with max_tenant_queued_mb at 65536, +145 MiB measured on an idle
   * machine (+174 MiB under ASan). With 4 MiB, +13 MiB (14 under ASan),
   * most of which comes with the first few clients, not with each. */
  CHECK_MSG(most - before < 40 * 1024, "server RSS grew by %ld KiB for one tenant's clients that do not read",
            most - before);

  /* The other tenant answers, a 2 MiB stream included, while the flood
   * tenant's writes wait. */
  CHECK(test_http_request(s.port, "GET / HTTP/1.1\r\nHost: quiet.test\r\nConnection: close\r\n\r\n", &r) == 0);
  CHECK_EQ_STR(r.body, "quiet");
  test_http_resp_free(&r);
  CHECK(test_http_request(s.port, "GET /big HTTP/1.1\r\nHost: quiet.test\r\nConnection: close\r\n\r\n", &r) == 0);
  CHECK_EQ_INT(r.status, 200);
  CHECK_MSG(r.body_len == 2u << 20 && r.body[0] == 'y' && r.body[r.body_len - 1] == 'y', "quiet /big: %zu bytes",
            r.body_len);
  test_http_resp_free(&r);

  /* The flood's clients go away: its waiting writes see it and stop, and
   * the server stops cleanly. */
  for (int i = 0; i < CLIENTS; i++) close(fds[i]);
  CHECK_EQ_INT(test_server_stop(&s), 0);
}
