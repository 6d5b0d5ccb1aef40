/*
 * test_background_work.c - issue 11, "work after the response follows
 * Workers' rules", against a real `isolde serve`, over real sockets: a
 * hostile tenant and a quiet one, each in its own folder, on one loop
 * thread (threads: 1, the worst case for the neighbour).
 *
 * Each attack is one that used to escape every limit:
 *   - setInterval(0) while the handler awaits a timeout froze the loop for
 *     good (libuv's timer pass never ended, I/O was never polled again,
 *     SIGTERM did nothing);
 *   - an interval kept ticking after its response, charged to nobody;
 *   - fetch() -> catch -> fetch() after the response looped for ever on
 *     refused connections and starved the loop;
 *   - subrequests after the response, or from a timer while two requests
 *     were in flight, ignored limits.subrequests (150 and 120 reached the
 *     origin).
 * For each: the attacker's request ends (cut at its limit, or its work
 * after the response cancelled), the quiet tenant answers every request
 * within a generous timeout (at least 10x its idle latency), the server's
 * CPU time (/proc/PID/stat) stops growing once no request is in flight,
 * SIGTERM stops the server promptly, and the local origin (which counts
 * what reaches it) sees at most limits.subrequests subrequests of a
 * request.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "fetch/origin.h"
#include "http/http_client.h"
#include "runtime/server_proc.h"
#include "test.h"

#define SUBREQUESTS 50 /* limits.subrequests: the default (ISL_RT_SUBREQUESTS) */

static const char attack_js[] =
    "const sleep = (ms) => new Promise((r) => setTimeout(r, ms));\n"
    "const burn = (n) => { let x = 0; for (let i = 0; i < n; i++) x = (x + i * 7) % 1000003; return x; };\n"
    "let ticks = 0;\n"
    "export default {\n"
    "  async fetch(request, env, ctx) {\n"
    "    const url = new URL(request.url);\n"
    "    const origin = env.ORIGIN;\n"
    "    switch (url.pathname) {\n"
    "      case '/interval0':\n"
    "        setInterval(() => {}, 0);\n"
    "        await sleep(100);\n"
    "        return new Response('done');\n"
    "      case '/tick':\n"
    "        setInterval(() => { ticks++; burn(20000); }, 1);\n"
    "        if (url.searchParams.has('forever')) ctx.waitUntil(new Promise(() => {}));\n"
    "        return new Response('armed');\n"
    "      case '/ticks':\n"
    "        return new Response(String(ticks));\n"
    "      case '/hold':\n"
    "        await sleep(Number(url.searchParams.get('ms')));\n"
    "        return new Response('held');\n"
    "      case '/refused': {\n"
    "        const again = () => fetch('http://127.0.0.1:1/').catch(() => again());\n"
    "        const chain = again();\n"
    "        if (url.searchParams.has('wait')) ctx.waitUntil(chain);\n"
    "        return new Response('ok');\n"
    "      }\n"
    "      case '/fanout-after': {\n"
    "        const work = async () => {\n"
    "          let ok = 0, last = '';\n"
    "          for (let i = 0; i < 150; i++) {\n"
    "            try { await (await fetch(`${origin}/echo?i=${i}`)).text(); ok++; } catch (e) { last = String(e); }\n"
    "          }\n"
    "          console.log(`fanout-after ok=${ok} last error: ${last}`);\n"
    "        };\n"
    "        const p = work();\n"
    "        if (url.searchParams.has('wait')) ctx.waitUntil(p);\n"
    "        return new Response('ok');\n"
    "      }\n"
    "      case '/timer-fanout':\n"
    "        ctx.waitUntil(new Promise((done) => setTimeout(async () => {\n"
    "          const all = [];\n"
    "          for (let i = 0; i < 120; i++)\n"
    "            all.push(fetch(`${origin}/echo?t=${i}`).then((r) => r.text()).then(() => 'ok', (e) => String(e)));\n"
    "          const res = await Promise.all(all);\n"
    "          const ok = res.filter((x) => x === 'ok').length;\n"
    "          const refused = res.filter((x) => x.includes('Too many subrequests')).length;\n"
    "          console.log(`timer-fanout ok=${ok} refused=${refused}`);\n"
    "          done();\n"
    "        }, 100)));\n"
    "        return new Response('ok');\n"
    "      case '/late':\n"
    "        (async () => {\n"
    "          for (let i = 0; i < 500; i++) await null; /* past the request's end (done) */\n"
    "          try { await fetch(`${origin}/echo?late`); console.log('late fetch went out'); }\n"
    "          catch (e) { console.log(`late fetch: ${e}`); }\n"
    "          setTimeout(() => console.log('late timer fired'), 1);\n"
    "          console.log('late work over');\n"
    "        })();\n"
    "        return new Response('ok');\n"
    "    }\n"
    "    return new Response('not found', { status: 404 });\n"
    "  },\n"
    "};\n";

