/*
 * engine_names: derive the QuickJS-ng wasm build's minified import and
 * export names at build time and write them as a C header.
 *
 * The npm package ships Emscripten glue (emscripten-module.cjs) that is the
 * only place where the meaning of the minified names is written down:
 * exports appear as `c._QTS_NewRuntime=b.L`, and imports as the entries of
 * the object passed as module "a" (`ua={b:...,t:function(a,d,b,e,f){return
 * c.callbacks.callFunction(...)}}`). wasm2c mangles some export names
 * (`Z` becomes `Z5A`), so the C symbol of each export is read from the
 * header wasm2c wrote, never guessed.
 *
 * The mapping is fragile by nature (the package calls its FFI private), so
 * every name Isolde relies on is required: a missing or unrecognised one
 * fails the build with a message that says which.
 *
 * usage: engine_names GLUE.cjs WASM2C_HEADER.h OUT.h
 */
#define _POSIX_C_SOURCE 200809L
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *read_file(const char *path) {
  FILE *f = fopen(path, "rb");
  if (!f) {
    fprintf(stderr, "engine_names: cannot open %s\n", path);
    exit(1);
  }
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  char *buf = malloc((size_t)n + 1);
  if (!buf || fread(buf, 1, (size_t)n, f) != (size_t)n) {
    fprintf(stderr, "engine_names: cannot read %s\n", path);
    exit(1);
  }
  buf[n] = 0;
  fclose(f);
  return buf;
}

static int is_ident(int c) {
  return isalnum(c) || c == '_' || c == '$';
}

/* ---- exports: `c._NAME=b.X` ------------------------------------------- */

#define MAX_EXPORTS 256
static struct {
  char name[64];
  char min[16];
} exports[MAX_EXPORTS];
static int n_exports;

static void scan_exports(const char *js) {
  for (const char *p = js; (p = strstr(p, "c._")) != NULL; p++) {
    const char *q = p + 3;
    char name[64], min[16];
    size_t n = 0;
    while (is_ident(*q) && n < sizeof(name) - 1) name[n++] = *q++;
    name[n] = 0;
    if (strncmp(q, "=b.", 3) != 0) continue;
    q += 3;
    size_t m = 0;
    while (is_ident(*q) && m < sizeof(min) - 1) min[m++] = *q++;
    min[m] = 0;
    if (!n || !m || n_exports == MAX_EXPORTS) continue;
    snprintf(exports[n_exports].name, sizeof(exports[0].name), "%s", name);
    snprintf(exports[n_exports].min, sizeof(exports[0].min), "%s", min);
    n_exports++;
  }
}

static const char *export_min(const char *name) {
  for (int i = 0; i < n_exports; i++)
    if (strcmp(exports[i].name, name) == 0) return exports[i].min;
  return NULL;
}

/* The wasm2c symbol for export X: the line after `/\* export: 'X' *\/`. */
static int c_symbol(const char *hdr, const char *min, char *out, size_t cap) {
  char pat[64];
  snprintf(pat, sizeof(pat), "/* export: '%s' */\n", min);
  const char *p = strstr(hdr, pat);
  if (!p) return -1;
  p += strlen(pat);
  const char *paren = strchr(p, '(');
  if (!paren) return -1;
  const char *e = paren;
  while (e > p && is_ident((unsigned char)e[-1])) e--;
  size_t n = (size_t)(paren - e);
  if (n == 0 || n >= cap) return -1;
  memcpy(out, e, n);
  out[n] = 0;
  return 0;
}

/* ---- imports: entries of the object given as module "a" --------------- */

/* Skip one balanced JS expression up to a top-level ',' or the closing '}'. */
static const char *skip_expr(const char *p) {
  int depth = 0;
  while (*p) {
    char c = *p;
    if (c == '"' || c == '\'') {
      for (p++; *p && *p != c; p++)
        if (*p == '\\' && p[1]) p++;
    } else if (c == '`') {
      for (p++; *p && *p != '`'; p++) {
        if (*p == '\\' && p[1]) {
          p++;
        } else if (*p == '$' && p[1] == '{') {
          /* template expression: code until its matching '}' */
          int d = 1;
          for (p += 2; *p && d; p++) {
            if (*p == '{') d++;
            if (*p == '}') d--;
          }
          p--;
        }
      }
    } else if (c == '(' || c == '[' || c == '{') {
      depth++;
    } else if (c == ')' || c == ']' || c == '}') {
      if (depth == 0) return p;
      depth--;
    } else if (c == ',' && depth == 0) {
      return p;
    }
    if (*p) p++;
  }
  return p;
}

struct role {
  const char *role;  /* name used by Isolde's import implementations */
  const char *need1; /* substrings that identify the entry's value */
  const char *need2;
  const char *avoid; /* a substring it must not contain */
};

