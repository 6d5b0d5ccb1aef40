/* tests/runtime/test_tenant_files.c - a tenant never reads another's files,
 * over a real `isolde serve`. A worker's modules are confined to the folder
 * of its main script and below, so two tenants must never share that
 * folder or nest one inside the other: such a config is refused at start
 * (naming both tenants and both folders) and nothing listens. Tenants in
 * sibling folders load, and one cannot import() the other's modules by any
 * spelling (relative, absolute host path, a symlink into the other's
 * folder). */
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "http/http_client.h"
#include "runtime/server_proc.h"
#include "test.h"

static const char *const hello_js = "export default { fetch() { return new Response('hello'); } };\n";

/* Reads fd from its start; "" if it cannot. */
static void read_back(int fd, char *buf, size_t cap) {
  ssize_t n = fd >= 0 ? pread(fd, buf, cap - 1, 0) : -1;
  buf[n > 0 ? n : 0] = 0;
}

/* `isolde serve --config` on json (written to s->dir/isolde.json, listening
 * on `port`): 1 if it exits 1 within 20 s without listening, having said
 * every one of the NULL-terminated `want` strings on stderr. A server that
 * does start (the check gone) is killed, and the test fails rather than
 * hangs. */
static int refused(test_server_t *s, const char *json, int port, const char *const *want) {
  char path[512], tmp_out[] = "/tmp/isolde-test-XXXXXX", tmp_err[] = "/tmp/isolde-test-XXXXXX";
  snprintf(path, sizeof(path), "%s", test_server_write(s, "isolde.json", json));
  int out = mkostemp(tmp_out, O_CLOEXEC), err = mkostemp(tmp_err, O_CLOEXEC);
  if (out >= 0) unlink(tmp_out);
  if (err >= 0) unlink(tmp_err);
  const char *bin = getenv("ISOLDE_BIN");
  fflush(stdout);
  pid_t pid = out >= 0 && err >= 0 ? fork() : -1;
  if (pid == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    dup2(out, 1);
    dup2(err, 2);
    const char *argv[] = {bin && *bin ? bin : "build/release/isolde", "serve", "--config", path, NULL};
    execv(argv[0], (char *const *)argv);
    _exit(127);
  }
  int st = 0, status = -1;
  static char o[8192], e[8192];
  for (int waited = 0; pid > 0 && waited <= 20000; waited += 10) {
    if (waitpid(pid, &st, WNOHANG) == pid) {
      status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
      break;
    }
    read_back(out, o, sizeof(o));
    if (strstr(o, "listening")) break; /* it started: no need to wait longer */
    struct timespec ts = {0, 10 * 1000000L};
    nanosleep(&ts, NULL);
  }
  if (pid > 0 && status == -1) {
    kill(pid, SIGKILL);
    waitpid(pid, &st, 0);
  }
  read_back(out, o, sizeof(o));
  read_back(err, e, sizeof(e));
  if (out >= 0) close(out);
  if (err >= 0) close(err);
  int ok = status == 1 && !strstr(o, "listening") && !strstr(e, "listening");
  for (const char *const *w = want; ok && *w; w++) ok = strstr(e, *w) != NULL;
  test_http_conn_t probe;
  if (test_http_conn_open(&probe, port) == 0) {
    test_http_conn_close(&probe);
    printf("  something listens on %d\n", port);
    ok = 0;
  }
  if (!ok) printf("  exit %d (-1: still running, killed)\n  stdout: %s\n  stderr: %s\n", status, o, e);
  return ok;
}

