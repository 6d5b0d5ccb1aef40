/*
 * header_text.c - headers cross the JS boundary as one "name: value\n"
 * text (headers.js headersToText/headersFromText): one string instead of a
 * JS array of pairs, which would cost an engine call per element.
 */
#include <string.h>

#include "runtime/internal.h"

size_t isl_rt__headers_parse(char *text, isl_http_header_t *hdrs, size_t cap) {
  size_t n = 0;
  for (char *line = text, *next; line && *line && n < cap; line = next) {
    next = strchr(line, '\n');
    if (next) *next++ = 0;
    char *colon = strchr(line, ':');
    if (!colon) continue;
    *colon = 0;
    const char *value = colon + 1;
    while (*value == ' ') value++;
    hdrs[n++] = (isl_http_header_t){line, strlen(line), value, strlen(value)};
  }
  return n;
}
