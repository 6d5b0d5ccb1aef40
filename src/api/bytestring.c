/*
 * bytestring.c - the one codec for Fetch's byte strings (header names and
 * values, reason phrases) between their bytes and the engine's UTF-8 text
 * (see api.h). Every direction goes through it: a client's request headers
 * into the isolate (runtime.c), a worker's response headers out to the
 * client (host_http.c), a subrequest's headers out to its origin and the
 * origin's response head back in (host_fetch.c), and the Cache API's
 * stored headers (host_cache.c, which keeps the bytes).
 *
 * A byte string holds code points U+0000..U+00FF, one byte each; in the
 * engine's UTF-8 form a byte below 0x80 is itself and any other is the two
 * bytes C2 80..C3 BF. So one pass either way, with no tables.
 */
#include <string.h>

#include "api/api.h"

int isl_api_is_tchar(unsigned char c) {
  static const char extra[] = "!#$%&'*+-.^_`|~";
  if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) return 1;
  return c && c < 0x80 && strchr(extra, c) != NULL;
}

int isl_api_is_token(const char *s, size_t n) {
  if (!n) return 0;
  for (size_t i = 0; i < n; i++)
    if (!isl_api_is_tchar((unsigned char)s[i])) return 0;
  return 1;
}

static int is_http_ws(char c) {
  return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

size_t isl_api_header_line(char *dst, const char *name, size_t name_len, const char *value, size_t value_len) {
  while (value_len && is_http_ws(value[0])) value++, value_len--;
  while (value_len && is_http_ws(value[value_len - 1])) value_len--;
  if (!isl_api_is_token(name, name_len) || memchr(value, 0, value_len) || memchr(value, '\r', value_len) ||
      memchr(value, '\n', value_len))
    return 0;
  char *p = dst;
  for (size_t k = 0; k < name_len; k++) { /* a token: ASCII */
    char c = name[k];
    *p++ = c >= 'A' && c <= 'Z' ? (char)(c + 32) : c;
  }
  *p++ = ':';
  *p++ = ' ';
  p += isl_api_bytes_to_utf8(p, value, value_len);
  *p++ = '\n';
  return (size_t)(p - dst);
}

size_t isl_api_bytes_to_utf8(char *dst, const char *src, size_t n) {
  char *p = dst;
  for (size_t i = 0; i < n; i++) {
    unsigned char b = (unsigned char)src[i];
    if (b < 0x80) {
      *p++ = (char)b;
    } else {
      *p++ = (char)(0xC0 | (b >> 6));
      *p++ = (char)(0x80 | (b & 0x3F));
    }
  }
  return (size_t)(p - dst);
}

int isl_api_utf8_to_bytes(char *dst, const char *src, size_t n, size_t *len) {
  const unsigned char *s = (const unsigned char *)src;
  size_t w = 0;
  for (size_t i = 0; i < n; w++) {
    unsigned char b = s[i];
    if (b < 0x80) {
      dst[w] = (char)b;
      i++;
    } else if ((b == 0xC2 || b == 0xC3) && i + 1 < n && (s[i + 1] & 0xC0) == 0x80) {
      dst[w] = (char)(((b & 0x03) << 6) | (s[i + 1] & 0x3F));
      i += 2;
    } else {
      /* above U+00FF (a lead byte C4 or more), or not UTF-8 at all */
      *len = i;
      return ISL_EINVAL;
    }
  }
  *len = w;
  return 0;
}

int isl_api_cstring_to_bytes(char *s) {
  size_t len, n = strlen(s);
  int rc = isl_api_utf8_to_bytes(s, s, n, &len);
  s[rc == 0 ? len : 0] = 0;
  return rc;
}