TEST(tenant_files_shared_or_nested_module_folders_are_refused_and_nothing_listens) {
  test_server_t s = {0};
  CHECK(test_server_dir(&s) == 0);
  /* A port nothing listens on: the refused server must leave it so. */
  int port = 40000 + (int)(getpid() % 20000);
  char json[2048], want1[512], want2[512];
  const char *want[] = {want1, want2, "give each worker a folder of its own", NULL};

  /* Two tenants whose scripts share a folder (examples/edge did this). */
  CHECK(test_server_write(&s, "shop/alice.js", hello_js) != NULL);
  CHECK(test_server_write(&s, "shop/bob.js", hello_js) != NULL);
  snprintf(json, sizeof(json),
           "{\"listen\": {\"port\": %d}, \"workers\": ["
           "{\"name\": \"alice\", \"main\": \"shop/alice.js\", \"routes\": [\"alice.test/*\"]},"
           "{\"name\": \"bob\", \"main\": \"shop/bob.js\", \"routes\": [\"bob.test/*\"]}]}",
           port);
  snprintf(want1, sizeof(want1), "isolde.json: workers \"alice\" and \"bob\" have overlapping module folders");
  snprintf(want2, sizeof(want2), "folders, %s/shop and %s/shop (the same folder", s.dir, s.dir);
  CHECK(refused(&s, json, port, want));

  /* One tenant's folder inside another's, listed inner first: the message
   * names them in the config's order, each with its own folder. */
  CHECK(test_server_write(&s, "outer/outer.js", hello_js) != NULL);
  CHECK(test_server_write(&s, "outer/inner/inner.js", hello_js) != NULL);
  snprintf(json, sizeof(json),
           "{\"listen\": {\"port\": %d}, \"workers\": ["
           "{\"name\": \"inner\", \"main\": \"outer/inner/inner.js\", \"routes\": [\"inner.test/*\"]},"
           "{\"name\": \"ok\", \"main\": \"%s/ok/ok.js\", \"routes\": [\"ok.test/*\"]},"
           "{\"name\": \"outer\", \"main\": \"outer/outer.js\", \"routes\": [\"outer.test/*\"]}]}",
           port, s.dir);
  CHECK(test_server_write(&s, "ok/ok.js", hello_js) != NULL);
  snprintf(want1, sizeof(want1), "workers \"inner\" and \"outer\" have overlapping module folders");
  snprintf(want2, sizeof(want2), "%s/outer/inner and %s/outer (the same folder, or one inside the other)", s.dir,
           s.dir);
  CHECK(refused(&s, json, port, want));

  /* The same folder reached through a symlink is the same folder. */
  char link[512], target[512];
  snprintf(link, sizeof(link), "%s/alias", s.dir);
  snprintf(target, sizeof(target), "%s/shop", s.dir);
  CHECK(symlink(target, link) == 0);
  snprintf(json, sizeof(json),
           "{\"listen\": {\"port\": %d}, \"workers\": ["
           "{\"name\": \"alice\", \"main\": \"shop/alice.js\", \"routes\": [\"alice.test/*\"]},"
           "{\"name\": \"mallory\", \"main\": \"alias/bob.js\", \"routes\": [\"mallory.test/*\"]}]}",
           port);
  snprintf(want1, sizeof(want1), "workers \"alice\" and \"mallory\" have overlapping module folders");
  snprintf(want2, sizeof(want2), "%s/shop and %s/shop", s.dir, s.dir);
  CHECK(refused(&s, json, port, want));

  /* The very same script under two names may share its folder: one code,
   * two tenants (as tests and benchmarks run many copies of one worker).
   * And sibling folders whose names share a prefix ("shop", "shopping")
   * do not overlap. */
  CHECK(test_server_write(&s, "shopping/carol.js", hello_js) != NULL);
  snprintf(json, sizeof(json),
           "{\"listen\": {\"port\": 0}, \"threads\": 1, \"workers\": ["
           "{\"name\": \"alice\", \"main\": \"shop/alice.js\", \"routes\": [\"alice.test/*\"]},"
           "{\"name\": \"alice2\", \"main\": \"alias/alice.js\", \"routes\": [\"alice2.test/*\"]},"
           "{\"name\": \"carol\", \"main\": \"shopping/carol.js\", \"routes\": [\"carol.test/*\"]}]}");
  CHECK(test_server_serve_config(&s, json) == 0);
  const char *hosts[] = {"alice.test", "alice2.test", "carol.test"};
  for (size_t i = 0; i < 3; i++) {
    char raw[256];
    snprintf(raw, sizeof(raw), "GET / HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n", hosts[i]);
    test_http_resp_t r = {0};
    CHECK(test_http_request(s.port, raw, &r) == 0);
    CHECK_MSG(r.status == 200 && strcmp(r.body, "hello") == 0, "%s: %d %s", hosts[i], r.status, r.body);
    test_http_resp_free(&r);
  }
  CHECK_EQ_INT(test_server_stop(&s), 0);
}

/* Tenant "a" keeps a secret module; tenant "ab" (a sibling folder whose
 * name starts with a's) tries every way to import it. */
static const char *const a_js =
    "import { secret } from './secret.js';\n"
    "export default { async fetch() {\n"
    "  const again = await import('./secret.js');\n"
    "  return new Response(secret + ' ' + again.secret);\n"
    "} };\n";

