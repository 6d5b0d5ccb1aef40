/*
 * ssrf_target.h - what the SSRF tests (tests/fetch/test_ssrf.c,
 * tests/runtime/test_ssrf_served.c) try to reach and must not: an
 * "internal service" on every address of this machine, and a list of this
 * machine's own non-loopback addresses.
 *
 * The service is the project's own isl_http server on a thread, twice on
 * one port: bound to "0.0.0.0" and to "::" (the server's IPv6 sockets are
 * IPv6-only), so it is on every address of the machine, loopback
 * included; without IPv6, on the IPv4 ones only. It answers every request
 * with 200 "internal secret" and counts them, so a test can tell whether
 * it was reached at all.
 */
#ifndef ISL_TESTS_FETCH_SSRF_TARGET_H
#define ISL_TESTS_FETCH_SSRF_TARGET_H

#include <netinet/in.h>
#include <stdatomic.h>

#include "http/http_client.h"

#define SSRF_SECRET "internal secret"

typedef struct {
  test_http_server_t srv4, srv6;
  int port;
  int v6;              /* also on "::" */
  atomic_int requests; /* reached, at any address */
} ssrf_target_t;

/* 0, or -1 after printing why. */
int ssrf_target_start(ssrf_target_t *t);
/* 0 if every request was answered. */
int ssrf_target_stop(ssrf_target_t *t);

/* This machine's non-loopback addresses, as getifaddrs lists them: the
 * first IPv4 one and the first IPv6 one that is neither link-local (a URL
 * would need its zone) nor loopback, as URL hosts ("192.0.2.2", "[fd00::2]").
 * "" where there is none; the test then says it skipped that part. */
typedef struct {
  char v4[INET_ADDRSTRLEN];
  char v6[INET6_ADDRSTRLEN + 2];
} ssrf_local_addrs_t;
void ssrf_local_addrs(ssrf_local_addrs_t *a);

#endif
