/*
 * http_check.c - the assertions of the HTTP fuzz targets (http_check.h).
 */
#include "fuzz/common/http_check.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "fuzz/common/http_drive.h"

static const uint8_t *g_in;
static size_t g_len;
static const ref_result_t *g_ref;
static const fz_http_run_t *g_run;

/* ---- reports ----------------------------------------------------------------------------- */

static void show_bytes(const char *label, const void *data, size_t n) {
  const uint8_t *p = data;
  fprintf(stderr, "%s (%zu bytes): \"", label, n);
  for (size_t i = 0; i < n && i < 2000; i++) {
    uint8_t c = p[i];
    if (c == '\r') {
      fputs("\\r", stderr);
    } else if (c == '\n') {
      fputs("\\n", stderr);
    } else if (c == '"' || c == '\\') {
      fprintf(stderr, "\\%c", c);
    } else if (c < 0x20 || c >= 0x7f) {
      fprintf(stderr, "\\x%02x", c);
    } else {
      fputc(c, stderr);
    }
  }
  fputs(n > 2000 ? "\"...\n" : "\"\n", stderr);
}

static void fail(int msg, const char *what) __attribute__((noreturn));
static void fail(int msg, const char *what) {
  fprintf(stderr, "\n==== http fuzz check failed: %s (message %d)\n", what, msg);
  show_bytes("input", g_in, g_len);
  for (int i = 0; i < g_ref->n; i++) {
    const ref_msg_t *m = &g_ref->msgs[i];
    fprintf(stderr, "reference %d: %s %s [%zu..%zu) %s body=%zu keep_alive=%d\n", i, ref_verdict_name(m->verdict),
            m->method, m->start, m->end, m->why ? m->why : "", m->body_len, m->keep_alive);
  }
  fprintf(stderr, "reference stopped=%d\n", g_ref->stopped);
  int n = g_run->n_reqs < FZ_HTTP_MAX_REQS ? g_run->n_reqs : FZ_HTTP_MAX_REQS;
  for (int i = 0; i < n; i++) {
    const fz_req_t *r = &g_run->reqs[i];
    fprintf(stderr, "server %d: %s %s HTTP/1.%d fields=%zu body=%zu body_ends=%d aborts=%d answered=%d\n", i, r->method,
            r->target, r->minor, r->n_headers, r->body_len, r->body_ends, r->aborts, r->answered);
  }
  show_bytes("responses", g_run->resp, g_run->resp_len);
  abort();
}

/* ---- helpers ---------------------------------------------------------------------------- */

static int token_ok(const char *s, size_t n) {
  if (n == 0) return 0;
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c <= 32 || c >= 127 || strchr("()<>@,;:\\\"/[]?={}", c)) return 0;
  }
  return 1;
}

static void trim(const char **v, size_t *n) {
  while (*n && (**v == ' ' || **v == '\t')) (*v)++, (*n)--;
  while (*n && ((*v)[*n - 1] == ' ' || (*v)[*n - 1] == '\t')) (*n)--;
}

static int field_is(const fz_req_t *r, size_t i, const char *name) {
  return r->name_lens[i] == strlen(name) && strncasecmp(r->names[i], name, r->name_lens[i]) == 0;
}

/* ---- 1. against the reference ------------------------------------------------------------ */

static void head_eq(int i, const ref_msg_t *m, const fz_req_t *r) {
  if (strcmp(m->method, r->method) != 0) fail(i, "the method differs from the reference");
  if (strlen(r->target) != m->target_len || memcmp(r->target, m->target, m->target_len) != 0)
    fail(i, "the target differs from the reference");
  if (r->minor != m->minor) fail(i, "the HTTP version differs from the reference");
  if (r->n_headers != m->n_fields) fail(i, "the number of fields differs from the reference");
  for (size_t k = 0; k < m->n_fields; k++) {
    const ref_field_t *f = &m->fields[k];
    const char *v = r->values[k];
    size_t vn = r->value_lens[k];
    trim(&v, &vn);
    if (r->name_lens[k] != f->name_len || memcmp(r->names[k], f->name, f->name_len) != 0)
      fail(i, "a field name differs from the reference");
    if (vn != f->value_len || memcmp(v, f->value, vn) != 0) fail(i, "a field value differs from the reference");
  }
}

static void common_prefix(int i, const ref_msg_t *m, const fz_req_t *r) {
  size_t n = m->body_len < r->body_len ? m->body_len : r->body_len;
  if (n && memcmp(m->body, r->body, n) != 0) fail(i, "the body bytes differ from the reference's");
}