static const char quiet_js[] = "export default { fetch() { return new Response('quiet'); } };\n";

typedef struct {
  origin_t origin;
  test_server_t s;
  int quiet_timeout_ms; /* what a quiet request may take: 10x its idle latency or more */
  int stopped;
} env_t;

static double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* GET path with Host host on a new connection, answered within timeout_ms. */
static int get(int port, const char *host, const char *path, int timeout_ms, test_http_resp_t *r) {
  test_http_conn_t c;
  char raw[1024];
  int rc = test_http_conn_open(&c, port);
  if (rc < 0) return rc;
  snprintf(raw, sizeof raw, "GET %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n", path, host);
  rc = test_http_conn_send_str(&c, raw);
  if (rc == 0) rc = test_http_conn_read(&c, r, 0, timeout_ms);
  test_http_conn_close(&c);
  return rc;
}

/* The quiet tenant answers n requests, each within e->quiet_timeout_ms. */
static int quiet_answers(const env_t *e, int n) {
  for (int i = 0; i < n; i++) {
    test_http_resp_t r = {0};
    double t0 = now_ms();
    int rc = get(e->s.port, "quiet.test", "/", e->quiet_timeout_ms, &r);
    double took = now_ms() - t0;
    int ok = rc == 0 && r.status == 200 && strcmp(r.body, "quiet") == 0;
    test_http_resp_free(&r);
    if (!ok) {
      printf("  quiet request %d: rc=%d after %.0f ms (allowed %d ms)\n", i, rc, took, e->quiet_timeout_ms);
      return 0;
    }
  }
  return 1;
}

static int start(env_t *e, unsigned cpu_ms) {
  memset(e, 0, sizeof *e);
  if (origin_start(&e->origin) != 0 || test_server_dir(&e->s) < 0) return -1;
  char attack[512], quiet[512], cfg[4096];
  snprintf(attack, sizeof attack, "%s", test_server_write(&e->s, "attack/attack.js", attack_js));
  snprintf(quiet, sizeof quiet, "%s", test_server_write(&e->s, "quiet/quiet.js", quiet_js));
  snprintf(cfg, sizeof cfg,
           "{\"listen\": {\"port\": 0}, \"threads\": 1, \"workers\": ["
           "{\"name\": \"attack\", \"main\": \"%s\", \"routes\": [\"attack.test/*\"],"
           " \"limits\": {\"cpu_ms\": %u}, \"vars\": {\"ORIGIN\": \"http://127.0.0.1:%d\"},"
           " \"allow_origins\": [\"http://127.0.0.1:%d\"]},"
           "{\"name\": \"quiet\", \"main\": \"%s\", \"routes\": [\"quiet.test/*\"]}]}",
           attack, cpu_ms, e->origin.port, e->origin.port, quiet);
  if (test_server_serve_config(&e->s, cfg) < 0) return -1;
  /* The quiet tenant's idle latency, after a first (cold) request. */
  double worst = 0;
  for (int i = 0; i < 6; i++) {
    test_http_resp_t r = {0};
    double t0 = now_ms();
    int rc = get(e->s.port, "quiet.test", "/", 5000, &r);
    double took = now_ms() - t0;
    test_http_resp_free(&r);
    if (rc < 0) return -1;
    if (i && took > worst) worst = took;
  }
  /* 10x idle at the least; a floor for a busy machine (a frozen loop never answers). */
  e->quiet_timeout_ms = (int)(worst * 10) > 2000 ? (int)(worst * 10) : 2000;
  printf("  quiet tenant idle: %.2f ms at worst; allowed under attack: %d ms\n", worst, e->quiet_timeout_ms);
  return 0;
}

/* utime + stime of the server process, in ms, or -1. */
static long cpu_ms_of(pid_t pid) {
  char path[64], buf[2048];
  snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
  FILE *f = fopen(path, "r");
  if (!f) return -1;
  size_t n = fread(buf, 1, sizeof buf - 1, f);
  fclose(f);
  buf[n] = 0;
  const char *p = strrchr(buf, ')'); /* after the command name, which may hold spaces */
  unsigned long utime = 0, stime = 0;
  if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &utime, &stime) != 2) return -1;
  long hz = sysconf(_SC_CLK_TCK);
  return (long)((utime + stime) * 1000 / (unsigned long)(hz > 0 ? hz : 100));
}

