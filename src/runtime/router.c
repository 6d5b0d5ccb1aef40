/*
 * router.c - Workers route patterns (router.h has the syntax and the
 * precedence rules).
 *
 * Two hash tables of host buckets: one keyed by exact host, one by the
 * suffix of a wildcard host ("*.example.com" and "*example.com" both go
 * to bucket "example.com", flagged subdomains-only or not). A bucket keeps
 * its routes sorted in precedence order, so the first route whose path
 * matches is the answer. A request host is looked up once in the exact
 * table, then once per label suffix in the wildcard table, longest suffix
 * first. The hash is FNV-1a run from the last byte backwards, so one pass
 * over the host yields the hash of every label suffix at once.
 *
 * Trade-off: within one bucket the scan is linear. Tenants put a handful
 * of routes on a host, so a list in precedence order beats a path trie
 * in both size and speed; a host with thousands of distinct paths would
 * want a sorted array of exact paths plus a prefix trie here.
 */
#include "runtime/router.h"

#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ---- types ------------------------------------------------------------------ */

typedef struct {
  char *pattern; /* the pattern as given, owned; path points into it */
  const char *path;
  size_t path_len;        /* without the trailing '*' */
  unsigned char prefix;   /* the path ended with '*' */
  unsigned char sub_only; /* "*." host: subdomains only, not the apex */
  void *target;
} route_t;

typedef struct {
  char *host; /* lowercased exact host or wildcard suffix, owned; NULL = free slot */
  size_t host_len;
  uint64_t hash;
  route_t *routes; /* in precedence order */
  size_t n, cap;
} bucket_t;

typedef struct {
  bucket_t *slots; /* open addressing, linear probing; NULL until the first add */
  size_t mask;     /* capacity - 1, capacity a power of two */
  size_t used;
} table_t;

struct isl_rt_router_s {
  table_t exact, wild;
  size_t n_routes;
};

/* A parsed pattern: offsets into the caller's string. */
typedef struct {
  size_t host_off, host_len; /* the hostname, or wildcard suffix, without "*" / "*." */
  size_t path_off, path_len; /* path_len excludes a trailing '*' */
  int wild;                  /* 0 exact host, 1 "*", 2 "*." */
  int prefix;
} parsed_t;

#define HOST_MAX 253
#define LABELS_MAX 128

/* ---- hashing and tables --------------------------------------------------------- */

static inline char lower(char c) {
  return c >= 'A' && c <= 'Z' ? (char)(c + ('a' - 'A')) : c;
}

/* FNV-1a over s[0..len) from the end backwards (see the top of the file). */
static uint64_t hash_rev(const char *s, size_t len) {
  uint64_t h = 14695981039346656037ull;
  while (len--) {
    h ^= (unsigned char)s[len];
    h *= 1099511628211ull;
  }
  return h;
}

static const bucket_t *table_find(const table_t *t, const char *key, size_t len, uint64_t hash) {
  if (!t->slots) return NULL;
  for (size_t i = (size_t)hash & t->mask;; i = (i + 1) & t->mask) {
    const bucket_t *b = &t->slots[i];
    if (!b->host) return NULL;
    if (b->hash == hash && b->host_len == len && memcmp(b->host, key, len) == 0) return b;
  }
}

static int table_grow(table_t *t) {
  size_t cap = t->slots ? (t->mask + 1) * 2 : 16;
  bucket_t *slots = calloc(cap, sizeof(*slots));
  if (!slots) return ISL_ENOMEM;
  if (t->slots) {
    for (size_t i = 0; i <= t->mask; i++) {
      if (!t->slots[i].host) continue;
      size_t j = (size_t)t->slots[i].hash & (cap - 1);
      while (slots[j].host) j = (j + 1) & (cap - 1);
      slots[j] = t->slots[i];
    }
    free(t->slots);
  }
  t->slots = slots;
  t->mask = cap - 1;
  return 0;
}

