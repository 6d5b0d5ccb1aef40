/*
 * server.c - the HTTP server's skeleton: listening sockets, loop threads
 * and the graceful stop.
 *
 * Each loop owns a listening socket bound to the same address with
 * SO_REUSEPORT, so the kernel spreads new connections over the loops and no
 * lock is ever taken on the accept path; the only state the loops share is
 * the atomic connection counter and the stop flag. All sockets are bound in
 * the caller's thread in isl_http_server_new, so a busy port is reported
 * before any thread starts.
 *
 * Busy-port detection: with SO_REUSEPORT set, bind() would happily share
 * a port with another process of the same user that also uses it (another
 * isolde). So the first socket binds *without* SO_REUSEPORT, which fails
 * with EADDRINUSE if anything listens there, and only then turns the option
 * on (Linux checks the option at bind and listen time, on both sides) so the
 * other loops' sockets can join it. There is no window in which another
 * process could slip in between a probe and the real bind.
 *
 * Stop: isl_http_server_stop sets a flag and wakes every loop through a
 * uv_async_t (async-signal-safe). Each loop then closes its listener, asks
 * each connection to finish (conn.c), and arms a drain timer; when its last
 * connection is gone it calls on_loop_stop and closes its own handles, and
 * uv_run returns once the handler has closed its handles too.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/alloc.h"
#include "http/internal.h"

/* ---- helpers ------------------------------------------------------------------ */

static void fill_defaults(isl_http_config_t *c) {
  if (!c->host || !*c->host) c->host = "127.0.0.1";
  if (c->threads == 0) c->threads = uv_available_parallelism();
  if (c->threads == 0) c->threads = 1;
  if (c->max_header_bytes == 0) c->max_header_bytes = ISL_HTTP_MAX_HEADER_BYTES;
  if (c->max_body_bytes == 0) c->max_body_bytes = ISL_HTTP_MAX_BODY_BYTES;
  if (c->header_timeout_ms == 0) c->header_timeout_ms = ISL_HTTP_HEADER_TIMEOUT_MS;
  if (c->body_timeout_ms == 0) c->body_timeout_ms = ISL_HTTP_BODY_TIMEOUT_MS;
  if (c->idle_timeout_ms == 0) c->idle_timeout_ms = ISL_HTTP_IDLE_TIMEOUT_MS;
  if (c->max_connections == 0) c->max_connections = ISL_HTTP_MAX_CONNECTIONS;
  if (c->drain_timeout_ms == 0) c->drain_timeout_ms = ISL_HTTP_DRAIN_TIMEOUT_MS;
  if (c->max_queued_responses == 0) c->max_queued_responses = ISL_HTTP_MAX_QUEUED_RESPONSES;
  if (c->max_pending_output == 0) c->max_pending_output = ISL_HTTP_MAX_PENDING_OUTPUT;
  if (c->max_account_output == 0) c->max_account_output = ISL_HTTP_MAX_ACCOUNT_OUTPUT;
}

/* "127.0.0.1:8787" or "[::1]:8787" */
static void addr_text(const char *host, int port, char *out, size_t size) {
  if (strchr(host, ':')) {
    snprintf(out, size, "[%s]:%d", host, port);
  } else {
    snprintf(out, size, "%s:%d", host, port);
  }
}

/* A bound, listening, non-blocking socket. reuseport_after: bind without
 * SO_REUSEPORT (so that any holder of the port makes bind fail), then set
 * it so the next sockets can join. Returns the fd or a negative uv code. */
static int bind_socket(const struct sockaddr_storage *sa, int reuseport_after) {
  int fd = socket(sa->ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return -errno;
  int one = 1, rc = 0;
  if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0) goto fail;
  if (sa->ss_family == AF_INET6 && setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)) != 0) goto fail;
  if (!reuseport_after && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) != 0) goto fail;
  socklen_t len = sa->ss_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
  if (bind(fd, (const struct sockaddr *)sa, len) != 0) goto fail;
  if (reuseport_after && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) != 0) goto fail;
  if (listen(fd, 511) != 0) goto fail;
  return fd;
fail:
  rc = -errno;
  close(fd);
  return rc;
}

