/* tests/cli/test_config.c - isolde.json: every field, the defaults, and
 * errors that name the file and the field. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/config.h"
#include "test.h"

/* The test binary links src/ but not src/cli (whose main.c has main()), so
 * the code under test is compiled in here. Drop this line once the
 * Makefile links src/cli (but main.c) into isolde-tests. */

static int parse(const char *json, isl_cli_config_t *c, isl_err_t *err) {
  return isl_cli_config_parse(json, strlen(json), "isolde.json", NULL, c, err);
}

TEST(config_full_reads_every_field) {
  const char *json =
      "{\n"
      "  \"listen\": { \"host\": \"0.0.0.0\", \"port\": 8080 },\n"
      "  \"threads\": 2,\n"
      "  \"memory_budget_mb\": 512,\n"
      "  \"http\": { \"max_body_mb\": 100, \"max_header_kb\": 32, \"header_timeout_ms\": 10000,\n"
      "            \"body_timeout_ms\": 7000,\n"
      "            \"idle_timeout_ms\": 60000, \"max_connections\": 10000, \"max_queued_responses\": 8,\n"
      "            \"max_queued_kb\": 512, \"max_tenant_queued_mb\": 24 },\n"
      "  \"workers\": [\n"
      "    { \"name\": \"api\", \"main\": \"api/worker.js\",\n"
      "      \"routes\": [\"api.example.com/*\", {\"pattern\": \"example.com/api/*\", \"zone_name\": "
      "\"example.com\"},\n"
      "                 {\"pattern\": \"shop.example.com\", \"custom_domain\": true, \"zone_id\": \"abc\"}],\n"
      "      \"vars\": { \"GREETING\": \"hello\", \"LIMIT\": 10, \"OBJ\": {\"a\": 1} },\n"
      "      \"secrets\": { \"TOKEN\": \"s3cret\", \"KEY2\": \"k\" },\n"
      "      \"limits\": { \"cpu_ms\": 50, \"startup_ms\": 900, \"memory_mb\": 128 } },\n"
      "    { \"name\": \"site_2-b\", \"main\": \"/abs/site.js\", \"routes\": [] }\n"
      "  ]\n"
      "}\n";
  isl_cli_config_t c;
  isl_err_t err = {0};
  int rc = isl_cli_config_parse(json, strlen(json), "isolde.json", "/srv/app", &c, &err);
  CHECK_MSG(rc == 0, "rc %d: %s", rc, err.msg);
  CHECK_EQ_STR(c.host, "0.0.0.0");
  CHECK_EQ_INT(c.port, 8080);
  CHECK_EQ_INT(c.threads, 2);
  CHECK_EQ_INT(c.memory_budget_mb, 512);
  CHECK_EQ_INT(c.max_body_mb, 100);
  CHECK_EQ_INT(c.max_header_kb, 32);
  CHECK_EQ_INT(c.header_timeout_ms, 10000);
  CHECK_EQ_INT(c.body_timeout_ms, 7000);
  CHECK_EQ_INT(c.idle_timeout_ms, 60000);
  CHECK_EQ_INT(c.max_connections, 10000);
  CHECK_EQ_INT(c.max_queued_responses, 8);
  CHECK_EQ_INT(c.max_queued_kb, 512);
  CHECK_EQ_INT(c.max_tenant_queued_mb, 24);
  CHECK_EQ_INT(c.n_workers, 2);

  const isl_cli_worker_conf_t *w = &c.workers[0];
  CHECK_EQ_STR(w->name, "api");
  CHECK_EQ_STR(w->main, "/srv/app/api/worker.js");
  CHECK_EQ_INT(w->n_routes, 3);
  CHECK_EQ_STR(w->routes[0], "api.example.com/*");
  CHECK_EQ_STR(w->routes[1], "example.com/api/*");
  CHECK_EQ_STR(w->routes[2], "shop.example.com/*");
  CHECK_EQ_STR(w->env_json,
               "{\"GREETING\":\"hello\",\"LIMIT\":10,\"OBJ\":{\"a\":1},\"TOKEN\":\"s3cret\",\"KEY2\":\"k\"}");
  CHECK_EQ_INT(w->n_secrets, 2);
  CHECK_EQ_STR(w->secret_names[0], "TOKEN");
  CHECK_EQ_STR(w->secret_names[1], "KEY2");
  CHECK_EQ_INT(w->cpu_ms, 50);
  CHECK_EQ_INT(w->startup_ms, 900);
  CHECK_EQ_INT(w->memory_mb, 128);

  w = &c.workers[1];
  CHECK_EQ_STR(w->name, "site_2-b");
  CHECK_EQ_STR(w->main, "/abs/site.js");
  CHECK_EQ_INT(w->n_routes, 0);
  CHECK_EQ_STR(w->env_json, "{}");
  CHECK_EQ_INT(w->n_secrets, 0);
  CHECK_EQ_INT(w->cpu_ms, 0);
  isl_cli_config_free(&c);
  CHECK(c.workers == NULL && c.n_workers == 0);
  isl_cli_config_free(&c); /* a zeroed config frees again */
}

