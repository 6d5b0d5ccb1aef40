/*
 * policy.c - who a subrequest may connect to (SSRF protection).
 *
 * The check is made on the address a connection actually goes to, never on
 * the host name in the URL, so DNS answers that point inside (rebinding,
 * "localtest.me"-style names, redirects) are caught. fetch.c calls it from
 * curl's open-socket callback (before connect) and again from the
 * pre-request callback (covers connections reused from the cache, which
 * another fetch with another policy may have opened).
 *
 * Rules, in order: a denied port is refused on every address; with
 * allow_private everything else is allowed; a public unicast address that
 * is not one of this machine's own is allowed; a private one, or one of
 * the machine's own, only when the URL being fetched has exactly one of
 * the allowed origins (scheme, host as written, port).
 *
 * "This machine's own" is asked of the kernel, per connection, rather than
 * read from a list of interfaces: a UDP socket connected to the address
 * (connect on UDP sends nothing) is given the address itself as its source
 * exactly when the kernel would deliver there locally. IPv4 has a local
 * route per interface address whose source is that address; IPv6 source
 * selection prefers the destination when it is one of ours (RFC 6724,
 * rule 1). That covers every address getifaddrs lists, addresses added
 * after start, and addresses routed locally without being on an interface
 * (AnyIP), with no cache to go stale, for four system calls per new
 * connection to a public address. On an established (or reused)
 * connection the check is cheaper still: its own address equals the
 * peer's exactly when it goes to this machine.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <curl/curl.h>

#include "fetch/internal.h"

/* ---- origins ---------------------------------------------------------------------- */

int isl_fetch__origin(const char *url, char *buf, size_t cap) {
  CURLU *u = curl_url();
  char *scheme = NULL, *host = NULL, *port = NULL;
  int rc = -1;
  if (!u) return -1;
  if (curl_url_set(u, CURLUPART_URL, url, CURLU_NON_SUPPORT_SCHEME) != CURLUE_OK) goto fail;
  if (curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK) goto fail;
  if (curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK) goto fail;
  if (curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) != CURLUE_OK) goto fail;
  int n = snprintf(buf, cap, "%s://%s:%s", scheme, host, port);
  if (n < 0 || (size_t)n >= cap) goto fail;
  for (char *p = buf; *p; p++) *p = (char)tolower((unsigned char)*p);
  rc = 0;
fail:
  curl_free(scheme);
  curl_free(host);
  curl_free(port);
  curl_url_cleanup(u);
  return rc;
}

/* ---- the copy ----------------------------------------------------------------------- */

void isl_fetch__policy_clear(isl_fetch__policy_t *p) {
  for (size_t i = 0; i < p->n_origins; i++) free(p->origins[i]);
  free(p->origins);
  free(p->denied_ports);
  memset(p, 0, sizeof *p);
}

int isl_fetch__policy_copy(isl_fetch__policy_t *out, const isl_fetch_policy_t *p, isl_err_t *err) {
  memset(out, 0, sizeof *out);
  if (!p) return 0;
  out->allow_private = p->allow_private;
  if (p->n_allowed) {
    out->origins = calloc(p->n_allowed, sizeof *out->origins);
    if (!out->origins) goto nomem;
    for (size_t i = 0; i < p->n_allowed; i++) {
      char buf[512];
      const char *o = p->allowed_origins[i];
      if (!o || isl_fetch__origin(o, buf, sizeof buf) != 0) {
        isl_fetch__policy_clear(out);
        return isl_err_set(err, ISL_EINVAL, "fetch: allowed origin \"%s\" is not scheme://host[:port]",
                           o ? o : "(null)");
      }
      out->origins[i] = strdup(buf);
      if (!out->origins[i]) goto nomem;
      out->n_origins = i + 1;
    }
  }
  if (p->n_denied_ports) {
    out->denied_ports = malloc(p->n_denied_ports * sizeof *out->denied_ports);
    if (!out->denied_ports) goto nomem;
    memcpy(out->denied_ports, p->denied_ports, p->n_denied_ports * sizeof *out->denied_ports);
    out->n_denied = p->n_denied_ports;
  }
  return 0;
nomem:
  isl_fetch__policy_clear(out);
  return isl_err_set(err, ISL_ENOMEM, "fetch: out of memory");
}

/* ---- addresses ---------------------------------------------------------------------- */

static int v4_private(uint32_t a) {
  if ((a >> 24) == 0) return 1;                   /* 0.0.0.0/8 "this network" */
  if ((a >> 24) == 10) return 1;                  /* 10/8 */
  if ((a & 0xffc00000u) == 0x64400000u) return 1; /* 100.64/10 carrier-grade NAT */
  if ((a >> 24) == 127) return 1;                 /* loopback */
  if ((a & 0xffff0000u) == 0xa9fe0000u) return 1; /* 169.254/16 link-local (cloud metadata) */
  if ((a & 0xfff00000u) == 0xac100000u) return 1; /* 172.16/12 */
  if ((a & 0xffffff00u) == 0xc0000000u) return 1; /* 192.0.0/24 IETF protocol assignments */
  if ((a & 0xffff0000u) == 0xc0a80000u) return 1; /* 192.168/16 */
  if ((a & 0xfffe0000u) == 0xc6120000u) return 1; /* 198.18/15 benchmarking */
  if ((a >> 28) >= 0xe) return 1;                 /* 224/4 multicast, 240/4 reserved, broadcast */
  return 0;
}

static uint32_t be32(const uint8_t *b) {
  return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
}

