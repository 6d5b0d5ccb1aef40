/*
 * host_fetch.c - host.fetchStart/fetchAbort/fetchPause: the subrequests
 * behind a worker's fetch() (fetch.js), run by src/fetch on the loop.
 *
 * Each subrequest belongs to an instance and to the request it was made
 * for (isl_rt__exchange_owner: the request the current call runs for; in
 * a timer's or another subrequest's callback, that one's owner). Its
 * callbacks are entered for that request, so their CPU is charged there,
 * and it counts against that request's subrequest limit, which counts for
 * the whole request: its handler, its waitUntil work and its timers. When
 * the request finishes or is cut its subrequests are aborted
 * (isl_rt__subs_cancel) and JS can learn their ids (fetchesDropped); a
 * fetch() that no live request owns (its request finished, or none is in
 * flight) is refused with a TypeError. While one is in flight the
 * instance has pending I/O, so its promises are not taken for hung. The response comes back through
 * entry.fetchResponse, entry.fetchChunk and entry.fetchDone, each an
 * ordinary entry (time frozen, CPU charged, limits enforced); the time the
 * network takes is wall time, never CPU time.
 *
 * Policy: a worker may not reach loopback, private or link-local
 * addresses, nor any address of this machine, unless its config allows
 * the origin; every hop of a redirect is checked again (src/fetch). A
 * fetch to the request's own host on a route with an origin goes to that
 * origin instead, which is how a worker in front of an origin passes a
 * request through; that origin is then allowed too, and only it. (The
 * Host header is passed on for it, but src/fetch drops every Host header:
 * the origin sees its own host.)
 *
 * Loops: each subrequest is one hop more than the request it is made for
 * (CDN-Loop, docs/fetch.md), so a worker that calls its own server, or a
 * ring of them, stops after ISL_FETCH_MAX_HOPS: fetch() then rejects with
 * a TypeError that says "Loop detected". Which request a fetch() is made
 * for: its owner (above), whose hops are known, so a loop cannot launder
 * its count through a timer. Under `isolde run` there are no requests, and
 * a fetch() is hop 1.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "api/api.h"
#include "fetch/fetch.h"
#include "runtime/internal.h"

#define MAX_FETCH_HEADERS 256

struct isl_rt_sub_s {
  isl_rt_inst_t *inst;
  uint32_t id;
  isl_rt_exchange_t *owner; /* the request it was made for; NULL under `isolde run` */
  isl_fetch_t *f;
  struct isl_rt_sub_s *next;
  isl_rt_body_t *body;   /* its response's body, once the head came */
  isl_rt_body_t *upload; /* the host body it sends as its request body, or NULL */
  int head_only;         /* a HEAD request: its response has no body whatever it says */
  int detached;          /* its body is piped to a client: out of its instance */
};

/* Its upload's body hears that it is gone (the rest of its source is dropped). */
static void sub_upload_gone(isl_rt_sub_t *sub) {
  isl_rt_body_t *b = sub->upload;
  sub->upload = NULL;
  if (b) isl_rt__body_upload_gone(b);
}

static void sub_unlink(isl_rt_sub_t *sub) {
  isl_rt_inst_t *inst = sub->inst;
  for (isl_rt_sub_t **p = &inst->subs; *p; p = &(*p)->next)
    if (*p == sub) {
      *p = sub->next;
      inst->n_pending_io--;
      break;
    }
}

void isl_rt__subs_abort(isl_rt_inst_t *inst) {
  while (inst->subs) {
    isl_rt_sub_t *sub = inst->subs;
    if (sub->body) isl_rt__body_forget_source(sub->body); /* freed with the instance */
    sub->upload = NULL;                                   /* so is that */
    sub_unlink(sub);
    isl_fetch_abort(sub->f);
    free(sub);
  }
  isl_rt__ids_free(&inst->dropped_subs);
}

void isl_rt__subs_cancel(isl_rt_inst_t *inst, const isl_rt_exchange_t *x) {
  for (isl_rt_sub_t *sub = inst->subs, *next; sub; sub = next) {
    next = sub->next;
    if (sub->owner != x) continue;
    isl_rt__ids_push(&inst->dropped_subs, sub->id);
    sub_unlink(sub);
    isl_fetch_abort(sub->f);
    sub_upload_gone(sub);
    if (sub->body)
      isl_rt__body_end(sub->body,
                       "fetch failed: the request it was made for has finished; its subrequests were cancelled");
    free(sub);
  }
}

