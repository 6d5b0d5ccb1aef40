/*
 * config.c - reads isolde.json (config.h has the format).
 *
 * cJSON parses the text into a tree; one pass then walks the tree,
 * checking every key against the list its object allows, and copies the
 * values into plain C structs, so nothing outside this file sees cJSON.
 * While it walks, it keeps the field path it is at ("workers[1].routes[0]")
 * in a small buffer, pushed and popped around each descent, so that every
 * error can name its field without building strings on the happy path.
 *
 * Route patterns are checked by adding them to a scratch router, the same
 * code that will route requests, so a pattern that loads is one that
 * works, and a pattern used by two workers is caught here.
 */
#include "cli/config.h"

#include <arpa/inet.h>
#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "runtime/router.h"

/* ---- types ------------------------------------------------------------------ */

typedef struct {
  const char *file; /* leads every message */
  char path[256];   /* the field being read */
  size_t plen;
  isl_err_t *err;
} ctx_t;

static const char *const top_keys[] = {"listen", "threads", "memory_budget_mb", "cache_mb",
                                       "http",   "workers", "routes",           NULL};
static const char *const listen_keys[] = {"host", "port", NULL};
static const char *const http_keys[] = {
    "max_body_mb",     "max_header_kb",        "header_timeout_ms", "body_timeout_ms",      "idle_timeout_ms",
    "max_connections", "max_queued_responses", "max_queued_kb",     "max_tenant_queued_mb", NULL};
static const char *const worker_keys[] = {"name", "main", "routes", "vars", "secrets", "limits", "allow_origins", NULL};
static const char *const route_keys[] = {"pattern", "zone_name", "zone_id", "custom_domain", "origin", NULL};
static const char *const pass_route_keys[] = {"pattern", "origin", NULL};
static const char *const limits_keys[] = {"cpu_ms", "startup_ms", "memory_mb", "subrequests", NULL};

/* ---- messages and field paths ------------------------------------------------------ */

/* s quoted for a message: non-printable bytes escaped, long text cut. */
static const char *quote(char *buf, size_t size, const char *s) {
  size_t o = 0;
  buf[o++] = '"';
  for (; *s && o + 8 < size; s++) {
    unsigned char c = (unsigned char)*s;
    if (c == '"' || c == '\\') {
      buf[o++] = '\\';
      buf[o++] = (char)c;
    } else if (c < 0x20 || c == 0x7f) {
      o += (size_t)snprintf(buf + o, size - o, "\\x%02x", c);
    } else {
      buf[o++] = (char)c;
    }
  }
  if (*s) {
    memcpy(buf + o, "...", 3);
    o += 3;
  }
  buf[o++] = '"';
  buf[o] = '\0';
  return buf;
}

/* Sets the error "FILE: PATH: message" and returns ISL_EINVAL. */
static int fail(ctx_t *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail(ctx_t *c, const char *fmt, ...) {
  char msg[400];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof(msg), fmt, ap);
  va_end(ap);
  if (c->plen) return isl_err_set(c->err, ISL_EINVAL, "%s: %s: %s", c->file, c->path, msg);
  return isl_err_set(c->err, ISL_EINVAL, "%s: %s", c->file, msg);
}

static int is_ident(const char *s) {
  if (!*s || (*s >= '0' && *s <= '9')) return 0;
  for (; *s; s++) {
    char ch = *s;
    if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '_' || ch == '$'))
      return 0;
  }
  return 1;
}

/* Appends ".key" (or `["key"]` when key is not an identifier) to the path;
 * returns the length to pop back to. A path too long is cut, not lost. */
static size_t push_key(ctx_t *c, const char *key) {
  size_t mark = c->plen;
  char q[96];
  int n;
  if (is_ident(key)) {
    n = snprintf(c->path + c->plen, sizeof(c->path) - c->plen, "%s%s", c->plen ? "." : "", key);
  } else {
    n = snprintf(c->path + c->plen, sizeof(c->path) - c->plen, "[%s]", quote(q, sizeof(q), key));
  }
  c->plen += (size_t)n;
  if (c->plen >= sizeof(c->path)) c->plen = sizeof(c->path) - 1;
  return mark;
}

static size_t push_index(ctx_t *c, size_t i) {
  size_t mark = c->plen;
  int n = snprintf(c->path + c->plen, sizeof(c->path) - c->plen, "[%zu]", i);
  c->plen += (size_t)n;
  if (c->plen >= sizeof(c->path)) c->plen = sizeof(c->path) - 1;
  return mark;
}

