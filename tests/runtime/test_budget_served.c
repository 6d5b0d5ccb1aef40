/*
 * test_budget_served.c - memory_budget_mb is one number for the process.
 *
 * The attack: a host configured for a budget B, run with many HTTP loops
 * (`threads: 4`, or 0 = one per CPU), keeping B of idle isolates per loop,
 * so that tenants served once each, spread over the loops, hold N times B.
 * The server here is a real `isolde serve`; its tenants each grow their
 * isolate by the same amount on their first request, and every eviction is
 * a host log line ("runtime tenant=.. event=evict cost_kb=.."), so the
 * isolates alive at the end are the tenants served minus the evictions.
 * The process's RSS is measured too: it must follow the live isolates, not
 * the loops.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "http/http_client.h"
#include "server_proc.h"
#include "test.h"

/* Each tenant, on its first request, keeps 14 MiB (one byte written per
 * page, so every page is resident): its isolate grows by ~6 MiB past the
 * free heap of its snapshot (its cost), and its RSS by at least 14 MiB. A
 * module-level counter shows whether a request found the isolate alive. */
static const char GROW_JS[] =
    "let n = 0;\n"
    "let keep = null;\n"
    "export default { fetch(request, env) {\n"
    "  if (!keep) {\n"
    "    keep = new Uint8Array(14 << 20);\n"
    "    for (let i = 0; i < keep.length; i += 4096) keep[i] = 1;\n"
    "  }\n"
    "  return new Response(env.NAME + ' ' + String(++n));\n"
    "} };\n";

#define TENANTS 12
#define BUDGET_MB 20
#define KEEP_KB (14 << 10) /* what one live tenant holds resident, at least */

static int start(test_server_t *s, unsigned threads) {
  if (test_server_dir(s) < 0 || !test_server_write(s, "grow/grow.js", GROW_JS)) return -1;
  char json[8192];
  size_t o = (size_t)snprintf(json, sizeof(json),
                              "{\"listen\": {\"port\": 0}, \"threads\": %u, \"memory_budget_mb\": %d, "
                              "\"workers\": [",
                              threads, BUDGET_MB);
  for (int i = 0; i < TENANTS; i++)
    o += (size_t)snprintf(json + o, sizeof(json) - o,
                          "%s{\"name\": \"t%d\", \"main\": \"grow/grow.js\", \"routes\": [\"t%d.test/*\"], "
                          "\"vars\": {\"NAME\": \"t%d\"}, \"limits\": {\"cpu_ms\": 2000}}",
                          i ? ", " : "", i, i, i);
  snprintf(json + o, sizeof(json) - o, "]}");
  return test_server_serve_config(s, json);
}

/* GET / of tenant i on a new connection (so the kernel spreads them over
 * the loops); its count, or -1 after printing what came. */
static int count_of(const test_server_t *s, int i) {
  char raw[256], want[32];
  snprintf(raw, sizeof(raw), "GET / HTTP/1.1\r\nHost: t%d.test\r\nConnection: close\r\n\r\n", i);
  snprintf(want, sizeof(want), "t%d ", i);
  test_http_resp_t r = {0};
  int rc = test_http_request(s->port, raw, &r);
  int n = -1;
  if (rc == 0 && r.status == 200 && r.body && strncmp(r.body, want, strlen(want)) == 0) n = atoi(r.body + strlen(want));
  if (n < 1) printf("  t%d: got %d \"%s\" (read %d)\n", i, r.status, r.body ? r.body : "", rc);
  test_http_resp_free(&r);
  return n;
}

/* Evictions logged so far, and the cost of the last one in KiB. */
static int evictions(const test_server_t *s, long *cost_kb) {
  char *out = test_server_output(s);
  int n = 0;
  for (const char *p = out; p && (p = strstr(p, " event=evict cost_kb=")) != NULL; p++) {
    n++;
    *cost_kb = atol(p + strlen(" event=evict cost_kb="));
  }
  free(out);
  return n;
}

/* Waits up to 20 s for at least `want` evictions to be logged (each is
 * logged once its isolate is freed, after the response that caused it,
 * through the log writer); the number logged by then. */
static int wait_evictions(const test_server_t *s, int want, long *cost_kb) {
  int n = evictions(s, cost_kb);
  for (int waited = 0; n < want && waited < 20000; waited += 20) {
    usleep(20000);
    n = evictions(s, cost_kb);
  }
  return n;
}

