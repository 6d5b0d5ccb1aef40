/*
 * test_ssrf_served.c - issue 10, "subrequests reaching what they must
 * not", against a real `isolde serve`, over real sockets:
 *
 *   1. a route's pass-through to its origin (a route with only an origin,
 *      and a worker's fetch(request) to its route's origin) must not
 *      follow the origin's redirect to an internal address;
 *   2. a worker must not reach this machine's own non-loopback addresses
 *      (looked up with getifaddrs) unless its config allows that origin;
 *   3. a worker that calls its own server, and a route whose origin is the
 *      server itself, stop after 16 hops (CDN-Loop), and a client's own
 *      CDN-Loop header can neither reset that count nor fail anyone's
 *      request but its own.
 *
 * The origin is tests/fetch/origin.h (loopback: /redirect?to=URL, /echo);
 * the internal service (tests/fetch/ssrf_target.h) listens on every
 * address and answers "internal secret" to whoever reaches it. The
 * workers are written into the server's temporary folder.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "fetch/origin.h"
#include "fetch/ssrf_target.h"
#include "http/http_client.h"
#include "runtime/server_proc.h"
#include "test.h"

/* fetch(request), and the error's text as a 502 body */
static const char pass_js[] =
    "export default {\n"
    "  async fetch(request) {\n"
    "    try { return await fetch(request); }\n"
    "    catch (e) { return new Response(String(e), { status: 502 }); }\n"
    "  },\n"
    "};\n";

/* fetches ?url=, answers with what came back or the error's text as a 502 body */
static const char probe_js[] =
    "export default {\n"
    "  async fetch(request) {\n"
    "    const url = new URL(request.url).searchParams.get(\"url\");\n"
    "    try { const r = await fetch(url); return new Response(await r.text(), { status: r.status }); }\n"
    "    catch (e) { return new Response(String(e), { status: 502 }); }\n"
    "  },\n"
    "};\n";

/* /loop calls its own server, one level deeper each time, until something
 * stops it (or 40 levels); answers with the innermost level's JSON. Each
 * call tries to reset its hop count with a CDN-Loop header of its own, and
 * to hide the host's entry behind an unbalanced quote. /t does the same
 * from a timer (a waitUntil timer, owned by its request) after it has
 * answered, and /deepest says how deep that went and how often it was
 * refused. */
static const char loop_js[] =
    "let deepest = -1, refused = 0;\n"
    "export default {\n"
    "  async fetch(request, env, ctx) {\n"
    "    const url = new URL(request.url);\n"
    "    const d = Number(url.searchParams.get(\"d\") ?? 0);\n"
    "    if (url.pathname === \"/deepest\") return Response.json({ deepest, refused });\n"
    "    if (url.pathname === \"/t\") {\n"
    "      deepest = Math.max(deepest, d);\n"
    "      if (d < 40) ctx.waitUntil(new Promise((done) => setTimeout(() => {\n"
    "        fetch(`${env.SELF}/t?d=${d + 1}`).then((r) => { if (r.status === 508) refused++; })\n"
    "          .catch((e) => { if (String(e).includes(\"Loop detected\")) refused++; }).finally(done);\n"
    "      }, 1)));\n"
    "      return new Response(\"ok\");\n"
    "    }\n"
    "    if (d >= 40) return Response.json({ depth: d, end: \"nothing stopped it\" });\n"
    "    try {\n"
    "      const headers = { \"cdn-loop\": 'isolde; loops=0, x; y=\"' };\n"
    "      const r = await fetch(`${env.SELF}/loop?d=${d + 1}`, { headers });\n"
    "      const text = await r.text();\n"
    "      return r.status === 200 ? new Response(text) : Response.json({ depth: d, status: r.status, text });\n"
    "    } catch (e) {\n"
    "      return Response.json({ depth: d, error: String(e) });\n"
    "    }\n"
    "  },\n"
    "};\n";