static void pop(ctx_t *c, size_t mark) {
  c->plen = mark;
  c->path[mark] = '\0';
}

/* "a string", "a number (2.5)", ... for "expected X, got Y". */
static const char *describe(const cJSON *v, char *buf, size_t size) {
  if (cJSON_IsString(v)) return "a string";
  if (cJSON_IsNumber(v)) {
    snprintf(buf, size, "%.15g", v->valuedouble);
    return buf;
  }
  if (cJSON_IsObject(v)) return "an object";
  if (cJSON_IsArray(v)) return "an array";
  if (cJSON_IsTrue(v)) return "true";
  if (cJSON_IsFalse(v)) return "false";
  return "null";
}

/* ---- typed getters ---------------------------------------------------------------- */

/* Checks obj is an object whose keys are all in allowed (NULL: any) and
 * appear once. The caller has pushed obj's path. */
static int check_object(ctx_t *c, const cJSON *obj, const char *const *allowed) {
  char d[40];
  if (!cJSON_IsObject(obj)) return fail(c, "expected an object, got %s", describe(obj, d, sizeof(d)));
  for (const cJSON *k = obj->child; k; k = k->next) {
    char q[96];
    if (allowed) {
      const char *const *a = allowed;
      while (*a && strcmp(*a, k->string) != 0) a++;
      if (!*a) {
        char list[256];
        size_t o = 0;
        for (a = allowed; *a && o < sizeof(list); a++)
          o += (size_t)snprintf(list + o, sizeof(list) - o, "%s%s", a == allowed ? "" : ", ", *a);
        return fail(c, "unknown key %s (expected %s)", quote(q, sizeof(q), k->string), list);
      }
    }
    for (const cJSON *e = obj->child; e != k; e = e->next)
      if (strcmp(e->string, k->string) == 0) return fail(c, "key %s is given twice", quote(q, sizeof(q), k->string));
  }
  return 0;
}

/* *out = obj[key] when present (left alone when absent), an integer in
 * min..max. */
static int get_int(ctx_t *c, const cJSON *obj, const char *key, long long min, long long max, long long *out) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
  if (!v) return 0;
  size_t mark = push_key(c, key);
  char d[40];
  int rc = 0;
  if (!cJSON_IsNumber(v) || !(v->valuedouble >= (double)min && v->valuedouble <= (double)max) ||
      v->valuedouble != (double)(long long)v->valuedouble) {
    rc = fail(c, "expected an integer from %lld to %lld, got %s", min, max, describe(v, d, sizeof(d)));
  } else {
    *out = (long long)v->valuedouble;
  }
  pop(c, mark);
  return rc;
}

static int get_u32(ctx_t *c, const cJSON *obj, const char *key, long long min, long long max, uint32_t *out) {
  long long v = *out;
  int rc = get_int(c, obj, key, min, max, &v);
  *out = (uint32_t)v;
  return rc;
}

/* The string obj[key], or NULL with rc 0 when absent and not required. */
static int get_str(ctx_t *c, const cJSON *obj, const char *key, int required, const char **out) {
  *out = NULL;
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
  if (!v) return required ? fail(c, "missing \"%s\"", key) : 0;
  size_t mark = push_key(c, key);
  char d[40];
  int rc = 0;
  if (!cJSON_IsString(v)) {
    rc = fail(c, "expected a string, got %s", describe(v, d, sizeof(d)));
  } else if (!v->valuestring[0]) {
    rc = fail(c, "must not be empty");
  } else {
    *out = v->valuestring;
  }
  pop(c, mark);
  return rc;
}

/* ---- workers ---------------------------------------------------------------------- */

static int valid_name(const char *s) {
  size_t n = 0;
  for (; s[n]; n++) {
    char ch = s[n];
    if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '_' || ch == '-'))
      return 0;
  }
  return n >= 1 && n <= 63;
}

static char *resolve(const char *base_dir, const char *main) {
  if (main[0] == '/' || !base_dir || !base_dir[0]) return strdup(main);
  while (main[0] == '.' && main[1] == '/') main += 2;
  size_t b = strlen(base_dir), m = strlen(main);
  int slash = base_dir[b - 1] != '/';
  char *s = malloc(b + (size_t)slash + m + 1);
  if (!s) return NULL;
  memcpy(s, base_dir, b);
  if (slash) s[b] = '/';
  memcpy(s + b + slash, main, m + 1);
  return s;
}

static int oom(ctx_t *c) {
  return isl_err_set(c->err, ISL_ENOMEM, "%s: out of memory", c->file);
}

/* "http://host[:port]" or "https://...", with at most a trailing "/": the
 * origin a route passes requests to. */
