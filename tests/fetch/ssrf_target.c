/*
 * ssrf_target.c - the internal service and the address lookup of
 * ssrf_target.h. The service answers from on_request (it ignores any
 * body), so it never holds a request.
 */
#include "fetch/ssrf_target.h"

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <stdio.h>
#include <string.h>

static void on_request(isl_http_req_t *req) {
  ssrf_target_t *t = isl_http_server_handler_data(isl_http_loop_server(isl_http_req_loop(req)));
  atomic_fetch_add(&t->requests, 1);
  isl_http_res_simple(req, 200, NULL, SSRF_SECRET);
  isl_http_req_release(req);
}

int ssrf_target_start(ssrf_target_t *t) {
  isl_http_handler_t h = {0};
  isl_http_config_t cfg = {0};
  isl_err_t err = {0};
  atomic_store(&t->requests, 0);
  h.on_request = on_request;
  h.data = t;
  cfg.threads = 1;
  cfg.drain_timeout_ms = 500;
  cfg.host = "0.0.0.0";
  if (test_http_server_start(&t->srv4, &cfg, &h, &err) != 0) {
    fprintf(stderr, "ssrf target: %s\n", err.msg);
    return -1;
  }
  t->port = t->srv4.port;
  cfg.host = "::";
  cfg.port = t->port;
  t->v6 = test_http_server_start(&t->srv6, &cfg, &h, &err) == 0;
  return 0;
}

int ssrf_target_stop(ssrf_target_t *t) {
  int rc = test_http_server_stop(&t->srv4);
  if (t->v6 && test_http_server_stop(&t->srv6) != 0) rc = -1;
  return rc == 0 ? 0 : -1;
}

void ssrf_local_addrs(ssrf_local_addrs_t *a) {
  struct ifaddrs *all = NULL;
  memset(a, 0, sizeof *a);
  if (getifaddrs(&all) != 0) return;
  for (struct ifaddrs *i = all; i; i = i->ifa_next) {
    if (!i->ifa_addr || (i->ifa_flags & IFF_LOOPBACK)) continue;
    if (i->ifa_addr->sa_family == AF_INET && !a->v4[0]) {
      const struct sockaddr_in *s4 = (const struct sockaddr_in *)i->ifa_addr;
      if ((ntohl(s4->sin_addr.s_addr) >> 24) == 127) continue;
      inet_ntop(AF_INET, &s4->sin_addr, a->v4, sizeof a->v4);
    } else if (i->ifa_addr->sa_family == AF_INET6 && !a->v6[0]) {
      const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)i->ifa_addr;
      if (IN6_IS_ADDR_LINKLOCAL(&s6->sin6_addr) || IN6_IS_ADDR_LOOPBACK(&s6->sin6_addr) ||
          IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr))
        continue;
      char ip[INET6_ADDRSTRLEN];
      inet_ntop(AF_INET6, &s6->sin6_addr, ip, sizeof ip);
      snprintf(a->v6, sizeof a->v6, "[%s]", ip);
    }
  }
  freeifaddrs(all);
}
