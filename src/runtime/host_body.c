/*
 * host_body.c - bodies the host holds: a client's request body and a
 * subrequest's response body, as host streams (host.bodyRead, bodyAll,
 * bodyCancel; streams.js hostStream), and the pipe that sends one to a
 * client without the isolate (host.respondBody).
 *
 * A body is a queue of chunks in the host with one source (the client's
 * upload, src/http; or the origin's response, src/fetch) and one reader.
 * Nothing is pushed into the isolate: JS asks (bodyRead) and gets what is
 * queued, or 0 and a wake (entry.bodyReady) once there is more, so a body
 * that nobody reads costs the isolate nothing and a body that is read
 * costs one call per wake, not one per network chunk. The queue is bounded:
 * at BODY_QUEUE_HIGH bytes the source is paused (the client's socket is not
 * read, the origin's transfer is paused) until the reader has taken it
 * down to BODY_QUEUE_LOW. text(), json() and arrayBuffer() of a body no
 * one has touched wait for the whole body in the host (bodyAll: bounded by
 * the worker's memory cap, which the result must fit in anyway) and get it
 * in one call, the UTF-8 decoded by the host.
 *
 * Pass-through: a Response whose body is such a stream, untouched, sent as
 * the answer (return fetch(request), new Response(r.body, r), an echoed
 * request body) is piped: the client's response is handed over to the body
 * (req->data becomes the body, kind ISL_RT_KIND_PIPE), which writes each
 * chunk to it as it comes, pauses its source while the client's queue is
 * full and resumes it from the HTTP layer's drain callback. The pipe
 * leaves the instance at once (a subrequest source leaves its instance's
 * list too): no byte enters the isolate, the tenant is charged no CPU for
 * it, and an instance may be recycled while its last response streams.
 *
 * Never a silent truncation: a source that fails (the client went away
 * mid-upload, the origin reset, a body over the memory cap) leaves the
 * body in error, so the reader's read rejects with a TypeError, and a pipe
 * cuts the client's response (the connection is reset, or a chunked
 * response ends without its last chunk) instead of ending it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "fetch/fetch.h"
#include "runtime/internal.h"

#define BODY_QUEUE_HIGH (256u << 10)
#define BODY_QUEUE_LOW (64u << 10)
/* Bytes one bodyRead hands over at most. */
#define BODY_READ_MAX (256u << 10)

typedef struct body_chunk_s {
  struct body_chunk_s *next;
  size_t len, off;
  char data[];
} body_chunk_t;

enum { MODE_READ, MODE_ALL, MODE_PIPE, MODE_DISCARD };

struct isl_rt_body_s {
  int kind; /* ISL_RT_KIND_PIPE once it is the req->data of the response it feeds */
  uint32_t id;
  isl_rt_inst_t *inst;      /* NULL once it pipes */
  isl_rt_body_t *next;      /* in inst->bodies */
  isl_rt_exchange_t *owner; /* the request a wake is charged to, or NULL */
  isl_http_req_t *src_req;  /* source: a client's upload */
  isl_rt_sub_t *src_sub;    /* source: a subrequest's response */
  int64_t length;           /* known in advance, or -1 */
  body_chunk_t *head, *tail;
  size_t queued;
  uint64_t received;
  size_t all_max; /* MODE_ALL: the most it may gather */
  int ended;      /* the source ended whole */
  char *error;    /* the source failed: what the reader is told */
  int paused;     /* the source is paused by us */
  int mode;
  int waiting;         /* JS waits for entry.bodyReady */
  int js_done;         /* JS reads no more (finished, cancelled, piped) */
  isl_http_req_t *out; /* MODE_PIPE: the response it feeds */
  isl_fetch_t *up;     /* or the subrequest whose upload it is, until it says it is gone */
  int up_wait;         /* up's queue is full: wait for its drain */
  int up_ended;        /* isl_fetch_body_end was called */
  /* A pipe and the upload of the same client request (return fetch(url,
   * {body: request.body}) answered while the client still sends): the
   * request's events reach the pipe (req->data), which hands the upload's
   * on. Each clears the other's pointer when it goes. */
  isl_rt_body_t *peer;
  isl_rt_worker_t *worker; /* for the log */
};

/* ---- the source --------------------------------------------------------------- */

static void source_pause(isl_rt_body_t *b, int paused) {
  if (b->paused == paused || b->ended || b->error) return;
  b->paused = paused;
  if (b->src_req) isl_http_req_pause_body(b->src_req, paused);
  if (b->src_sub) isl_rt__sub_pause(b->src_sub, paused);
}