/* Order matters: the first role whose tests pass wins. */
static const struct role roles[] = {
    {"host_call", "callbacks.callFunction", NULL, NULL},
    {"interrupt", "callbacks.shouldInterrupt", NULL, NULL},
    {"load_module_source", "callbacks.loadModuleSource", NULL, NULL},
    {"normalize_module", "callbacks.normalizeModule", NULL, NULL},
    {"free_host_ref", "callbacks.freeHostRef", NULL, NULL},
    {"assert_fail", "Assertion failed", NULL, NULL},
    {"resize_heap", ".grow(", NULL, NULL},
    {"localtime", "getTimezoneOffset", "getSeconds", NULL},
    {"tzset", "getTimezoneOffset", "UTC", NULL},
    {"setitimer", "setTimeout", NULL, NULL},
    {"clock_time_get", "performance.now()", "BigInt", NULL},
    {"date_now", "()=>Date.now()", NULL, NULL},
    {"fd_write", ".decode(", NULL, NULL},
    {"environ_get", "Infinity", NULL, NULL},
    {"environ_sizes_get", ".length", NULL, "Infinity"},
    {"fd_close", "52", NULL, NULL},
    {"fd_seek", "70", NULL, NULL},
    {"abort", "(\"\")", NULL, NULL},
    {"exit", "onExit", NULL, NULL},
    {"keepalive_clear", "=!1;", NULL, NULL},
};
#define N_ROLES (sizeof(roles) / sizeof(roles[0]))

static const char *import_for_role[N_ROLES];

/* If `value` is a bare identifier, return the text of its definition. */
static const char *resolve_ident(const char *js, const char *value, size_t len, size_t *out_len) {
  for (size_t i = 0; i < len; i++)
    if (!is_ident((unsigned char)value[i])) return NULL;
  char pat[64];
  if (len + 2 >= sizeof(pat)) return NULL;
  memcpy(pat, value, len);
  pat[len] = '=';
  pat[len + 1] = 0;
  for (const char *p = js; (p = strstr(p, pat)) != NULL; p++) {
    if (p > js && (is_ident((unsigned char)p[-1]) || p[-1] == '.')) continue;
    if (p[len + 1] == '=') continue; /* `==` is a comparison */
    const char *v = p + len + 1;
    const char *e = skip_expr(v);
    *out_len = (size_t)(e - v);
    return v;
  }
  return NULL;
}

static int contains(const char *s, size_t n, const char *needle) {
  size_t k = strlen(needle);
  for (size_t i = 0; i + k <= n; i++)
    if (memcmp(s + i, needle, k) == 0) return 1;
  return 0;
}

static int scan_imports(const char *js, const char *memory_import) {
  const char *p = strstr(js, "var d={a:");
  if (!p) {
    fprintf(stderr, "engine_names: the import object (`var d={a:...}`) is not in the glue\n");
    return -1;
  }
  p += strlen("var d={a:");
  char var[32];
  size_t n = 0;
  while (is_ident((unsigned char)*p) && n < sizeof(var) - 3) var[n++] = *p++;
  var[n++] = '=';
  var[n++] = '{';
  var[n] = 0;
  const char *obj = NULL;
  for (const char *q = js; (q = strstr(q, var)) != NULL; q++)
    if (q == js || !is_ident((unsigned char)q[-1])) {
      obj = q + n;
      break;
    }
  if (!obj) {
    fprintf(stderr, "engine_names: the definition of the import object is not in the glue\n");
    return -1;
  }
  int errors = 0;
  for (p = obj; *p && *p != '}';) {
    char key[16];
    size_t k = 0;
    while (is_ident((unsigned char)*p) && k < sizeof(key) - 1) key[k++] = *p++;
    key[k] = 0;
    if (*p != ':' || !k) {
      fprintf(stderr, "engine_names: cannot parse the import object near '%.20s'\n", p);
      return -1;
    }
    const char *v = ++p;
    p = skip_expr(p);
    size_t vlen = (size_t)(p - v);
    if (*p == ',') p++;
    if (strcmp(key, memory_import) == 0) continue;
    size_t dlen = 0;
    const char *def = resolve_ident(js, v, vlen, &dlen);
    const char *text = def ? def : v;
    size_t tlen = def ? dlen : vlen;
    size_t r;
    for (r = 0; r < N_ROLES; r++) {
      if (!contains(text, tlen, roles[r].need1)) continue;
      if (roles[r].need2 && !contains(text, tlen, roles[r].need2)) continue;
      if (roles[r].avoid && contains(text, tlen, roles[r].avoid)) continue;
      break;
    }
    if (r == N_ROLES) {
      fprintf(stderr, "engine_names: import a.%s is not recognised: %.*s\n", key, (int)(vlen > 120 ? 120 : vlen), v);
      errors++;
      continue;
    }
    if (import_for_role[r]) {
      fprintf(stderr, "engine_names: imports a.%s and a.%s both look like '%s'\n", import_for_role[r], key,
              roles[r].role);
      errors++;
      continue;
    }
    import_for_role[r] = strdup(key);
  }
  for (size_t r = 0; r < N_ROLES; r++)
    if (!import_for_role[r]) {
      fprintf(stderr, "engine_names: no import of the glue does '%s'\n", roles[r].role);
      errors++;
    }
  return errors ? -1 : 0;
}

