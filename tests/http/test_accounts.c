/*
 * tests/http/test_accounts.c - output accounts (isl_http_req_set_account):
 * the bytes the server holds for the clients of one owner (a tenant), over
 * all its connections, and what isl_http_req_write_state tells a handler.
 *
 * A handler answers "/owner-a" and "/owner-b" with one write of 8 MiB each,
 * charged to owner a or b, and records the write state it sees right after
 * its write. Clients with small receive buffers that never read leave most
 * of each answer queued in the server (on loopback the kernel takes a few
 * MB of it): owner a's account grows with its clients and no other's does,
 * its write state turns to "wait" once the account reaches
 * max_account_output (20 MiB here) while b's stays "write",
 * and when the clients go away every account drains to zero, cancelled
 * writes included, so that a tenant's bound never fills up with bytes the
 * server no longer holds.
 */
#include <netinet/in.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "http_client.h"
#include "test.h"

static const char owner_a = 'a', owner_b = 'b';
static atomic_int last_state_a, last_state_b;

static void on_request(isl_http_req_t *req) {
  const char *target = isl_http_req_target(req);
  const char *owner = test_http_path_is(target, "/owner-a") ? &owner_a : &owner_b;
  size_t size = 8u << 20;
  char *body = malloc(size);
  if (!body) abort();
  memset(body, 'x', size);
  isl_http_req_set_account(req, owner);
  isl_http_res_start(req, 200, NULL, NULL, 0, (int64_t)size);
  isl_http_res_write(req, body, size);
  free(body);
  atomic_store(owner == &owner_a ? &last_state_a : &last_state_b, isl_http_req_write_state(req));
  /* A started response cannot change account. */
  if (isl_http_req_set_account(req, &owner_b) != ISL_EINVAL) atomic_store(&last_state_b, 99);
  isl_http_res_end(req);
  isl_http_req_release(req);
}

static void on_abort(isl_http_req_t *req) {
  (void)req;
}

/* A GET of path from a client that never reads. */
static int stalled_get(int port, const char *path) {
  char raw[128];
  snprintf(raw, sizeof(raw), "GET %s HTTP/1.1\r\nHost: x\r\n\r\n", path);
  return test_http_stalled_client(port, raw);
}

static void sleep_ms(int ms) {
  struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

/* Waits up to 10 s for the handler to have answered and the account of
 * owner to be at least (or, when at_most, at most) want bytes. */
static size_t account_reaches(test_http_server_t *t, const void *owner, size_t want, int at_most) {
  size_t now = 0;
  for (int waited = 0; waited < 10000; waited += 10) {
    now = isl_http_server_account_bytes(t->srv, owner);
    if (at_most ? now <= want : now >= want) break;
    sleep_ms(10);
  }
  return now;
}

TEST(http_accounts_charge_one_owners_slow_clients_to_it_alone_and_drain_to_zero) {
  isl_http_handler_t h = {.on_request = on_request, .on_abort = on_abort};
  /* Only the account bounds here: a connection may hold its whole answer. */
  isl_http_config_t cfg = {
      .threads = 2, .max_pending_output = 64u << 20, .max_account_output = 20u << 20, .drain_timeout_ms = 2000};
  test_http_server_t t;
  isl_err_t err = {0};
  CHECK_MSG(test_http_server_start(&t, &cfg, &h, &err) == 0, "%s", err.msg);
  atomic_store(&last_state_a, -2);
  atomic_store(&last_state_b, -2);

  /* One of b's clients: b's account holds what its socket did not take,
   * and b may go on writing. */
  int fb = stalled_get(t.port, "/owner-b");
  CHECK(fb >= 0);
  size_t b1 = account_reaches(&t, &owner_b, 1u << 20, 0);
  CHECK_MSG(b1 >= 1u << 20 && b1 <= 8u << 20, "owner b holds %zu bytes", b1);
  for (int i = 0; i < 1000 && atomic_load(&last_state_b) == -2; i++) sleep_ms(10);
  CHECK_EQ_INT(atomic_load(&last_state_b), 0);

  /* Four of a's: a's account grows past its bound (each answer is
   * written whole: the server never refuses a write), a is told to wait,
   * and b's account has not moved. (A block is charged whole while any of
   * it waits: that is what the server holds.) */
  int fa[4];
  for (int i = 0; i < 4; i++) CHECK((fa[i] = stalled_get(t.port, "/owner-a")) >= 0);
  size_t a = account_reaches(&t, &owner_a, 32u << 20, 0);
  CHECK_MSG(a == 32u << 20, "owner a holds %zu bytes", a);
  CHECK_EQ_INT(isl_http_server_account_bytes(t.srv, &owner_b), b1);
  for (int i = 0; i < 1000 && atomic_load(&last_state_a) != 1; i++) sleep_ms(10);
  CHECK_EQ_INT(atomic_load(&last_state_a), 1);
  /* b's next answer is still told to write. */
  atomic_store(&last_state_b, -2);
  int fb2 = stalled_get(t.port, "/owner-b");
  CHECK(fb2 >= 0);
  for (int i = 0; i < 1000 && atomic_load(&last_state_b) == -2; i++) sleep_ms(10);
  CHECK_EQ_INT(atomic_load(&last_state_b), 0);
  /* An owner never charged holds nothing. */
  CHECK_EQ_INT(isl_http_server_account_bytes(t.srv, &cfg), 0);

  /* The clients go away: the queued writes are cancelled and every byte
   * leaves its account. */
  for (int i = 0; i < 4; i++) close(fa[i]);
  close(fb);
  close(fb2);
  CHECK_EQ_INT(account_reaches(&t, &owner_a, 0, 1), 0);
  CHECK_EQ_INT(account_reaches(&t, &owner_b, 0, 1), 0);
  CHECK_EQ_INT(test_http_server_stop(&t), 0);
}