static const char *const ab_js =
    "export default { async fetch(request, env) {\n"
    "  const specs = ['../a/secret.js', './../a/secret.js', '../../a/secret.js', env.A_DIR + '/secret.js',\n"
    "                 '/a/secret.js', 'a/secret.js', './link.js', './linkdir/secret.js', env.A_DIR + '/a.js',\n"
    "                 '../a/a.js'];\n"
    "  const out = {};\n"
    "  for (const spec of specs) {\n"
    "    try { const m = await import(spec); out[spec] = 'imported: ' + JSON.stringify(m); }\n"
    "    catch (e) { out[spec] = e.name; }\n"
    "  }\n"
    "  out.own = (await import('./mine.js')).mine;\n"
    "  return Response.json(out);\n"
    "} };\n";

TEST(tenant_files_a_tenant_cannot_import_a_neighbours_modules) {
  test_server_t s = {0};
  CHECK(test_server_dir(&s) == 0);
  CHECK(test_server_write(&s, "a/a.js", a_js) != NULL);
  CHECK(test_server_write(&s, "a/secret.js", "export const secret = 'a-secret-7f3e';\n") != NULL);
  CHECK(test_server_write(&s, "ab/ab.js", ab_js) != NULL);
  CHECK(test_server_write(&s, "ab/mine.js", "export const mine = 'ab-own';\n") != NULL);
  /* Symlinks planted in ab's folder that lead into a's. */
  char from[512], to[512];
  snprintf(from, sizeof(from), "%s/ab/link.js", s.dir);
  snprintf(to, sizeof(to), "%s/a/secret.js", s.dir);
  CHECK(symlink(to, from) == 0);
  snprintf(from, sizeof(from), "%s/ab/linkdir", s.dir);
  snprintf(to, sizeof(to), "%s/a", s.dir);
  CHECK(symlink(to, from) == 0);
  char json[2048];
  snprintf(json, sizeof(json),
           "{\"listen\": {\"port\": 0}, \"threads\": 1, \"workers\": ["
           "{\"name\": \"a\", \"main\": \"a/a.js\", \"routes\": [\"a.test/*\"]},"
           "{\"name\": \"ab\", \"main\": \"ab/ab.js\", \"routes\": [\"ab.test/*\"], \"vars\": {\"A_DIR\": \"%s/a\"},"
           " \"limits\": {\"cpu_ms\": 1000}}]}",
           s.dir);
  CHECK(test_server_serve_config(&s, json) == 0);

  /* A's own imports work. */
  test_http_resp_t r = {0};
  CHECK(test_http_request(s.port, "GET / HTTP/1.1\r\nHost: a.test\r\nConnection: close\r\n\r\n", &r) == 0);
  CHECK_MSG(r.status == 200 && strcmp(r.body, "a-secret-7f3e a-secret-7f3e") == 0, "a: %d %s", r.status, r.body);
  test_http_resp_free(&r);

  /* B's reach into A's folder fails, every spelling; its own works. */
  CHECK(test_http_request(s.port, "GET / HTTP/1.1\r\nHost: ab.test\r\nConnection: close\r\n\r\n", &r) == 0);
  CHECK_MSG(r.status == 200, "ab: %d %s", r.status, r.body);
  CHECK_MSG(!strstr(r.body, "a-secret-7f3e") && !strstr(r.body, "imported"), "ab read a's module: %s", r.body);
  char want[1024];
  const char *refused_specs[] = {"../a/secret.js", "./../a/secret.js", "../../a/secret.js",   "/a/secret.js",
                                 "a/secret.js",    "./link.js",        "./linkdir/secret.js", "../a/a.js"};
  for (size_t i = 0; i < sizeof(refused_specs) / sizeof(refused_specs[0]); i++) {
    snprintf(want, sizeof(want), "\"%s\":\"ReferenceError\"", refused_specs[i]);
    CHECK_MSG(strstr(r.body, want), "%s in %s", want, r.body);
  }
  snprintf(want, sizeof(want), "\"%s/a/secret.js\":\"ReferenceError\"", s.dir);
  CHECK_MSG(strstr(r.body, want), "%s in %s", want, r.body);
  snprintf(want, sizeof(want), "\"%s/a/a.js\":\"ReferenceError\"", s.dir);
  CHECK_MSG(strstr(r.body, want), "%s in %s", want, r.body);
  CHECK_MSG(strstr(r.body, "\"own\":\"ab-own\""), "own import in %s", r.body);
  test_http_resp_free(&r);
  CHECK_EQ_INT(test_server_stop(&s), 0);
}