/* The server's CPU time stops growing: within 15 s, one whole second in
 * which it used less than 150 ms (an idle server uses ~0; a tenant's
 * leftover work that is not stopped burns a whole core). */
static int cpu_settles(const test_server_t *s) {
  long last = cpu_ms_of(s->pid);
  for (int i = 0; i < 15; i++) {
    usleep(1000 * 1000);
    long now = cpu_ms_of(s->pid);
    if (now < 0 || last < 0) return 0;
    printf("  server CPU: +%ld ms in 1 s\n", now - last);
    if (now - last < 150) return 1;
    last = now;
  }
  return 0;
}

/* SIGTERM stops the server, by itself and promptly. */
static int stops_promptly(env_t *e) {
  e->stopped = 1;
  double t0 = now_ms();
  int status = test_server_stop(&e->s);
  double took = now_ms() - t0;
  printf("  SIGTERM: exit status %d after %.0f ms\n", status, took);
  int origin = origin_stop(&e->origin);
  return status == 0 && took < 10000 && origin == 0;
}

/* A failed test still stops its server (one that spins would burn a core for ever). */
static void stop_after_failure(env_t *e) {
  if (e->stopped) return;
  test_server_stop(&e->s);
  origin_stop(&e->origin);
}

static void background_interval_0_while_awaiting_a_timeout_cannot_freeze_the_loop_body(env_t *e) {
  /* The attack, on its own connection, and the neighbour while it runs. */
  test_http_conn_t c;
  CHECK(test_http_conn_open(&c, e->s.port) == 0);
  CHECK(test_http_conn_send_str(&c, "GET /interval0 HTTP/1.1\r\nHost: attack.test\r\nConnection: close\r\n\r\n") == 0);
  CHECK_MSG(quiet_answers(e, 10), "the neighbour waited behind setInterval(0)");
  test_http_resp_t r = {0};
  int rc = test_http_conn_read(&c, &r, 0, 10000);
  test_http_conn_close(&c);
  printf("  /interval0 -> rc=%d %d %s\n", rc, r.status, r.body ? r.body : "");
  /* It ends: answered after its timeout, or cut at its CPU limit. */
  CHECK_EQ_INT(rc, 0);
  CHECK_MSG(r.status == 200 || r.status == 503, "status %d", r.status);
  if (r.status == 200) CHECK_EQ_STR(r.body, "done");
  test_http_resp_free(&r);
  /* Its interval was cancelled with it: nothing keeps running. */
  CHECK_MSG(cpu_settles(&e->s), "the server's CPU time kept growing after the request ended");
  CHECK(quiet_answers(e, 3));
  CHECK_MSG(stops_promptly(e), "SIGTERM did not stop the server promptly");
}

TEST(background_interval_0_while_awaiting_a_timeout_cannot_freeze_the_loop) {
  env_t e;
  CHECK(start(&e, 50) == 0);
  background_interval_0_while_awaiting_a_timeout_cannot_freeze_the_loop_body(&e);
  stop_after_failure(&e);
}

static void background_interval_after_the_response_is_cancelled_with_its_request_body(env_t *e) {
  test_http_resp_t r = {0};
  /* Another request of the same tenant stays in flight: it must not keep
   * the finished request's interval alive. */
  test_http_conn_t hold;
  CHECK(test_http_conn_open(&hold, e->s.port) == 0);
  CHECK(test_http_conn_send_str(&hold,
                                "GET /hold?ms=1500 HTTP/1.1\r\nHost: attack.test\r\nConnection: close\r\n\r\n") == 0);
  usleep(50 * 1000);
  CHECK(get(e->s.port, "attack.test", "/tick", 5000, &r) == 0);
  CHECK_EQ_STR(r.body, "armed");
  test_http_resp_free(&r);
  usleep(200 * 1000);
  CHECK(get(e->s.port, "attack.test", "/ticks", e->quiet_timeout_ms, &r) == 0);
  long first = strtol(r.body, NULL, 10);
  test_http_resp_free(&r);
  CHECK(quiet_answers(e, 5));
  usleep(300 * 1000);
  CHECK(get(e->s.port, "attack.test", "/ticks", e->quiet_timeout_ms, &r) == 0);
  long second = strtol(r.body, NULL, 10);
  test_http_resp_free(&r);
  printf("  ticks after the response: %ld, then %ld\n", first, second);
  CHECK_MSG(second == first, "the interval ticked on after its request finished (%ld -> %ld)", first, second);
  CHECK(test_http_conn_read(&hold, &r, 0, 10000) == 0);
  CHECK_EQ_STR(r.body, "held");
  test_http_resp_free(&r);
  test_http_conn_close(&hold);
  /* With waitUntil work that never settles, the request lives on after its
   * response, and so does its interval, but every tick is charged to it:
   * it is cut at its CPU limit (200 ms) and the interval with it. */
  CHECK(get(e->s.port, "attack.test", "/tick?forever", 5000, &r) == 0);
  CHECK_EQ_STR(r.body, "armed");
  test_http_resp_free(&r);
  CHECK(quiet_answers(e, 10));
  CHECK_MSG(cpu_settles(&e->s), "the interval kept burning CPU after its request's CPU limit");
  CHECK_MSG(test_server_wait_output(&e->s, "CPU time limit", 5000), "no CPU limit cut in the tenant log");
  CHECK(quiet_answers(e, 3));
  CHECK_MSG(stops_promptly(e), "SIGTERM did not stop the server promptly");
}