static void against_reference(void) {
  const ref_result_t *ref = g_ref;
  const fz_http_run_t *run = g_run;
  for (int i = 0; i < ref->n; i++) {
    if (i >= FZ_HTTP_MAX_REQS) return;
    const ref_msg_t *m = &ref->msgs[i];
    const fz_req_t *r = i < run->n_reqs ? &run->reqs[i] : NULL;
    if (m->maybe && !r) return; /* refused what the reference does not judge */
    switch (m->verdict) {
      case REF_OK:
        if (!r) fail(i, "a valid request was not delivered");
        head_eq(i, m, r);
        if (r->body_ends != 1) fail(i, "a valid request's body did not end");
        if (r->body_len != m->body_len || (m->body_len && memcmp(r->body, m->body, m->body_len) != 0))
          fail(i, "the decoded body differs from the reference's");
        break;
      case REF_INCOMPLETE_HEAD:
      case REF_BAD_HEAD:
        if (r) fail(i, "a request with an incomplete or malformed head was delivered");
        return;
      case REF_INCOMPLETE_BODY:
      case REF_BAD_BODY:
        if (!r) fail(i, "a request with a valid head was not delivered");
        head_eq(i, m, r);
        if (r->body_ends) fail(i, "the body of a request with an incomplete or malformed body ended");
        if (r->body_len > m->body_len) fail(i, "more body bytes than the reference reads before the fault");
        common_prefix(i, m, r);
        if (run->n_reqs > i + 1) fail(i, "a request after a fault was delivered");
        return;
      case REF_UNSURE_HEAD:
        return;
      default: /* REF_UNSURE_BODY */
        if (!r) fail(i, "a request with a valid head was not delivered");
        head_eq(i, m, r);
        common_prefix(i, m, r);
        return;
    }
  }
  /* Every verdict was OK: the server delivered those and nothing else. */
  if (run->n_reqs != ref->n) fail(ref->n, "the server delivered more requests than the stream holds");
}

/* ---- 2. framing by the fields the handler sees -------------------------------------------- */

static void framing(int i, const fz_req_t *r) {
  if (!r->method[0]) fail(i, "an empty method");
  if (r->minor != 0 && r->minor != 1) fail(i, "an HTTP version other than 1.0 or 1.1 was delivered");
  size_t tn = strlen(r->target);
  if (tn == 0) fail(i, "an empty target");
  for (size_t k = 0; k < tn; k++) {
    unsigned char c = (unsigned char)r->target[k];
    if (c <= 0x20 || c >= 0x80) fail(i, "a target with a blank, a control byte or a byte >= 0x80");
  }
  int n_cl = 0, n_te = 0;
  const char *cl = NULL, *te = NULL;
  size_t cl_n = 0, te_n = 0;
  for (size_t k = 0; k < r->n_headers; k++) {
    if (!token_ok(r->names[k], r->name_lens[k])) fail(i, "a field name that is not a token");
    for (size_t j = 0; j < r->value_lens[k]; j++)
      if (r->values[k][j] == '\r' || r->values[k][j] == '\n') fail(i, "a CR or LF in a field value");
    if (field_is(r, k, "content-length")) n_cl++, cl = r->values[k], cl_n = r->value_lens[k];
    if (field_is(r, k, "transfer-encoding")) n_te++, te = r->values[k], te_n = r->value_lens[k];
  }
  if (n_te) {
    trim(&te, &te_n);
    if (n_te > 1 || n_cl) fail(i, "Transfer-Encoding twice, or with Content-Length, was delivered");
    if (te_n != 7 || strncasecmp(te, "chunked", 7) != 0)
      fail(i, "a Transfer-Encoding other than chunked was delivered");
    if (!r->has_body) fail(i, "a chunked request without has_body");
    return;
  }
  uint64_t want = 0;
  if (n_cl) {
    trim(&cl, &cl_n);
    if (n_cl > 1) fail(i, "two Content-Length fields were delivered");
    if (cl_n == 0 || cl_n > 18) fail(i, "a Content-Length that is not a number was delivered");
    for (size_t k = 0; k < cl_n; k++) {
      if (cl[k] < '0' || cl[k] > '9') fail(i, "a Content-Length that is not a number was delivered");
      want = want * 10 + (uint64_t)(cl[k] - '0');
    }
  }
  if (r->has_body != (want > 0)) fail(i, "has_body disagrees with Content-Length");
  if (r->body_ends && r->body_len != want) fail(i, "the body's length is not its Content-Length");
  if (r->body_len > want) fail(i, "more body bytes than the Content-Length");
}