TEST(config_defaults) {
  isl_cli_config_t c;
  isl_err_t err = {0};
  CHECK_MSG(parse("{\"workers\": [{\"name\": \"a\", \"main\": \"./w.js\"}]}", &c, &err) == 0, "%s", err.msg);
  CHECK_EQ_STR(c.host, "127.0.0.1");
  CHECK_EQ_INT(c.port, 8787);
  CHECK_EQ_INT(c.threads, 0);
  CHECK_EQ_INT(c.memory_budget_mb, 1024);
  CHECK_EQ_INT(c.max_body_mb + c.max_header_kb + c.header_timeout_ms + c.idle_timeout_ms + c.max_connections, 0);
  CHECK_EQ_INT(c.n_workers, 1);
  CHECK_EQ_STR(c.workers[0].main, "./w.js"); /* no base_dir: left as written */
  CHECK_EQ_INT(c.workers[0].n_routes, 0);
  CHECK(c.workers[0].routes == NULL);
  CHECK_EQ_STR(c.workers[0].env_json, "{}");
  CHECK_EQ_INT(c.workers[0].n_secrets + c.workers[0].cpu_ms + c.workers[0].memory_mb, 0);
  isl_cli_config_free(&c);

  /* Empty sub-objects keep the defaults; base_dir joins "./" away. */
  const char *json =
      "{\"listen\": {}, \"http\": {}, \"workers\": [{\"name\": \"a\", \"main\": \"./w.js\", "
      "\"vars\": {}, \"secrets\": {}, \"limits\": {}}]}";
  CHECK_MSG(isl_cli_config_parse(json, strlen(json), "x.json", "conf/", &c, &err) == 0, "%s", err.msg);
  CHECK_EQ_STR(c.host, "127.0.0.1");
  CHECK_EQ_INT(c.port, 8787);
  CHECK_EQ_STR(c.workers[0].main, "conf/w.js");
  CHECK_EQ_STR(c.workers[0].env_json, "{}");
  isl_cli_config_free(&c);
}

/* Wraps one worker object in a valid config. */
#define W(...) "{\"workers\": [" __VA_ARGS__ "]}"
#define OK_W "{\"name\": \"a\", \"main\": \"a.js\"}"

