/*
 * headers.c - header names and values checked in the host, for Headers
 * (src/runtime/js/headers.js; see api.h): one call instead of a regular
 * expression per rule, which costs the engine thousands of instructions
 * each even on a short string.
 *
 * The strings arrive in the engine's UTF-8 form (isl_iso_string_utf8_read),
 * where a code point above U+00FF is exactly a sequence whose lead byte is
 * C4 or more (U+0080..U+00FF are C2 xx and C3 xx), so every rule is a
 * test on bytes.
 */
#include <string.h>

#include "api/api.h"

/* RFC 9110 tchar, as a 128-bit set. */
static int is_tchar(uint8_t c) {
  static const char extra[] = "!#$%&'*+-.^_`|~";
  if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) return 1;
  return c && c < 0x80 && strchr(extra, c) != NULL;
}

static int is_http_ws(uint8_t c) {
  return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

typedef struct {
  int wide;  /* a code point above U+00FF */
  int token; /* all bytes tchar (and at least one) */
  int bad;   /* NUL, CR or LF inside the value once surrounding whitespace is cut */
  int upper; /* an upper-case ASCII letter */
} facts_t;

static int read_facts(const uint8_t *s, size_t len, void *arg) {
  facts_t *f = arg;
  f->token = len > 0;
  for (size_t i = 0; i < len; i++) {
    if (s[i] >= 0xC4) f->wide = 1;
    if (!is_tchar(s[i])) f->token = 0;
    if (s[i] >= 'A' && s[i] <= 'Z') f->upper = 1;
  }
  size_t a = 0, b = len;
  while (a < b && is_http_ws(s[a])) a++;
  while (b > a && is_http_ws(s[b - 1])) b--;
  for (size_t i = a; i < b; i++)
    if (s[i] == 0 || s[i] == '\r' || s[i] == '\n') f->bad = 1;
  return 0;
}

/* headerCheck(name, nameUnits, value, valueUnits) -> code (api.h). */
static int header_check(isl_iso_t *iso, void *data, int argc, const isl_val_t *argv, isl_val_t *ret) {
  (void)data;
  *ret = 0;
  if (argc < 2) return isl_iso_throw(iso, "TypeError", "headerCheck: 2 arguments required");
  facts_t n = {0}, v = {0};
  int rc = isl_iso_string_utf8_read(iso, argv[0], (size_t)isl_iso_to_number(iso, argv[1]), read_facts, &n);
  int has_value = argc >= 4 && argv[2] && strcmp(isl_iso_typeof(iso, argv[2]), "string") == 0;
  if (rc == 0 && has_value)
    rc = isl_iso_string_utf8_read(iso, argv[2], (size_t)isl_iso_to_number(iso, argv[3]), read_facts, &v);
  if (rc < 0) return isl_iso_throw(iso, "TypeError", "headerCheck: the arguments must be strings and their lengths");
  int code = n.wide     ? ISL_API_HEADER_WIDE_NAME
             : v.wide   ? ISL_API_HEADER_WIDE_VALUE
             : !n.token ? ISL_API_HEADER_BAD_NAME
             : v.bad    ? ISL_API_HEADER_BAD_VALUE
                        : 0;
  return isl_iso_new_number(iso, code | (n.upper ? ISL_API_HEADER_UPPER : 0), ret);
}

const isl_api_host_fn_t isl_api_headers_fns[] = {{"headerCheck", header_check}, {NULL, NULL}};
