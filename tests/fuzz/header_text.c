/*
 * header_text.c - fuzz target: the "name: value\n" header text that
 * carries header lists across the JS boundary (src/runtime/header_text.c,
 * isl_rt__headers_parse; the JS half is headers.js, exercised by the cache
 * target's stored headers).
 *
 * Input: byte 0 picks the capacity (1..64 headers), the rest is the text
 * (up to its first NUL, as the host passes C strings).
 *
 * What must hold: at most cap headers; each name and value points into the
 * text, is NUL-terminated at its length, and holds no '\n' (nor ':' in a
 * name); values have no leading space; the list is exactly what a plain
 * reading of the text gives (lines up to the first empty one, each line
 * without a colon skipped, the name before the first colon, the value after
 * it less leading spaces); and writing the list back as text and parsing
 * that again gives the same list.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz/common/fuzz.h"
#include "runtime/internal.h"

#define MAX_CAP 64

static void die(const char *what, size_t i) __attribute__((noreturn));
static void die(const char *what, size_t i) {
  fprintf(stderr, "\n==== header_text fuzz check failed: %s (header %zu)\n", what, i);
  abort();
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc;
  (void)argv;
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1) return 0;
  size_t cap = 1 + data[0] % MAX_CAP;
  size_t n_text = size - 1;
  char *text = malloc(n_text + 1), *orig = malloc(n_text + 1);
  if (!text || !orig) abort();
  memcpy(text, data + 1, n_text);
  text[n_text] = 0;
  memcpy(orig, text, n_text + 1);
  size_t len = strlen(orig);

  isl_http_header_t hdrs[MAX_CAP];
  size_t n = isl_rt__headers_parse(text, hdrs, cap);
  if (n > cap) die("more headers than the capacity", n);

  /* the plain reading */
  size_t want = 0;
  const char *line = orig;
  while (*line && want < cap) {
    const char *nl = strchr(line, '\n');
    size_t ln = nl ? (size_t)(nl - line) : strlen(line);
    const char *colon = memchr(line, ':', ln);
    if (colon) {
      size_t nn = (size_t)(colon - line);
      const char *v = colon + 1;
      while (v < line + ln && *v == ' ') v++;
      size_t vn = (size_t)(line + ln - v);
      if (want >= n) die("a header of the text is missing", want);
      const isl_http_header_t *h = &hdrs[want];
      if (h->name < text || h->name + h->name_len > text + len || h->value < text ||
          h->value + h->value_len > text + len)
        die("a header points outside the text", want);
      if (h->name_len != nn || memcmp(h->name, line, nn) != 0) die("a name differs from the text", want);
      if (h->value_len != vn || memcmp(h->value, v, vn) != 0) die("a value differs from the text", want);
      if (h->name[h->name_len] || h->value[h->value_len]) die("a name or value is not NUL-terminated", want);
      if (memchr(h->name, ':', h->name_len) || memchr(h->name, '\n', h->name_len) ||
          memchr(h->value, '\n', h->value_len) || (h->value_len && h->value[0] == ' '))
        die("a name or value holds a byte it cannot", want);
      want++;
    }
    if (!nl) break;
    line = nl + 1;
  }
  if (want != n) die("more headers than the text holds", n);

  /* written back and parsed again: the same list */
  size_t total = 1;
  for (size_t i = 0; i < n; i++) total += hdrs[i].name_len + hdrs[i].value_len + 3;
  char *again = malloc(total), *p = again;
  if (!again) abort();
  for (size_t i = 0; i < n; i++) {
    memcpy(p, hdrs[i].name, hdrs[i].name_len);
    p += hdrs[i].name_len;
    *p++ = ':';
    *p++ = ' ';
    memcpy(p, hdrs[i].value, hdrs[i].value_len);
    p += hdrs[i].value_len;
    *p++ = '\n';
  }
  *p = 0;
  isl_http_header_t hdrs2[MAX_CAP];
  size_t n2 = isl_rt__headers_parse(again, hdrs2, cap);
  if (n2 != n) die("the text written back parses to another number of headers", n2);
  for (size_t i = 0; i < n; i++) {
    if (hdrs2[i].name_len != hdrs[i].name_len || memcmp(hdrs2[i].name, hdrs[i].name, hdrs[i].name_len) != 0 ||
        hdrs2[i].value_len != hdrs[i].value_len || memcmp(hdrs2[i].value, hdrs[i].value, hdrs[i].value_len) != 0)
      die("the text written back parses to another header", i);
  }
  free(again);
  free(text);
  free(orig);
  return 0;
}