TEST(background_interval_after_the_response_is_cancelled_with_its_request) {
  env_t e;
  CHECK(start(&e, 200) == 0);
  background_interval_after_the_response_is_cancelled_with_its_request_body(&e);
  stop_after_failure(&e);
}

static void background_refused_fetch_catch_fetch_after_the_response_is_cancelled_or_bounded_body(env_t *e) {
  test_http_resp_t r = {0};
  /* With nothing to keep its request alive, the chain dies with it. */
  CHECK(get(e->s.port, "attack.test", "/refused", 5000, &r) == 0);
  CHECK_EQ_INT(r.status, 200);
  test_http_resp_free(&r);
  CHECK_MSG(quiet_answers(e, 10), "the refused-fetch chain starved the loop");
  CHECK_MSG(cpu_settles(&e->s), "the refused-fetch chain went on after its request finished");
  /* Inside waitUntil it is the request's own work: it stops at the
   * request's 50 subrequests ("Too many subrequests"), and what it then
   * spins on is cut at the request's CPU limit. */
  CHECK(get(e->s.port, "attack.test", "/refused?wait", 5000, &r) == 0);
  CHECK_EQ_INT(r.status, 200);
  test_http_resp_free(&r);
  CHECK_MSG(quiet_answers(e, 10), "the refused-fetch chain in waitUntil starved the loop");
  CHECK_MSG(cpu_settles(&e->s), "the refused-fetch chain in waitUntil was never cut");
  CHECK_MSG(test_server_wait_output(&e->s, "CPU time limit", 5000), "no CPU limit cut in the tenant log");
  CHECK(quiet_answers(e, 3));
  CHECK_MSG(stops_promptly(e), "SIGTERM did not stop the server promptly");
}

TEST(background_refused_fetch_catch_fetch_after_the_response_is_cancelled_or_bounded) {
  env_t e;
  CHECK(start(&e, 50) == 0);
  background_refused_fetch_catch_fetch_after_the_response_is_cancelled_or_bounded_body(&e);
  stop_after_failure(&e);
}

/* Waits until the origin's count has not moved for 500 ms; returns it. */
static int origin_settled(origin_t *o) {
  int last = -1;
  for (int i = 0; i < 100; i++) {
    int now = atomic_load(&o->requests);
    if (now == last) return now;
    last = now;
    usleep(500 * 1000);
  }
  return last;
}

static void background_150_subrequests_after_the_response_stay_under_the_request_limit_body(env_t *e) {
  test_http_resp_t r = {0};
  /* A floating chain of fetches (no waitUntil): cancelled with its request. */
  CHECK(get(e->s.port, "attack.test", "/fanout-after", 5000, &r) == 0);
  CHECK_EQ_STR(r.body, "ok");
  test_http_resp_free(&r);
  CHECK(quiet_answers(e, 5));
  int floating = origin_settled(&e->origin);
  printf("  floating chain: %d subrequests reached the origin\n", floating);
  CHECK_MSG(floating <= SUBREQUESTS, "%d subrequests of one request reached the origin", floating);
  /* In waitUntil: the same request, the same limit. */
  CHECK(get(e->s.port, "attack.test", "/fanout-after?wait", 5000, &r) == 0);
  CHECK_EQ_STR(r.body, "ok");
  test_http_resp_free(&r);
  CHECK(quiet_answers(e, 5));
  CHECK_MSG(test_server_wait_output(&e->s, "fanout-after ok=", 20000), "the waitUntil work never ended");
  int waited = origin_settled(&e->origin) - floating;
  printf("  waitUntil chain: %d subrequests reached the origin\n", waited);
  CHECK_MSG(waited <= SUBREQUESTS, "%d subrequests of one request reached the origin", waited);
  CHECK_MSG(waited > 0, "the waitUntil work made no subrequest at all");
  char *out = test_server_output(&e->s);
  CHECK_MSG(strstr(out, "Too many subrequests"), "no \"Too many subrequests\" in the output:\n%s", out);
  free(out);
  CHECK(cpu_settles(&e->s));
  CHECK(quiet_answers(e, 3));
  CHECK_MSG(stops_promptly(e), "SIGTERM did not stop the server promptly");
}