/* ---- 3. the response stream ---------------------------------------------------------------- */

typedef struct {
  const char *p;
  size_t len, pos;
} rcur_t;

/* The next CRLF-ended line (without it); NULL when there is none. */
static const char *rline(rcur_t *c, size_t *n) {
  for (size_t i = c->pos; i + 1 < c->len; i++) {
    if (c->p[i] == '\r' && c->p[i + 1] == '\n') {
      const char *l = c->p + c->pos;
      *n = i - c->pos;
      c->pos = i + 2;
      return l;
    }
  }
  return NULL;
}

static int is_error_status(int s) {
  return s == 400 || s == 408 || s == 413 || s == 414 || s == 431 || s == 501 || s == 503 || s == 505;
}

/* Appends the expected echo of r to buf (at least its size in bytes). */
static size_t expected_body(const fz_req_t *r, int seq, char *buf, size_t cap) {
  if (r->mode == FZ_MODE_EARLY) return (size_t)snprintf(buf, cap, "early");
  int n = snprintf(buf, cap, "seq %d\n", seq);
  size_t o = (size_t)n;
  if (o + r->body_len + 4 > cap) return (size_t)-1;
  if (r->body_len) memcpy(buf + o, r->body, r->body_len);
  o += r->body_len;
  if (r->mode == FZ_MODE_STREAM) {
    memcpy(buf + o, "end\n", 4);
    o += 4;
  }
  return o;
}

static void responses(void) {
  const fz_http_run_t *run = g_run;
  rcur_t c = {run->resp, run->resp_len, 0};
  int next = 0, closed = 0;
  static char body[1 << 16], want[1 << 16];
  while (c.pos < c.len) {
    if (closed) fail(next, "bytes after a response with Connection: close");
    size_t ln;
    const char *l = rline(&c, &ln);
    if (!l) fail(next, "a truncated status line");
    if (ln < 13 || memcmp(l, "HTTP/1.1 ", 9) != 0 || l[12] != ' ') fail(next, "a malformed status line");
    int status = atoi(l + 9);
    long long cl = -1;
    int chunked = 0, seq = -1, n_date = 0, n_conn = 0, conn_close = 0;
    for (;;) {
      l = rline(&c, &ln);
      if (!l) fail(next, "a truncated response head");
      if (ln == 0) break;
      const char *colon = memchr(l, ':', ln);
      if (!colon) fail(next, "a response field without a colon");
      size_t nn = (size_t)(colon - l);
      const char *v = colon + 1;
      size_t vn = ln - nn - 1;
      trim(&v, &vn);
      if (nn == 14 && strncasecmp(l, "content-length", 14) == 0) {
        if (cl >= 0) fail(next, "two Content-Length fields in a response");
        cl = strtoll(v, NULL, 10);
      } else if (nn == 17 && strncasecmp(l, "transfer-encoding", 17) == 0) {
        chunked = 1;
      } else if (nn == 4 && strncasecmp(l, "date", 4) == 0) {
        n_date++;
      } else if (nn == 10 && strncasecmp(l, "connection", 10) == 0) {
        n_conn++;
        conn_close = vn == 5 && strncasecmp(v, "close", 5) == 0;
      } else if (nn == 5 && strncasecmp(l, "x-seq", 5) == 0) {
        seq = atoi(v);
      }
    }
    if (status == 100) continue; /* 100 Continue: no body, no fields of ours */
    if (n_date != 1 || n_conn != 1) fail(next, "a response without exactly one Date and one Connection");
    const fz_req_t *r = NULL;
    int error = 0;
    if (seq >= 0) {
      if (seq != next) fail(next, "a response out of order (X-Seq)");
      if (next < FZ_HTTP_MAX_REQS && next < run->n_reqs) r = &run->reqs[next];
    } else if (next < run->n_reqs && next < FZ_HTTP_MAX_REQS && run->reqs[next].mode == FZ_MODE_RELEASE &&
               status == 500) {
      r = &run->reqs[next];
    } else {
      if (!is_error_status(status)) fail(next, "a response that is neither the handler's nor an error");
      if (!conn_close) fail(next, "an error response without Connection: close");
      error = 1;
    }
    int head = r && strcmp(r->method, "HEAD") == 0;
    size_t blen = 0;
    if (head || status == 204 || status == 304) {
      blen = 0;
    } else if (chunked) {
      for (;;) {
        l = rline(&c, &ln);
        if (!l) fail(next, "a truncated chunked response");
        unsigned long size = strtoul(l, NULL, 16);
        if (size > c.len - c.pos || c.len - c.pos - size < 2) fail(next, "a truncated chunk in a response");
        if (size == 0) {
          l = rline(&c, &ln);
          if (!l || ln) fail(next, "a chunked response without its final CRLF");
          break;
        }
        if (blen + size > sizeof(body)) fail(next, "a response too long to check");
        memcpy(body + blen, c.p + c.pos, size);
        blen += size;
        c.pos += size;
        if (c.p[c.pos] != '\r' || c.p[c.pos + 1] != '\n') fail(next, "chunk data without CRLF in a response");
        c.pos += 2;
      }
    } else if (cl >= 0) {
      if ((size_t)cl > c.len - c.pos) fail(next, "a truncated response body");
      if ((size_t)cl > sizeof(body)) fail(next, "a response too long to check");
      memcpy(body, c.p + c.pos, (size_t)cl);
      blen = (size_t)cl;
      c.pos += (size_t)cl;
    } else if (r && r->minor == 0) {
      /* close-delimited, for an HTTP/1.0 client: the rest of the stream */
      blen = c.len - c.pos < sizeof(body) ? c.len - c.pos : sizeof(body);
      memcpy(body, c.p + c.pos, blen);
      c.pos = c.len;
      if (!conn_close) fail(next, "a close-delimited response without Connection: close");
    } else {
      fail(next, "a response with neither Content-Length nor chunked to an HTTP/1.1 request");
    }
    if (r && r->mode != FZ_MODE_RELEASE && !head) {
      size_t wn = expected_body(r, next, want, sizeof(want));
      if (wn != (size_t)-1 && (wn != blen || memcmp(want, body, blen) != 0))
        fail(next, "a response body is not the echo of the request's body");
    }
    if (!error) next++;
    if (conn_close) closed = 1;
  }
  if (run->client_reset) return;
  int m = run->n_reqs < FZ_HTTP_MAX_REQS ? run->n_reqs : FZ_HTTP_MAX_REQS;
  for (int i = next; i < m; i++)
    if (run->reqs[i].answered) fail(i, "an answered request's response never reached the client");
}