static int sockaddr_port(int fd) {
  struct sockaddr_storage ss;
  socklen_t len = sizeof(ss);
  if (getsockname(fd, (struct sockaddr *)&ss, &len) != 0) return -1;
  if (ss.ss_family == AF_INET6) return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
  return ntohs(((struct sockaddr_in *)&ss)->sin_port);
}

/* ---- loop lifecycle --------------------------------------------------------------- */

static void on_connection(uv_stream_t *listener, int status) {
  isl_http_loopi_t *l = listener->data;
  if (status < 0 || l->stopping) return;
  isl_http__conn_accept(l);
}

/* Every connection is gone: tell the handler, close our handles. */
static void loop_finish(isl_http_loopi_t *l) {
  if (l->stopped) return;
  l->stopped = 1;
  if (l->drain_open) {
    uv_close((uv_handle_t *)&l->drain_timer, NULL);
    l->drain_open = 0;
  }
  if (l->async_open) {
    uv_close((uv_handle_t *)&l->stop_async, NULL);
    l->async_open = 0;
  }
  isl_http__drain_stop(l); /* the last drain callbacks (state -1), before on_loop_stop */
  if (l->srv->h.on_loop_stop) l->srv->h.on_loop_stop(&l->pub);
}

static void on_drain_timeout(uv_timer_t *t) {
  isl_http_loopi_t *l = t->data;
  isl_http_conn_t *c = l->conns, *next;
  for (; c; c = next) {
    next = c->next;
    isl_http__conn_kill(c);
  }
}

static void loop_begin_stop(isl_http_loopi_t *l) {
  if (l->stopping) return;
  l->stopping = 1;
  if (l->listener_open) {
    uv_close((uv_handle_t *)&l->listener, NULL);
    l->listener_open = 0;
  }
  isl_http_conn_t *c = l->conns, *next;
  for (; c; c = next) {
    next = c->next;
    isl_http__conn_stop(c);
  }
  if (l->n_conns == 0) {
    loop_finish(l);
  } else {
    uv_timer_start(&l->drain_timer, on_drain_timeout, l->srv->cfg.drain_timeout_ms, 0);
  }
}

static void on_stop_async(uv_async_t *a) {
  loop_begin_stop(a->data);
}

void isl_http__loop_conn_gone(isl_http_loopi_t *l) {
  l->n_conns--;
  if (l->stopping && l->n_conns == 0) loop_finish(l);
}

static void loop_main(void *arg) {
  isl_http_loopi_t *l = arg;
  /* A write to a socket the client has reset raises SIGPIPE in the writing
   * thread (libuv writes without MSG_NOSIGNAL). Blocking it here keeps the
   * process alive without changing its signal dispositions; the write then
   * fails with EPIPE and the connection is closed. */
  sigset_t pipe;
  sigemptyset(&pipe);
  sigaddset(&pipe, SIGPIPE);
  pthread_sigmask(SIG_BLOCK, &pipe, NULL);
  if (l->srv->h.on_loop_start) l->srv->h.on_loop_start(&l->pub);
  uv_run(&l->uv, UV_RUN_DEFAULT);
}

/* Closes whatever the loop still has open and frees leftover requests. */
static void loop_teardown(isl_http_loopi_t *l) {
  if (!l->uv_ok) return;
  if (l->listener_open) uv_close((uv_handle_t *)&l->listener, NULL);
  if (l->async_open) uv_close((uv_handle_t *)&l->stop_async, NULL);
  if (l->drain_open) uv_close((uv_handle_t *)&l->drain_timer, NULL);
  if (l->wake_open) uv_close((uv_handle_t *)&l->wake_timer, NULL);
  l->listener_open = l->async_open = l->drain_open = l->wake_open = 0;
  uv_run(&l->uv, UV_RUN_DEFAULT);
  while (l->reqs) isl_http__req_free(l->reqs);
  uv_loop_close(&l->uv);
  l->uv_ok = 0;
}

/* ---- API ---------------------------------------------------------------------------- */