static int valid_origin(const char *s) {
  const char *p = strncmp(s, "http://", 7) == 0 ? s + 7 : strncmp(s, "https://", 8) == 0 ? s + 8 : NULL;
  if (!p || !*p) return 0;
  if (*p == '[') { /* an IPv6 literal, checked as one */
    const char *end = strchr(p, ']');
    char addr[INET6_ADDRSTRLEN];
    struct in6_addr a6;
    if (!end || (size_t)(end - p - 1) >= sizeof(addr)) return 0;
    memcpy(addr, p + 1, (size_t)(end - p - 1));
    addr[end - p - 1] = 0;
    if (inet_pton(AF_INET6, addr, &a6) != 1) return 0;
    p = end + 1;
  } else {
    size_t n = strspn(p, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-");
    if (!n) return 0;
    p += n;
  }
  if (*p == ':') {
    size_t n = strspn(p + 1, "0123456789");
    if (n < 1 || n > 5 || atol(p + 1) > 65535) return 0;
    p += 1 + n;
  }
  return *p == 0 || (p[0] == '/' && p[1] == 0);
}

/* An "origin" field of obj (path pushed) into *out (owned; NULL if none). */
static int parse_origin(ctx_t *c, const cJSON *obj, int required, char **out) {
  const char *origin;
  int rc = get_str(c, obj, "origin", required, &origin);
  if (rc != 0 || !origin) return rc;
  if (!valid_origin(origin)) {
    char q[96];
    size_t mark = push_key(c, "origin");
    rc = fail(c, "%s is not an origin like \"http://127.0.0.1:9000\"", quote(q, sizeof(q), origin));
    pop(c, mark);
    return rc;
  }
  size_t n = strlen(origin);
  if (!(*out = strndup(origin, origin[n - 1] == '/' ? n - 1 : n))) return oom(c);
  return 0;
}

/* One element of "routes" (path pushed): the pattern to route, in *out
 * (owned), and the route's origin, in *origin (owned, or NULL). */
static int parse_route(ctx_t *c, const cJSON *v, isl_rt_router_t *scratch, void *target, char **out, char **origin) {
  char d[40];
  const char *pattern;
  int custom = 0;
  if (cJSON_IsString(v)) {
    pattern = v->valuestring;
  } else if (cJSON_IsObject(v) && cJSON_GetObjectItemCaseSensitive(v, "pattern")) {
    int rc = check_object(c, v, route_keys);
    if (rc == 0) rc = get_str(c, v, "pattern", 1, &pattern);
    const char *ignored;
    if (rc == 0) rc = get_str(c, v, "zone_name", 0, &ignored);
    if (rc == 0) rc = get_str(c, v, "zone_id", 0, &ignored);
    if (rc == 0) rc = parse_origin(c, v, 0, origin);
    if (rc != 0) return rc;
    const cJSON *cd = cJSON_GetObjectItemCaseSensitive(v, "custom_domain");
    if (cd) {
      size_t mark = push_key(c, "custom_domain");
      if (!cJSON_IsBool(cd)) return fail(c, "expected true or false, got %s", describe(cd, d, sizeof(d)));
      pop(c, mark);
      custom = cJSON_IsTrue(cd);
    }
  } else {
    return fail(c, "expected a string or an object with \"pattern\", got %s", describe(v, d, sizeof(d)));
  }

  char *p;
  if (custom) {
    if (strpbrk(pattern, "/*:")) {
      char q[96];
      size_t mark = push_key(c, "pattern");
      int rc = fail(c, "a custom domain is a bare hostname, got %s", quote(q, sizeof(q), pattern));
      pop(c, mark);
      return rc;
    }
    size_t n = strlen(pattern);
    p = malloc(n + 3);
    if (p) memcpy(p, pattern, n), memcpy(p + n, "/*", 3);
  } else {
    p = strdup(pattern);
  }
  if (!p) return oom(c);
  isl_err_t rerr = {0};
  int rc = isl_rt_router_add(scratch, p, target, &rerr);
  if (rc != 0) {
    free(p);
    return rc == ISL_EINVAL ? fail(c, "%s", rerr.msg) : oom(c);
  }
  *out = p;
  return 0;
}

static int parse_env(ctx_t *c, const cJSON *w, isl_cli_worker_conf_t *wc) {
  const cJSON *vars = cJSON_GetObjectItemCaseSensitive(w, "vars");
  const cJSON *secrets = cJSON_GetObjectItemCaseSensitive(w, "secrets");
  char q[96], d[40];
  size_t mark;
  int rc = 0;
  if (vars) {
    mark = push_key(c, "vars");
    if ((rc = check_object(c, vars, NULL)) != 0) return rc;
    for (const cJSON *v = vars->child; v; v = v->next)
      if (!is_ident(v->string))
        return fail(c, "%s is not a valid name (a JS identifier: letters, digits, _ and $)",
                    quote(q, sizeof(q), v->string));
    pop(c, mark);
  }
  size_t n_secrets = 0;
  if (secrets) {
    mark = push_key(c, "secrets");
    if ((rc = check_object(c, secrets, NULL)) != 0) return rc;
    for (const cJSON *v = secrets->child; v; v = v->next) {
      if (!is_ident(v->string))
        return fail(c, "%s is not a valid name (a JS identifier: letters, digits, _ and $)",
                    quote(q, sizeof(q), v->string));
      size_t inner = push_key(c, v->string);
      /* A secret's value stays out of messages, even a mistyped one. */
      if (!cJSON_IsString(v))
        return fail(c, "expected a string, got %s", cJSON_IsNumber(v) ? "a number" : describe(v, d, sizeof(d)));
      if (vars && cJSON_GetObjectItemCaseSensitive(vars, v->string)) return fail(c, "also defined in vars");
      pop(c, inner);
      n_secrets++;
    }
    pop(c, mark);
  }

  cJSON *env = cJSON_CreateObject();
  if (!env) return oom(c);
  if (n_secrets && !(wc->secret_names = calloc(n_secrets, sizeof(char *)))) goto nomem;
  for (const cJSON *v = vars ? vars->child : NULL; v; v = v->next) {
    cJSON *dup = cJSON_Duplicate(v, 1);
    if (!dup) goto nomem;
    cJSON_AddItemToObject(env, v->string, dup);
  }
  for (const cJSON *v = secrets ? secrets->child : NULL; v; v = v->next) {
    if (!cJSON_AddStringToObject(env, v->string, v->valuestring)) goto nomem;
    if (!(wc->secret_names[wc->n_secrets] = strdup(v->string))) goto nomem;
    wc->n_secrets++;
  }
  char *text = cJSON_PrintUnformatted(env);
  if (!text) goto nomem;
  wc->env_json = strdup(text);
  cJSON_free(text);
  if (!wc->env_json) goto nomem;
  cJSON_Delete(env);
  return 0;
nomem:
  cJSON_Delete(env);
  return oom(c);
}

/* workers[i] (path pushed) into wc; names of workers[0..i) are set. */
static int parse_worker(ctx_t *c, const cJSON *w, isl_cli_config_t *cfg, size_t i, const char *base_dir,
                        isl_rt_router_t *scratch) {
  isl_cli_worker_conf_t *wc = &cfg->workers[i];
  int rc = check_object(c, w, worker_keys);
  if (rc != 0) return rc;

  const char *name, *main;
  if ((rc = get_str(c, w, "name", 1, &name)) != 0) return rc;
  char q[96];
  size_t mark = push_key(c, "name");
  if (!valid_name(name))
    return fail(c, "%s is not a valid name (1 to 63 of A-Z a-z 0-9 _ -)", quote(q, sizeof(q), name));
  for (size_t k = 0; k < i; k++)
    if (strcmp(cfg->workers[k].name, name) == 0)
      return fail(c, "\"%s\" is used twice (first by workers[%zu])", name, k);
  pop(c, mark);
  if (!(wc->name = strdup(name))) return oom(c);

  if ((rc = get_str(c, w, "main", 1, &main)) != 0) return rc;
  if (!(wc->main = resolve(base_dir, main))) return oom(c);

  const cJSON *routes = cJSON_GetObjectItemCaseSensitive(w, "routes");
  if (routes) {
    char d[40];
    mark = push_key(c, "routes");
    if (!cJSON_IsArray(routes)) return fail(c, "expected an array, got %s", describe(routes, d, sizeof(d)));
    size_t n = (size_t)cJSON_GetArraySize(routes);
    if (n && (!(wc->routes = calloc(n, sizeof(char *))) || !(wc->route_origins = calloc(n, sizeof(char *)))))
      return oom(c);
    size_t j = 0;
    for (const cJSON *r = routes->child; r; r = r->next, j++) {
      size_t inner = push_index(c, j);
      if ((rc = parse_route(c, r, scratch, wc, &wc->routes[j], &wc->route_origins[j])) != 0) {
        /* Only routes below n_routes are freed with the config. */
        free(wc->route_origins[j]);
        wc->route_origins[j] = NULL;
        return rc;
      }
      wc->n_routes++;
      pop(c, inner);
    }
    pop(c, mark);
  }

  if ((rc = parse_env(c, w, wc)) != 0) return rc;

  const cJSON *allow = cJSON_GetObjectItemCaseSensitive(w, "allow_origins");
  if (allow) {
    char d[40];
    mark = push_key(c, "allow_origins");
    if (!cJSON_IsArray(allow)) return fail(c, "expected an array of origins, got %s", describe(allow, d, sizeof(d)));
    size_t n = (size_t)cJSON_GetArraySize(allow);
    if (n && !(wc->allow_origins = calloc(n, sizeof(char *)))) return oom(c);
    size_t j = 0;
    for (const cJSON *a = allow->child; a; a = a->next, j++) {
      size_t inner = push_index(c, j);
      char q[96];
      if (!cJSON_IsString(a) || !valid_origin(a->valuestring))
        return fail(c, "expected an origin like \"http://127.0.0.1:9000\", got %s",
                    cJSON_IsString(a) ? quote(q, sizeof(q), a->valuestring) : describe(a, d, sizeof(d)));
      size_t len = strlen(a->valuestring);
      if (!(wc->allow_origins[j] = strndup(a->valuestring, a->valuestring[len - 1] == '/' ? len - 1 : len)))
        return oom(c);
      wc->n_allow_origins++;
      pop(c, inner);
    }
    pop(c, mark);
  }

  const cJSON *limits = cJSON_GetObjectItemCaseSensitive(w, "limits");
  if (limits) {
    mark = push_key(c, "limits");
    if ((rc = check_object(c, limits, limits_keys)) != 0) return rc;
    if ((rc = get_u32(c, limits, "cpu_ms", 0, 300000, &wc->cpu_ms)) != 0) return rc;
    if ((rc = get_u32(c, limits, "startup_ms", 0, 300000, &wc->startup_ms)) != 0) return rc;
    if ((rc = get_u32(c, limits, "memory_mb", 0, 2048, &wc->memory_mb)) != 0) return rc;
    if ((rc = get_u32(c, limits, "subrequests", 0, 10000, &wc->subrequests)) != 0) return rc;
    pop(c, mark);
  }
  return 0;
}

/* ---- the file --------------------------------------------------------------------- */

static int line_of(const char *json, size_t pos, size_t *col) {
  int line = 1;
  size_t start = 0;
  for (size_t i = 0; i < pos; i++)
    if (json[i] == '\n') line++, start = i + 1;
  *col = pos - start + 1;
  return line;
}

/* Top-level "routes": patterns that go straight to an origin, no worker. */
static int parse_pass_routes(ctx_t *c, const cJSON *root, isl_rt_router_t *scratch, isl_cli_config_t *out) {
  const cJSON *routes = cJSON_GetObjectItemCaseSensitive(root, "routes");
  if (!routes) return 0;
  char d[40];
  size_t mark = push_key(c, "routes");
  if (!cJSON_IsArray(routes)) return fail(c, "expected an array, got %s", describe(routes, d, sizeof(d)));
  size_t n = (size_t)cJSON_GetArraySize(routes);
  if (n && (!(out->pass_patterns = calloc(n, sizeof(char *))) || !(out->pass_origins = calloc(n, sizeof(char *)))))
    return oom(c);
  size_t j = 0;
  for (const cJSON *r = routes->child; r; r = r->next, j++) {
    size_t inner = push_index(c, j);
    if (!cJSON_IsObject(r))
      return fail(c, "expected an object with \"pattern\" and \"origin\", got %s", describe(r, d, sizeof(d)));
    int rc = check_object(c, r, pass_route_keys);
    const char *pattern;
    if (rc == 0) rc = get_str(c, r, "pattern", 1, &pattern);
    if (rc == 0) rc = parse_origin(c, r, 1, &out->pass_origins[j]);
    if (rc != 0) return rc;
    out->n_pass++;
    if (!(out->pass_patterns[j] = strdup(pattern))) return oom(c);
    isl_err_t rerr = {0};
    rc = isl_rt_router_add(scratch, pattern, out, &rerr);
    if (rc != 0) {
      size_t pm = push_key(c, "pattern");
      rc = rc == ISL_EINVAL ? fail(c, "%s", rerr.msg) : oom(c);
      pop(c, pm);
      return rc;
    }
    pop(c, inner);
  }
  pop(c, mark);
  return 0;
}

static int parse_top(ctx_t *c, const cJSON *root, const char *base_dir, isl_cli_config_t *out) {
  int rc = check_object(c, root, top_keys);
  if (rc != 0) return rc;
  size_t mark;
  long long v;

  const cJSON *listen = cJSON_GetObjectItemCaseSensitive(root, "listen");
  const char *host = "127.0.0.1";
  out->port = 8787;
  if (listen) {
    mark = push_key(c, "listen");
    if ((rc = check_object(c, listen, listen_keys)) != 0) return rc;
    const char *h;
    if ((rc = get_str(c, listen, "host", 0, &h)) != 0) return rc;
    if (h) {
      host = h;
      for (const char *s = h; *s; s++) {
        if ((unsigned char)*s <= ' ' || *s == '/') {
          push_key(c, "host");
          return fail(c, "\"%s\" is not a host name or address", h);
        }
      }
    }
    v = out->port;
    if ((rc = get_int(c, listen, "port", 0, 65535, &v)) != 0) return rc;
    out->port = (int)v;
    pop(c, mark);
  }
  if (!(out->host = strdup(host))) return oom(c);

  v = 0;
  if ((rc = get_int(c, root, "threads", 0, 256, &v)) != 0) return rc;
  out->threads = (unsigned)v;
  out->memory_budget_mb = 1024;
  if ((rc = get_u32(c, root, "memory_budget_mb", 1, 1 << 20, &out->memory_budget_mb)) != 0) return rc;
  if ((rc = get_u32(c, root, "cache_mb", 0, 1 << 20, &out->cache_mb)) != 0) return rc;

  const cJSON *http = cJSON_GetObjectItemCaseSensitive(root, "http");
  if (http) {
    mark = push_key(c, "http");
    if ((rc = check_object(c, http, http_keys)) != 0) return rc;
    if ((rc = get_u32(c, http, "max_body_mb", 0, 4096, &out->max_body_mb)) != 0) return rc;
    if ((rc = get_u32(c, http, "max_header_kb", 0, 1024, &out->max_header_kb)) != 0) return rc;
    if ((rc = get_u32(c, http, "header_timeout_ms", 0, 3600000, &out->header_timeout_ms)) != 0) return rc;
    if ((rc = get_u32(c, http, "body_timeout_ms", 0, 3600000, &out->body_timeout_ms)) != 0) return rc;
    if ((rc = get_u32(c, http, "idle_timeout_ms", 0, 86400000, &out->idle_timeout_ms)) != 0) return rc;
    if ((rc = get_u32(c, http, "max_connections", 0, 1000000, &out->max_connections)) != 0) return rc;
    if ((rc = get_u32(c, http, "max_queued_responses", 0, 65536, &out->max_queued_responses)) != 0) return rc;
    if ((rc = get_u32(c, http, "max_queued_kb", 0, 1048576, &out->max_queued_kb)) != 0) return rc;
    if ((rc = get_u32(c, http, "max_tenant_queued_mb", 0, 65536, &out->max_tenant_queued_mb)) != 0) return rc;
    pop(c, mark);
  }

  const cJSON *workers = cJSON_GetObjectItemCaseSensitive(root, "workers");
  if (!workers) return fail(c, "missing \"workers\"");
  char d[40];
  mark = push_key(c, "workers");
  if (!cJSON_IsArray(workers)) return fail(c, "expected an array, got %s", describe(workers, d, sizeof(d)));
  size_t n = (size_t)cJSON_GetArraySize(workers);
  if (n == 0) return fail(c, "expected at least one worker");
  if (!(out->workers = calloc(n, sizeof(*out->workers)))) return oom(c);
  isl_rt_router_t *scratch;
  if (isl_rt_router_new(&scratch) != 0) return oom(c);
  size_t i = 0;
  for (const cJSON *w = workers->child; w; w = w->next, i++) {
    size_t inner = push_index(c, i);
    out->n_workers++;
    if ((rc = parse_worker(c, w, out, i, base_dir, scratch)) != 0) break;
    pop(c, inner);
  }
  if (rc == 0) {
    pop(c, mark);
    rc = parse_pass_routes(c, root, scratch, out);
  }
  isl_rt_router_free(scratch);
  return rc;
}

int isl_cli_config_parse(const char *json, size_t len, const char *path_for_messages, const char *base_dir,
                         isl_cli_config_t *out, isl_err_t *err) {
  memset(out, 0, sizeof(*out));
  ctx_t c = {.file = path_for_messages ? path_for_messages : "config", .err = err};
  if (!json) return fail(&c, "no text");
  size_t ws = 0;
  while (ws < len && (json[ws] == ' ' || json[ws] == '\t' || json[ws] == '\n' || json[ws] == '\r')) ws++;
  if (ws == len) return fail(&c, "empty file, expected a JSON object");

  const char *end = NULL;
  cJSON *root = cJSON_ParseWithLengthOpts(json, len, &end, 0);
  size_t col;
  if (!root) {
    size_t pos = end && end >= json && end <= json + len ? (size_t)(end - json) : 0;
    int line = line_of(json, pos, &col);
    return fail(&c, "line %d: invalid JSON (column %zu)", line, col);
  }
  size_t pos = (size_t)(end - json);
  while (pos < len && (json[pos] == ' ' || json[pos] == '\t' || json[pos] == '\n' || json[pos] == '\r')) pos++;
  int rc;
  if (pos < len) {
    int line = line_of(json, pos, &col);
    rc = fail(&c, "line %d: unexpected text after the JSON value (column %zu)", line, col);
  } else {
    rc = parse_top(&c, root, base_dir, out);
  }
  cJSON_Delete(root);
  if (rc != 0) isl_cli_config_free(out);
  return rc;
}

int isl_cli_config_load(const char *path, isl_cli_config_t *out, isl_err_t *err) {
  memset(out, 0, sizeof(*out));
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    int e = errno;
    return isl_err_set(err, -e, "%s: cannot open: %s", path, strerror(e));
  }
  size_t len = 0, cap = 4096;
  char *buf = malloc(cap);
  int rc = 0;
  for (;;) {
    if (!buf) {
      rc = isl_err_set(err, ISL_ENOMEM, "%s: out of memory", path);
      break;
    }
    ssize_t n = read(fd, buf + len, cap - len);
    if (n < 0) {
      int e = errno;
      if (e == EINTR) continue;
      rc = isl_err_set(err, -e, "%s: cannot read: %s", path, strerror(e));
      break;
    }
    if (n == 0) break;
    len += (size_t)n;
    if (len > ISL_CLI_CONFIG_MAX_BYTES) {
      rc = isl_err_set(err, ISL_EINVAL, "%s: larger than %u bytes", path, (unsigned)ISL_CLI_CONFIG_MAX_BYTES);
      break;
    }
    if (len == cap) {
      char *nb = realloc(buf, cap *= 2);
      if (!nb) free(buf);
      buf = nb;
    }
  }
  close(fd);
  if (rc == 0) {
    const char *slash = strrchr(path, '/');
    char *dir = NULL;
    if (slash) {
      size_t dl = slash == path ? 1 : (size_t)(slash - path);
      dir = strndup(path, dl);
      if (!dir) rc = isl_err_set(err, ISL_ENOMEM, "%s: out of memory", path);
    }
    if (rc == 0) rc = isl_cli_config_parse(buf, len, path, dir, out, err);
    free(dir);
  }
  free(buf);
  return rc;
}

