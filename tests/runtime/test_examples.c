/*
 * test_examples.c - the README's examples answer what the README says they
 * answer (examples/hello and the two-tenant examples/multi config).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http/http_client.h"
#include "runtime/server_proc.h"
#include "test.h"

static int request(int port, const char *raw, int status, const char *body) {
  test_http_resp_t r = {0};
  int ok = test_http_request(port, raw, &r) == 0 && r.status == status && strcmp(r.body, body) == 0;
  if (!ok) printf("  %s-> %d %s\n", raw, r.status, r.body ? r.body : "");
  test_http_resp_free(&r);
  return ok;
}

TEST(examples_hello_answers_as_the_readme_says) {
  test_server_t s = {0};
  const char *args[] = {"dev", "examples/hello/worker.js", "--port", "0", NULL};
  CHECK(test_server_start(&s, args) == 0);
  CHECK(request(s.port, "GET / HTTP/1.1\r\nHost: x\r\n\r\n", 200, "Hello from Isolde, world!\n"));
  CHECK(request(s.port, "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nhi", 200, "hi"));
  CHECK(request(s.port, "GET /json?a=1 HTTP/1.1\r\nHost: x\r\n\r\n", 200,
                "{\"method\":\"GET\",\"path\":\"/json\",\"query\":{\"a\":\"1\"}}"));
  CHECK(test_server_wait_output(&s, "[worker] log: served /", 2000));
  CHECK_EQ_INT(test_server_stop(&s), 0);
}

TEST(examples_two_tenants_answer_as_the_readme_says) {
  test_server_t s = {0};
  CHECK(test_server_dir(&s) == 0);
  /* The example listens on 8787; a copy of it on a free port. */
  FILE *f = fopen("examples/multi/isolde.json", "r");
  CHECK(f != NULL);
  char cfg[8192];
  size_t n = fread(cfg, 1, sizeof(cfg) - 1, f);
  fclose(f);
  cfg[n] = 0;
  char *port = strstr(cfg, "\"port\": 8787");
  CHECK(port != NULL);
  memcpy(port, "\"port\":    0", 12);
  /* main paths are relative to the config's folder: keep it there. */
  char path[] = "examples/multi/.test-isolde.json";
  f = fopen(path, "w");
  CHECK(f != NULL);
  fputs(cfg, f);
  fclose(f);
  const char *args[] = {"serve", "--config", path, NULL};
  int started = test_server_start(&s, args);
  remove(path);
  CHECK(started == 0);
  CHECK(request(s.port, "GET / HTTP/1.1\r\nHost: api.localhost\r\n\r\n", 200,
                "{\"tenant\":\"api\",\"message\":\"hello from a module\",\"path\":\"/\"}"));
  CHECK(request(s.port, "GET /api/x HTTP/1.1\r\nHost: localhost\r\n\r\n", 200,
                "{\"tenant\":\"api\",\"message\":\"hello from a module\",\"path\":\"/api/x\"}"));
  CHECK(request(s.port, "GET / HTTP/1.1\r\nHost: localhost\r\n\r\n", 200, "<h1>Welcome to the site tenant</h1>\n"));
  test_http_resp_t r = {0};
  CHECK(test_http_request(s.port, "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", &r) == 0);
  CHECK_EQ_INT(r.status, 404);
  test_http_resp_free(&r);
  CHECK_EQ_INT(test_server_stop(&s), 0);
}