int isl_http_server_new(const isl_http_config_t *cfg, const isl_http_handler_t *h, isl_http_server_t **out,
                        isl_err_t *err) {
  *out = NULL;
  if (!h || !h->on_request) return isl_err_set(err, ISL_EINVAL, "http: the handler needs on_request");
  isl_http_config_t c = cfg ? *cfg : (isl_http_config_t){0};
  fill_defaults(&c);
  if (c.port < 0 || c.port > 65535) return isl_err_set(err, ISL_EINVAL, "http: port %d is out of range", c.port);
  if (strlen(c.host) >= sizeof(((isl_http_server_t *)0)->host))
    return isl_err_set(err, ISL_EINVAL, "http: listen address %s is too long", c.host);

  struct sockaddr_storage sa;
  memset(&sa, 0, sizeof(sa));
  const char *ip = strcmp(c.host, "localhost") == 0 ? "127.0.0.1" : c.host;
  if (uv_ip4_addr(ip, c.port, (struct sockaddr_in *)&sa) != 0 &&
      uv_ip6_addr(ip, c.port, (struct sockaddr_in6 *)&sa) != 0)
    return isl_err_set(err, ISL_EINVAL, "http: listen address %s is not an IP address", c.host);

  isl_http_server_t *s = isl_calloc(1, sizeof(*s));
  if (!s) return isl_err_set(err, ISL_ENOMEM, "http: out of memory");
  snprintf(s->host, sizeof(s->host), "%s", c.host);
  c.host = s->host;
  s->cfg = c;
  s->h = *h;
  atomic_init(&s->stopping, 0);
  atomic_init(&s->n_conns, 0);
  int rc = uv_mutex_init(&s->acct_lock);
  if (rc != 0) {
    isl_err_set(err, rc, "http: uv_mutex_init: %s", uv_strerror(rc));
    goto fail;
  }
  s->acct_lock_ok = 1;
  s->loops = isl_calloc(c.threads, sizeof(*s->loops));
  if (!s->loops) {
    rc = isl_err_set(err, ISL_ENOMEM, "http: out of memory");
    goto fail;
  }
  s->n_loops = c.threads;
  char where[96];
  for (unsigned i = 0; i < s->n_loops; i++) {
    isl_http_loopi_t *l = &s->loops[i];
    l->srv = s;
    l->index = i;
    if ((rc = uv_loop_init(&l->uv)) != 0) {
      isl_err_set(err, rc, "http: uv_loop_init: %s", uv_strerror(rc));
      goto fail;
    }
    l->uv_ok = 1;
    uv_async_init(&l->uv, &l->stop_async, on_stop_async);
    l->stop_async.data = l;
    l->async_open = 1;
    uv_timer_init(&l->uv, &l->drain_timer);
    l->drain_timer.data = l;
    l->drain_open = 1;
    uv_timer_init(&l->uv, &l->wake_timer); /* drain callbacks (conn.c); never keeps the loop alive */
    uv_unref((uv_handle_t *)&l->wake_timer);
    l->wake_timer.data = l;
    l->wake_open = 1;

    int fd = bind_socket(&sa, i == 0);
    if (fd < 0) {
      rc = fd;
      addr_text(c.host, c.port, where, sizeof(where));
      if (rc == UV_EADDRINUSE) {
        isl_err_set(err, rc, "%s is already in use", where);
      } else {
        isl_err_set(err, rc, "http: cannot listen on %s: %s", where, uv_strerror(rc));
      }
      goto fail;
    }
    if (i == 0) {
      s->port = sockaddr_port(fd);
      if (sa.ss_family == AF_INET6) {
        ((struct sockaddr_in6 *)&sa)->sin6_port = htons((uint16_t)s->port);
      } else {
        ((struct sockaddr_in *)&sa)->sin_port = htons((uint16_t)s->port);
      }
      c.port = s->port;
    }
    uv_tcp_init(&l->uv, &l->listener);
    l->listener.data = l;
    l->listener_open = 1;
    if ((rc = uv_tcp_open(&l->listener, fd)) != 0) {
      close(fd);
      isl_err_set(err, rc, "http: uv_tcp_open: %s", uv_strerror(rc));
      goto fail;
    }
    if ((rc = uv_listen((uv_stream_t *)&l->listener, 511, on_connection)) != 0) {
      addr_text(c.host, c.port, where, sizeof(where));
      isl_err_set(err, rc, "http: cannot listen on %s: %s", where, uv_strerror(rc));
      goto fail;
    }
  }
  *out = s;
  return 0;
fail:
  isl_http_server_free(s);
  return rc;
}