TEST(config_errors_name_the_field) {
  static const struct {
    const char *json, *want;
  } bad[] = {
      /* shape */
      {"[]", "isolde.json: expected an object, got an array"},
      {"{}", "isolde.json: missing \"workers\""},
      {"{\"workers\": {}}", "isolde.json: workers: expected an array, got an object"},
      {"{\"workers\": []}", "isolde.json: workers: expected at least one worker"},
      {W("\"a\""), "isolde.json: workers[0]: expected an object, got a string"},
      /* unknown and repeated keys */
      {"{\"workres\": []}",
       "isolde.json: unknown key \"workres\" (expected listen, threads, memory_budget_mb, cache_mb, http, "
       "workers, routes)"},
      /* origins */
      {"{\"workers\": [{\"name\": \"a\", \"main\": \"a.js\", \"routes\": [{\"pattern\": \"a.test/*\", "
       "\"origin\": \"ftp://x\"}]}]}",
       "isolde.json: workers[0].routes[0].origin: \"ftp://x\" is not an origin like \"http://127.0.0.1:9000\""},
      {"{\"workers\": [{\"name\": \"a\", \"main\": \"a.js\", \"allow_origins\": [\"http://x/path\"]}]}",
       "isolde.json: workers[0].allow_origins[0]: expected an origin like \"http://127.0.0.1:9000\", got "
       "\"http://x/path\""},
      {"{\"routes\": [{\"pattern\": \"s.test/*\"}], \"workers\": [" OK_W "]}",
       "isolde.json: routes[0]: missing \"origin\""},
      {"{\"routes\": [\"s.test/*\"], \"workers\": [" OK_W "]}",
       "isolde.json: routes[0]: expected an object with \"pattern\" and \"origin\", got a string"},
      {"{\"workers\": [{\"name\": \"a\", \"main\": \"a.js\", \"limits\": {\"subrequests\": -1}}]}",
       "isolde.json: workers[0].limits.subrequests: expected an integer from 0 to 10000, got -1"},
      {"{\"listen\": {\"hots\": \"x\"}, \"workers\": [" OK_W "]}", "isolde.json: listen: unknown key \"hots\""},
      {"{\"http\": {\"max_body\": 1}, \"workers\": [" OK_W "]}", "isolde.json: http: unknown key \"max_body\""},
      {W("{\"name\": \"a\", \"main\": \"a.js\", \"route\": \"x/*\"}"),
       "isolde.json: workers[0]: unknown key \"route\" (expected name, main, routes, vars, secrets, limits, "
       "allow_origins)"},
      {W("{\"name\": \"a\", \"main\": \"a.js\", \"limits\": {\"cpu\": 5}}"),
       "isolde.json: workers[0].limits: unknown key \"cpu\" (expected cpu_ms, startup_ms, memory_mb, subrequests)"},
      {W("{\"name\": \"a\", \"main\": \"a.js\", \"name\": \"b\"}"),
       "isolde.json: workers[0]: key \"name\" is given twice"},
      {W("{\"name\": \"a\", \"main\": \"a.js\", \"vars\": {\"X\": 1, \"X\": 2}}"),
       "isolde.json: workers[0].vars: key \"X\" is given twice"},
      /* listen, threads, budget, http */
      {"{\"listen\": [], \"workers\": [" OK_W "]}", "isolde.json: listen: expected an object, got an array"},
      {"{\"listen\": {\"host\": 1}, \"workers\": [" OK_W "]}", "isolde.json: listen.host: expected a string, got 1"},
      {"{\"listen\": {\"host\": \"\"}, \"workers\": [" OK_W "]}", "isolde.json: listen.host: must not be empty"},
      {"{\"listen\": {\"host\": \"a b\"}, \"workers\": [" OK_W "]}",
       "isolde.json: listen.host: \"a b\" is not a host name or address"},
      {"{\"listen\": {\"port\": 65536}, \"workers\": [" OK_W "]}",
       "isolde.json: listen.port: expected an integer from 0 to 65535, got 65536"},
      {"{\"listen\": {\"port\": \"80\"}, \"workers\": [" OK_W "]}",
       "isolde.json: listen.port: expected an integer from 0 to 65535, got a string"},
      {"{\"threads\": 2.5, \"workers\": [" OK_W "]}",
       "isolde.json: threads: expected an integer from 0 to 256, got 2.5"},
      {"{\"threads\": -1, \"workers\": [" OK_W "]}", "isolde.json: threads: expected an integer from 0 to 256, got -1"},
      {"{\"threads\": true, \"workers\": [" OK_W "]}",
       "isolde.json: threads: expected an integer from 0 to 256, got true"},
      {"{\"memory_budget_mb\": 0, \"workers\": [" OK_W "]}",
       "isolde.json: memory_budget_mb: expected an integer from 1 to 1048576, got 0"},
      {"{\"memory_budget_mb\": 1e300, \"workers\": [" OK_W "]}", "isolde.json: memory_budget_mb: expected an integer"},
      {"{\"http\": {\"idle_timeout_ms\": null}, \"workers\": [" OK_W "]}",
       "isolde.json: http.idle_timeout_ms: expected an integer from 0 to 86400000, got null"},
      {"{\"http\": {\"max_connections\": 1000001}, \"workers\": [" OK_W "]}",
       "isolde.json: http.max_connections: expected an integer from 0 to 1000000"},
      /* name and main */
      {W("{\"main\": \"a.js\"}"), "isolde.json: workers[0]: missing \"name\""},
      {W("{\"name\": \"a\"}"), "isolde.json: workers[0]: missing \"main\""},
      {W("{\"name\": \"a\", \"main\": \"\"}"), "isolde.json: workers[0].main: must not be empty"},
      {W("{\"name\": \"a\", \"main\": []}"), "isolde.json: workers[0].main: expected a string, got an array"},
      {W("{\"name\": \"a b\", \"main\": \"a.js\"}"),
       "isolde.json: workers[0].name: \"a b\" is not a valid name (1 to 63 of A-Z a-z 0-9 _ -)"},
      {W("{\"name\": \"a.b\", \"main\": \"a.js\"}"), "workers[0].name: \"a.b\" is not a valid name"},
      {W("{\"name\": \"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\", \"main\": \"a.js\"}"),
       "workers[0].name: \"aaaa"},
      {W(OK_W ", {\"name\": \"b\", \"main\": \"b.js\"}, {\"name\": \"a\", \"main\": \"c.js\"}"),
       "isolde.json: workers[2].name: \"a\" is used twice (first by workers[0])"},
      /* routes */
      {W("{\"name\": \"a\", \"main\": \"a.js\", \"routes\": \"a.com/*\"}"),
       "isolde.json: workers[0].routes: expected an array, got a string"},
      {W(OK_W ", {\"name\": \"b\", \"main\": \"b.js\", \"routes\": [\"a.com/*\", 5]}"),
       "isolde.json: workers[1].routes[1]: expected a string or an object with \"pattern\", got 5"},
      {W("{\"name\": \"a\", \"main\": \"a.js\", \"routes\": [{\"zone_name\": \"a.com\"}]}"),
       "isolde.json: workers[0].routes[0]: expected a string or an object with \"pattern\", got an object"},
      {W("{\"name\": \"a\", \"main\": \"a.js\", \"routes\": [{\"pattern\": 1}]}"),
       "isolde.json: workers[0].routes[0].pattern: expected a string, got 1"},
      {W("{\"name\": \"a\", \"main\": \"a.js\", \"routes\": [{\"pattern\": \"a.com/*\", \"zone\": \"a.com\"}]}"),
       "isolde.json: workers[0].routes[0]: unknown key \"zone\" (expected pattern, zone_name, zone_id, custom_domain, "
       "origin)"},
      {W("{\"name\": \"a\", \"main\": \"a.js\", \"routes\": [{\"pattern\": \"a.com/*\", \"custom_domain\": 1}]}"),
       "isolde.json: workers[0].routes[0].custom_domain: expected true or false, got 1"},
      {W("{\"name\": \"a\", \"main\": \"a.js\", \"routes\": [{\"pattern\": \"a.com/*\", \"custom_domain\": true}]}"),
       "isolde.json: workers[0].routes[0].pattern: a custom domain is a bare hostname, got \"a.com/*\""},
      {W("{\"name\": \"a\", \"main\": \"a.js\", \"routes\": [\"exa mple.com/*\"]}"),
       "isolde.json: workers[0].routes[0]: route \"exa mple.com/*\": contains whitespace"},
      {W("{\"name\": \"a\", \"main\": \"a.js\", \"routes\": [\"a.com/*\", {\"pattern\": \"a*b.com/*\"}]}"),
       "isolde.json: workers[0].routes[1]: route \"a*b.com/*\": \"*\" is allowed only at the start of the host"},
      {W("{\"name\": \"a\", \"main\": \"a.js\", \"routes\": [\"a.com/x?y\"]}"),
       "workers[0].routes[0]: route \"a.com/x?y\": a query string is not allowed"},
      {W("{\"name\": \"a\", \"main\": \"a.js\", \"routes\": [\"\"]}"),
       "workers[0].routes[0]: route \"\": empty pattern"},
      {W("{\"name\": \"a\", \"main\": \"a.js\", \"routes\": [\"*\"]}"),
       "workers[0].routes[0]: route \"*\": missing a path"},
      {W("{\"name\": \"a\", \"main\": \"a.js\", \"routes\": [\"a.com/a*b\"]}"),
       "workers[0].routes[0]: route \"a.com/a*b\": \"*\" is allowed only at the end of the path"},
      {W("{\"name\": \"a\", \"main\": \"a.js\", \"routes\": [\"a.com/*\"]}, "
         "{\"name\": \"b\", \"main\": \"b.js\", \"routes\": [\"https://A.com/*\"]}"),
       "isolde.json: workers[1].routes[0]: route \"https://A.com/*\": the same route as \"a.com/*\", added before"},
      /* vars and secrets */
      {W("{\"name\": \"a\", \"main\": \"a.js\", \"vars\": [1]}"),
       "isolde.json: workers[0].vars: expected an object, got an array"},
      {W("{\"name\": \"a\", \"main\": \"a.js\", \"vars\": {\"MY-VAR\": 1}}"),
       "isolde.json: workers[0].vars: \"MY-VAR\" is not a valid name (a JS identifier"},
      {W("{\"name\": \"a\", \"main\": \"a.js\", \"vars\": {\"\": 1}}"), "workers[0].vars: \"\" is not a valid name"},
      {W("{\"name\": \"a\", \"main\": \"a.js\", \"secrets\": {\"TOKEN\": 5}}"),
       "isolde.json: workers[0].secrets.TOKEN: expected a string, got a number"},
      {W("{\"name\": \"a\", \"main\": \"a.js\", \"secrets\": {\"T\": {\"a\": \"b\"}}}"),
       "isolde.json: workers[0].secrets.T: expected a string, got an object"},
      {W("{\"name\": \"a\", \"main\": \"a.js\", \"secrets\": {\"9x\": \"v\"}}"),
       "workers[0].secrets: \"9x\" is not a valid name"},
      {W("{\"name\": \"a\", \"main\": \"a.js\", \"vars\": {\"T\": 1}, \"secrets\": {\"T\": \"v\"}}"),
       "isolde.json: workers[0].secrets.T: also defined in vars"},
      /* limits */
      {W("{\"name\": \"a\", \"main\": \"a.js\", \"limits\": 5}"),
       "isolde.json: workers[0].limits: expected an object, got 5"},
      {W("{\"name\": \"a\", \"main\": \"a.js\", \"limits\": {\"cpu_ms\": 300001}}"),
       "isolde.json: workers[0].limits.cpu_ms: expected an integer from 0 to 300000, got 300001"},
      {W("{\"name\": \"a\", \"main\": \"a.js\", \"limits\": {\"startup_ms\": 300001}}"),
       "isolde.json: workers[0].limits.startup_ms: expected an integer from 0 to 300000, got 300001"},
      {W("{\"name\": \"a\", \"main\": \"a.js\", \"limits\": {\"memory_mb\": 4096}}"),
       "isolde.json: workers[0].limits.memory_mb: expected an integer from 0 to 2048, got 4096"},
      /* a later worker's error after earlier ones parsed (and are freed) */
      {W(OK_W ", {\"name\": \"b\", \"main\": \"b.js\", \"routes\": [\"b.com/*\"], \"vars\": {\"V\": [1]}, "
              "\"secrets\": {\"S\": \"x\"}}, {\"name\": \"c\", \"main\": \"c.js\", \"limits\": {\"cpu_ms\": -5}}"),
       "isolde.json: workers[2].limits.cpu_ms: expected an integer from 0 to 300000, got -5"},
  };
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    isl_cli_config_t c;
    isl_err_t err = {0};
    int rc = parse(bad[i].json, &c, &err);
    CHECK_MSG(rc == ISL_EINVAL, "case %zu %s: rc %d", i, bad[i].json, rc);
    CHECK_EQ_INT(err.code, ISL_EINVAL);
    CHECK_MSG(strstr(err.msg, bad[i].want) != NULL, "case %zu: got \"%s\", want \"%s\"", i, err.msg, bad[i].want);
    CHECK_MSG(strncmp(err.msg, "isolde.json: ", 13) == 0, "case %zu: %s", i, err.msg);
    CHECK(c.workers == NULL && c.host == NULL && c.n_workers == 0);
    isl_cli_config_free(&c);
  }
}

