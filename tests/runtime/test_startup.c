/* tests/runtime/test_startup.c - starting isolde: the base snapshot mapped
 * from the file the build made (a server that cannot map it says why and
 * never listens), and a worker's top-level code under its own start-up
 * limit rather than the per-request one. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "http/http_client.h"
#include "server_proc.h"
#include "test.h"

/* The snapshot the binary under test maps: isolde.snap beside ISOLDE_BIN. */
static const char *real_snapshot(void) {
  static char path[PATH_MAX];
  const char *bin = getenv("ISOLDE_BIN");
  snprintf(path, sizeof(path), "%s", bin && bin[0] ? bin : "build/release/isolde");
  char *slash = strrchr(path, '/');
  if (slash)
    snprintf(slash + 1, sizeof(path) - (size_t)(slash + 1 - path), "isolde.snap");
  else
    snprintf(path, sizeof(path), "isolde.snap");
  return path;
}

/* Copies the first `keep` bytes of from (all when keep < 0) to to, with the
 * byte at flip_at (if >= 0) changed. */
static int copy_file(const char *from, const char *to, long keep, long flip_at) {
  FILE *in = fopen(from, "rb"), *out = fopen(to, "wb");
  int ok = in && out;
  static char buf[1 << 16];
  long off = 0;
  for (size_t n; ok && (n = fread(buf, 1, sizeof(buf), in)) > 0; off += (long)n) {
    if (keep >= 0 && off + (long)n > keep) n = (size_t)(keep - off);
    if (flip_at >= off && flip_at < off + (long)n) buf[flip_at - off] ^= 1;
    ok = fwrite(buf, 1, n, out) == n;
    if (keep >= 0 && off + (long)n >= keep) break;
  }
  if (in) fclose(in);
  if (out && fclose(out) != 0) ok = 0;
  return ok ? 0 : -1;
}

/* Runs `isolde args` with ISOLDE_SNAPSHOT=snap; it must exit 1 saying
 * `want`, never having listened. */
static int refuses_to_start(const char *snap, const char *const *args, const char *want) {
  setenv("ISOLDE_SNAPSHOT", snap, 1);
  test_isolde_result_t r;
  int status = test_isolde_exec(args, &r);
  unsetenv("ISOLDE_SNAPSHOT");
  int ok = status == 1 && strstr(r.err, want) && !strstr(r.out, "listening") && !strstr(r.err, "listening");
  if (!ok) printf("  %s %s: exit %d\n  stdout: %s\n  stderr: %s\n", args[0], snap, status, r.out, r.err);
  test_isolde_result_free(&r);
  return ok;
}

TEST(startup_without_its_base_snapshot_exits_and_never_listens) {
  test_server_t s = {0};
  CHECK(test_server_dir(&s) == 0);
  char worker[512], config[512], script[512], bad[512], port[16];
  snprintf(worker, sizeof(worker), "%s",
           test_server_write(&s, "w.js", "export default { fetch() { return new Response('hi'); } };\n"));
  snprintf(script, sizeof(script), "%s", test_server_write(&s, "s.js", "console.log('ran');\n"));
  snprintf(config, sizeof(config), "%s",
           test_server_write(&s, "isolde.json", "{\"workers\": [{\"name\": \"w\", \"main\": \"w.js\"}]}"));
  snprintf(bad, sizeof(bad), "%s/bad.snap", s.dir);
  /* A port nothing listens on: the refused server must leave it so. */
  test_http_conn_t probe;
  snprintf(port, sizeof(port), "%d", 1 + (int)(getpid() % 20000) + 30000);
  const char *dev[] = {"dev", worker, "--port", port, NULL};
  const char *serve[] = {"serve", "--config", config, NULL};
  const char *run[] = {"run", script, NULL};

  /* Sanity: with the real snapshot, run works. */
  char *out = NULL;
  CHECK_EQ_INT(test_isolde_run(run, &out), 0);
  CHECK_MSG(strstr(out, "ran"), "output: %s", out);
  free(out);

  CHECK(refuses_to_start("/nonexistent/isolde.snap", dev, "cannot start: /nonexistent/isolde.snap: No such file"));
  CHECK(refuses_to_start("/nonexistent/isolde.snap", serve, "No such file"));
  CHECK(refuses_to_start("/nonexistent/isolde.snap", run, "No such file"));
  /* Cut short, as by a full disk. */
  CHECK(copy_file(real_snapshot(), bad, 100000, -1) == 0);
  CHECK(refuses_to_start(bad, dev, "truncated or damaged snapshot"));
  CHECK(refuses_to_start(bad, serve, "truncated or damaged snapshot"));
  /* Made by another build: the build id (after the magic, version and
   * page size) differs in one byte. */
  CHECK(copy_file(real_snapshot(), bad, -1, 16) == 0);
  CHECK(refuses_to_start(bad, dev, "made by another build"));
  CHECK(refuses_to_start(bad, serve, "made by another build"));
  /* Not a snapshot at all. */
  CHECK(refuses_to_start(worker, dev, "not an Isolde snapshot file"));
  CHECK(test_http_conn_open(&probe, atoi(port)) < 0);
  CHECK_EQ_INT(test_server_stop(&s), -1);
}