/* " (why the reference stopped)\n", for FUZZ_VERBOSE. */
static const char *last_why(const ref_result_t *ref) {
  static char buf[256];
  snprintf(buf, sizeof(buf), " (%s)\n", ref->n ? ref->msgs[ref->n - 1].why : "");
  return buf;
}

/* ---- entry points ---------------------------------------------------------------------------- */

void fz_http_check_init(void) {
  isl_http_config_t cfg = {.max_header_bytes = FZ_HTTP_MAX_HEADER_BYTES, .max_body_bytes = FZ_HTTP_MAX_BODY_BYTES};
  fz_http_init(&cfg);
}

void fz_http_check(const uint8_t *stream, size_t len, const size_t *segs, size_t n_segs) {
  static const ref_limits_t lim = {FZ_HTTP_MAX_HEADER_BYTES, FZ_HTTP_MAX_BODY_BYTES, ISL_HTTP_MAX_HEADERS};
  static ref_result_t ref; /* ~300 KB: not on the stack */
  static fz_http_run_t run;
  ref_parse(stream, len, &lim, &ref);
  fz_http_run(stream, len, segs, n_segs, &run);
  g_in = stream;
  g_len = len;
  g_ref = &ref;
  g_run = &run;
  /* FUZZ_VERBOSE=1 prints each input's verdicts: how much of a corpus the
   * reference judges, and where it gives up. */
  if (getenv("FUZZ_VERBOSE")) {
    fprintf(stderr, "fuzz: %zu bytes, %d delivered:", len, run.n_reqs);
    for (int i = 0; i < ref.n; i++) fprintf(stderr, " %s", ref_verdict_name(ref.msgs[i].verdict));
    fputs(last_why(&ref), stderr);
  }
  against_reference();
  int n = run.n_reqs < FZ_HTTP_MAX_REQS ? run.n_reqs : FZ_HTTP_MAX_REQS;
  for (int i = 0; i < n; i++) framing(i, &run.reqs[i]);
  responses();
  fz_http_run_free(&run);
  ref_free(&ref);
}

size_t fz_http_segments(uint8_t plan, size_t len, size_t *segs, size_t max) {
  if (plan == 0) return 0;
  uint32_t x = 0x9e3779b9u ^ plan;
  size_t n = 0, off = 0;
  while (off < len && n + 1 < max) {
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    size_t s = 1 + x % ((plan & 31u) + 1);
    segs[n++] = s;
    off += s;
  }
  return n;
}