typedef struct {
  origin_t origin;     /* loopback, redirects on /redirect?to= */
  ssrf_target_t inner; /* every address: must not be reached */
  ssrf_local_addrs_t addrs;
  test_server_t edge;
} env_t;

static int start(env_t *e, int v4_allowed) {
  memset(e, 0, sizeof *e);
  if (origin_start(&e->origin) != 0 || ssrf_target_start(&e->inner) != 0) return -1;
  ssrf_local_addrs(&e->addrs);
  if (test_server_dir(&e->edge) < 0) return -1;
  char pass[512], probe[512], allow[256] = "";
  /* A folder each: tenants' module folders may not overlap ("opened"
   * runs probe's very script, which is allowed). */
  snprintf(pass, sizeof pass, "%s", test_server_write(&e->edge, "pass/pass.js", pass_js));
  snprintf(probe, sizeof probe, "%s", test_server_write(&e->edge, "probe/probe.js", probe_js));
  if (v4_allowed && e->addrs.v4[0]) snprintf(allow, sizeof allow, "\"http://%s:%d\"", e->addrs.v4, e->inner.port);
  char cfg[4096];
  /* 2 s of CPU per request: a first fetch() takes 3-10 ms on an idle
   * machine (more under ASan), too close to the default 50 ms. */
  snprintf(cfg, sizeof cfg,
           "{\"listen\": {\"port\": 0}, \"threads\": 1,"
           " \"routes\": [{\"pattern\": \"static.test/*\", \"origin\": \"http://127.0.0.1:%d\"}],"
           " \"workers\": ["
           "{\"name\": \"pass\", \"main\": \"%s\", \"limits\": {\"cpu_ms\": 2000},"
           " \"routes\": [{\"pattern\": \"pass.test/*\", \"origin\": \"http://127.0.0.1:%d\"}]},"
           "{\"name\": \"probe\", \"main\": \"%s\", \"limits\": {\"cpu_ms\": 2000}, \"routes\": [\"probe.test/*\"]},"
           "{\"name\": \"opened\", \"main\": \"%s\", \"limits\": {\"cpu_ms\": 2000}, \"routes\": [\"opened.test/*\"],"
           " \"allow_origins\": [%s]}]}",
           e->origin.port, pass, e->origin.port, probe, probe, allow);
  return test_server_serve_config(&e->edge, cfg);
}

static int stop(env_t *e) {
  int a = test_server_stop(&e->edge), b = origin_stop(&e->origin), c = ssrf_target_stop(&e->inner);
  return a == 0 && b == 0 && c == 0 ? 0 : -1;
}

/* GET path with Host host (and extra header lines) from server port; r must be freed. */
static int get(int port, const char *host, const char *path, const char *extra, test_http_resp_t *r) {
  char raw[2048];
  snprintf(raw, sizeof raw, "GET %s HTTP/1.1\r\nHost: %s\r\n%sConnection: close\r\n\r\n", path, host,
           extra ? extra : "");
  return test_http_request(port, raw, r);
}

/* The internal URLs a redirect may point to: loopback, and this machine's
 * own addresses; n of them, the rest "" (the test says what it skips). */
static int internal_urls(const env_t *e, char urls[4][160]) {
  int n = 0;
  snprintf(urls[n++], 160, "http://127.0.0.1:%d/secret", e->inner.port);
  if (e->inner.v6) snprintf(urls[n++], 160, "http://[::1]:%d/secret", e->inner.port);
  if (e->addrs.v4[0])
    snprintf(urls[n++], 160, "http://%s:%d/secret", e->addrs.v4, e->inner.port);
  else
    printf("  skipped: this machine has no non-loopback IPv4 address\n");
  if (e->addrs.v6[0] && e->inner.v6)
    snprintf(urls[n++], 160, "http://%s:%d/secret", e->addrs.v6, e->inner.port);
  else
    printf("  skipped: this machine has no non-loopback, non-link-local IPv6 address (or no IPv6)\n");
  return n;
}