/* The reader wants no more: stop the source (a subrequest is aborted; a
 * client's upload is read on and dropped, its exchange needs its end). */
static void source_cancel(isl_rt_body_t *b) {
  if (b->src_sub) {
    isl_rt_sub_t *sub = b->src_sub;
    b->src_sub = NULL;
    isl_rt__sub_cancel(sub);
  }
  if (b->src_req) {
    b->mode = MODE_DISCARD;
    if (b->paused) isl_http_req_pause_body(b->src_req, 0);
    b->paused = 0;
  }
}

static void queue_clear(isl_rt_body_t *b) {
  while (b->head) {
    body_chunk_t *c = b->head;
    b->head = c->next;
    free(c);
  }
  b->tail = NULL;
  b->queued = 0;
}

static void body_fail(isl_rt_body_t *b, const char *why) {
  if (b->ended || b->error) return;
  b->error = strdup(why);
  if (!b->error) b->error = strdup("out of memory");
  queue_clear(b);
}

static void body_unlink(isl_rt_body_t *b) {
  if (!b->inst) return;
  for (isl_rt_body_t **p = &b->inst->bodies; *p; p = &(*p)->next)
    if (*p == b) {
      *p = b->next;
      break;
    }
  b->inst = NULL;
}

static void body_free(isl_rt_body_t *b) {
  if (b->peer) b->peer->peer = NULL;
  body_unlink(b);
  queue_clear(b);
  free(b->error);
  free(b);
}

/* Frees b once neither JS nor a source nor a pipe needs it. */
static void maybe_free(isl_rt_body_t *b) {
  if (b->js_done && !b->src_req && !b->src_sub && !b->out && !b->up) body_free(b);
}

/* ---- waking the reader -------------------------------------------------------- */

/* Calls entry.bodyReady(id) if JS waits and what it waits for is there.
 * Never inside a call (sources deliver from loop callbacks). b may be
 * freed afterwards; the instance is not (the source's callback lets it
 * go: isl_rt__inst_maybe_discard). */
static void wake(isl_rt_body_t *b) {
  isl_rt_inst_t *inst = b->inst;
  if (!b->waiting || !inst || inst->poisoned) return;
  int ready = b->error || b->ended || (b->mode == MODE_READ && b->head);
  if (!ready || isl_rt__inst_in_call(inst)) return;
  b->waiting = 0;
  isl_rt_exchange_t *x = b->owner;
  uint32_t owner_id = x ? x->id : 0;
  isl_val_t id;
  if (isl_iso_new_number(inst->iso, b->id, &id) < 0) return;
  isl_rt__inst_call(inst, inst->worker->entry->body_ready, 1, &id, x);
  if (owner_id) isl_rt__exchange_check_cpu(inst, owner_id);
}

/* ---- the pipe ------------------------------------------------------------------- */

static void pipe_drain(isl_http_req_t *req, void *arg);

/* The pipe is over: its response ends whole (err NULL) or is cut. */
static void pipe_close(isl_rt_body_t *b, int whole) {
  isl_http_req_t *out = b->out;
  b->out = NULL;
  if (out) {
    isl_http_req_on_drain(out, NULL, NULL);
    if (whole) isl_http_res_end(out);
    /* Released before its end, a response is cut: the connection closes. */
    out->data = NULL;
    isl_http_req_release(out);
  }
  if (!whole) source_cancel(b);
  b->src_req = NULL; /* the same request as out, or a client's whose exchange ended */
  isl_rt_body_t *peer = b->peer;
  if (peer) {
    /* Its request is released: an upload still arriving is cut. */
    b->peer = peer->peer = NULL;
    if (peer->src_req) {
      peer->src_req = NULL;
      isl_rt__body_end(peer, "Network connection lost: the client's request ended before its body was complete");
    }
  }
  b->js_done = 1;
  maybe_free(b);
}

/* Moves what is queued to the client while it takes it; at the end of the
 * source, ends or cuts the response. b may be freed. */
static void pipe_flush(isl_rt_body_t *b) {
  while (b->head) {
    int state = isl_http_req_write_state(b->out);
    if (state < 0) return pipe_close(b, 0); /* the client is gone */
    if (state > 0) {
      source_pause(b, 1);
      isl_http_req_on_drain(b->out, pipe_drain, b);
      return;
    }
    body_chunk_t *c = b->head;
    if (isl_http_res_write(b->out, c->data + c->off, c->len - c->off) < 0) return pipe_close(b, 0);
    b->queued -= c->len - c->off;
    b->head = c->next;
    if (!b->head) b->tail = NULL;
    free(c);
  }
  if (b->error) {
    char line[600];
    snprintf(line, sizeof(line), "a response body passed through failed after %llu bytes (%s); the response was cut",
             (unsigned long long)b->received, b->error);
    isl_rt__tenant_log(b->worker, "error", line, strlen(line));
    return pipe_close(b, 0);
  }
  if (b->ended) return pipe_close(b, 1);
  source_pause(b, 0);
}