/* ---- module folders ------------------------------------------------------------------ */

typedef struct {
  char *root; /* the realpath of main's folder, with a trailing "/" */
  char *main; /* the realpath of main */
  size_t index;
} root_t;

static int root_cmp(const void *a, const void *b) {
  const root_t *x = a, *y = b;
  int c = strcmp(x->root, y->root);
  return c ? c : strcmp(x->main, y->main);
}

/* The folder without its trailing "/" (but "/" itself), for messages. */
static const char *folder_of(const root_t *r, char *buf, size_t size) {
  size_t n = strlen(r->root);
  if (n > 1) n--;
  snprintf(buf, size, "%.*s", (int)n, r->root);
  return buf;
}

int isl_cli_config_check_roots(const isl_cli_config_t *c, const char *path_for_messages, isl_err_t *err) {
  const char *file = path_for_messages ? path_for_messages : "config";
  if (c->n_workers < 2) return 0;
  root_t *roots = calloc(c->n_workers, sizeof(*roots));
  if (!roots) return isl_err_set(err, ISL_ENOMEM, "%s: out of memory", file);
  size_t n = 0;
  int rc = 0;
  for (size_t i = 0; i < c->n_workers && rc == 0; i++) {
    char real[PATH_MAX];
    /* A main that does not resolve cannot load (the worker's own realpath
     * fails the same way), so it reads no module either. */
    if (!realpath(c->workers[i].main, real)) continue;
    char *slash = strrchr(real, '/');
    size_t dl = slash ? (size_t)(slash - real) + 1 : 0;
    roots[n].index = i;
    roots[n].main = strdup(real);
    roots[n].root = strndup(real, dl);
    if (!roots[n].main || !roots[n].root) {
      free(roots[n].main);
      free(roots[n].root);
      rc = isl_err_set(err, ISL_ENOMEM, "%s: out of memory", file);
      break;
    }
    n++;
  }
  /* With a trailing "/" on each, a folder is inside another exactly when
   * the other is its prefix, and sorted, the folders that start with a
   * given one follow it: comparing neighbours finds every overlap. */
  if (rc == 0) qsort(roots, n, sizeof(*roots), root_cmp);
  for (size_t k = 0; rc == 0 && k + 1 < n; k++) {
    const root_t *a = &roots[k], *b = &roots[k + 1];
    if (strncmp(a->root, b->root, strlen(a->root)) != 0) continue;
    if (strcmp(a->root, b->root) == 0 && strcmp(a->main, b->main) == 0) continue; /* one script, twice */
    if (a->index > b->index) {
      const root_t *t = a;
      a = b;
      b = t;
    }
    char fa[PATH_MAX], fb[PATH_MAX];
    rc = isl_err_set(err, ISL_EINVAL,
                     "%s: workers \"%s\" and \"%s\" have overlapping module folders, %s and %s (the same folder, or "
                     "one inside the other), so each could import() the other's files: give each worker a folder "
                     "of its own",
                     file, c->workers[a->index].name, c->workers[b->index].name, folder_of(a, fa, sizeof(fa)),
                     folder_of(b, fb, sizeof(fb)));
  }
  for (size_t k = 0; k < n; k++) {
    free(roots[k].root);
    free(roots[k].main);
  }
  free(roots);
  return rc;
}

