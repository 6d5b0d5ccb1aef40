/*
 * host_http.c - host.respond/write/end/fail/done: how a worker's Response
 * leaves the isolate (dispatch.js calls them). Headers arrive as one
 * "name: value\n" text, already validated by Headers; Content-Length, when
 * the body's size is known, becomes the HTTP layer's length and any other
 * framing header is the HTTP layer's business.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "runtime/internal.h"

#define MAX_RESPONSE_HEADERS 256

static isl_rt_exchange_t *exchange_arg(isl_iso_t *iso, int argc, const isl_val_t *argv) {
  isl_rt_inst_t *inst = isl_iso_get_data(iso);
  if (!inst || argc < 1) return NULL;
  double id = isl_iso_to_number(iso, argv[0]);
  if (!(id >= 1 && id <= UINT32_MAX)) return NULL;
  return isl_rt__exchange_find(inst, (uint32_t)id);
}

/* Undoes the engine's UTF-8 in place: header text from Headers holds only
 * U+0000..U+00FF (byte strings), one byte each on the wire. */
static void utf8_to_latin1(char *s) {
  unsigned char *r = (unsigned char *)s, *w = r;
  while (*r) {
    if ((r[0] & 0xE0) == 0xC0 && (r[1] & 0xC0) == 0x80 && r[0] <= 0xC3) {
      *w++ = (unsigned char)(((r[0] & 0x03) << 6) | (r[1] & 0x3F));
      r += 2;
    } else {
      *w++ = *r++;
    }
  }
  *w = 0;
}

static int http_respond(isl_iso_t *iso, void *data, int argc, const isl_val_t *argv, isl_val_t *ret) {
  (void)data;
  *ret = 0;
  isl_rt_exchange_t *x = exchange_arg(iso, argc, argv);
  if (!x || x->status || x->ended || argc < 4) return 0;
  int status = (int)isl_iso_to_number(iso, argv[1]);
  if (status < 200 || status > 599) status = 500;
  char *reason = isl_iso_to_cstring(iso, argv[2]);
  char *text = isl_iso_to_cstring(iso, argv[3]);
  if (text) utf8_to_latin1(text);
  isl_http_header_t hdrs[MAX_RESPONSE_HEADERS];
  size_t n = 0, all = isl_rt__headers_parse(text, hdrs, MAX_RESPONSE_HEADERS);
  int64_t length = -1;
  for (size_t i = 0; i < all; i++) {
    if (strcasecmp(hdrs[i].name, "content-length") == 0) {
      char *end;
      long long v = strtoll(hdrs[i].value, &end, 10);
      if (end != hdrs[i].value && !*end && v >= 0) length = v;
      continue;
    }
    hdrs[n++] = hdrs[i];
  }
  x->status = status;
  if (x->req) {
    /* The response's queued bytes count against its tenant's bound. */
    isl_http_req_set_account(x->req, x->inst->worker);
    isl_http_res_start(x->req, status, reason && reason[0] ? reason : NULL, hdrs, n, length);
  }
  free(reason);
  free(text);
  return 0;
}

/* Whether dispatch.js may write now: 0 yes, 1 wait and ask again (the
 * connection, or the tenant over all its connections, holds as many bytes
 * queued for slow clients as it may), -1 the client is gone. So a slow
 * client, or many, make the tenant's writes wait instead of the host
 * buffering its bodies; other tenants' writes are not held up. */
static int write_state(isl_rt_exchange_t *x) {
  if (!x || !x->req || x->ended) return -1;
  return isl_http_req_write_state(x->req);
}

/* host.write(id, buffer): writes the buffer, whole, only if write_state
 * says 0 and returns 0; else returns the state (1: not written, try again
 * later; -1: gone) without copying anything. dispatch.js hands it at most
 * 64 KiB at a time, so what a tenant gets past its bound is a piece per
 * loop thread. */
static int http_write(isl_iso_t *iso, void *data, int argc, const isl_val_t *argv, isl_val_t *ret) {
  (void)data;
  isl_rt_exchange_t *x = exchange_arg(iso, argc, argv);
  int state = x && x->status && argc >= 2 ? write_state(x) : -1;
  if (state == 0) {
    uint64_t t0 = isl_rt__thread_cpu_ns();
    uint8_t *buf;
    size_t len;
    if (isl_iso_array_buffer_copy(iso, argv[1], &buf, &len) < 0)
      return isl_iso_throw(iso, "TypeError", "host.write: data must be an ArrayBuffer");
    if (isl_http_res_write(x->req, buf, len) < 0) state = -1;
    free(buf);
    x->inst->io_ns += isl_rt__thread_cpu_ns() - t0;
  }
  return isl_iso_new_number(iso, state, ret);
}

static int http_pending(isl_iso_t *iso, void *data, int argc, const isl_val_t *argv, isl_val_t *ret) {
  (void)data;
  return isl_iso_new_number(iso, write_state(exchange_arg(iso, argc, argv)), ret);
}

static int http_end(isl_iso_t *iso, void *data, int argc, const isl_val_t *argv, isl_val_t *ret) {
  (void)data;
  *ret = 0;
  isl_rt_exchange_t *x = exchange_arg(iso, argc, argv);
  if (!x || x->ended) return 0;
  if (x->req) {
    isl_http_res_end(x->req);
    /* The client has its answer: stop feeding the request body, and let
     * the connection move on while waitUntil work finishes. */
    x->req->data = NULL;
    isl_http_req_release(x->req);
    x->req = NULL;
  }
  x->ended = 1;
  x->ended_ns = isl_rt__now_ns();
  isl_rt__exchange_log(x);
  return 0;
}

static int http_fail(isl_iso_t *iso, void *data, int argc, const isl_val_t *argv, isl_val_t *ret) {
  (void)data;
  *ret = 0;
  isl_rt_exchange_t *x = exchange_arg(iso, argc, argv);
  if (!x) return 0;
  char *msg = argc > 1 ? isl_iso_to_cstring(iso, argv[1]) : NULL;
  if (msg) {
    size_t n = strlen(msg);
    while (n && msg[n - 1] == '\n') n--;
    isl_rt__tenant_log(x->inst->worker, "error", msg, n);
  }
  free(msg);
  isl_rt__exchange_fail(x, 500, "Internal Server Error\n");
  return 0;
}

static int http_done(isl_iso_t *iso, void *data, int argc, const isl_val_t *argv, isl_val_t *ret) {
  (void)data;
  *ret = 0;
  isl_rt_exchange_t *x = exchange_arg(iso, argc, argv);
  if (x) isl_rt__exchange_finish(x);
  return 0;
}

const isl_rt_host_fn_t isl_rt__http_fns[] = {
    {"respond", http_respond}, {"write", http_write}, {"pending", http_pending}, {"end", http_end}, {"fail", http_fail},
    {"done", http_done},       {NULL, NULL}};