int isl_http_server_port(const isl_http_server_t *s) {
  return s->port;
}
unsigned isl_http_server_threads(const isl_http_server_t *s) {
  return s->n_loops;
}
void *isl_http_server_handler_data(const isl_http_server_t *s) {
  return s->h.data;
}

int isl_http_server_run(isl_http_server_t *s) {
  if (s->ran) return ISL_EINVAL;
  s->ran = 1;
  unsigned started = 0;
  int rc = 0;
  for (; started < s->n_loops; started++) {
    if ((rc = uv_thread_create(&s->loops[started].thread, loop_main, &s->loops[started])) != 0) break;
  }
  if (rc != 0) isl_http_server_stop(s);
  for (unsigned i = 0; i < started; i++) uv_thread_join(&s->loops[i].thread);
  return rc;
}

void isl_http_server_stop(isl_http_server_t *s) {
  if (!s || atomic_exchange(&s->stopping, 1)) return;
  for (unsigned i = 0; i < s->n_loops; i++)
    if (s->loops[i].async_open) uv_async_send(&s->loops[i].stop_async);
}

void isl_http_server_free(isl_http_server_t *s) {
  if (!s) return;
  for (unsigned i = 0; i < s->n_loops; i++) loop_teardown(&s->loops[i]);
  free(s->loops);
  for (size_t i = 0; i < s->cap_accts; i++) free(s->accts[i]);
  free(s->accts);
  if (s->acct_lock_ok) uv_mutex_destroy(&s->acct_lock);
  free(s);
}

/* ---- output accounts ------------------------------------------------------------ */

static size_t acct_slot(const void *owner, size_t cap) {
  uint64_t h = (uint64_t)(uintptr_t)owner * 0x9E3779B97F4A7C15ull;
  return (size_t)(h >> 32) & (cap - 1);
}

/* The slot of owner in s->accts (its account, or the empty slot it would
 * take). cap is a power of two, never full. */
static isl_http_account_t **acct_find(isl_http_account_t **t, size_t cap, const void *owner) {
  size_t i = acct_slot(owner, cap);
  while (t[i] && t[i]->owner != owner) i = (i + 1) & (cap - 1);
  return &t[i];
}

isl_http_account_t *isl_http__account(isl_http_server_t *s, const void *owner) {
  uv_mutex_lock(&s->acct_lock);
  isl_http_account_t *a = s->cap_accts ? *acct_find(s->accts, s->cap_accts, owner) : NULL;
  if (!a) {
    if ((s->n_accts + 1) * 2 > s->cap_accts) { /* keep the table at most half full */
      size_t cap = s->cap_accts ? s->cap_accts * 2 : 64;
      isl_http_account_t **t = isl_calloc(cap, sizeof(*t));
      if (!t) goto out;
      for (size_t i = 0; i < s->cap_accts; i++)
        if (s->accts[i]) *acct_find(t, cap, s->accts[i]->owner) = s->accts[i];
      free(s->accts);
      s->accts = t;
      s->cap_accts = cap;
    }
    a = isl_calloc(1, sizeof(*a));
    if (!a) goto out;
    a->owner = owner;
    atomic_init(&a->bytes, 0);
    *acct_find(s->accts, s->cap_accts, owner) = a;
    s->n_accts++;
  }
out:
  uv_mutex_unlock(&s->acct_lock);
  return a;
}

size_t isl_http_server_account_bytes(isl_http_server_t *s, const void *owner) {
  uv_mutex_lock(&s->acct_lock);
  isl_http_account_t *a = s->cap_accts ? *acct_find(s->accts, s->cap_accts, owner) : NULL;
  uv_mutex_unlock(&s->acct_lock);
  return a ? atomic_load(&a->bytes) : 0;
}

uv_loop_t *isl_http_loop_uv(isl_http_loop_t *loop) {
  return &((isl_http_loopi_t *)loop)->uv;
}
unsigned isl_http_loop_index(const isl_http_loop_t *loop) {
  return ((const isl_http_loopi_t *)loop)->index;
}
isl_http_server_t *isl_http_loop_server(isl_http_loop_t *loop) {
  return ((isl_http_loopi_t *)loop)->srv;
}