TEST(config_invalid_json_gives_line) {
  isl_cli_config_t c;
  isl_err_t err = {0};
  const char *json =
      "{\n"
      "  \"listen\": { \"port\": 8787 },\n"
      "  \"threads\": 2,\n"
      "  \"workers\": [ { \"name\": \"a\" \"main\": \"a.js\" } ]\n"
      "}\n";
  CHECK_EQ_INT(parse(json, &c, &err), ISL_EINVAL);
  CHECK_MSG(strncmp(err.msg, "isolde.json: line 4: invalid JSON", 33) == 0, "%s", err.msg);

  CHECK_EQ_INT(parse("{\n\"workers\": [\n", &c, &err), ISL_EINVAL);
  CHECK_MSG(strstr(err.msg, "isolde.json: line ") && strstr(err.msg, "invalid JSON"), "%s", err.msg);
  CHECK_EQ_INT(parse("{\"a\": 1,}", &c, &err), ISL_EINVAL);
  CHECK_MSG(strncmp(err.msg, "isolde.json: line 1: invalid JSON", 33) == 0, "%s", err.msg);
  CHECK_EQ_INT(parse("{\"workers\": [" OK_W "]}\n\n}", &c, &err), ISL_EINVAL);
  CHECK_EQ_STR(err.msg, "isolde.json: line 3: unexpected text after the JSON value (column 1)");
  CHECK_EQ_INT(parse(" \n\t", &c, &err), ISL_EINVAL);
  CHECK_EQ_STR(err.msg, "isolde.json: empty file, expected a JSON object");
  CHECK_EQ_INT(isl_cli_config_parse("", 0, NULL, NULL, &c, &err), ISL_EINVAL);
  CHECK_EQ_STR(err.msg, "config: empty file, expected a JSON object");
  /* len bounds the text: what follows is not read. */
  const char *cut = "{\"workers\": [" OK_W "]}garbage";
  CHECK_EQ_INT(isl_cli_config_parse(cut, strlen(cut) - 7, "f", NULL, &c, NULL), 0);
  isl_cli_config_free(&c);
  /* A NUL inside the text is an error, not the end. */
  CHECK_EQ_INT(isl_cli_config_parse(cut, strlen(cut) + 1, "f", NULL, &c, &err), ISL_EINVAL);
  CHECK_MSG(strstr(err.msg, "f: line 1: unexpected text after the JSON value"), "%s", err.msg);
}