TEST(startup_top_level_code_runs_under_the_startup_limit) {
  test_server_t s = {0};
  CHECK(test_server_dir(&s) == 0);
  /* About 120 ms of CPU at load on an idle machine (a loop that leaves
   * nothing on the heap), under a start-up limit of 4 s, against a
   * per-request limit of 40 ms that the handler keeps well within: its
   * requests take 1.2-1.8 ms on an idle machine, under ASan too. (The
   * 400 ms default start-up limit cannot keep ten times a load that is
   * itself ten times a request.) */
  char slow[512], spin[512];
  snprintf(slow, sizeof(slow), "%s",
           test_server_write(&s, "slow.js",
                             "let sum = 0;\n"
                             "for (let i = 0; i < 1000000; i++) sum += (i * 7919) % 1000;\n"
                             "export default { fetch() { return new Response('sum ' + sum); } };\n"));
  const char *args[] = {"dev", slow, "--port", "0", "--threads", "1", "--cpu-ms", "40", "--startup-ms", "4000", NULL};
  CHECK(test_server_start(&s, args) == 0);
  test_http_resp_t r = {0};
  CHECK(test_http_request(s.port, "GET / HTTP/1.1\r\nHost: x\r\n\r\n", &r) == 0);
  CHECK_EQ_INT(r.status, 200);
  CHECK_EQ_STR(r.body, "sum 499500000");
  test_http_resp_free(&r);
  CHECK_EQ_INT(test_server_stop(&s), 0);

  /* Top-level code that never ends is stopped at the start-up limit and
   * named as such. */
  CHECK(test_server_dir(&s) == 0);
  snprintf(spin, sizeof(spin), "%s",
           test_server_write(&s, "spin.js",
                             "while (true) {}\n"
                             "export default { fetch() { return new Response('never'); } };\n"));
  const char *dev_spin[] = {"dev", spin, "--port", "0", "--startup-ms", "60", NULL};
  char *out = NULL;
  CHECK_EQ_INT(test_isolde_run(dev_spin, &out), 1);
  CHECK_MSG(strstr(out, "spin.js: the top-level code exceeded the start-up CPU limit of 60 ms (limits.startup_ms)"),
            "output: %s", out);
  free(out);

  /* In a config: the spinning tenant fails to load with that reason and
   * answers 503, its neighbour (limits.startup_ms raised for its own slow
   * start) serves. Each has a folder of its own: tenants' module folders
   * may not overlap. */
  test_server_write(&s, "spin/spin.js",
                    "while (true) {}\n"
                    "export default { fetch() { return new Response('never'); } };\n");
  test_server_write(&s, "slow/slow.js",
                    "let sum = 0;\n"
                    "for (let i = 0; i < 1000000; i++) sum += (i * 7919) % 1000;\n"
                    "export default { fetch() { return new Response('sum ' + sum); } };\n");
  CHECK(test_server_serve_config(&s,
                                 "{\"listen\": {\"port\": 0}, \"threads\": 1, \"workers\": ["
                                 "{\"name\": \"spin\", \"main\": \"spin/spin.js\", \"routes\": [\"spin.localhost/*\"],"
                                 " \"limits\": {\"startup_ms\": 60}},"
                                 "{\"name\": \"slow\", \"main\": \"slow/slow.js\", \"routes\": [\"slow.localhost/*\"],"
                                 " \"limits\": {\"cpu_ms\": 40, \"startup_ms\": 4000}}]}") == 0);
  CHECK(test_server_wait_output(&s, "exceeded the start-up CPU limit of 60 ms", 5000));
  CHECK(test_http_request(s.port, "GET / HTTP/1.1\r\nHost: slow.localhost\r\n\r\n", &r) == 0);
  CHECK_EQ_INT(r.status, 200);
  CHECK_EQ_STR(r.body, "sum 499500000");
  test_http_resp_free(&r);
  CHECK(test_http_request(s.port, "GET / HTTP/1.1\r\nHost: spin.localhost\r\n\r\n", &r) == 0);
  CHECK_EQ_INT(r.status, 503);
  test_http_resp_free(&r);
  CHECK_EQ_INT(test_server_stop(&s), 0);
}

TEST(startup_runs_no_request_and_learns_the_hot_set_from_the_first) {
  test_server_t s = {0};
  CHECK(test_server_dir(&s) == 0);
  char worker[512];
  snprintf(worker, sizeof(worker), "%s",
           test_server_write(&s, "w.js",
                             "let served = 0;\n"
                             "export default { fetch() { return new Response('served ' + ++served); } };\n"));
  const char *args[] = {"dev", worker, "--port", "0", "--threads", "1", NULL};
  CHECK(test_server_start(&s, args) == 0);
  /* Loading ran the script only: no request, so nothing learned yet. */
  char *out = test_server_output(&s);
  CHECK_MSG(out && !strstr(out, "event=hot_set"), "output: %s", out ? out : "");
  free(out);
  test_http_resp_t r = {0};
  CHECK(test_http_request(s.port, "GET / HTTP/1.1\r\nHost: x\r\n\r\n", &r) == 0);
  CHECK_EQ_STR(r.body, "served 1"); /* the handler had never run before */
  test_http_resp_free(&r);
  CHECK(test_server_wait_output(&s, "runtime tenant=w event=hot_set pages=", 5000));
  CHECK(test_server_wait_output(&s, "status=OK", 5000));
  CHECK(test_http_request(s.port, "GET / HTTP/1.1\r\nHost: x\r\n\r\n", &r) == 0);
  CHECK_EQ_STR(r.body, "served 2");
  test_http_resp_free(&r);
  out = test_server_output(&s);
  const char *first = out ? strstr(out, "event=hot_set") : NULL;
  CHECK_MSG(first && !strstr(first + 1, "event=hot_set"), "learned more than once: %s", out ? out : "");
  /* pages= is a positive count. */
  const char *p = strstr(first, "pages=");
  CHECK(p && atoi(p + 6) > 0);
  free(out);
  CHECK_EQ_INT(test_server_stop(&s), 0);
}