typedef struct {
  int live;            /* isolates alive after each tenant was served once */
  long cost_kb;        /* what one costs against the budget */
  long grown_kb;       /* RSS after that, minus RSS before the first request */
  int second[TENANTS]; /* each tenant's count when served again */
} run_t;

/* Serves every tenant once, then once again, with `threads` loops. */
static int run(unsigned threads, run_t *out) {
  memset(out, 0, sizeof(*out));
  test_server_t s = {0};
  if (start(&s, threads) < 0) return -1;
  int ok = 1;
  long before = test_server_rss_kb(&s);
  for (int i = 0; i < TENANTS && ok; i++) ok = count_of(&s, i) == 1;
  int evicted = wait_evictions(&s, 1, &out->cost_kb);
  if (evicted > 0 && out->cost_kb > 0) {
    long fit = (BUDGET_MB << 10) / out->cost_kb; /* isolates the budget holds */
    evicted = wait_evictions(&s, TENANTS - (int)fit, &out->cost_kb);
  }
  out->live = TENANTS - evicted;
  out->grown_kb = test_server_rss_kb(&s) - before;
  /* Evicted tenants come back as they were loaded: same answer, with their
   * module state fresh. A tenant still alive on this connection's loop goes
   * on counting. */
  for (int i = 0; i < TENANTS && ok; i++) ok = (out->second[i] = count_of(&s, i)) > 0;
  printf("  threads %u: %d of %d alive, %ld KiB each against %d MiB; RSS +%ld KiB\n", threads, out->live, TENANTS,
         out->cost_kb, BUDGET_MB, out->grown_kb);
  int st = test_server_stop(&s);
  return ok && st == 0 ? 0 : -1;
}

TEST(budget_is_per_process_whatever_the_number_of_loops) {
  run_t one, four, per_cpu;
  CHECK(run(1, &one) == 0);
  CHECK(run(4, &four) == 0);
  CHECK(run(0, &per_cpu) == 0);
  /* Evictions happened, each of one tenant's isolate. */
  CHECK_MSG(one.cost_kb > 1024 && one.cost_kb < (BUDGET_MB << 10) / 2, "cost %ld KiB", one.cost_kb);
  long fit = (BUDGET_MB << 10) / one.cost_kb; /* isolates the budget holds */
  /* One loop keeps exactly what fits. */
  CHECK_EQ_INT(one.live, (int)fit);
  /* Four loops, or one per CPU, share that same budget: never more alive
   * (the process's total stays under it), and about as many (two loops
   * trimming at the same moment may each free one more than needed). */
  CHECK_MSG(four.live <= fit && four.live >= fit - 2, "threads 4: %d alive, %ld fit", four.live, fit);
  CHECK_MSG(per_cpu.live <= fit && per_cpu.live >= fit - 2, "threads 0: %d alive, %ld fit", per_cpu.live, fit);
  CHECK(four.live * four.cost_kb <= BUDGET_MB << 10);
  /* And RSS follows: N * 14 MiB had every loop kept its own budget's worth;
   * here a few tenants' worth, as with one loop. */
  CHECK_MSG(four.grown_kb <= one.grown_kb + 2 * KEEP_KB, "RSS +%ld KiB with 4 loops, +%ld with 1", four.grown_kb,
            one.grown_kb);
  CHECK_MSG(per_cpu.grown_kb <= one.grown_kb + 2 * KEEP_KB, "RSS +%ld KiB per CPU, +%ld with 1", per_cpu.grown_kb,
            one.grown_kb);
  CHECK(four.grown_kb < TENANTS * KEEP_KB / 2);
}

TEST(budget_evicted_tenants_answer_the_same_with_fresh_state) {
  run_t one, four;
  CHECK(run(1, &one) == 0);
  /* One loop: served again in the same order, each tenant finds its
   * isolate evicted (least recently used first) and starts afresh, count 1;
   * the last `live` of the first round were alive until then. */
  for (int i = 0; i < TENANTS; i++) CHECK_MSG(one.second[i] == 1, "t%d counted %d", i, one.second[i]);
  CHECK(run(4, &four) == 0);
  /* Four loops: a tenant finds an isolate alive only on the loop that
   * served it before, so 1 (fresh) or 2; never anything else. */
  for (int i = 0; i < TENANTS; i++)
    CHECK_MSG(four.second[i] == 1 || four.second[i] == 2, "t%d counted %d", i, four.second[i]);
}
