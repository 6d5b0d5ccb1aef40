/*
 * config.c - fuzz target: the config loader (src/cli/config.c), from a
 * buffer and from a file.
 *
 * Input: the bytes of an isolde.json. Each input is parsed three ways:
 * isl_cli_config_parse on the buffer (base folder "/base"), the same on a
 * memfd through isl_cli_config_load ("/proc/self/fd/N", so the loader's
 * read loop and its folder logic run too), and, when it loads, once more
 * after writing the loaded config back out as JSON.
 *
 * What must hold: both readings agree (same verdict; on success the same
 * config, main paths aside, which depend on the folder); a refusal is
 * ISL_EINVAL (or ISL_ENOMEM) with a message that names the file and leaves
 * the config zeroed; a loaded config keeps every promise of config.h
 * (names valid and unique, ranges, routes that a fresh router takes,
 * origins of the documented form, env_json a JSON object whose keys are JS
 * identifiers, secrets among them); the config written back loads to the
 * same config. ASan, UBSan and LeakSanitizer (leaks on the refusal paths
 * included) stay quiet.
 */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "cli/config.h"
#include "fuzz/common/fuzz.h"
#include "runtime/router.h"

static const uint8_t *g_in;
static size_t g_len;

static void die(const char *what, const char *detail) __attribute__((noreturn));
static void die(const char *what, const char *detail) {
  fprintf(stderr, "\n==== config fuzz check failed: %s\n%s\ninput: %.*s\n", what, detail ? detail : "",
          (int)(g_len < 4000 ? g_len : 4000), (const char *)g_in);
  abort();
}

/* ---- invariants ---------------------------------------------------------------------- */

static int is_zero(const void *p, size_t n) {
  const unsigned char *b = p;
  for (size_t i = 0; i < n; i++)
    if (b[i]) return 0;
  return 1;
}

static int ident(const char *s) {
  if (!*s || (*s >= '0' && *s <= '9')) return 0;
  for (; *s; s++)
    if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') || *s == '_' || *s == '$'))
      return 0;
  return 1;
}

/* "http://host[:port]" or "https://...", as config.h documents origins
 * (stored without a trailing '/'): host a name of letters, digits, '.'
 * and '-', or an IPv6 literal in brackets; port 1-5 digits, <= 65535. */