/* ---- 1. redirects from a route's origin --------------------------------------------- */

TEST(ssrf_pass_through_route_redirect_inside_never_reaches_it) {
  env_t e;
  char urls[4][160], path[700];
  CHECK(start(&e, 0) == 0);
  test_http_resp_t r = {0};
  /* the origin itself is allowed: it answers */
  CHECK(get(e.edge.port, "static.test", "/echo", NULL, &r) == 0);
  CHECK_EQ_INT(r.status, 200);
  test_http_resp_free(&r);
  int n = internal_urls(&e, urls);
  for (int i = 0; i < n; i++) {
    snprintf(path, sizeof path, "/redirect?to=%s", urls[i]);
    CHECK(get(e.edge.port, "static.test", path, NULL, &r) == 0);
    printf("  static.test%s -> %d %s\n", path, r.status, r.body);
    CHECK_MSG(!strstr(r.body, SSRF_SECRET), "the internal service's answer reached the client via %s", urls[i]);
    /* passed to the client as the origin sent it, as a reverse proxy does */
    CHECK_EQ_INT(r.status, 302);
    CHECK_EQ_STR(test_http_resp_header(&r, "location"), urls[i]);
    test_http_resp_free(&r);
  }
  CHECK_EQ_INT(atomic_load(&e.inner.requests), 0);
  CHECK_EQ_INT(stop(&e), 0);
}

TEST(ssrf_worker_pass_through_redirect_inside_never_reaches_it) {
  env_t e;
  char urls[4][160], path[700];
  CHECK(start(&e, 0) == 0);
  test_http_resp_t r = {0};
  CHECK(get(e.edge.port, "pass.test", "/echo", NULL, &r) == 0);
  CHECK_EQ_INT(r.status, 200);
  test_http_resp_free(&r);
  int n = internal_urls(&e, urls);
  for (int i = 0; i < n; i++) {
    snprintf(path, sizeof path, "/redirect?to=%s", urls[i]);
    CHECK(get(e.edge.port, "pass.test", path, NULL, &r) == 0);
    printf("  pass.test%s -> %d %s\n", path, r.status, r.body);
    CHECK_MSG(!strstr(r.body, SSRF_SECRET), "the internal service's answer reached the client via %s", urls[i]);
    CHECK_EQ_INT(r.status, 502);
    CHECK_MSG(strstr(r.body, "TypeError: fetch failed: blocked: "), "%s", r.body);
    test_http_resp_free(&r);
  }
  CHECK_EQ_INT(atomic_load(&e.inner.requests), 0);
  CHECK_EQ_INT(stop(&e), 0);
}

/* ---- 2. the machine's own addresses ------------------------------------------------- */

TEST(ssrf_worker_fetch_to_the_machines_own_address_is_refused) {
  env_t e;
  char path[256];
  CHECK(start(&e, 1) == 0);
  test_http_resp_t r = {0};
  const char *hosts[] = {e.addrs.v4, e.inner.v6 ? e.addrs.v6 : ""};
  for (int i = 0; i < 2; i++) {
    if (!hosts[i][0]) {
      printf("  skipped %s: this machine has no such non-loopback address (or no IPv6)\n", i ? "IPv6" : "IPv4");
      continue;
    }
    snprintf(path, sizeof path, "/?url=http://%s:%d/secret", hosts[i], e.inner.port);
    CHECK(get(e.edge.port, "probe.test", path, NULL, &r) == 0);
    printf("  probe.test%s -> %d %s\n", path, r.status, r.body);
    CHECK_MSG(!strstr(r.body, SSRF_SECRET), "a worker reached this machine at %s", hosts[i]);
    CHECK_EQ_INT(r.status, 502);
    CHECK_MSG(strstr(r.body, "TypeError: fetch failed: blocked: "), "%s", r.body);
    test_http_resp_free(&r);
  }
  CHECK_EQ_INT(atomic_load(&e.inner.requests), 0);
  /* a worker whose config allows that origin reaches it */
  if (e.addrs.v4[0]) {
    snprintf(path, sizeof path, "/?url=http://%s:%d/secret", e.addrs.v4, e.inner.port);
    CHECK(get(e.edge.port, "opened.test", path, NULL, &r) == 0);
    CHECK_EQ_INT(r.status, 200);
    CHECK_EQ_STR(r.body, SSRF_SECRET);
    test_http_resp_free(&r);
    CHECK_EQ_INT(atomic_load(&e.inner.requests), 1);
  }
  CHECK_EQ_INT(stop(&e), 0);
}