void isl_rt__sub_pause(isl_rt_sub_t *sub, int paused) {
  isl_fetch_pause(sub->f, paused);
}

void isl_rt__sub_cancel(isl_rt_sub_t *sub) {
  if (!sub->detached) sub_unlink(sub);
  isl_fetch_abort(sub->f);
  sub_upload_gone(sub);
  free(sub);
}

void isl_rt__sub_detach(isl_rt_sub_t *sub) {
  if (sub->detached) return;
  sub_unlink(sub);
  sub->detached = 1;
  sub->owner = NULL;
  sub->inst = NULL;
}

/* The host's header text of a response head (api.h isl_api_header_line:
 * the form JS keeps until the worker reads response.headers): each byte
 * of the origin's is the code point of the same value, so an obs-text
 * byte such as E9 reaches the worker as U+00E9, not as invalid UTF-8
 * turned into U+FFFD; names lower-cased; a header Headers would refuse
 * (a name that is not a token, a NUL in a value) is left out. */
static char *headers_text(const isl_http_header_t *h, size_t n) {
  size_t len = 1;
  for (size_t i = 0; i < n; i++) len += h[i].name_len + 2 * h[i].value_len + 3;
  char *s = malloc(len), *p = s;
  if (!s) return NULL;
  for (size_t i = 0; i < n; i++) p += isl_api_header_line(p, h[i].name, h[i].name_len, h[i].value, h[i].value_len);
  *p = 0;
  return s;
}

/* The origin's reason phrase, a byte string too (as headers_text). */
static char *status_text_utf8(const char *reason) {
  size_t n = reason ? strlen(reason) : 0;
  char *s = malloc(2 * n + 1);
  if (s) s[isl_api_bytes_to_utf8(s, reason ? reason : "", n)] = 0;
  return s;
}

/* Calls an entry function for a subrequest's instance, for the request
 * that owns it; the instance may be gone afterwards (and the subrequest
 * with it). */
static void sub_call(isl_rt_sub_t *sub, isl_val_t fn, int argc, isl_val_t *args) {
  isl_rt_inst_t *inst = sub->inst;
  isl_rt_exchange_t *x = sub->owner;
  uint32_t owner_id = x ? x->id : 0;
  isl_rt__inst_call(inst, fn, argc, args, x);
  if (owner_id) isl_rt__exchange_check_cpu(inst, owner_id);
  isl_rt_pool_t *pool = inst->pool;
  if (!isl_rt__inst_maybe_discard(inst) && pool) isl_rt__pool_trim(pool);
}

static int sub_done(isl_rt_sub_t *sub, int err, const char *msg);

/*
 * Part of a response that cannot reach the isolate (its memory is full)
 * must not leave the worker reading a body that ends normally without it:
 * the transfer is aborted and the worker told it failed, as if the
 * connection had dropped (fetch() rejects, or the body's read does). If
 * even that cannot be said, the request it was made for fails.
 */
static void sub_fail(isl_fetch_t *f, const char *why) {
  isl_rt_sub_t *sub = isl_fetch_data(f);
  isl_rt_exchange_t *owner = sub->owner;
  isl_fetch_abort(f); /* no callback of f comes after this */
  /* Not told: nothing ran, so owner is still there. */
  if (sub_done(sub, ISL_ENOMEM, why) < 0 && owner && owner->req)
    isl_rt__exchange_fail(owner, 503, "A subrequest's response could not be delivered to the worker.\n");
}