TEST(config_vars_of_every_json_type) {
  const char *json =
      W("{\"name\": \"a\", \"main\": \"a.js\", \"vars\": {"
        "\"S\": \"text with \\\"quotes\\\" and \\u00e9\", \"EMPTY\": \"\", \"I\": 10, \"NEG\": -3, "
        "\"F\": 1.5, \"T\": true, \"FALSE\": false, \"N\": null, \"ARR\": [1, \"x\", [], {}], "
        "\"O\": {\"a\": {\"b\": [null]}}, \"$dollar\": 1, \"_u\": 2}, "
        "\"secrets\": {\"SEC\": \"\"}}");
  isl_cli_config_t c;
  isl_err_t err = {0};
  CHECK_MSG(parse(json, &c, &err) == 0, "%s", err.msg);
  CHECK_EQ_STR(c.workers[0].env_json,
               "{\"S\":\"text with \\\"quotes\\\" and \xc3\xa9\",\"EMPTY\":\"\",\"I\":10,\"NEG\":-3,\"F\":1.5,"
               "\"T\":true,\"FALSE\":false,\"N\":null,\"ARR\":[1,\"x\",[],{}],\"O\":{\"a\":{\"b\":[null]}},"
               "\"$dollar\":1,\"_u\":2,\"SEC\":\"\"}");
  CHECK_EQ_INT(c.workers[0].n_secrets, 1);
  CHECK_EQ_STR(c.workers[0].secret_names[0], "SEC");
  isl_cli_config_free(&c);
}