/* The bucket for key (lowercase), created empty if missing; NULL = no memory. */
static bucket_t *table_get(table_t *t, const char *key, size_t len) {
  if (!t->slots || (t->used + 1) * 2 > t->mask + 1) {
    if (table_grow(t) != 0) return NULL;
  }
  uint64_t hash = hash_rev(key, len);
  size_t i = (size_t)hash & t->mask;
  for (;; i = (i + 1) & t->mask) {
    bucket_t *b = &t->slots[i];
    if (!b->host) break;
    if (b->hash == hash && b->host_len == len && memcmp(b->host, key, len) == 0) return b;
  }
  bucket_t *b = &t->slots[i];
  b->host = malloc(len + 1);
  if (!b->host) return NULL;
  memcpy(b->host, key, len);
  b->host[len] = '\0';
  b->host_len = len;
  b->hash = hash;
  t->used++;
  return b;
}

static void table_free(table_t *t) {
  if (!t->slots) return;
  for (size_t i = 0; i <= t->mask; i++) {
    bucket_t *b = &t->slots[i];
    if (!b->host) continue;
    for (size_t k = 0; k < b->n; k++) free(b->routes[k].pattern);
    free(b->routes);
    free(b->host);
  }
  free(t->slots);
}

/* ---- patterns ------------------------------------------------------------------ */

/* s quoted for an error message: non-printable bytes escaped, long text cut. */
static const char *quote(char *buf, size_t size, const char *s) {
  size_t o = 0;
  buf[o++] = '"';
  for (; s && *s && o + 8 < size; s++) {
    unsigned char c = (unsigned char)*s;
    if (c == '"' || c == '\\') {
      buf[o++] = '\\';
      buf[o++] = (char)c;
    } else if (c < 0x20 || c >= 0x7f) {
      static const char hex[] = "0123456789abcdef";
      buf[o++] = '\\';
      buf[o++] = 'x';
      buf[o++] = hex[c >> 4];
      buf[o++] = hex[c & 15];
    } else {
      buf[o++] = (char)c;
    }
  }
  if (s && *s) {
    memcpy(buf + o, "...", 3);
    o += 3;
  }
  buf[o++] = '"';
  buf[o] = '\0';
  return buf;
}

#define BAD(...) isl_err_set(err, ISL_EINVAL, __VA_ARGS__)

static int parse_host(const char *q, const char *h, size_t n, isl_err_t *err) {
  if (n == 0) return BAD("route %s: a wildcard host needs a domain after \"*\"", q);
  if (n > HOST_MAX) return BAD("route %s: the host is longer than %d characters", q, HOST_MAX);
  size_t label = 0;
  for (size_t i = 0; i < n; i++) {
    char c = h[i];
    if (c == '.') {
      if (label == 0) return BAD("route %s: the host has an empty label", q);
      label = 0;
      continue;
    }
    if (c == '*') return BAD("route %s: \"*\" is allowed only at the start of the host", q);
    if (c == ':') return BAD("route %s: a port is not allowed (the request's port is ignored)", q);
    if ((unsigned char)c >= 0x80) return BAD("route %s: a non-ASCII host (write it in punycode, xn--...)", q);
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_'))
      return BAD("route %s: invalid character '%c' in the host", q, c);
    if (++label > 63) return BAD("route %s: a host label is longer than 63 characters", q);
  }
  if (label == 0) return BAD("route %s: the host has an empty label", q);
  return 0;
}