static void on_response(isl_fetch_t *f, int status, const char *status_text, const isl_http_header_t *headers, size_t n,
                        const char *final_url) {
  isl_rt_sub_t *sub = isl_fetch_data(f);
  isl_iso_t *iso = sub->inst->iso;
  char *text = headers_text(headers, n), *reason = status_text_utf8(status_text);
  /* Its body: bytes the host holds until the worker reads them (host_body.c). */
  int64_t length = -1;
  int no_body = sub->head_only || status == 204 || status == 304;
  for (size_t i = 0; i < n && !no_body; i++) {
    if (strcasecmp(headers[i].name, "content-length") != 0) continue;
    char *end;
    long long v = strtoll(headers[i].value, &end, 10);
    if (end != headers[i].value && !*end && v >= 0) length = v;
  }
  sub->body = isl_rt__body_new(sub->inst, sub->owner, no_body ? 0 : length);
  isl_val_t args[7] = {0};
  if (!text || !reason || !sub->body || isl_iso_new_number(iso, sub->id, &args[0]) < 0 ||
      isl_iso_new_number(iso, status, &args[1]) < 0 || isl_iso_new_string(iso, reason, &args[2]) < 0 ||
      isl_iso_new_string(iso, text, &args[3]) < 0 ||
      isl_iso_new_string(iso, final_url ? final_url : "", &args[4]) < 0 ||
      isl_iso_new_number(iso, isl_rt__body_id(sub->body), &args[5]) < 0 ||
      isl_iso_new_number(iso, (double)isl_rt__body_length(sub->body), &args[6]) < 0) {
    for (int i = 0; i < 7; i++) isl_iso_release(iso, args[i]);
    free(text);
    free(reason);
    return sub_fail(f, "the response could not be delivered to the worker (out of memory)");
  }
  free(text);
  free(reason);
  isl_rt__body_set_source(sub->body, sub);
  sub_call(sub, sub->inst->worker->entry->fetch_response, 7, args);
}

/* Body bytes go to its body (host_body.c), which holds them for the
 * worker, or pipes them to a client, and pauses the transfer when it
 * holds enough. */
static void on_body(isl_fetch_t *f, const char *data, size_t len) {
  isl_rt_sub_t *sub = isl_fetch_data(f);
  isl_rt_inst_t *inst = sub->inst; /* NULL when its body is piped */
  if (sub->body) isl_rt__body_push(sub->body, data, len);
  if (inst && inst->pool && !isl_rt__inst_maybe_discard(inst)) isl_rt__pool_trim(inst->pool);
}

/* Tells JS that subrequest sub ended (entry.fetchDone) and frees it: 0, or
 * -1 if the call's arguments could not be made (nothing ran). After a
 * call, the instance may be gone. */
static int sub_done(isl_rt_sub_t *sub, int err, const char *msg) {
  sub_unlink(sub);
  sub_upload_gone(sub);
  isl_iso_t *iso = sub->inst->iso;
  isl_val_t args[3] = {0};
  int rc = -1;
  if (isl_iso_new_number(iso, sub->id, &args[0]) == 0 && isl_iso_new_number(iso, err, &args[1]) == 0 &&
      isl_iso_new_string(iso, msg ? msg : "", &args[2]) == 0) {
    sub_call(sub, sub->inst->worker->entry->fetch_done, 3, args);
    rc = 0;
  } else {
    for (int i = 0; i < 3; i++) isl_iso_release(iso, args[i]);
  }
  free(sub);
  return rc;
}

static void on_done(isl_fetch_t *f, int err, const char *msg) {
  isl_rt_sub_t *sub = isl_fetch_data(f);
  isl_rt_body_t *b = sub->body;
  if (b) {
    /* Responded: JS forgot the subrequest then; its body hears the end. */
    isl_rt_inst_t *inst = sub->inst;
    if (!sub->detached) sub_unlink(sub);
    sub_upload_gone(sub);
    free(sub);
    char why[600];
    if (err) snprintf(why, sizeof(why), "fetch failed: %s", msg ? msg : "the response body was cut");
    isl_rt__body_end(b, err ? why : NULL);
    if (inst && inst->pool && !isl_rt__inst_maybe_discard(inst)) isl_rt__pool_trim(inst->pool);
    return;
  }
  isl_rt_exchange_t *owner = sub->owner;
  /* Not told (out of memory): its request must not wait for ever, nor
   * end as if the body had ended. */
  if (sub_done(sub, err, msg) < 0 && owner && owner->req)
    isl_rt__exchange_fail(owner, 503, "A subrequest's response could not be delivered to the worker.\n");
}

static void on_upload_drain(isl_fetch_t *f) {
  isl_rt_sub_t *sub = isl_fetch_data(f);
  if (sub->upload) isl_rt__body_upload_drain(sub->upload);
}