/* ---- 3. loops ------------------------------------------------------------------------ */

/* A port nothing listens on now (the kernel's pick), for a server whose
 * config must name its own address before it starts. */
static int free_port(void) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  struct sockaddr_in sa = {0};
  socklen_t len = sizeof sa;
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  int port = -1;
  if (fd >= 0 && bind(fd, (struct sockaddr *)&sa, sizeof sa) == 0 && getsockname(fd, (struct sockaddr *)&sa, &len) == 0)
    port = ntohs(sa.sin_port);
  if (fd >= 0) close(fd);
  return port;
}

/* A server that may call itself: the looping worker for every host, and
 * 127.0.0.1/self/ proxied (no worker) to the server itself (a subrequest's
 * Host follows its URL, so the proxied request comes back by the same
 * route). */
static int start_self(test_server_t *s, origin_t *o) {
  int port = free_port();
  if (port < 0 || origin_start(o) != 0 || test_server_dir(s) < 0) return -1;
  char loop[512], cfg[2048];
  snprintf(loop, sizeof loop, "%s", test_server_write(s, "loop.js", loop_js));
  snprintf(cfg, sizeof cfg,
           "{\"listen\": {\"host\": \"127.0.0.1\", \"port\": %d}, \"threads\": 1,"
           " \"routes\": [{\"pattern\": \"127.0.0.1/self/*\", \"origin\": \"http://127.0.0.1:%d\"},"
           " {\"pattern\": \"origin.test/*\", \"origin\": \"http://127.0.0.1:%d\"}],"
           " \"workers\": [{\"name\": \"loop\", \"main\": \"%s\", \"limits\": {\"cpu_ms\": 2000},"
           " \"vars\": {\"SELF\": \"http://127.0.0.1:%d\"}, \"allow_origins\": [\"http://127.0.0.1:%d\"]}]}",
           port, port, o->port, loop, port, port);
  return test_server_serve_config(s, cfg);
}

/* The depth in the innermost level's JSON, or -1. */
static int depth_of(const char *body) {
  const char *d = strstr(body, "\"depth\":");
  return d ? atoi(d + 8) : -1;
}

TEST(ssrf_worker_calling_its_own_server_stops_after_16_hops) {
  test_server_t s = {0};
  origin_t o;
  CHECK(start_self(&s, &o) == 0);
  test_http_resp_t r = {0};
  CHECK(get(s.port, "loop.test", "/loop", NULL, &r) == 0);
  printf("  /loop -> %d %s\n", r.status, r.body);
  CHECK_EQ_INT(r.status, 200);
  /* the request at depth 16 arrived with 16 hops: its fetch() would be the 17th */
  CHECK_EQ_INT(depth_of(r.body), 16);
  CHECK_MSG(strstr(r.body, "\"error\":\"TypeError: fetch failed: Loop detected"), "%s", r.body);
  test_http_resp_free(&r);
  /* a client's own count over the limit: refused before any worker runs */
  CHECK(get(s.port, "loop.test", "/loop", "CDN-Loop: isolde; loops=17\r\n", &r) == 0);
  CHECK_EQ_INT(r.status, 508);
  CHECK_MSG(strstr(r.body, "Loop detected"), "%s", r.body);
  test_http_resp_free(&r);
  /* a client's own count under it only shortens its own chain ... */
  CHECK(get(s.port, "loop.test", "/loop", "CDN-Loop: isolde; loops=15\r\n", &r) == 0);
  CHECK_EQ_INT(r.status, 200);
  CHECK_EQ_INT(depth_of(r.body), 1);
  test_http_resp_free(&r);
  /* ... and a low one (or another CDN's entry) does not lengthen it */
  CHECK(get(s.port, "loop.test", "/loop", "CDN-Loop: other, isolde; loops=0\r\nCDN-Loop: isolde\r\n", &r) == 0);
  CHECK_EQ_INT(depth_of(r.body), 15);
  test_http_resp_free(&r);
  /* and it leaves nothing behind: the next request goes 16 deep again */
  CHECK(get(s.port, "loop.test", "/loop", NULL, &r) == 0);
  CHECK_EQ_INT(depth_of(r.body), 16);
  test_http_resp_free(&r);
  CHECK_EQ_INT(test_server_stop(&s), 0);
  CHECK_EQ_INT(origin_stop(&o), 0);
}

