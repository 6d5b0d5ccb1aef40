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
#include <stdlib.h>
#include <string.h>

#include "api/api.h"

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
    if (!isl_api_is_tchar(s[i])) f->token = 0;
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

/* ---- headerRecord: a plain record's whole header list in one call ------------ */

/* Records with more entries go the per-entry way (headers.js). */
#define RECORD_MAX 64

typedef struct {
  const uint8_t *name, *value;
  size_t name_len, value_len;
} record_entry_t;

typedef struct {
  size_t count;     /* entries the caller says the text holds */
  int content_type; /* ISL_API_RECORD_* to add when there is no content-type */
  int ok;           /* the text passed every rule: out holds the result */
  char *out;        /* the host text, Latin-1 (malloc) */
  size_t out_len;
} record_t;

static const char *const record_types[] = {NULL, "text/plain;charset=UTF-8", "application/json"};

static uint8_t lower(uint8_t c) {
  return c >= 'A' && c <= 'Z' ? (uint8_t)(c + 32) : c;
}

/* Compares two names as their lower-case forms (ASCII), as strings compare. */
static int name_cmp(const uint8_t *a, size_t an, const uint8_t *b, size_t bn) {
  size_t n = an < bn ? an : bn;
  for (size_t i = 0; i < n; i++) {
    int d = (int)lower(a[i]) - (int)lower(b[i]);
    if (d != 0) return d;
  }
  return an < bn ? -1 : an > bn ? 1 : 0;
}

/* A name: at least one byte, all tchar (which also refuses every byte of
 * a code point above U+007F). */
static int name_ok(const uint8_t *s, size_t n) {
  return isl_api_is_token((const char *)s, n);
}

/* A value, cut of surrounding spaces and tabs (*s, *n updated): no NUL,
 * no CR, no code point above U+00FF. (A LF never gets here: the caller's
 * count of lines would not match.) */
static int value_ok(const uint8_t **s, size_t *n) {
  const uint8_t *p = *s;
  size_t a = 0, b = *n;
  while (a < b && (p[a] == ' ' || p[a] == '\t')) a++;
  while (b > a && (p[b - 1] == ' ' || p[b - 1] == '\t')) b--;
  for (size_t i = a; i < b; i++)
    if (p[i] == 0 || p[i] == '\r' || p[i] >= 0xC4) return 0;
  *s = p + a;
  *n = b - a;
  return 1;
}

static int read_record(const uint8_t *s, size_t len, void *arg) {
  record_t *r = arg;
  record_entry_t e[RECORD_MAX + 1];
  size_t order[RECORD_MAX + 1];
  if (r->count == 0 || r->count > RECORD_MAX) return 0;

  /* exactly 2 * count lines: name, value, name, value, ... */
  size_t n = 0, start = 0;
  for (size_t i = 0; i <= len; i++) {
    if (i < len && s[i] != '\n') continue;
    if (n == 2 * r->count) return 0;
    if (n % 2 == 0) {
      e[n / 2].name = s + start;
      e[n / 2].name_len = i - start;
    } else {
      e[n / 2].value = s + start;
      e[n / 2].value_len = i - start;
    }
    n++;
    start = i + 1;
  }
  if (n != 2 * r->count) return 0;

  int has_type = 0;
  for (size_t k = 0; k < r->count; k++) {
    if (!name_ok(e[k].name, e[k].name_len) || !value_ok(&e[k].value, &e[k].value_len)) return 0;
    if (name_cmp(e[k].name, e[k].name_len, (const uint8_t *)"content-type", 12) == 0) has_type = 1;
  }
  size_t m = r->count;
  if (r->content_type > 0 && !has_type) {
    const char *t = record_types[r->content_type];
    e[m].name = (const uint8_t *)"content-type";
    e[m].name_len = 12;
    e[m].value = (const uint8_t *)t;
    e[m].value_len = strlen(t);
    m++;
  }

  /* sorted by name (insertion sort: a handful of entries); a name twice
   * (in two spellings) goes the per-entry way, which combines them */
  for (size_t k = 0; k < m; k++) {
    size_t j = k;
    while (j > 0) {
      int d = name_cmp(e[order[j - 1]].name, e[order[j - 1]].name_len, e[k].name, e[k].name_len);
      if (d == 0) return 0;
      if (d < 0) break;
      order[j] = order[j - 1];
      j--;
    }
    order[j] = k;
  }

  /* "name: value\n" lines, at most as long as the UTF-8 text plus the
   * added ": " and content-type */
  size_t cap = len + 4 * m + 64;
  char *out = malloc(cap);
  if (!out) return ISL_ENOMEM;
  size_t w = 0;
  for (size_t k = 0; k < m; k++) {
    const record_entry_t *x = &e[order[k]];
    for (size_t i = 0; i < x->name_len; i++) out[w++] = (char)lower(x->name[i]);
    out[w++] = ':';
    out[w++] = ' ';
    size_t vlen;
    if (isl_api_utf8_to_bytes(out + w, (const char *)x->value, x->value_len, &vlen) != 0) {
      free(out);
      return 0;
    }
    w += vlen;
    out[w++] = '\n';
  }
  r->out = out;
  r->out_len = w;
  r->ok = 1;
  return 0;
}

static int fill_record(uint8_t *dst, size_t len, void *arg) {
  const record_t *r = arg;
  memcpy(dst, r->out, len);
  return 0;
}

/* headerRecord(text, units, count, contentType) -> host text | 0 (api.h). */
static int header_record(isl_iso_t *iso, void *data, int argc, const isl_val_t *argv, isl_val_t *ret) {
  (void)data;
  *ret = 0;
  if (argc < 4) return isl_iso_throw(iso, "TypeError", "headerRecord: 4 arguments required");
  double count = isl_iso_to_number(iso, argv[2]);
  double type = isl_iso_to_number(iso, argv[3]);
  record_t r = {0};
  r.count = count >= 0 && count <= RECORD_MAX ? (size_t)count : 0;
  r.content_type = type == ISL_API_RECORD_TEXT_PLAIN || type == ISL_API_RECORD_JSON ? (int)type : 0;
  int rc = isl_iso_string_utf8_read(iso, argv[0], (size_t)isl_iso_to_number(iso, argv[1]), read_record, &r);
  if (rc == ISL_ENOMEM) return isl_iso_throw(iso, "RangeError", "headerRecord: out of memory");
  if (rc < 0) return isl_iso_throw(iso, "TypeError", "headerRecord: the arguments must be a string and its length");
  if (!r.ok) return isl_iso_new_number(iso, 0, ret);
  rc = isl_iso_new_string_fill(iso, r.out_len, 0, fill_record, &r, ret);
  free(r.out);
  if (rc < 0) return isl_iso_throw(iso, "RangeError", "headerRecord: the header list is too long");
  return 0;
}

const isl_api_host_fn_t isl_api_headers_fns[] = {
    {"headerCheck", header_check}, {"headerRecord", header_record}, {NULL, NULL}};
