// router.h - Workers route patterns: which tenant answers a request.
//
// (Line comments in this header: route patterns contain a slash-star.)
//
// Patterns are those Cloudflare documents for Workers routes:
//
//   example.com/api/*       host example.com, any path starting "/api/"
//   example.com/exact       host example.com, path "/exact" only
//   *.example.com/*         any subdomain of example.com, not the apex
//   *example.com/*          example.com itself and any subdomain
//   https://example.com/*   a leading http:// or https:// is accepted and
//                           ignored (Isolde only serves http)
//
// A pattern is HOST/PATH. HOST is a hostname (letters, digits, '-', '_',
// '.'; no port, no empty label), matched case-insensitively, optionally
// led by "*." or "*". "*" in a hostname matches whole labels only:
// "*example.com" does not match "myexample.com". PATH starts with "/" and
// is matched case-sensitively, as an exact path or, when it ends with "*",
// as a plain prefix ("/api/*" matches "/api/" and "/api/x", not "/api";
// "/api*" matches all three). No other "*", no "?" or "#", no whitespace.
//
// Matching takes the request's Host header (a ":port" and one trailing
// dot are ignored) and its request target (a "?query" or "#fragment" is
// ignored).
//
// Precedence, when several routes match, mirrors Cloudflare's "the most
// specific route wins", host first, then path:
//   1. an exact host beats every wildcard host;
//   2. among wildcard hosts, the longer suffix wins ("*.api.example.com"
//      beats "*.example.com"), and at equal suffix "*." (subdomains only)
//      beats "*" (apex and subdomains);
//   3. for the same host, an exact path beats every wildcard path, and a
//      longer wildcard prefix beats a shorter one ("/api/v1/*" beats
//      "/api/*" beats "/*").
// Two patterns that differ only in their scheme or host case are the same
// route, and adding it twice is refused, so there are never ties.
//
// Cost: match allocates nothing. It does one hash lookup for the exact
// host and one per label of the host for wildcard suffixes, then scans the
// routes of each host found in precedence order, so it is O(labels +
// routes sharing one host). Adding is O(routes sharing that host).
//
// Threads: build the router on one thread, then match from any number of
// threads at once; match does not write.
#ifndef ISL_RUNTIME_ROUTER_H
#define ISL_RUNTIME_ROUTER_H

#include <stddef.h>

#include "common/err.h"

/* Longest pattern accepted, in bytes. */
#ifndef ISL_RT_ROUTE_MAX_LEN
#define ISL_RT_ROUTE_MAX_LEN 2048
#endif

typedef struct isl_rt_router_s isl_rt_router_t;

/* An empty router (owned: isl_rt_router_free). Returns 0 or ISL_ENOMEM. */
int isl_rt_router_new(isl_rt_router_t **out);

/*
 * Adds a route to target (borrowed; must not be NULL). pattern is
 * borrowed (copied). A malformed pattern, or one already added, returns
 * ISL_EINVAL and err->msg says why: `route "exa mple.com/x y": ...`.
 */
int isl_rt_router_add(isl_rt_router_t *r, const char *pattern, void *target, isl_err_t *err);

/* The target of the most specific route matching host and path (both
 * borrowed), or NULL when none does (or host is NULL). */
void *isl_rt_router_match(const isl_rt_router_t *r, const char *host, const char *path);

/* Number of routes added. */
size_t isl_rt_router_count(const isl_rt_router_t *r);

/* NULL is allowed. */
void isl_rt_router_free(isl_rt_router_t *r);

#endif