static int v6_private(const uint8_t *b) {
  static const uint8_t zero[12] = {0};
  static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  static const uint8_t nat64[12] = {0, 0x64, 0xff, 0x9b, 0, 0, 0, 0, 0, 0, 0, 0};
  if (memcmp(b, mapped, 12) == 0 || memcmp(b, nat64, 12) == 0) return v4_private(be32(b + 12));
  if (memcmp(b, zero, 12) == 0) return 1;                           /* ::, ::1, IPv4-compatible */
  if (b[0] == 0x20 && b[1] == 0x02) return v4_private(be32(b + 2)); /* 2002::/16 6to4 */
  if ((b[0] & 0xfe) == 0xfc) return 1;                              /* fc00::/7 unique local */
  if (b[0] == 0xfe && (b[1] & 0x80) == 0x80) return 1;              /* fe80::/10 link-local, fec0::/10 site-local */
  if (b[0] == 0xff) return 1;                                       /* multicast */
  if (b[0] == 0x01 && b[1] == 0 && memcmp(b + 2, zero, 6) == 0) return 1;     /* 100::/64 discard */
  if (b[0] == 0x20 && b[1] == 0x01 && b[2] == 0x0d && b[3] == 0xb8) return 1; /* 2001:db8::/32 documentation */
  return 0;
}

int isl_fetch__addr_private(const struct sockaddr *sa) {
  if (sa->sa_family == AF_INET) return v4_private(ntohl(((const struct sockaddr_in *)sa)->sin_addr.s_addr));
  if (sa->sa_family == AF_INET6) return v6_private(((const struct sockaddr_in6 *)sa)->sin6_addr.s6_addr);
  return 1; /* anything else (unix sockets...) is never public */
}

/* ---- this machine's own addresses --------------------------------------------------- */

static int same_addr(const struct sockaddr *a, const struct sockaddr *b) {
  if (a->sa_family != b->sa_family) return 0;
  if (a->sa_family == AF_INET)
    return ((const struct sockaddr_in *)a)->sin_addr.s_addr == ((const struct sockaddr_in *)b)->sin_addr.s_addr;
  if (a->sa_family == AF_INET6)
    return memcmp(&((const struct sockaddr_in6 *)a)->sin6_addr, &((const struct sockaddr_in6 *)b)->sin6_addr,
                  sizeof(struct in6_addr)) == 0;
  return 0;
}

int isl_fetch__addr_local(const struct sockaddr *sa) {
  struct sockaddr_storage to, self;
  socklen_t len = sa->sa_family == AF_INET ? sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6);
  if (sa->sa_family != AF_INET && sa->sa_family != AF_INET6) return 1;
  memcpy(&to, sa, len);
  /* any port: nothing is sent, but port 0 is not a destination */
  if (sa->sa_family == AF_INET)
    ((struct sockaddr_in *)&to)->sin_port = htons(9);
  else
    ((struct sockaddr_in6 *)&to)->sin6_port = htons(9);
  int fd = socket(sa->sa_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  int rc = 0;
  socklen_t self_len = sizeof self;
  if (connect(fd, (const struct sockaddr *)&to, len) == 0) {
    if (getsockname(fd, (struct sockaddr *)&self, &self_len) == 0)
      rc = same_addr((const struct sockaddr *)&self, sa);
    else
      rc = -1;
  } /* else no route: nothing would be delivered here */
  close(fd);
  return rc;
}

/* ---- the check ---------------------------------------------------------------------- */

/* Does url have exactly one of p's allowed origins? */
static int origin_allowed(const isl_fetch__policy_t *p, const char *url) {
  char origin[512];
  if (!p->n_origins || !url || isl_fetch__origin(url, origin, sizeof origin) != 0) return 0;
  for (size_t i = 0; i < p->n_origins; i++)
    if (strcmp(origin, p->origins[i]) == 0) return 1;
  return 0;
}

int isl_fetch__policy_check(const isl_fetch__policy_t *p, const char *url, const struct sockaddr *sa,
                            const struct sockaddr *self, char *msg, size_t cap) {
  char ip[INET6_ADDRSTRLEN] = "?";
  int port = 0;
  if (sa->sa_family == AF_INET) {
    const struct sockaddr_in *s4 = (const struct sockaddr_in *)sa;
    inet_ntop(AF_INET, &s4->sin_addr, ip, sizeof ip);
    port = ntohs(s4->sin_port);
  } else if (sa->sa_family == AF_INET6) {
    const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)sa;
    inet_ntop(AF_INET6, &s6->sin6_addr, ip, sizeof ip);
    port = ntohs(s6->sin6_port);
  }
  for (size_t i = 0; i < p->n_denied; i++) {
    if (p->denied_ports[i] == port) {
      snprintf(msg, cap, "blocked: port %d of %s may not be fetched", port, ip);
      return ISL_FETCH_EBLOCKED;
    }
  }
  if (p->allow_private) return 0;
  int private = isl_fetch__addr_private(sa);
  /* A public-looking address may still be this machine's own: a connection
   * whose own address is its peer's goes here; before connecting, the
   * kernel's routing says. */
  int local = 0;
  if (!private) local = self && self->sa_family != AF_UNSPEC ? same_addr(self, sa) : isl_fetch__addr_local(sa);
  if (!private && !local) return 0;
  if (origin_allowed(p, url)) return 0;
  if (private)
    snprintf(msg, cap, "blocked: %s is a private address (allow its origin with allow_origins)", ip);
  else if (local > 0)
    snprintf(msg, cap, "blocked: %s is an address of this machine (allow its origin with allow_origins)", ip);
  else
    snprintf(msg, cap, "blocked: cannot tell whether %s is an address of this machine", ip);
  return ISL_FETCH_EBLOCKED;
}
