/*
 * test_edge.c - the edge examples (examples/edge) in front of real
 * origins: two `isolde dev` origins on loopback, and `isolde serve` with
 * the examples' config pointed at them. Each example worker and the
 * worker-less pass-through route answer as their comments say.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http/http_client.h"
#include "runtime/server_proc.h"
#include "test.h"

static int start_origin(test_server_t *s, const char *name) {
  char var[32];
  snprintf(var, sizeof(var), "NAME=%s", name);
  const char *args[] = {"dev", "examples/edge/origin.js", "--port", "0", "--threads", "1", "--var", var, NULL};
  return test_server_start(s, args);
}

/* GET path on host; 1 if the answer has `status` and contains `needle`. */
static int answers(int port, const char *host, const char *path, const char *extra, int status, const char *needle,
                   test_http_resp_t *keep) {
  char raw[1024];
  snprintf(raw, sizeof(raw), "GET %s HTTP/1.1\r\nHost: %s\r\n%s\r\n", path, host, extra ? extra : "");
  test_http_resp_t r = {0};
  int rc = test_http_request(port, raw, &r);
  int ok = rc == 0 && r.status == status && (!needle || strstr(r.body, needle));
  if (!ok) printf("  %s%s -> %d (read %d): %s\n", host, path, r.status, rc, r.body ? r.body : "");
  if (keep) {
    *keep = r;
  } else {
    test_http_resp_free(&r);
  }
  return ok;
}

/* examples/edge/isolde.json with its ports pointed at our origins, and
 * every worker given 1 s of CPU per request: a worker's first request
 * makes its first fetch, 3-9 ms of CPU on an idle machine (more when it
 * loads libcurl itself), too close to the default 50 ms for a busy one. */
static int start_edge(test_server_t *edge, int v1, int v2) {
  FILE *f = fopen("examples/edge/isolde.json", "r");
  if (!f) return -1;
  char cfg[8192], out[9000];
  size_t n = fread(cfg, 1, sizeof(cfg) - 1, f);
  fclose(f);
  cfg[n] = 0;
  char *o = out;
  for (const char *p = cfg; *p;) {
    if (strncmp(p, "\"port\": 8787", 12) == 0) {
      o += sprintf(o, "\"port\": 0");
      p += 12;
    } else if (strncmp(p, "127.0.0.1:9001", 14) == 0) {
      o += sprintf(o, "127.0.0.1:%d", v1);
      p += 14;
    } else if (strncmp(p, "127.0.0.1:9002", 14) == 0) {
      o += sprintf(o, "127.0.0.1:%d", v2);
      p += 14;
    } else if (strncmp(p, "\"main\":", 7) == 0) {
      o += sprintf(o, "\"limits\": {\"cpu_ms\": 1000}, \"main\":");
      p += 7;
    } else {
      *o++ = *p++;
    }
  }
  *o = 0;
  char path[] = "examples/edge/.test-isolde.json";
  f = fopen(path, "w");
  if (!f) return -1;
  fputs(out, f);
  fclose(f);
  const char *args[] = {"serve", "--config", path, NULL};
  int rc = test_server_start(edge, args);
  remove(path);
  return rc;
}

TEST(edge_examples_in_front_of_real_origins) {
  test_server_t v1 = {0}, v2 = {0}, edge = {0};
  CHECK(start_origin(&v1, "v1") == 0);
  CHECK(start_origin(&v2, "v2") == 0);
  CHECK(start_edge(&edge, v1.port, v2.port) == 0);
  int p = edge.port;
  /* (a) the gatekeeper blocks by path and by header, passes the rest. */
  CHECK(answers(p, "gate.localhost", "/admin/users", NULL, 403, "Forbidden", NULL));
  CHECK(answers(p, "gate.localhost", "/index.php", NULL, 403, "Forbidden", NULL));
  CHECK(answers(p, "gate.localhost", "/hello", "X-Block: 1\r\n", 403, "Forbidden", NULL));
  CHECK(answers(p, "gate.localhost", "/hello?x=1", NULL, 200, "\"origin\":\"v1\",\"method\":\"GET\",\"query\":\"?x=1\"",
                NULL));
  /* (b) /v2/... is rewritten and rerouted to the second origin. */
  CHECK(answers(p, "reroute.localhost", "/v2/items?q=1", NULL, 200, "\"origin\":\"v2\"", NULL));
  CHECK(answers(p, "reroute.localhost", "/v2/items?q=1", NULL, 200, "\"path\":\"/items\"", NULL));
  CHECK(answers(p, "reroute.localhost", "/items", NULL, 200, "\"origin\":\"v1\"", NULL));
  /* (c) a miss goes to the origin and is cached, then hits. */
  test_http_resp_t r = {0};
  CHECK(answers(p, "cached.localhost", "/api/user", NULL, 200, "\"name\":\"Ada\"", &r));
  CHECK_EQ_STR(test_http_resp_header(&r, "x-cache"), "MISS");
  test_http_resp_free(&r);
  int hit = 0;
  for (int i = 0; i < 50 && !hit; i++) {
    CHECK(answers(p, "cached.localhost", "/api/user", NULL, 200, "\"name\":\"Ada\"", &r));
    hit = strcmp(test_http_resp_header(&r, "x-cache"), "HIT") == 0;
    test_http_resp_free(&r);
  }
  CHECK_MSG(hit, "the second GET of a max-age=60 response was not served from the cache");
  /* (d) three subrequests, one JSON answer. */
  CHECK(answers(p, "aggregate.localhost", "/", NULL, 200, "{\"user\":\"Ada\",\"orders\":3,\"sky\":\"clear\"}", NULL));
  /* A route with only an origin passes straight through. */
  CHECK(answers(p, "static.localhost", "/file.txt?v=2", NULL, 200, "\"path\":\"/file.txt\"", NULL));
  CHECK_EQ_INT(test_server_stop(&edge), 0);
  CHECK_EQ_INT(test_server_stop(&v1), 0);
  CHECK_EQ_INT(test_server_stop(&v2), 0);
}