TEST(config_load_reads_file_and_resolves_main) {
  char dir[] = "/tmp/isolde-config-XXXXXX";
  CHECK(mkdtemp(dir) != NULL);
  char path[128];
  snprintf(path, sizeof(path), "%s/isolde.json", dir);
  FILE *f = fopen(path, "w");
  CHECK(f != NULL);
  fputs("{\"workers\": [{\"name\": \"a\", \"main\": \"src/a.js\", \"routes\": [\"*example.com/*\"]}]}\n", f);
  fclose(f);

  isl_cli_config_t c;
  isl_err_t err = {0};
  int rc = isl_cli_config_load(path, &c, &err);
  CHECK_MSG(rc == 0, "%s", err.msg);
  char want[160];
  snprintf(want, sizeof(want), "%s/src/a.js", dir);
  CHECK_EQ_STR(c.workers[0].main, want);
  CHECK_EQ_STR(c.workers[0].routes[0], "*example.com/*");
  isl_cli_config_free(&c);

  /* Errors name the file as given. */
  f = fopen(path, "w");
  CHECK(f != NULL);
  fputs("{\n  \"workers\": [{\"name\": \"a\", \"main\": \"a.js\", \"limits\": {\"cpu_ms\": \"50\"}}]\n}\n", f);
  fclose(f);
  CHECK_EQ_INT(isl_cli_config_load(path, &c, &err), ISL_EINVAL);
  char want_msg[256];
  snprintf(want_msg, sizeof(want_msg),
           "%s: workers[0].limits.cpu_ms: expected an integer from 0 to 300000, got a string", path);
  CHECK_EQ_STR(err.msg, want_msg);
  unlink(path);

  CHECK_EQ_INT(isl_cli_config_load(path, &c, &err), -ENOENT);
  CHECK(strstr(err.msg, "isolde.json: cannot open: No such file or directory") != NULL);
  CHECK_EQ_INT(isl_cli_config_load(dir, &c, &err), -EISDIR);
  CHECK(strstr(err.msg, "cannot read") != NULL);
  rmdir(dir);
}

