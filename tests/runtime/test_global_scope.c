/* tests/runtime/test_global_scope.c - what a worker's top-level code may
 * not do. It runs once, at load, and its result is snapshotted into every
 * isolate of the worker, so a random value made there would be the same in
 * every clone on every loop for ever (a UUID, a key, a nonce), and I/O or a
 * timer started there would belong to no request. As in Workers, each is
 * refused with "Disallowed operation called within global scope". */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http/http_client.h"
#include "server_proc.h"
#include "test.h"

static const char DISALLOWED[] = "Disallowed operation called within global scope";

TEST(global_scope_random_io_and_timers_refused_so_no_clone_replays_them) {
  static const char *const tops[] = {
      "const id = crypto.randomUUID();",
      "const key = crypto.getRandomValues(new Uint8Array(16));",
      "await crypto.subtle.generateKey({name: 'HMAC', hash: 'SHA-256'}, true, ['sign']);",
      "setTimeout(() => {}, 1);",
      "setInterval(() => {}, 1000);",
      "await fetch('http://127.0.0.1:1/');",
      "await caches.default.match('http://x/');",
  };
  test_server_t s = {0};
  CHECK(test_server_dir(&s) == 0);
  for (size_t i = 0; i < sizeof(tops) / sizeof(tops[0]); i++) {
    char src[512], path[512];
    snprintf(src, sizeof(src), "%s\nexport default { fetch() { return new Response('loaded'); } };\n", tops[i]);
    snprintf(path, sizeof(path), "%s", test_server_write(&s, "top.js", src));
    const char *args[] = {"dev", path, "--port", "0", NULL};
    char *out = NULL;
    int status = test_isolde_run(args, &out);
    CHECK_MSG(status == 1 && strstr(out, DISALLOWED), "%s\n  exit %d, output: %s", tops[i], status, out);
    free(out);
  }
  CHECK_EQ_INT(test_server_stop(&s), -1);
}

TEST(global_scope_refusal_can_be_caught_and_handlers_get_fresh_randomness) {
  test_server_t s = {0};
  CHECK(test_server_dir(&s) == 0);
  char path[512];
  snprintf(path, sizeof(path), "%s",
           test_server_write(&s, "w.js",
                             "let refused = 'no';\n"
                             "try { crypto.randomUUID(); } catch (e) { refused = e.message; }\n"
                             "export default { fetch() {\n"
                             "  return new Response(crypto.randomUUID() + ' ' + refused.slice(0, 48));\n"
                             "} };\n"));
  /* Two loops: each has its own clone of the worker's snapshot. */
  const char *args[] = {"dev", path, "--port", "0", "--threads", "2", NULL};
  CHECK(test_server_start(&s, args) == 0);
  char seen[8][64];
  for (int i = 0; i < 8; i++) {
    test_http_resp_t r = {0};
    CHECK(test_http_request(s.port, "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", &r) == 0);
    CHECK_EQ_INT(r.status, 200);
    CHECK_MSG(strlen(r.body) == 36 + 1 + 48 && strstr(r.body, DISALLOWED), "body: %s", r.body);
    snprintf(seen[i], sizeof(seen[i]), "%.36s", r.body);
    test_http_resp_free(&r);
    for (int k = 0; k < i; k++) CHECK_MSG(strcmp(seen[k], seen[i]) != 0, "UUID %s seen twice", seen[i]);
  }
  CHECK_EQ_INT(test_server_stop(&s), 0);
}