/* If url is on the request's own host and its route has an origin, the
 * same path on the origin (malloc'd), else NULL. */
static char *to_origin(const isl_rt_exchange_t *x, const char *url) {
  if (!x || !x->route || !x->route->origin || !x->host[0]) return NULL;
  const char *rest = strncmp(url, "http://", 7) == 0 ? url + 7 : strncmp(url, "https://", 8) == 0 ? url + 8 : NULL;
  size_t n = strlen(x->host);
  if (!rest || strncasecmp(rest, x->host, n) != 0 || (rest[n] && rest[n] != '/' && rest[n] != '?')) return NULL;
  size_t len = strlen(x->route->origin) + strlen(rest + n) + 2;
  char *out = malloc(len);
  if (out) snprintf(out, len, "%s%s%s", x->route->origin, rest[n] == '/' ? "" : "/", rest + n);
  return out;
}

#define NO_REQUEST_MSG                                                                                            \
  "fetch(): no request in flight: the request this code runs for has finished (its response was sent and no "     \
  "ctx.waitUntil() keeps it alive) or was cut off, and its outstanding I/O was cancelled. Cannot perform I/O on " \
  "behalf of a request that is over: do it before responding, or inside ctx.waitUntil()"

static int fetch_start(isl_iso_t *iso, void *data, int argc, const isl_val_t *argv, isl_val_t *ret) {
  (void)data;
  *ret = 0;
  isl_rt_inst_t *inst = isl_iso_get_data(iso);
  if (isl_rt__refuse_in_global_scope(iso)) return ISL_EJS;
  if (!inst->fetch) return isl_iso_throw(iso, "Error", "fetch(): this process has no HTTP client");
  if (argc < 6) return isl_iso_throw(iso, "TypeError", "host.fetchStart: expected 6 arguments");
  isl_rt_exchange_t *x;
  if (isl_rt__exchange_owner(inst, &x) < 0) return isl_iso_throw(iso, "TypeError", NO_REQUEST_MSG);
  if (x && ++x->subrequests > inst->worker->subrequests) {
    char msg[160];
    snprintf(msg, sizeof(msg), "Too many subrequests: this request already made %u (the limit per request)",
             inst->worker->subrequests);
    return isl_iso_throw(iso, "TypeError", msg);
  }
  unsigned hops = x ? x->hops : 0; /* the hops of the request it is made for (see the top) */
  if (hops + 1 > ISL_FETCH_MAX_HOPS) {
    char msg[200];
    snprintf(msg, sizeof(msg),
             "fetch failed: Loop detected: this request has already made %u hops through Isolde (its CDN-Loop "
             "header), and a subrequest may make at most %d",
             hops, ISL_FETCH_MAX_HOPS);
    return isl_iso_throw(iso, "TypeError", msg);
  }
  char *method = isl_iso_to_cstring(iso, argv[0]);
  char *url = isl_iso_to_cstring(iso, argv[1]);
  char *text = isl_iso_to_cstring(iso, argv[2]);
  /* Header bytes on the wire: U+00E9 is the byte E9, not C3 A9 (api.h). */
  if (text && isl_api_cstring_to_bytes(text) < 0) {
    free(method);
    free(url);
    free(text);
    return isl_iso_throw(iso, "TypeError",
                         "fetch(): a header name or value has a code point above U+00FF (not a ByteString)");
  }
  uint8_t *body = NULL;
  size_t body_len = 0;
  isl_rt_body_t *upload = NULL; /* a host body (a client's upload, a response's body) sent as it comes */
  const char *type = isl_iso_typeof(iso, argv[3]);
  if (strcmp(type, "object") == 0) {
    isl_iso_array_buffer_copy(iso, argv[3], &body, &body_len);
  } else if (strcmp(type, "number") == 0 && !(upload = isl_rt__body_find(inst, isl_iso_to_number(iso, argv[3])))) {
    free(method);
    free(url);
    free(text);
    return isl_iso_throw(iso, "TypeError", "fetch(): the request body was already used");
  }
  int redirect = (int)isl_iso_to_number(iso, argv[4]);
  double timeout = isl_iso_to_number(iso, argv[5]);
  char *origin_url = url ? to_origin(x, url) : NULL;

  isl_http_header_t hdrs[MAX_FETCH_HEADERS];
  size_t n = 0, all = isl_rt__headers_parse(text, hdrs, MAX_FETCH_HEADERS);
  for (size_t i = 0; i < all; i++) /* Host follows the URL, except on the way to a route's own origin. */
    if (origin_url || strcasecmp(hdrs[i].name, "host") != 0) hdrs[n++] = hdrs[i];
  const isl_rt_worker_t *w = inst->worker;
  const char *allowed[64];
  size_t n_allowed = 0;
  for (size_t i = 0; i < w->n_allow_origins && n_allowed < 63; i++) allowed[n_allowed++] = w->allow_origins[i];
  if (origin_url) allowed[n_allowed++] = x->route->origin;
  isl_fetch_policy_t policy = {.allowed_origins = allowed, .n_allowed = n_allowed};
  isl_fetch_request_t rq = {.method = method ? method : "GET",
                            .url = origin_url ? origin_url : (url ? url : ""),
                            .headers = hdrs,
                            .n_headers = n,
                            .body = body,
                            .body_len = body_len,
                            .body_stream = upload != NULL,
                            .body_stream_length = upload ? isl_rt__body_length(upload) : -1,
                            .redirect = redirect,
                            .timeout_ms = timeout > 0 && timeout < 4e9 ? (uint32_t)timeout : 0,
                            .hops = hops + 1};
  isl_rt_sub_t *sub = calloc(1, sizeof(*sub));
  if (sub) sub->head_only = method && strcmp(method, "HEAD") == 0;
  isl_fetch_callbacks_t cb = {on_response, on_body, on_done, sub, on_upload_drain};
  isl_err_t err = {0};
  int rc = sub ? isl_fetch_start(inst->fetch, &rq, &policy, &cb, &sub->f, &err) : ISL_ENOMEM;
  free(method);
  free(url);
  free(text);
  free(body);
  free(origin_url);
  if (rc < 0) {
    free(sub);
    return isl_iso_throw(iso, "TypeError", err.msg[0] ? err.msg : "fetch failed");
  }
  sub->inst = inst;
  sub->id = ++inst->next_sub_id;
  sub->owner = x;
  sub->next = inst->subs;
  inst->subs = sub;
  inst->n_pending_io++;
  if (upload) {
    sub->upload = upload;
    isl_rt__body_upload(upload, sub->f);
  }
  return isl_iso_new_number(iso, sub->id, ret);
}