static int parse_pattern(const char *pattern, parsed_t *p, isl_err_t *err) {
  char qbuf[160];
  const char *q = quote(qbuf, sizeof(qbuf), pattern);
  if (!pattern || !*pattern) return BAD("route %s: empty pattern", q);
  size_t len = strlen(pattern);
  if (len > ISL_RT_ROUTE_MAX_LEN) return BAD("route %s: longer than %d bytes", q, ISL_RT_ROUTE_MAX_LEN);
  for (size_t i = 0; i < len; i++) {
    unsigned char c = (unsigned char)pattern[i];
    if (c <= ' ' || c == 0x7f) return BAD("route %s: contains whitespace or a control character", q);
  }
  size_t off = 0;
  if (strncasecmp(pattern, "http://", 7) == 0) {
    off = 7;
  } else if (strncasecmp(pattern, "https://", 8) == 0) {
    off = 8;
  }
  const char *rest = pattern + off;
  if (strstr(rest, "://")) return BAD("route %s: only http:// or https:// may lead a pattern", q);
  if (strchr(rest, '?')) return BAD("route %s: a query string is not allowed", q);
  if (strchr(rest, '#')) return BAD("route %s: a fragment is not allowed", q);
  const char *slash = strchr(rest, '/');
  if (!slash) return BAD("route %s: missing a path (end it with \"/*\" to match every path)", q);
  if (slash == rest) return BAD("route %s: missing a host", q);

  p->wild = 0;
  size_t h = off, hn = (size_t)(slash - rest);
  if (rest[0] == '*') {
    p->wild = rest[1] == '.' ? 2 : 1;
    h += (size_t)p->wild;
    hn -= (size_t)p->wild;
  }
  int rc = parse_host(q, pattern + h, hn, err);
  if (rc != 0) return rc;
  p->host_off = h;
  p->host_len = hn;

  p->path_off = (size_t)(slash - pattern);
  p->path_len = len - p->path_off;
  const char *star = strchr(slash, '*');
  if (star && star != pattern + len - 1) return BAD("route %s: \"*\" is allowed only at the end of the path", q);
  p->prefix = star != NULL;
  if (p->prefix) p->path_len--;
  return 0;
}

/* Precedence within a bucket: higher first. */
static inline int rank_host(const route_t *r) {
  return r->sub_only;
}
static inline size_t rank_path(const route_t *r) {
  return r->path_len * 2 + (r->prefix ? 0 : 1);
}

static int before(const route_t *a, const route_t *b) {
  if (rank_host(a) != rank_host(b)) return rank_host(a) > rank_host(b);
  return rank_path(a) > rank_path(b);
}

/* ---- API ------------------------------------------------------------------------ */

int isl_rt_router_new(isl_rt_router_t **out) {
  *out = calloc(1, sizeof(**out));
  return *out ? 0 : ISL_ENOMEM;
}

size_t isl_rt_router_count(const isl_rt_router_t *r) {
  return r->n_routes;
}

int isl_rt_router_add(isl_rt_router_t *r, const char *pattern, void *target, isl_err_t *err) {
  assert(r && target);
  parsed_t p = {0};
  int rc = parse_pattern(pattern, &p, err);
  if (rc != 0) return rc;

  char host[HOST_MAX + 1];
  for (size_t i = 0; i < p.host_len; i++) host[i] = lower(pattern[p.host_off + i]);
  host[p.host_len] = '\0';

  route_t nr = {0};
  nr.path_len = p.path_len;
  nr.prefix = (unsigned char)p.prefix;
  nr.sub_only = p.wild == 2;
  nr.target = target;

  bucket_t *b = table_get(p.wild ? &r->wild : &r->exact, host, p.host_len);
  if (!b) return isl_err_set(err, ISL_ENOMEM, "route: out of memory");
  size_t at = b->n;
  for (size_t i = 0; i < b->n; i++) {
    const route_t *o = &b->routes[i];
    if (o->sub_only == nr.sub_only && o->prefix == nr.prefix && o->path_len == nr.path_len &&
        memcmp(o->path, pattern + p.path_off, nr.path_len) == 0) {
      char q1[160], q2[160];
      return BAD("route %s: the same route as %s, added before", quote(q1, sizeof(q1), pattern),
                 quote(q2, sizeof(q2), o->pattern));
    }
    if (at == b->n && before(&nr, o)) at = i;
  }
  if (b->n == b->cap) {
    size_t cap = b->cap ? b->cap * 2 : 2;
    route_t *routes = realloc(b->routes, cap * sizeof(*routes));
    if (!routes) return isl_err_set(err, ISL_ENOMEM, "route: out of memory");
    b->routes = routes;
    b->cap = cap;
  }
  nr.pattern = strdup(pattern);
  if (!nr.pattern) return isl_err_set(err, ISL_ENOMEM, "route: out of memory");
  nr.path = nr.pattern + p.path_off;
  memmove(&b->routes[at + 1], &b->routes[at], (b->n - at) * sizeof(*b->routes));
  b->routes[at] = nr;
  b->n++;
  r->n_routes++;
  return 0;
}