static void pipe_drain(isl_http_req_t *req, void *arg) {
  (void)req;
  pipe_flush(arg);
}

/* ---- the upload: a body sent as a subrequest's request body --------------------------- */

/* Moves what is queued to the subrequest's upload while it takes it; at the
 * end of the source, ends the upload, whole or (the source failed) so that
 * the origin sees it incomplete. */
static void upload_flush(isl_rt_body_t *b) {
  if (b->up_ended) return;
  while (b->head && !b->up_wait) {
    body_chunk_t *c = b->head;
    int rc = isl_fetch_body_write(b->up, c->data + c->off, c->len - c->off);
    if (rc < 0) {
      body_fail(b, "the subrequest did not take its body");
      break;
    }
    b->queued -= c->len - c->off;
    b->head = c->next;
    if (!b->head) b->tail = NULL;
    free(c);
    if (rc == 1) b->up_wait = 1;
  }
  if (b->error || b->ended) {
    if (b->head && !b->error) return; /* the rest after the drain */
    b->up_ended = 1;
    isl_fetch_body_end(b->up, b->error ? ISL_FETCH_ENET : 0);
    return;
  }
  source_pause(b, b->up_wait || b->queued >= BODY_QUEUE_HIGH);
}

void isl_rt__body_upload(isl_rt_body_t *b, isl_fetch_t *up) {
  b->js_done = 1;
  b->up = up;
  b->owner = NULL;
  upload_flush(b);
}

void isl_rt__body_upload_drain(isl_rt_body_t *b) {
  b->up_wait = 0;
  upload_flush(b);
}

void isl_rt__body_upload_gone(isl_rt_body_t *b) {
  b->up = NULL;
  queue_clear(b);
  source_cancel(b);
  maybe_free(b);
}

/* ---- what the sources call ------------------------------------------------------ */

isl_rt_body_t *isl_rt__body_new(isl_rt_inst_t *inst, isl_rt_exchange_t *owner, int64_t length) {
  isl_rt_body_t *b = calloc(1, sizeof(*b));
  if (!b) return NULL;
  b->kind = ISL_RT_KIND_BODY;
  b->id = ++inst->next_body_id ? inst->next_body_id : ++inst->next_body_id;
  b->inst = inst;
  b->owner = owner;
  b->worker = inst->worker;
  b->length = length;
  b->next = inst->bodies;
  inst->bodies = b;
  return b;
}

uint32_t isl_rt__body_id(const isl_rt_body_t *b) {
  return b->id;
}

void isl_rt__body_push(isl_rt_body_t *b, const char *data, size_t len) {
  if (b->ended || b->error || !len) return;
  b->received += len;
  if (b->mode == MODE_DISCARD) return;
  if (b->mode == MODE_ALL && b->received > b->all_max) {
    char why[200];
    snprintf(why, sizeof(why), "the body is larger than the worker's memory allows (%zu MiB): read it as a stream",
             b->all_max >> 20);
    body_fail(b, why);
    source_cancel(b);
    return wake(b);
  }
  body_chunk_t *c = malloc(sizeof(*c) + len);
  if (!c) {
    body_fail(b, "the host is out of memory");
    source_cancel(b);
    return b->out ? pipe_flush(b) : b->up ? upload_flush(b) : wake(b);
  }
  c->next = NULL;
  c->len = len;
  c->off = 0;
  memcpy(c->data, data, len);
  if (b->tail)
    b->tail->next = c;
  else
    b->head = c;
  b->tail = c;
  b->queued += len;
  if (b->out) return pipe_flush(b);
  if (b->up) return upload_flush(b);
  if (b->mode == MODE_READ && b->queued >= BODY_QUEUE_HIGH) source_pause(b, 1);
  wake(b);
}

void isl_rt__body_end(isl_rt_body_t *b, const char *error) {
  if (b->ended || b->error) goto detach;
  if (!error && b->length >= 0 && b->received != (uint64_t)b->length && b->mode != MODE_DISCARD)
    error = "the body ended before its Content-Length";
  if (error)
    body_fail(b, error);
  else
    b->ended = 1;
detach:
  b->src_sub = NULL;
  if (!b->out) b->src_req = NULL;
  if (b->out) return pipe_flush(b);
  if (b->up) return upload_flush(b);
  if (b->js_done) return maybe_free(b);
  wake(b);
}

