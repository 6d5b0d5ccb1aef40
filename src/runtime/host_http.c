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

#include "api/api.h"
#include "runtime/internal.h"

#define MAX_RESPONSE_HEADERS 256

static isl_rt_exchange_t *exchange_arg(isl_iso_t *iso, int argc, const isl_val_t *argv) {
  isl_rt_inst_t *inst = isl_iso_get_data(iso);
  if (!inst || argc < 1) return NULL;
  double id = isl_iso_to_number(iso, argv[0]);
  if (!(id >= 1 && id <= UINT32_MAX)) return NULL;
  return isl_rt__exchange_find(inst, (uint32_t)id);
}

/* The message when a header text from JS is not a byte string (Headers
 * refuses such values, so only a caller that bypassed it sees this). */
#define NOT_BYTES_MSG "a header name or value has a code point above U+00FF (not a ByteString)"

/* Starts x's response from respond's arguments (id, status, statusText,
 * headerText): 0, or a thrown error. A Content-Length among the headers
 * becomes the HTTP layer's length, else `length` (-1: chunked). */
static int start_response(isl_iso_t *iso, isl_rt_exchange_t *x, const isl_val_t *argv, int64_t length) {
  int status = (int)isl_iso_to_number(iso, argv[1]);
  if (status < 200 || status > 599) status = 500;
  char *reason = isl_iso_to_cstring(iso, argv[2]);
  if (reason) isl_api_cstring_to_bytes(reason); /* a byte string: one byte per code point */
  char *text = isl_iso_to_cstring(iso, argv[3]);
  if (text && isl_api_cstring_to_bytes(text) < 0) { /* header bytes: the one codec (api.h) */
    free(reason);
    free(text);
    return isl_iso_throw(iso, "TypeError", NOT_BYTES_MSG);
  }
  isl_http_header_t hdrs[MAX_RESPONSE_HEADERS];
  size_t n = 0, all = isl_rt__headers_parse(text, hdrs, MAX_RESPONSE_HEADERS);
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

static int http_respond(isl_iso_t *iso, void *data, int argc, const isl_val_t *argv, isl_val_t *ret) {
  (void)data;
  *ret = 0;
  isl_rt_exchange_t *x = exchange_arg(iso, argc, argv);
  if (!x || x->status || x->ended || argc < 4) return 0;
  return start_response(iso, x, argv, -1);
}

/*
 * host.respondBody(id, status, statusText, headerText, bodyId) -> 1 piped,
 * 0 not (the body is not a host body JS left untouched, or the client is
 * gone: the caller sends it the general way). A host body (host_body.c)
 * as the response: the head goes out now with the body's length when it
 * is known (the headers' Content-Length when they have one), and the
 * body's bytes go from its source to the client without entering the
 * isolate. The response is over for the exchange (logged now); the pipe
 * ends or cuts it on its own.
 */
static int http_respond_body(isl_iso_t *iso, void *data, int argc, const isl_val_t *argv, isl_val_t *ret) {
  (void)data;
  *ret = 0;
  isl_rt_exchange_t *x = exchange_arg(iso, argc, argv);
  isl_rt_body_t *b = x && argc >= 5 ? isl_rt__body_find(x->inst, isl_iso_to_number(iso, argv[4])) : NULL;
  if (!b || x->status || x->ended || !x->req || isl_http_req_aborted(x->req)) return isl_iso_new_number(iso, 0, ret);
  int rc = start_response(iso, x, argv, isl_rt__body_length(b));
  if (rc < 0) return rc;
  isl_http_req_t *req = x->req;
  /* The response's request goes with the pipe; an upload that is not the
   * piped body is the exchange's to fail (nobody reads it now). */
  if (x->body == b) x->body = NULL;
  if (x->body && isl_rt__body_uploading(x->body)) {
    isl_rt__body_pair(b, x->body);
    x->body = NULL;
  }
  x->req = NULL;
  req->data = NULL;
  isl_rt__exchange_release_req(x);
  x->ended = 1;
  x->ended_ns = isl_rt__now_ns();
  isl_rt__exchange_log(x);
  isl_rt__body_pipe(b, req);
  return isl_iso_new_number(iso, 1, ret);
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

/* The client's queue drained (or the client went away) after a write
 * that was told to wait: entry.writable(id) lets dispatch.js go on. */
static void drained(isl_http_req_t *req, void *arg) {
  (void)req;
  isl_rt_exchange_t *x = arg;
  isl_rt_inst_t *inst = x->inst;
  x->draining = 0;
  isl_val_t id;
  if (inst->poisoned || isl_iso_new_number(inst->iso, x->id, &id) < 0) return;
  uint32_t owner = x->id;
  isl_rt__inst_call(inst, inst->worker->entry->writable, 1, &id, x);
  isl_rt__exchange_check_cpu(inst, owner);
  isl_rt_pool_t *pool = inst->pool;
  if (!isl_rt__inst_maybe_discard(inst) && pool) isl_rt__pool_trim(pool);
}

/* host.write(id, buffer): writes the buffer, whole, only if write_state
 * says 0 and returns 0; else returns the state (1: not written, and
 * entry.writable(id) follows once the client's queue has drained; -1:
 * gone) without copying anything. dispatch.js hands it at most 64 KiB at
 * a time, so what a tenant gets past its bound is a piece per loop
 * thread. */
static int http_write(isl_iso_t *iso, void *data, int argc, const isl_val_t *argv, isl_val_t *ret) {
  (void)data;
  isl_rt_exchange_t *x = exchange_arg(iso, argc, argv);
  int state = x && x->status && argc >= 2 ? write_state(x) : -1;
  if (state == 0) {
    uint64_t t0 = isl_rt__thread_cpu_ns();
    uint8_t *buf;
    size_t len;
    if (isl_iso_array_buffer_copy(iso, argv[1], &buf, &len) < 0) /* the engine's copy needs memory too */
      return isl_iso_hit_memory_cap(iso) ? isl_iso_throw(iso, "RangeError", "out of memory")
                                         : isl_iso_throw(iso, "TypeError", "host.write: data must be an ArrayBuffer");
    if (isl_http_res_write(x->req, buf, len) < 0) state = -1;
    free(buf);
    x->inst->io_ns += isl_rt__thread_cpu_ns() - t0;
  } else if (state > 0) {
    x->draining = 1;
    isl_http_req_on_drain(x->req, drained, x);
  }
  return isl_iso_new_number(iso, state, ret);
}

static int http_pending(isl_iso_t *iso, void *data, int argc, const isl_val_t *argv, isl_val_t *ret) {
  (void)data;
  return isl_iso_new_number(iso, write_state(exchange_arg(iso, argc, argv)), ret);
}

/* The response is out (res_end or res_whole was called): the exchange
 * lets its HTTP request go and writes its log line. */
static void ended(isl_rt_exchange_t *x) {
  /* The client has its answer: stop feeding the request body, and let
   * the connection move on while waitUntil work finishes. */
  isl_rt__exchange_release_req(x);
  x->ended = 1;
  x->ended_ns = isl_rt__now_ns();
  isl_rt__exchange_log(x);
}

static int http_end(isl_iso_t *iso, void *data, int argc, const isl_val_t *argv, isl_val_t *ret) {
  (void)data;
  *ret = 0;
  isl_rt_exchange_t *x = exchange_arg(iso, argc, argv);
  if (!x || x->ended) return 0;
  if (x->req) isl_http_res_end(x->req);
  ended(x);
  return 0;
}

/* ---- the whole response in one call ------------------------------------------ */

/* A body larger than this goes the streamed way (host.write in pieces,
 * paced by write_state), so that no tenant makes the host hold more than
 * a piece per request beyond its bound. dispatch.js's WRITE_PIECE. */
#define WHOLE_MAX (64u << 10)

typedef struct {
  isl_rt_exchange_t *x;
  int status;
  const char *reason;
  isl_http_header_t *hdrs;
  size_t n;
  int too_big;
} whole_t;

static void send_whole(whole_t *w, const uint8_t *body, size_t len) {
  isl_rt_exchange_t *x = w->x;
  x->status = w->status;
  if (x->req) {
    isl_http_req_set_account(x->req, x->inst->worker);
    isl_http_res_whole(x->req, w->status, w->reason, w->hdrs, w->n, body, len);
  }
  ended(x);
}

static int whole_bytes(const uint8_t *bytes, size_t len, void *arg) {
  whole_t *w = arg;
  if (len > WHOLE_MAX) {
    w->too_big = 1;
    return 0;
  }
  send_whole(w, bytes, len);
  return 0;
}

/* The engine's UTF-8 form keeps a lone surrogate as ED A0..BF xx; the
 * wire gets U+FFFD (EF BF BD) for it, as TextEncoder does: same length. */
static int whole_text(const uint8_t *bytes, size_t len, void *arg) {
  if (len > WHOLE_MAX) return whole_bytes(bytes, len, arg);
  for (size_t i = 0; i + 2 < len; i++) {
    if (bytes[i] != 0xED || bytes[i + 1] < 0xA0) continue;
    uint8_t *fixed = malloc(len);
    if (!fixed) return ISL_ENOMEM;
    memcpy(fixed, bytes, len);
    for (size_t j = i; j + 2 < len; j++) {
      if (fixed[j] == 0xED && fixed[j + 1] >= 0xA0) {
        memcpy(fixed + j, "\xEF\xBF\xBD", 3);
        j += 2;
      }
    }
    whole_bytes(fixed, len, arg);
    free(fixed);
    return 0;
  }
  return whole_bytes(bytes, len, arg);
}

/* host.respondWhole's codes and flags (response.js has the same). */
enum { WHOLE_TEXT_PLAIN = 1, WHOLE_JSON = 2 };  /* headerText as a number */
enum { WHOLE_NO_BODY = -2, WHOLE_BUFFER = -1 }; /* units for a body that is not a string */
enum { WHOLE_DONE = 1, WHOLE_REASON = 2 };      /* flags */

/*
 * host.respondWhole(id, status, statusText, headerText, body, units, flags)
 * -> 0 sent (or nothing left to send to), 1 not taken.
 * The whole response at once: status line, headers and body in one write
 * with its Content-Length. body is a string of `units` UTF-16 code units
 * (sent as UTF-8, converted here), an ArrayBuffer (all of it; units
 * WHOLE_BUFFER) or nothing (units WHOLE_NO_BODY). headerText as for
 * respond, or WHOLE_TEXT_PLAIN / WHOLE_JSON for a list that is only the
 * Content-Type of a string body or of Response.json(); a Content-Length
 * in it is dropped (the body's size is the length). flags: WHOLE_REASON,
 * statusText is the reason phrase (else the standard one); WHOLE_DONE,
 * the request is also finished (as host.done). 1 when the client's queue
 * is full, the call hit the memory cap or the body is over WHOLE_MAX:
 * then nothing happened, and the caller takes the general way.
 */
static int http_respond_whole(isl_iso_t *iso, void *data, int argc, const isl_val_t *argv, isl_val_t *ret) {
  (void)data;
  *ret = 0;
  isl_rt_exchange_t *x = exchange_arg(iso, argc, argv);
  if (!x || argc < 7) return 0;
  int flags = (int)isl_iso_to_number(iso, argv[6]);
  if (!x->status && !x->ended) {
    /* A full queue streams; so does a call that hit the memory cap (and
     * caught it): the turn ends in a 503 then, and the general way's
     * promise jobs never run. */
    if (write_state(x) > 0 || isl_iso_hit_memory_cap(iso)) return isl_iso_new_number(iso, 1, ret);
    whole_t w = {x, (int)isl_iso_to_number(iso, argv[1]), NULL, NULL, 0, 0};
    if (w.status < 200 || w.status > 599) w.status = 500;
    char *reason = flags & WHOLE_REASON ? isl_iso_to_cstring(iso, argv[2]) : NULL;
    if (reason) isl_api_cstring_to_bytes(reason);
    static char text_plain[] = "content-type\0text/plain;charset=UTF-8", json[] = "content-type\0application/json";
    isl_http_header_t hdrs[MAX_RESPONSE_HEADERS];
    char *text = NULL;
    double code = isl_iso_to_number(iso, argv[3]); /* NaN for a text */
    if (code == WHOLE_TEXT_PLAIN) {
      hdrs[w.n++] = (isl_http_header_t){text_plain, 12, text_plain + 13, sizeof(text_plain) - 14};
    } else if (code == WHOLE_JSON) {
      hdrs[w.n++] = (isl_http_header_t){json, 12, json + 13, sizeof(json) - 14};
    } else if ((text = isl_iso_to_cstring(iso, argv[3])) != NULL) {
      if (isl_api_cstring_to_bytes(text) < 0) {
        free(reason);
        free(text);
        return isl_iso_throw(iso, "TypeError", NOT_BYTES_MSG);
      }
      size_t all = isl_rt__headers_parse(text, hdrs, MAX_RESPONSE_HEADERS);
      for (size_t i = 0; i < all; i++)
        if (strcasecmp(hdrs[i].name, "content-length") != 0) hdrs[w.n++] = hdrs[i];
    }
    w.hdrs = hdrs;
    w.reason = reason && reason[0] ? reason : NULL;
    int rc = 0;
    double units = isl_iso_to_number(iso, argv[5]);
    if (units == WHOLE_NO_BODY) {
      send_whole(&w, NULL, 0);
    } else if (units == WHOLE_BUFFER) {
      rc = isl_iso_array_buffer_read(iso, argv[4], whole_bytes, &w);
    } else if (units > WHOLE_MAX) {
      w.too_big = 1;
    } else if (units >= 0) {
      rc = isl_iso_string_utf8_read(iso, argv[4], (size_t)units, whole_text, &w);
    } else {
      rc = ISL_EINVAL;
    }
    free(reason);
    free(text);
    if (w.too_big) return isl_iso_new_number(iso, 1, ret);
    if (rc < 0)
      return isl_iso_throw(iso, "TypeError", "host.respondWhole: the body must be a string or an ArrayBuffer");
  }
  if (flags & WHOLE_DONE) isl_rt__exchange_finish(x);
  return isl_iso_new_number(iso, 0, ret);
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

/* host.promiseValue(p): the value of p if it is a promise already
 * fulfilled, else undefined (pending, rejected, not a promise). For an
 * async handler that returned without awaiting: its Response is sent at
 * once, with no promise jobs. */
static int http_promise_value(isl_iso_t *iso, void *data, int argc, const isl_val_t *argv, isl_val_t *ret) {
  (void)data;
  *ret = 0;
  if (argc < 1 || isl_iso_promise_state(iso, argv[0]) != ISL_ISO_PROMISE_FULFILLED) return 0;
  return isl_iso_promise_result(iso, argv[0], ret);
}

const isl_rt_host_fn_t isl_rt__http_fns[] = {{"respond", http_respond},
                                             {"write", http_write},
                                             {"pending", http_pending},
                                             {"end", http_end},
                                             {"fail", http_fail},
                                             {"done", http_done},
                                             {"respondWhole", http_respond_whole},
                                             {"promiseValue", http_promise_value},
                                             {"respondBody", http_respond_body},
                                             {NULL, NULL}};