void isl_cli_config_free(isl_cli_config_t *c) {
  if (!c) return;
  for (size_t i = 0; i < c->n_workers; i++) {
    isl_cli_worker_conf_t *w = &c->workers[i];
    free(w->name);
    free(w->main);
    for (size_t k = 0; k < w->n_routes; k++) {
      free(w->routes[k]);
      if (w->route_origins) free(w->route_origins[k]);
    }
    free(w->routes);
    free(w->route_origins);
    for (size_t k = 0; k < w->n_allow_origins; k++) free(w->allow_origins[k]);
    free(w->allow_origins);
    free(w->env_json);
    for (size_t k = 0; k < w->n_secrets; k++) free(w->secret_names[k]);
    free(w->secret_names);
  }
  free(c->workers);
  for (size_t k = 0; k < c->n_pass; k++) {
    free(c->pass_patterns[k]);
    free(c->pass_origins[k]);
  }
  free(c->pass_patterns);
  free(c->pass_origins);
  free(c->host);
  memset(c, 0, sizeof(*c));
}

/* ---- --var ------------------------------------------------------------------------ */

int isl_cli_vars_to_json(char *const *kv, size_t n, char **json_out, isl_err_t *err) {
  *json_out = NULL;
  cJSON *env = cJSON_CreateObject();
  if (!env) return isl_err_set(err, ISL_ENOMEM, "--var: out of memory");
  int rc = 0;
  for (size_t i = 0; i < n && rc == 0; i++) {
    char q[96], qk[96];
    const char *eq = strchr(kv[i], '=');
    if (!eq) {
      rc = isl_err_set(err, ISL_EINVAL, "--var %s: expected KEY=VALUE", quote(q, sizeof(q), kv[i]));
      break;
    }
    char *key = strndup(kv[i], (size_t)(eq - kv[i]));
    if (!key) {
      rc = isl_err_set(err, ISL_ENOMEM, "--var: out of memory");
      break;
    }
    if (!is_ident(key)) {
      rc = isl_err_set(err, ISL_EINVAL,
                       "--var %s: %s is not a valid name (a JS identifier: letters, digits, _ and $, not "
                       "starting with a digit)",
                       quote(q, sizeof(q), kv[i]), key[0] ? quote(qk, sizeof(qk), key) : "the empty string");
    } else {
      cJSON *val = cJSON_CreateString(eq + 1);
      if (!val) {
        rc = isl_err_set(err, ISL_ENOMEM, "--var: out of memory");
      } else if (cJSON_GetObjectItemCaseSensitive(env, key)) {
        cJSON_ReplaceItemInObjectCaseSensitive(env, key, val);
      } else {
        cJSON_AddItemToObject(env, key, val);
      }
    }
    free(key);
  }
  if (rc == 0) {
    char *text = cJSON_PrintUnformatted(env);
    if (text) *json_out = strdup(text);
    cJSON_free(text);
    if (!*json_out) rc = isl_err_set(err, ISL_ENOMEM, "--var: out of memory");
  }
  cJSON_Delete(env);
  return rc;
}
