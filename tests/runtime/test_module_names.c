/* tests/runtime/test_module_names.c - a tenant's stacks and error messages
 * name its modules relative to its own folder ("worker.js", "lib/m.js"),
 * as Workers names uploaded modules, and never show where its files are on
 * the host. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "http/http_client.h"
#include "server_proc.h"
#include "test.h"

TEST(module_names_hide_host_paths_in_stacks_and_errors) {
  test_server_t s = {0};
  CHECK(test_server_dir(&s) == 0);
  char dir[128];
  snprintf(dir, sizeof(dir), "%s", s.dir);
  char lib[256];
  snprintf(lib, sizeof(lib), "%s/lib", s.dir);
  CHECK(mkdir(lib, 0700) == 0 || access(lib, F_OK) == 0);
  CHECK(test_server_write(&s, "lib/m.js", "export function boom() { throw new Error('deep'); }\n") != NULL);
  char worker[512];
  snprintf(worker, sizeof(worker), "%s",
           test_server_write(&s, "w.js",
                             "import { boom } from './lib/m.js';\n"
                             "export default { async fetch(request) {\n"
                             "  if (new URL(request.url).pathname === '/missing') {\n"
                             "    try { await import('./nope.js'); } catch (e) { return new Response(String(e)); }\n"
                             "  }\n"
                             "  try { boom(); } catch (e) { return new Response(e.stack); }\n"
                             "} };\n"));
  const char *args[] = {"dev", worker, "--port", "0", "--threads", "1", NULL};
  CHECK(test_server_start(&s, args) == 0);
  test_http_resp_t r = {0};
  CHECK(test_http_request(s.port, "GET / HTTP/1.1\r\nHost: x\r\n\r\n", &r) == 0);
  CHECK_MSG(strstr(r.body, "at boom (lib/m.js:1:") && strstr(r.body, "at fetch (w.js:6:"), "stack: %s", r.body);
  CHECK_MSG(!strstr(r.body, dir), "the stack shows the host folder %s: %s", dir, r.body);
  test_http_resp_free(&r);
  CHECK(test_http_request(s.port, "GET /missing HTTP/1.1\r\nHost: x\r\n\r\n", &r) == 0);
  CHECK_MSG(strstr(r.body, "nope.js") && !strstr(r.body, dir), "error: %s", r.body);
  test_http_resp_free(&r);
  CHECK_EQ_INT(test_server_stop(&s), 0);

  /* A module that does not parse: the load error names it relative too. */
  CHECK(test_server_dir(&s) == 0);
  snprintf(dir, sizeof(dir), "%s", s.dir);
  snprintf(lib, sizeof(lib), "%s/lib", s.dir);
  CHECK(mkdir(lib, 0700) == 0);
  CHECK(test_server_write(&s, "lib/bad.js", "export const x = ;\n") != NULL);
  snprintf(worker, sizeof(worker), "%s",
           test_server_write(&s, "w.js",
                             "import { x } from './lib/bad.js';\n"
                             "export default { fetch() { return new Response(String(x)); } };\n"));
  const char *bad[] = {"dev", worker, "--port", "0", NULL};
  char *out = NULL;
  CHECK_EQ_INT(test_isolde_run(bad, &out), 1);
  CHECK_MSG(strstr(out, "lib/bad.js:1: SyntaxError") && !strstr(out, dir), "output: %s", out);
  free(out);
  CHECK_EQ_INT(test_server_stop(&s), -1);
}