/* The first route of b whose path matches; apex: the host is the bucket's
 * suffix itself, which "*." routes do not match. */
static void *scan(const bucket_t *b, const char *path, size_t plen, int apex) {
  for (size_t i = 0; i < b->n; i++) {
    const route_t *rt = &b->routes[i];
    if (apex && rt->sub_only) continue;
    if (rt->prefix ? plen < rt->path_len : plen != rt->path_len) continue;
    if (memcmp(path, rt->path, rt->path_len) == 0) return rt->target;
  }
  return NULL;
}

/* Host header value -> lowercase hostname in buf, without port, trailing
 * dot or surrounding blanks. Returns its length, 0 if unusable. */
static size_t normalize_host(const char *host, char *buf) {
  while (*host == ' ' || *host == '\t') host++;
  size_t n;
  if (*host == '[') {
    const char *end = strchr(host, ']');
    if (!end) return 0;
    n = (size_t)(end - host) + 1;
  } else {
    n = strcspn(host, ": \t");
  }
  if (n > 0 && host[n - 1] == '.') n--;
  if (n == 0 || n > HOST_MAX) return 0;
  for (size_t i = 0; i < n; i++) buf[i] = lower(host[i]);
  return n;
}

void *isl_rt_router_match(const isl_rt_router_t *r, const char *host, const char *path) {
  if (!host || r->n_routes == 0) return NULL;
  char h[HOST_MAX + 1];
  size_t hn = normalize_host(host, h);
  if (hn == 0) return NULL;
  size_t plen = path ? strcspn(path, "?#") : 0;
  if (plen == 0) path = "/", plen = 1;

  /* One backwards pass: the hash of the whole host and of every suffix
   * that starts after a dot, longest first in sfx[]. */
  size_t sfx_off[LABELS_MAX];
  uint64_t sfx_hash[LABELS_MAX];
  size_t ns = 0;
  uint64_t hash = 14695981039346656037ull;
  for (size_t i = hn; i-- > 0;) {
    hash ^= (unsigned char)h[i];
    hash *= 1099511628211ull;
    if ((i == 0 || h[i - 1] == '.') && ns < LABELS_MAX) {
      sfx_off[ns] = i;
      sfx_hash[ns++] = hash;
    }
  }
  /* sfx[ns-1] is the whole host (a host of more than LABELS_MAX labels
   * only gets its shortest suffixes tried). */
  const bucket_t *b = table_find(&r->exact, h, hn, hash);
  void *t;
  if (b && (t = scan(b, path, plen, 0)) != NULL) return t;
  if (!r->wild.slots) return NULL;
  for (size_t k = ns; k-- > 0;) {
    b = table_find(&r->wild, h + sfx_off[k], hn - sfx_off[k], sfx_hash[k]);
    if (b && (t = scan(b, path, plen, sfx_off[k] == 0)) != NULL) return t;
  }
  return NULL;
}

void isl_rt_router_free(isl_rt_router_t *r) {
  if (!r) return;
  table_free(&r->exact);
  table_free(&r->wild);
  free(r);
}