static int origin_ok(const char *s) {
  const char *p = strncmp(s, "http://", 7) == 0 ? s + 7 : strncmp(s, "https://", 8) == 0 ? s + 8 : NULL;
  if (!p || !*p) return 0;
  size_t n;
  if (*p == '[') {
    n = 1 + strspn(p + 1, "0123456789abcdefABCDEF:.");
    if (n < 3 || p[n] != ']') return 0;
    n++;
  } else {
    n = strspn(p, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-");
    if (n == 0) return 0;
  }
  p += n;
  if (*p == ':') {
    size_t d = strspn(p + 1, "0123456789");
    if (d < 1 || d > 5 || atol(p + 1) > 65535) return 0;
    p += 1 + d;
  }
  return *p == 0;
}

static void check_refusal(int rc, const isl_cli_config_t *c, const isl_err_t *err, const char *file) {
  if (rc != ISL_EINVAL && rc != ISL_ENOMEM) die("a refusal that is neither ISL_EINVAL nor ISL_ENOMEM", err->msg);
  if (err->code != rc) die("err->code is not the return value", err->msg);
  if (!memchr(err->msg, 0, sizeof(err->msg))) die("an error message without its NUL", NULL);
  if (strncmp(err->msg, file, strlen(file)) != 0 || strncmp(err->msg + strlen(file), ": ", 2) != 0)
    die("an error message that does not start with the file name", err->msg);
  if (!is_zero(c, sizeof(*c))) die("a refused config is not left zeroed", err->msg);
}

static void check_loaded(const isl_cli_config_t *c) {
  if (!c->host || !*c->host || strpbrk(c->host, " \t\r\n/")) die("listen.host is empty or has a blank or '/'", c->host);
  if (c->port < 0 || c->port > 65535 || c->threads > 256) die("listen.port or threads out of range", NULL);
  if (c->memory_budget_mb < 1 || c->memory_budget_mb > (1u << 20) || c->cache_mb > (1u << 20))
    die("memory_budget_mb or cache_mb out of range", NULL);
  if (c->max_body_mb > 4096 || c->max_header_kb > 1024 || c->header_timeout_ms > 3600000 ||
      c->body_timeout_ms > 3600000 || c->idle_timeout_ms > 86400000 || c->max_connections > 1000000 ||
      c->max_queued_responses > 65536 || c->max_queued_kb > 1048576 || c->max_tenant_queued_mb > 65536)
    die("an http field out of range", NULL);
  if (c->n_workers < 1) die("a config without workers loaded", NULL);
  isl_rt_router_t *rt;
  if (isl_rt_router_new(&rt) != 0) abort();
  for (size_t i = 0; i < c->n_workers; i++) {
    const isl_cli_worker_conf_t *w = &c->workers[i];
    size_t nl = strlen(w->name);
    if (nl < 1 || nl > 63 || strspn(w->name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-") != nl)
      die("an invalid worker name loaded", w->name);
    for (size_t k = 0; k < i; k++)
      if (strcmp(c->workers[k].name, w->name) == 0) die("two workers with one name", w->name);
    if (!w->main || !*w->main) die("a worker without main", w->name);
    if (w->cpu_ms > 300000 || w->startup_ms > 300000 || w->memory_mb > 2048 || w->subrequests > 10000)
      die("a worker limit out of range", w->name);
    for (size_t k = 0; k < w->n_routes; k++) {
      isl_err_t err = {0};
      if (isl_rt_router_add(rt, w->routes[k], (void *)w, &err) != 0) die("a loaded route the router refuses", err.msg);
      if (w->route_origins && w->route_origins[k] && !origin_ok(w->route_origins[k]))
        die("a route origin of the wrong form", w->route_origins[k]);
    }
    for (size_t k = 0; k < w->n_allow_origins; k++)
      if (!origin_ok(w->allow_origins[k])) die("an allow_origins entry of the wrong form", w->allow_origins[k]);
    cJSON *env = cJSON_Parse(w->env_json);
    if (!cJSON_IsObject(env)) die("env_json is not a JSON object", w->env_json);
    for (const cJSON *v = env->child; v; v = v->next)
      if (!ident(v->string)) die("an env key that is not an identifier", v->string);
    for (size_t k = 0; k < w->n_secrets; k++) {
      const cJSON *v = cJSON_GetObjectItemCaseSensitive(env, w->secret_names[k]);
      if (!cJSON_IsString(v)) die("a secret missing from env_json or not a string", w->secret_names[k]);
    }
    cJSON_Delete(env);
  }
  for (size_t k = 0; k < c->n_pass; k++) {
    isl_err_t err = {0};
    if (isl_rt_router_add(rt, c->pass_patterns[k], (void *)c, &err) != 0)
      die("a loaded pass route the router refuses", err.msg);
    if (!origin_ok(c->pass_origins[k])) die("a pass route origin of the wrong form", c->pass_origins[k]);
  }
  isl_rt_router_free(rt);
}

/* ---- comparing configs ------------------------------------------------------------------ */

static int str_eq(const char *a, const char *b) {
  return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

static int strs_eq(char **a, char **b, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (!str_eq(a ? a[i] : NULL, b ? b[i] : NULL)) return 0;
  return 1;
}

/* "" when equal, else the field that differs. with_main: compare main too. */
static const char *config_diff(const isl_cli_config_t *a, const isl_cli_config_t *b, int with_main) {
  if (!str_eq(a->host, b->host) || a->port != b->port || a->threads != b->threads) return "listen/threads";
  if (a->memory_budget_mb != b->memory_budget_mb || a->cache_mb != b->cache_mb) return "memory_budget_mb/cache_mb";
  if (a->max_body_mb != b->max_body_mb || a->max_header_kb != b->max_header_kb ||
      a->header_timeout_ms != b->header_timeout_ms || a->body_timeout_ms != b->body_timeout_ms ||
      a->idle_timeout_ms != b->idle_timeout_ms || a->max_connections != b->max_connections ||
      a->max_queued_responses != b->max_queued_responses || a->max_queued_kb != b->max_queued_kb ||
      a->max_tenant_queued_mb != b->max_tenant_queued_mb)
    return "http";
  if (a->n_workers != b->n_workers) return "workers";
  for (size_t i = 0; i < a->n_workers; i++) {
    const isl_cli_worker_conf_t *x = &a->workers[i], *y = &b->workers[i];
    if (!str_eq(x->name, y->name)) return "name";
    if (with_main && !str_eq(x->main, y->main)) return "main";
    if (x->n_routes != y->n_routes || !strs_eq(x->routes, y->routes, x->n_routes)) return "routes";
    if (!strs_eq(x->route_origins, y->route_origins, x->n_routes)) return "route origins";
    if (!str_eq(x->env_json, y->env_json)) return "env_json";
    if (x->n_secrets != y->n_secrets || !strs_eq(x->secret_names, y->secret_names, x->n_secrets)) return "secrets";
    if (x->cpu_ms != y->cpu_ms || x->startup_ms != y->startup_ms || x->memory_mb != y->memory_mb ||
        x->subrequests != y->subrequests)
      return "limits";
    if (x->n_allow_origins != y->n_allow_origins || !strs_eq(x->allow_origins, y->allow_origins, x->n_allow_origins))
      return "allow_origins";
  }
  if (a->n_pass != b->n_pass || !strs_eq(a->pass_patterns, b->pass_patterns, a->n_pass) ||
      !strs_eq(a->pass_origins, b->pass_origins, a->n_pass))
    return "top-level routes";
  return "";
}

/* ---- writing a config back ---------------------------------------------------------------- */

static int is_secret(const isl_cli_worker_conf_t *w, const char *key) {
  for (size_t k = 0; k < w->n_secrets; k++)
    if (strcmp(w->secret_names[k], key) == 0) return 1;
  return 0;
}

static char *write_back(const isl_cli_config_t *c) {
  cJSON *root = cJSON_CreateObject();
  cJSON *listen = cJSON_AddObjectToObject(root, "listen");
  cJSON_AddStringToObject(listen, "host", c->host);
  cJSON_AddNumberToObject(listen, "port", c->port);
  cJSON_AddNumberToObject(root, "threads", c->threads);
  cJSON_AddNumberToObject(root, "memory_budget_mb", c->memory_budget_mb);
  cJSON_AddNumberToObject(root, "cache_mb", c->cache_mb);
  cJSON *http = cJSON_AddObjectToObject(root, "http");
  cJSON_AddNumberToObject(http, "max_body_mb", c->max_body_mb);
  cJSON_AddNumberToObject(http, "max_header_kb", c->max_header_kb);
  cJSON_AddNumberToObject(http, "header_timeout_ms", c->header_timeout_ms);
  cJSON_AddNumberToObject(http, "body_timeout_ms", c->body_timeout_ms);
  cJSON_AddNumberToObject(http, "idle_timeout_ms", c->idle_timeout_ms);
  cJSON_AddNumberToObject(http, "max_connections", c->max_connections);
  cJSON_AddNumberToObject(http, "max_queued_responses", c->max_queued_responses);
  cJSON_AddNumberToObject(http, "max_queued_kb", c->max_queued_kb);
  cJSON_AddNumberToObject(http, "max_tenant_queued_mb", c->max_tenant_queued_mb);
  cJSON *workers = cJSON_AddArrayToObject(root, "workers");
  for (size_t i = 0; i < c->n_workers; i++) {
    const isl_cli_worker_conf_t *w = &c->workers[i];
    cJSON *o = cJSON_CreateObject();
    cJSON_AddItemToArray(workers, o);
    cJSON_AddStringToObject(o, "name", w->name);
    cJSON_AddStringToObject(o, "main", w->main);
    cJSON *routes = cJSON_AddArrayToObject(o, "routes");
    for (size_t k = 0; k < w->n_routes; k++) {
      if (w->route_origins && w->route_origins[k]) {
        cJSON *r = cJSON_CreateObject();
        cJSON_AddStringToObject(r, "pattern", w->routes[k]);
        cJSON_AddStringToObject(r, "origin", w->route_origins[k]);
        cJSON_AddItemToArray(routes, r);
      } else {
        cJSON_AddItemToArray(routes, cJSON_CreateString(w->routes[k]));
      }
    }
    cJSON *env = cJSON_Parse(w->env_json);
    cJSON *vars = cJSON_AddObjectToObject(o, "vars"), *secrets = cJSON_AddObjectToObject(o, "secrets");
    for (const cJSON *v = env ? env->child : NULL; v; v = v->next)
      cJSON_AddItemToObject(is_secret(w, v->string) ? secrets : vars, v->string, cJSON_Duplicate(v, 1));
    cJSON_Delete(env);
    cJSON *limits = cJSON_AddObjectToObject(o, "limits");
    cJSON_AddNumberToObject(limits, "cpu_ms", w->cpu_ms);
    cJSON_AddNumberToObject(limits, "startup_ms", w->startup_ms);
    cJSON_AddNumberToObject(limits, "memory_mb", w->memory_mb);
    cJSON_AddNumberToObject(limits, "subrequests", w->subrequests);
    cJSON *allow = cJSON_AddArrayToObject(o, "allow_origins");
    for (size_t k = 0; k < w->n_allow_origins; k++)
      cJSON_AddItemToArray(allow, cJSON_CreateString(w->allow_origins[k]));
  }
  cJSON *pass = cJSON_AddArrayToObject(root, "routes");
  for (size_t k = 0; k < c->n_pass; k++) {
    cJSON *r = cJSON_CreateObject();
    cJSON_AddStringToObject(r, "pattern", c->pass_patterns[k]);
    cJSON_AddStringToObject(r, "origin", c->pass_origins[k]);
    cJSON_AddItemToArray(pass, r);
  }
  char *text = cJSON_Print(root);
  cJSON_Delete(root);
  if (!text) abort();
  return text;
}

/* ---- the target ---------------------------------------------------------------------------- */

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc;
  (void)argv;
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  g_in = data;
  g_len = size;
  isl_cli_config_t a, b;
  isl_err_t ea = {0}, eb = {0};
  int ra = isl_cli_config_parse((const char *)data, size, "fuzz.json", "/base", &a, &ea);

  int fd = memfd_create("fuzz.json", MFD_CLOEXEC);
  if (fd < 0) abort();
  if (size && write(fd, data, size) != (ssize_t)size) abort();
  char path[64];
  snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
  int rb = isl_cli_config_load(path, &b, &eb);
  close(fd);

  if ((ra == 0) != (rb == 0)) die("parse and load disagree", ra ? ea.msg : eb.msg);
  if (ra != 0) {
    check_refusal(ra, &a, &ea, "fuzz.json");
    check_refusal(rb, &b, &eb, path);
    return 0;
  }
  const char *d = config_diff(&a, &b, 0);
  if (*d) die("parse and load give different configs", d);
  for (size_t i = 0; i < a.n_workers; i++) {
    const char *m = a.workers[i].main;
    if (m[0] != '/') die("a main path not resolved against the folder", m);
  }
  check_loaded(&a);

  char *text = write_back(&a);
  isl_cli_config_t c;
  isl_err_t ec = {0};
  if (isl_cli_config_parse(text, strlen(text), "again.json", NULL, &c, &ec) != 0)
    die("the config written back does not load", ec.msg);
  d = config_diff(&a, &c, 1);
  if (*d) die("the config written back loads differently", d);
  free(text);
  isl_cli_config_free(&c);
  isl_cli_config_free(&a);
  isl_cli_config_free(&b);
  return 0;
}
