/*
 * internal.h - private to src/fetch: loading libcurl (curl_lazy.c), the
 * copied, normalised policy of one fetch and the checks made on every
 * connection. Not part of the contract (fetch.h); other folders must not
 * include it.
 */
#ifndef ISL_FETCH_INTERNAL_H
#define ISL_FETCH_INTERNAL_H

#include <stddef.h>
#include <sys/socket.h>

#include "fetch/fetch.h"

/* ---- libcurl, loaded on first use (curl_lazy.c) ------------------------------------ */

/* The library dlopen()ed; the binary is not linked with -lcurl. */
#ifndef ISL_FETCH_LIBCURL
#define ISL_FETCH_LIBCURL "libcurl.so.4"
#endif

/* Loads ISL_FETCH_LIBCURL and runs curl_global_init, once per process (any
 * thread; concurrent callers wait for the first). 0, or ISL_ESYS with err
 * ("fetch: cannot load libcurl: libcurl.so.4: ...") filled, now and on
 * every later call. Every path into a curl_* function must come through
 * here first: until it has succeeded those functions fail (return NULL or
 * an error code) and do nothing. */
int isl_fetch__curl_load(isl_err_t *err);

/* A fetch's own copy of its isl_fetch_policy_t. */
typedef struct {
  int allow_private;
  char **origins; /* "scheme://host:port", lowercase, default port filled in */
  size_t n_origins;
  int *denied_ports;
  size_t n_denied;
} isl_fetch__policy_t;

/* Copies and normalises p (NULL = all zero) into out. ISL_EINVAL (err
 * names the bad origin) or ISL_ENOMEM; out is then empty. */
int isl_fetch__policy_copy(isl_fetch__policy_t *out, const isl_fetch_policy_t *p, isl_err_t *err);
void isl_fetch__policy_clear(isl_fetch__policy_t *p);

/* "scheme://host:port" of url into buf (lowercase, default port filled in).
 * 0, or -1 if url does not parse or buf is too small. */
int isl_fetch__origin(const char *url, char *buf, size_t cap);

/* 1 if sa (AF_INET or AF_INET6) is loopback, private, link-local,
 * unspecified, multicast or otherwise not a public unicast address (IPv4
 * inside IPv6 mapped / NAT64 / 6to4 forms is judged as IPv4). */
int isl_fetch__addr_private(const struct sockaddr *sa);

/* Would a connection to sa (AF_INET or AF_INET6) be delivered to this
 * machine itself? Asks the kernel's routing (policy.c says how). 1 = yes,
 * 0 = no, -1 = cannot tell (no socket could be made). */
int isl_fetch__addr_local(const struct sockaddr *sa);

/* May a connection to sa be made for url under p? self: the connection's
 * own address when it is established (NULL before connecting: then the
 * kernel is asked whether sa is local). 0 = yes; else ISL_FETCH_EBLOCKED
 * with msg filled ("blocked: ..."). A local address that cannot be told
 * from a public one (-1 above) is refused. */
int isl_fetch__policy_check(const isl_fetch__policy_t *p, const char *url, const struct sockaddr *sa,
                            const struct sockaddr *self, char *msg, size_t cap);

/* For tests: the bytes of f's streamed request body that are queued and
 * not yet handed to curl (isl_fetch_body_write's queue). */
size_t isl_fetch__upload_queued(const isl_fetch_t *f);

#endif
