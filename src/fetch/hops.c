/*
 * hops.c - reading a request's hop count back from its CDN-Loop header
 * (RFC 8586), for loop detection between Isolde hosts.
 *
 * Every subrequest an Isolde host sends (a worker's fetch(), a route passed
 * to its origin) carries "CDN-Loop: isolde; loops=N", N being its hop
 * count; fetch.c writes that line after the caller's own headers. The host
 * that receives a request reads N here and gives the subrequests made for
 * it N + 1, so a worker that calls its own server, directly or through
 * other hosts that keep the header, is stopped after ISL_FETCH_MAX_HOPS.
 *
 * The parser errs only upwards. The header is a list that other CDNs (and
 * a worker, and a client) may write to, so it cannot be trusted to be well
 * formed: an unbalanced quote written before Isolde's own entry, or by an
 * intermediary that joins header lines with commas, must not hide that
 * entry. So entries are looked for after every comma, quotes or not, and
 * the largest count wins. A forged entry can then only make a count
 * larger, which fails the forger's own request and nobody else's; no
 * header anyone writes can make a count smaller than the one Isolde wrote.
 */
#include <stddef.h>

#include "fetch/fetch.h"

static int ows(char c) {
  return c == ' ' || c == '\t';
}

static char lower(char c) {
  return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

/* 1 if v[i..) starts with the word w (case-insensitive) followed by end, OWS, ';', ',' or '='. */
static int word_at(const char *v, size_t len, size_t i, const char *w) {
  size_t k = 0;
  for (; w[k]; k++)
    if (i + k >= len || lower(v[i + k]) != w[k]) return 0;
  i += k;
  return i == len || ows(v[i]) || v[i] == ';' || v[i] == ',' || v[i] == '=';
}

/* The count of the entry whose cdn-id ends at v[i]: loops=N among its
 * parameters (digits, optionally quoted), else 1. */
static unsigned entry_count(const char *v, size_t len, size_t i) {
  for (;;) {
    while (i < len && ows(v[i])) i++;
    if (i >= len || v[i] != ';') return 1;
    i++;
    while (i < len && ows(v[i])) i++;
    if (!word_at(v, len, i, "loops")) {
      while (i < len && v[i] != ';' && v[i] != ',') i++; /* another parameter */
      continue;
    }
    i += 5;
    while (i < len && ows(v[i])) i++;
    if (i >= len || v[i] != '=') return 1;
    i++;
    while (i < len && ows(v[i])) i++;
    if (i < len && v[i] == '"') i++;
    unsigned n = 0;
    size_t digits = 0;
    for (; i < len && v[i] >= '0' && v[i] <= '9'; i++, digits++)
      if (n < ISL_FETCH_HOPS_CAP) n = n * 10 + (unsigned)(v[i] - '0');
    if (!digits) return 1;
    return n > ISL_FETCH_HOPS_CAP ? ISL_FETCH_HOPS_CAP : n;
  }
}

unsigned isl_fetch_hops_parse(const char *value, size_t len) {
  unsigned best = 0;
  if (!value) return 0;
  for (size_t i = 0; i <= len; i++) {
    if (i != 0 && value[i - 1] != ',') continue;
    size_t k = i;
    while (k < len && ows(value[k])) k++;
    if (!word_at(value, len, k, ISL_FETCH_LOOP_ID)) continue;
    unsigned n = entry_count(value, len, k + sizeof ISL_FETCH_LOOP_ID - 1);
    if (n > best) best = n;
  }
  return best;
}