TEST(ssrf_worker_looping_from_timers_stops_after_16_hops) {
  test_server_t s = {0};
  origin_t o;
  CHECK(start_self(&s, &o) == 0);
  test_http_resp_t r = {0};
  CHECK(get(s.port, "loop.test", "/t", NULL, &r) == 0);
  CHECK_EQ_STR(r.body, "ok");
  test_http_resp_free(&r);
  /* the chain runs on after the first answer: wait for it to end */
  char last[256] = "";
  for (int i = 0; i < 100; i++) {
    CHECK(get(s.port, "loop.test", "/deepest", NULL, &r) == 0);
    int same = strcmp(last, r.body) == 0;
    snprintf(last, sizeof last, "%s", r.body);
    test_http_resp_free(&r);
    if (same && strstr(last, "\"refused\":1")) break;
    usleep(50 * 1000);
  }
  printf("  /deepest -> %s\n", last);
  /* a timer's fetch() counts from the request that set it (its owner):
   * hop 17 is refused before it goes out ("Loop detected") */
  CHECK_EQ_STR(last, "{\"deepest\":16,\"refused\":1}");
  char *out = test_server_output(&s);
  CHECK_MSG(!strstr(out, "hops=17"), "hop 17 went out:\n%s", out);
  free(out);
  CHECK_EQ_INT(test_server_stop(&s), 0);
  CHECK_EQ_INT(origin_stop(&o), 0);
}

TEST(ssrf_pass_through_route_to_its_own_server_stops_after_16_hops) {
  test_server_t s = {0};
  origin_t o;
  CHECK(start_self(&s, &o) == 0);
  test_http_resp_t r = {0};
  /* a route with only an origin counts hops too: the origin sees the first */
  CHECK(get(s.port, "origin.test", "/echo", NULL, &r) == 0);
  CHECK_EQ_INT(r.status, 200);
  CHECK_MSG(strstr(r.body, "CDN-Loop: isolde; loops=1\n"), "the origin saw:\n%s", r.body);
  test_http_resp_free(&r);
  CHECK(get(s.port, "origin.test", "/echo", "CDN-Loop: isolde; loops=16\r\n", &r) == 0);
  CHECK_EQ_INT(r.status, 508);
  test_http_resp_free(&r);
  CHECK_EQ_INT(atomic_load(&o.requests), 1);
  /* a route proxied to the server itself: 16 hops, then 508 all the way back */
  CHECK(get(s.port, "127.0.0.1", "/self/x", NULL, &r) == 0);
  printf("  127.0.0.1/self/x -> %d %s\n", r.status, r.body);
  CHECK_EQ_INT(r.status, 508);
  CHECK_MSG(strstr(r.body, "Loop detected: hop 17 "), "%s", r.body);
  test_http_resp_free(&r);
  CHECK(test_server_wait_output(&s, "status=508 hops=17", 2000));
  CHECK_EQ_INT(test_server_stop(&s), 0);
  CHECK_EQ_INT(origin_stop(&o), 0);
}