void isl_rt__body_detach_req(isl_rt_body_t *b, const char *why) {
  if (!b->src_req || b->out) return;
  body_fail(b, why);
  b->src_req = NULL;
  b->owner = NULL;
  maybe_free(b);
}

void isl_rt__body_push_req(isl_rt_body_t *b, isl_http_req_t *req, const char *data, size_t len) {
  if (b->src_req == req) return isl_rt__body_push(b, data, len);
  if (b->peer && b->peer->src_req == req) isl_rt__body_push(b->peer, data, len);
}

void isl_rt__body_end_req(isl_rt_body_t *b, isl_http_req_t *req) {
  if (b->src_req == req) return isl_rt__body_end(b, NULL);
  isl_rt_body_t *peer = b->peer;
  if (peer && peer->src_req == req) {
    peer->src_req = NULL;
    isl_rt__body_end(peer, NULL);
  }
}

void isl_rt__body_pair(isl_rt_body_t *pipe, isl_rt_body_t *upload) {
  pipe->peer = upload;
  upload->peer = pipe;
}

int isl_rt__body_uploading(const isl_rt_body_t *b) {
  return b->up != NULL && !b->up_ended;
}

void isl_rt__body_set_req(isl_rt_body_t *b, isl_http_req_t *req) {
  b->src_req = req;
}

void isl_rt__body_set_source(isl_rt_body_t *b, isl_rt_sub_t *sub) {
  b->src_sub = sub;
}

void isl_rt__body_forget_source(isl_rt_body_t *b) {
  b->src_sub = NULL;
  b->src_req = NULL;
}

void isl_rt__body_abort_pipe(isl_rt_body_t *b) {
  pipe_close(b, 0); /* an upload of the same request is cut with it */
}

void isl_rt__bodies_free(isl_rt_inst_t *inst) {
  while (inst->bodies) {
    isl_rt_body_t *b = inst->bodies;
    /* Its sources are the instance's too (exchanges, subrequests) and go with it. */
    b->src_req = NULL;
    b->src_sub = NULL;
    body_free(b);
  }
}

/* As in Workers, a request's I/O objects do not outlive it: its bodies
 * go (their sources went first: the exchange let its request go and its
 * subrequests were cancelled); JS reading one later gets a TypeError. */
void isl_rt__bodies_owner_gone(isl_rt_inst_t *inst, const isl_rt_exchange_t *x) {
  for (isl_rt_body_t *b = inst->bodies, *next; b; b = next) {
    next = b->next;
    if (b->owner != x) continue;
    if (b->src_sub) isl_rt__sub_cancel(b->src_sub);
    b->src_sub = NULL;
    b->src_req = NULL;
    body_free(b);
  }
}

/* ---- host functions --------------------------------------------------------------- */

static isl_rt_body_t *body_arg(isl_iso_t *iso, int argc, const isl_val_t *argv) {
  isl_rt_inst_t *inst = isl_iso_get_data(iso);
  if (!inst || argc < 1) return NULL;
  double id = isl_iso_to_number(iso, argv[0]);
  for (isl_rt_body_t *b = inst->bodies; b; b = b->next)
    if (b->id == id && !b->js_done) return b;
  return NULL;
}

typedef struct {
  isl_rt_body_t *b;
  size_t n;
} take_t;

/* Copies the first n queued bytes to dst and drops them from the queue. */
static int take_fill(uint8_t *dst, size_t n, void *arg) {
  take_t *t = arg;
  isl_rt_body_t *b = t->b;
  while (n) {
    body_chunk_t *c = b->head;
    size_t k = c->len - c->off < n ? c->len - c->off : n;
    memcpy(dst, c->data + c->off, k);
    dst += k;
    n -= k;
    c->off += k;
    b->queued -= k;
    if (c->off == c->len) {
      b->head = c->next;
      if (!b->head) b->tail = NULL;
      free(c);
    }
  }
  return 0;
}

static int read_error(isl_iso_t *iso, isl_rt_body_t *b) {
  char msg[600];
  snprintf(msg, sizeof(msg), "%s", b->error);
  b->js_done = 1;
  maybe_free(b);
  return isl_iso_throw(iso, "TypeError", msg);
}

/* host.bodyRead(id) -> ArrayBuffer (what is queued, up to BODY_READ_MAX),
 * undefined (the end), or 0: nothing yet, entry.bodyReady(id) follows. Throws a
 * TypeError when the body failed. */