/* ---- main ---------------------------------------------------------------- */

/* Every QTS_ function the isolate layer calls. */
static const char *required_exports[] = {
    "malloc",
    "free",
    "QTS_NewRuntime",
    "QTS_FreeRuntime",
    "QTS_NewContext",
    "QTS_FreeContext",
    "QTS_RuntimeSetMaxStackSize",
    "QTS_RuntimeEnableInterruptHandler",
    "QTS_RuntimeEnableModuleLoader",
    "QTS_Eval",
    "QTS_Call",
    "QTS_ResolveException",
    "QTS_GetGlobalObject",
    "QTS_GetProp",
    "QTS_SetProp",
    "QTS_GetString",
    "QTS_NewString",
    "QTS_FreeCString",
    "QTS_FreeValuePointer",
    "QTS_DupValuePointer",
    "QTS_NewFunction",
    "QTS_ArgvGetJSValueConstPointer",
    "QTS_ExecutePendingJob",
    "QTS_IsJobPending",
    "QTS_PromiseState",
    "QTS_PromiseResult",
    "QTS_Throw",
    "QTS_NewError",
    "QTS_NewObject",
    "QTS_NewFloat64",
    "QTS_GetFloat64",
    "QTS_Typeof",
    "QTS_GetUndefined",
    "QTS_GetNull",
    "QTS_GetTrue",
    "QTS_GetFalse",
    "QTS_bjson_encode",
    "QTS_bjson_decode",
    "QTS_GetArrayBuffer",
    "QTS_GetArrayBufferLength",
    "QTS_NewArrayBuffer",
    "QTS_FreeVoidPointer",
    "QTS_GetModuleNamespace",
};

int main(int argc, char **argv) {
  if (argc != 4) {
    fprintf(stderr, "usage: engine_names GLUE.cjs WASM2C_HEADER.h OUT.h\n");
    return 2;
  }
  char *js = read_file(argv[1]);
  char *hdr = read_file(argv[2]);
  scan_exports(js);

  /* The memory import is the one wasm2c declares as returning a memory. */
  const char *mem = strstr(hdr, "extern wasm_rt_memory_t* Z_aZ_");
  if (!mem) {
    fprintf(stderr, "engine_names: %s imports no memory from module \"a\"\n", argv[2]);
    return 1;
  }
  char memory_import[16];
  size_t n = 0;
  for (mem += strlen("extern wasm_rt_memory_t* Z_aZ_"); is_ident((unsigned char)*mem) && n < 15;)
    memory_import[n++] = *mem++;
  memory_import[n] = 0;

  if (scan_imports(js, memory_import) < 0) return 1;

  FILE *out = fopen(argv[3], "w");
  if (!out) {
    fprintf(stderr, "engine_names: cannot write %s\n", argv[3]);
    return 1;
  }
  fprintf(out, "/* Generated by tools/engine_names.c from %s: do not edit. */\n", argv[1]);
  fprintf(out, "#ifndef ISL_ENGINE_NAMES_H\n#define ISL_ENGINE_NAMES_H\n\n");
  fprintf(out, "#define ISL_IMPORT_memory Z_aZ_%s\n", memory_import);
  for (size_t r = 0; r < N_ROLES; r++)
    fprintf(out, "#define ISL_IMPORT_%s Z_aZ_%s\n", roles[r].role, import_for_role[r]);

  int errors = 0;
  char sym[128];
  for (size_t i = 0; i < sizeof(required_exports) / sizeof(required_exports[0]); i++) {
    const char *name = required_exports[i];
    const char *min = export_min(name);
    if (!min || c_symbol(hdr, min, sym, sizeof(sym)) < 0) {
      fprintf(stderr, "engine_names: export %s is missing from the engine build\n", name);
      errors++;
      continue;
    }
    fprintf(out, "#define ISL_QTS_%s %s\n", name[0] == 'Q' ? name + 4 : name, sym);
  }

  /* Static constructors: the glue calls them once as `Z.v()` after load. */
  const char *ctor = strstr(js, "=!0;");
  char ctor_min[16] = "";
  for (; ctor; ctor = strstr(ctor + 1, "=!0;")) {
    const char *q = ctor + 4;
    while (is_ident((unsigned char)*q)) q++;
    if (*q != '.') continue;
    q++;
    size_t m = 0;
    while (m < sizeof(ctor_min) - 1 && is_ident((unsigned char)q[m])) m++;
    if (m && strncmp(q + m, "();", 3) == 0) {
      memcpy(ctor_min, q, m);
      ctor_min[m] = 0;
      break;
    }
  }
  if (!ctor_min[0] || c_symbol(hdr, ctor_min, sym, sizeof(sym)) < 0) {
    fprintf(stderr, "engine_names: the static constructor export is not in the glue\n");
    errors++;
  } else {
    fprintf(out, "#define ISL_QTS_call_ctors %s\n", sym);
  }
  fprintf(out, "\n#endif\n");
  fclose(out);
  if (errors) {
    remove(argv[3]);
    return 1;
  }
  return 0;
}