/* host.fetchesDropped(): "id,id,..." of the subrequests the host aborted
 * because their request finished or was cut, since the last call, or "". */
static int fetches_dropped(isl_iso_t *iso, void *data, int argc, const isl_val_t *argv, isl_val_t *ret) {
  (void)data;
  (void)argc;
  (void)argv;
  *ret = 0;
  isl_rt_inst_t *inst = isl_iso_get_data(iso);
  if (!inst) return isl_iso_new_string(iso, "", ret);
  return isl_rt__ids_take(iso, &inst->dropped_subs, ret);
}

static isl_rt_sub_t *sub_arg(isl_iso_t *iso, int argc, const isl_val_t *argv) {
  isl_rt_inst_t *inst = isl_iso_get_data(iso);
  if (!inst || argc < 1) return NULL;
  double id = isl_iso_to_number(iso, argv[0]);
  for (isl_rt_sub_t *s = inst->subs; s; s = s->next)
    if (s->id == id) return s;
  return NULL;
}

static int fetch_abort(isl_iso_t *iso, void *data, int argc, const isl_val_t *argv, isl_val_t *ret) {
  (void)data;
  *ret = 0;
  isl_rt_sub_t *sub = sub_arg(iso, argc, argv);
  if (sub) {
    sub_unlink(sub);
    isl_fetch_abort(sub->f);
    sub_upload_gone(sub);
    /* Inside a call: JS errors the body's stream itself (fetch.js). */
    if (sub->body) isl_rt__body_end(sub->body, "fetch failed: the subrequest was aborted");
    free(sub);
  }
  return 0;
}

const isl_rt_host_fn_t isl_rt__fetch_fns[] = {
    {"fetchStart", fetch_start}, {"fetchAbort", fetch_abort}, {"fetchesDropped", fetches_dropped}, {NULL, NULL}};