TEST(config_reads_origins_and_pass_through_routes) {
  const char *json =
      "{\"cache_mb\": 64, \"routes\": [{\"pattern\": \"static.test/*\", \"origin\": \"http://127.0.0.1:9001/\"}],\n"
      " \"workers\": [{\"name\": \"a\", \"main\": \"a.js\",\n"
      "   \"routes\": [\"plain.test/*\", {\"pattern\": \"shop.test/*\", \"origin\": \"https://[::1]:8443\"}],\n"
      "   \"allow_origins\": [\"http://127.0.0.1:9002\"], \"limits\": {\"subrequests\": 7}}]}";
  isl_cli_config_t c;
  isl_err_t err = {0};
  CHECK_MSG(isl_cli_config_parse(json, strlen(json), "isolde.json", NULL, &c, &err) == 0, "%s", err.msg);
  CHECK_EQ_INT(c.cache_mb, 64);
  CHECK_EQ_INT(c.n_pass, 1);
  CHECK_EQ_STR(c.pass_patterns[0], "static.test/*");
  CHECK_EQ_STR(c.pass_origins[0], "http://127.0.0.1:9001");
  CHECK_EQ_INT(c.workers[0].n_routes, 2);
  CHECK(c.workers[0].route_origins[0] == NULL);
  CHECK_EQ_STR(c.workers[0].route_origins[1], "https://[::1]:8443");
  CHECK_EQ_INT(c.workers[0].n_allow_origins, 1);
  CHECK_EQ_STR(c.workers[0].allow_origins[0], "http://127.0.0.1:9002");
  CHECK_EQ_INT(c.workers[0].subrequests, 7);
  isl_cli_config_free(&c);
}

TEST(config_cli_vars_to_json) {
  char *json = NULL;
  isl_err_t err = {0};
  char *ok[] = {"GREETING=hello", "URL=http://x/?a=b", "EMPTY=", "GREETING=again", "$x=\"q\""};
  CHECK_MSG(isl_cli_vars_to_json(ok, 5, &json, &err) == 0, "%s", err.msg);
  CHECK_EQ_STR(json, "{\"GREETING\":\"again\",\"URL\":\"http://x/?a=b\",\"EMPTY\":\"\",\"$x\":\"\\\"q\\\"\"}");
  free(json);
  CHECK(isl_cli_vars_to_json(NULL, 0, &json, NULL) == 0);
  CHECK_EQ_STR(json, "{}");
  free(json);

  char *no_eq[] = {"A=1", "GREETING"};
  CHECK_EQ_INT(isl_cli_vars_to_json(no_eq, 2, &json, &err), ISL_EINVAL);
  CHECK(json == NULL);
  CHECK_EQ_STR(err.msg, "--var \"GREETING\": expected KEY=VALUE");
  char *empty_key[] = {"=value"};
  CHECK_EQ_INT(isl_cli_vars_to_json(empty_key, 1, &json, &err), ISL_EINVAL);
  CHECK(strstr(err.msg, "--var \"=value\": the empty string is not a valid name") != NULL);
  char *bad_key[] = {"MY VAR=1"};
  CHECK_EQ_INT(isl_cli_vars_to_json(bad_key, 1, &json, &err), ISL_EINVAL);
  CHECK(strstr(err.msg, "--var \"MY VAR=1\": \"MY VAR\" is not a valid name") != NULL);
  char *digit[] = {"1A=1"};
  CHECK_EQ_INT(isl_cli_vars_to_json(digit, 1, &json, &err), ISL_EINVAL);
  CHECK(json == NULL);
}