/* A first fetch() costs a few ms of CPU (more under ASan): 2 s leave room for 50. */
TEST(background_150_subrequests_after_the_response_stay_under_the_request_limit) {
  env_t e;
  CHECK(start(&e, 2000) == 0);
  background_150_subrequests_after_the_response_stay_under_the_request_limit_body(&e);
  stop_after_failure(&e);
}

static void background_120_subrequests_from_one_timer_count_against_its_request_body(env_t *e) {
  /* A second request in flight while the timer fires: the timer is still
   * its own request's, not "some request". */
  test_http_conn_t hold;
  CHECK(test_http_conn_open(&hold, e->s.port) == 0);
  CHECK(test_http_conn_send_str(&hold,
                                "GET /hold?ms=1500 HTTP/1.1\r\nHost: attack.test\r\nConnection: close\r\n\r\n") == 0);
  usleep(50 * 1000);
  test_http_resp_t r = {0};
  CHECK(get(e->s.port, "attack.test", "/timer-fanout", 5000, &r) == 0);
  CHECK_EQ_STR(r.body, "ok");
  test_http_resp_free(&r);
  CHECK(quiet_answers(e, 5));
  CHECK_MSG(test_server_wait_output(&e->s, "timer-fanout ok=", 20000), "the timer's fan-out never ended");
  int n = origin_settled(&e->origin);
  char *out = test_server_output(&e->s);
  const char *line = strstr(out, "timer-fanout ok=");
  printf("  %.60s\n  the origin saw %d subrequests\n", line ? line : "", n);
  free(out);
  CHECK_MSG(n <= SUBREQUESTS, "%d subrequests of one request reached the origin", n);
  CHECK(n > 0);
  CHECK(test_http_conn_read(&hold, &r, 0, 10000) == 0);
  CHECK_EQ_STR(r.body, "held");
  test_http_resp_free(&r);
  test_http_conn_close(&hold);
  CHECK(cpu_settles(&e->s));
  CHECK(quiet_answers(e, 3));
  CHECK_MSG(stops_promptly(e), "SIGTERM did not stop the server promptly");
}

TEST(background_120_subrequests_from_one_timer_count_against_its_request) {
  env_t e;
  CHECK(start(&e, 2000) == 0);
  background_120_subrequests_from_one_timer_count_against_its_request_body(&e);
  stop_after_failure(&e);
}

/* Code that runs for no live request (its request finished) can start no
 * work: fetch() rejects with a TypeError that says so, a timer is dropped. */
static void background_work_of_a_finished_request_cannot_start_body(env_t *e) {
  test_http_resp_t r = {0};
  CHECK(get(e->s.port, "attack.test", "/late", 5000, &r) == 0);
  CHECK_EQ_STR(r.body, "ok");
  test_http_resp_free(&r);
  CHECK_MSG(test_server_wait_output(&e->s, "late work over", 5000), "the late work never ran");
  usleep(200 * 1000);
  char *out = test_server_output(&e->s);
  int refused = strstr(out, "late fetch: TypeError: fetch(): no request in flight") != NULL;
  int fired = strstr(out, "late timer fired") != NULL, went = strstr(out, "late fetch went out") != NULL;
  if (!refused || fired || went) printf("%s\n", out);
  free(out);
  CHECK_MSG(refused && !went, "a finished request's fetch() was not refused");
  CHECK_MSG(!fired, "a finished request's timer fired");
  CHECK_EQ_INT(atomic_load(&e->origin.requests), 0);
  CHECK_MSG(stops_promptly(e), "SIGTERM did not stop the server promptly");
}

TEST(background_work_of_a_finished_request_cannot_start) {
  env_t e;
  CHECK(start(&e, 1000) == 0);
  background_work_of_a_finished_request_cannot_start_body(&e);
  stop_after_failure(&e);
}