static int body_read(isl_iso_t *iso, void *data, int argc, const isl_val_t *argv, isl_val_t *ret) {
  (void)data;
  *ret = 0;
  isl_rt_body_t *b = body_arg(iso, argc, argv);
  if (!b) return isl_iso_throw(iso, "TypeError", "this body is no longer available");
  if (b->head) {
    take_t t = {b, b->queued < BODY_READ_MAX ? b->queued : BODY_READ_MAX};
    int rc = isl_iso_new_array_buffer_fill(iso, t.n, take_fill, &t, ret);
    if (rc < 0) return rc;
    if (b->queued < BODY_QUEUE_LOW) source_pause(b, 0);
    return 0;
  }
  if (b->error) return read_error(iso, b);
  if (b->ended) {
    b->js_done = 1;
    maybe_free(b);
    return 0; /* undefined */
  }
  b->waiting = 1;
  source_pause(b, 0);
  return isl_iso_new_number(iso, 0, ret);
}

/* host.bodyAll(id, asText) -> the whole body as a string (UTF-8 decoded,
 * a BOM dropped) or an ArrayBuffer, or 0: not all there yet,
 * entry.bodyReady(id) follows. Throws a TypeError when it failed or is
 * larger than the worker's memory cap. */
static int body_all(isl_iso_t *iso, void *data, int argc, const isl_val_t *argv, isl_val_t *ret) {
  (void)data;
  *ret = 0;
  isl_rt_body_t *b = body_arg(iso, argc, argv);
  if (!b) return isl_iso_throw(iso, "TypeError", "this body is no longer available");
  if (b->error) return read_error(iso, b);
  if (!b->ended) {
    if (b->mode != MODE_ALL) {
      uint32_t mb = b->worker->limits.memory_max_mb ? b->worker->limits.memory_max_mb : 128;
      b->all_max = (size_t)mb << 20;
      if (b->received > b->all_max) {
        body_fail(b, "the body is larger than the worker's memory allows: read it as a stream");
        source_cancel(b);
        return read_error(iso, b);
      }
      b->mode = MODE_ALL;
    }
    b->waiting = 1;
    source_pause(b, 0);
    return isl_iso_new_number(iso, 0, ret);
  }
  int as_text = argc > 1 && isl_iso_to_number(iso, argv[1]) != 0;
  int rc;
  if (as_text) {
    /* One block for the decoder: a single chunk is decoded where it lies. */
    char *all = NULL;
    const char *bytes = b->head ? b->head->data + b->head->off : "";
    size_t n = b->queued;
    if (b->head && b->head->next) {
      all = malloc(n);
      if (!all) return isl_iso_throw(iso, "RangeError", "out of memory");
      take_t t = {b, n};
      take_fill((uint8_t *)all, n, &t);
      bytes = all;
    }
    rc = isl_api_utf8_new_string(iso, (const uint8_t *)bytes, n, ret);
    free(all);
    queue_clear(b);
  } else {
    take_t t = {b, b->queued};
    rc = isl_iso_new_array_buffer_fill(iso, t.n, take_fill, &t, ret);
  }
  if (rc < 0) return rc;
  b->js_done = 1;
  maybe_free(b);
  return 0;
}

/* host.bodyCancel(id): JS will not read it (the stream was cancelled). */
static int body_cancel(isl_iso_t *iso, void *data, int argc, const isl_val_t *argv, isl_val_t *ret) {
  (void)data;
  *ret = 0;
  isl_rt_body_t *b = body_arg(iso, argc, argv);
  if (!b) return 0;
  b->js_done = 1;
  queue_clear(b);
  source_cancel(b);
  maybe_free(b);
  return 0;
}

/* For host.respondBody (host_http.c): b, found by its id, starts feeding
 * req's response, which has been started; the exchange gives req up. */
isl_rt_body_t *isl_rt__body_find(isl_rt_inst_t *inst, double id) {
  for (isl_rt_body_t *b = inst->bodies; b; b = b->next)
    if (b->id == id && !b->js_done && b->mode == MODE_READ && !b->waiting) return b;
  return NULL;
}

int64_t isl_rt__body_length(const isl_rt_body_t *b) {
  return b->length;
}

void isl_rt__body_pipe(isl_rt_body_t *b, isl_http_req_t *out) {
  b->js_done = 1;
  b->out = out;
  b->kind = ISL_RT_KIND_PIPE;
  out->data = b;
  b->owner = NULL;
  if (b->src_sub) isl_rt__sub_detach(b->src_sub); /* it leaves its instance with the pipe */
  body_unlink(b);
  pipe_flush(b);
}

const isl_rt_host_fn_t isl_rt__body_fns[] = {
    {"bodyRead", body_read}, {"bodyAll", body_all}, {"bodyCancel", body_cancel}, {NULL, NULL}};