/* Writes an empty file at dir/rel, making its folder. */
static int touch(const char *dir, const char *rel) {
  char path[512];
  snprintf(path, sizeof(path), "%s/%s", dir, rel);
  for (char *p = path + strlen(dir) + 1; (p = strchr(p, '/')); p++) {
    *p = 0;
    if (mkdir(path, 0755) != 0 && errno != EEXIST) return -1;
    *p = '/';
  }
  FILE *f = fopen(path, "w");
  return f && fclose(f) == 0 ? 0 : -1;
}

/* check_roots on workers whose mains are dir/mains[i]: the rc, err filled. */
static int roots_of(const char *dir, const char *const *mains, size_t n, isl_err_t *err) {
  isl_cli_config_t c = {0};
  c.workers = calloc(n, sizeof(*c.workers));
  if (!c.workers) return -1;
  c.n_workers = n;
  for (size_t i = 0; i < n; i++) {
    char name[32], path[512];
    snprintf(name, sizeof(name), "w%zu", i);
    snprintf(path, sizeof(path), "%s/%s", dir, mains[i]);
    c.workers[i].name = strdup(name);
    c.workers[i].main = strdup(path);
  }
  int rc = isl_cli_config_check_roots(&c, "isolde.json", err);
  isl_cli_config_free(&c);
  return rc;
}

TEST(config_check_roots_refuses_overlapping_module_folders) {
  char dir[] = "/tmp/isolde-roots-XXXXXX";
  CHECK(mkdtemp(dir) != NULL);
  const char *files[] = {"a/w.js", "a/v.js", "ab/w.js", "a-b/w.js", "a/sub/w.js", "c/w.js"};
  for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) CHECK(touch(dir, files[i]) == 0);
  isl_err_t err = {0};
  char want[1024];

  /* Siblings, also with names that share a prefix; a missing main is
   * skipped (that worker cannot load); one script twice is allowed. */
  const char *ok[] = {"a/w.js", "ab/w.js", "a-b/w.js", "c/w.js", "a/missing/x.js", "a/w.js"};
  CHECK_MSG(roots_of(dir, ok, 6, &err) == 0, "%s", err.msg);

  /* Same folder, another script: named in the config's order. */
  const char *same[] = {"c/w.js", "a/v.js", "ab/w.js", "a/w.js"};
  CHECK_EQ_INT(roots_of(dir, same, 4, &err), ISL_EINVAL);
  snprintf(want, sizeof(want),
           "isolde.json: workers \"w1\" and \"w3\" have overlapping module folders, %s/a and %s/a (the same folder, "
           "or one inside the other), so each could import() the other's files: give each worker a folder of its own",
           dir, dir);
  CHECK_EQ_STR(err.msg, want);

  /* Nested, with other folders sorting between them ("a-b" < "a/"), and
   * one script twice that is itself inside another's folder. */
  const char *nested[] = {"a/sub/w.js", "a-b/w.js", "ab/w.js", "a/w.js"};
  CHECK_EQ_INT(roots_of(dir, nested, 4, &err), ISL_EINVAL);
  CHECK_MSG(strstr(err.msg, "workers \"w0\" and \"w3\""), "%s", err.msg);
  snprintf(want, sizeof(want), "%s/a/sub and %s/a (", dir, dir);
  CHECK_MSG(strstr(err.msg, want), "%s", err.msg);
  const char *twice_nested[] = {"a/w.js", "a/w.js", "a/sub/w.js"};
  CHECK_EQ_INT(roots_of(dir, twice_nested, 3, &err), ISL_EINVAL);
  CHECK_MSG(strstr(err.msg, "and \"w2\""), "%s", err.msg);

  /* Many tenants: 2,000 folders in no order, then one more inside one. */
  enum { N = 2000 };
  static char names[N + 1][32];
  const char *many[N + 1];
  for (size_t i = 0; i < N; i++) {
    snprintf(names[i], sizeof(names[i]), "t/%zu/w.js", (i * 7919) % N);
    many[i] = names[i];
  }
  for (size_t i = 0; i < N; i++) CHECK(touch(dir, names[i]) == 0);
  CHECK_MSG(roots_of(dir, many, N, &err) == 0, "%s", err.msg);
  snprintf(names[N], sizeof(names[N]), "t/1234/x/w.js");
  CHECK(touch(dir, names[N]) == 0);
  many[N] = names[N];
  CHECK_EQ_INT(roots_of(dir, many, N + 1, &err), ISL_EINVAL);
  CHECK_MSG(strstr(err.msg, "and \"w2000\""), "%s", err.msg);

  char cmd[128];
  snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
  CHECK(system(cmd) == 0);
}
