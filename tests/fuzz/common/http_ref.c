/*
 * http_ref.c - the reference reading of a request stream (http_ref.h).
 *
 * Each message is read in three steps, in the order the server's own
 * checks bite: (1) the line scanner's view of the head (every CR followed
 * by LF, no LF without CR, the head within max_header_bytes, its end at the
 * first empty line after a non-empty one), which alone decides
 * INCOMPLETE_HEAD and most BAD_HEAD verdicts; (2) the grammar of the
 * request line and the fields (RFC 9112 sections 3 and 5), and the framing
 * they imply (section 6); (3) the body: Content-Length bytes, or chunks
 * (section 7.1) and a trailer section that the line scanner also checks and
 * that counts against the same max_header_bytes as the head.
 *
 * Deliberately simple code: a cursor over the input and one function per
 * production. Whatever it is not sure llhttp treats exactly so (see the
 * UNSURE verdicts) it does not judge.
 */
#include "fuzz/common/http_ref.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "fuzz/common/http_drive.h" /* fz_http_mode_of: /hold never answers */

/* ---- characters -------------------------------------------------------------------- */

static int is_tchar(uint8_t c) {
  if (c >= '0' && c <= '9') return 1;
  if ((c | 0x20) >= 'a' && (c | 0x20) <= 'z') return 1;
  return c && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

static int is_hex(uint8_t c) {
  return (c >= '0' && c <= '9') || ((c | 0x20) >= 'a' && (c | 0x20) <= 'f');
}

static int hex_val(uint8_t c) {
  return c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10;
}

static int ieq(const uint8_t *s, size_t n, const char *lit) {
  return strlen(lit) == n && strncasecmp((const char *)s, lit, n) == 0;
}

const char *ref_verdict_name(int v) {
  static const char *const names[] = {"OK",       "INCOMPLETE_HEAD", "BAD_HEAD",   "INCOMPLETE_BODY",
                                      "BAD_BODY", "UNSURE_HEAD",     "UNSURE_BODY"};
  return v >= 0 && v <= REF_UNSURE_BODY ? names[v] : "?";
}

/* ---- the line scanner's view ---------------------------------------------------------- */

enum { SCAN_DONE, SCAN_EOF, SCAN_FAULT };

/* Scans a head (trailers = 0) or a trailer section (1) from *pos, adding
 * to *count the bytes seen; on SCAN_DONE *pos is just past the section's
 * final LF. Mirrors docs/http.md "A line scanner". */
static int scan_section(const uint8_t *p, size_t len, size_t *pos, size_t *count, size_t max, int trailers) {
  size_t lines = 0, line_len = 0;
  int cr = 0;
  for (size_t i = *pos; i < len; i++) {
    if (++*count > max) return SCAN_FAULT; /* 431 / 414 */
    uint8_t c = p[i];
    if (cr) {
      if (c != '\n') return SCAN_FAULT;
      cr = 0;
      if (line_len) {
        lines++;
        line_len = 0;
      } else if (lines || trailers) {
        *pos = i + 1;
        return SCAN_DONE;
      }
    } else if (c == '\r') {
      cr = 1;
    } else if (c == '\n') {
      return SCAN_FAULT;
    } else {
      line_len++;
    }
  }
  return SCAN_EOF;
}

/* ---- fields ---------------------------------------------------------------------------- */

/* LINE_MAYBE: well-formed but for bytes whose acceptance the reference
 * does not model (obs-text or a control byte in a value, a non-token byte
 * in a name): if the server takes the line, it takes it as read here. */
enum { LINE_OK, LINE_BAD, LINE_UNSURE, LINE_MAYBE };

/* One field line (without its CRLF) into f. */
static int field_line(const uint8_t *l, size_t n, ref_field_t *f, const char **why) {
  if (n && (l[0] == ' ' || l[0] == '\t')) {
    *why = "obs-fold";
    return LINE_UNSURE;
  }
  size_t i = 0;
  while (i < n && is_tchar(l[i])) i++;
  if (i == n) {
    *why = "a field line without a colon";
    return LINE_UNSURE;
  }
  int maybe = 0;
  if (l[i] != ':') {
    if (i && (l[i] == ' ' || l[i] == '\t')) {
      *why = "whitespace before the colon";
      return LINE_BAD;
    }
    /* a non-token byte: the server refuses such a name if llhttp passes it */
    while (i < n && l[i] != ':' && l[i] != ' ' && l[i] != '\t') i++;
    if (i == n || l[i] != ':') {
      *why = "a non-token byte in a field name";
      return LINE_UNSURE;
    }
    *why = "a non-token byte in a field name";
    maybe = 1;
  }
  if (i == 0) {
    *why = "an empty field name";
    return LINE_BAD;
  }
  f->name = l;
  f->name_len = i;
  size_t v = i + 1, e = n;
  while (v < e && (l[v] == ' ' || l[v] == '\t')) v++;
  while (e > v && (l[e - 1] == ' ' || l[e - 1] == '\t')) e--;
  for (size_t k = v; k < e; k++) {
    uint8_t c = l[k];
    if (!(c == '\t' || (c >= 0x20 && c <= 0x7e))) {
      *why = "a control or non-ASCII byte in a field value";
      maybe = 1;
    }
  }
  f->value = l + v;
  f->value_len = e - v;
  return maybe ? LINE_MAYBE : LINE_OK;
}

/* Comma-separated tokens of a Connection value; flags: 1 close, 2 keep-alive.
 * Returns -1 when the value is not a plain token list. */
static int connection_flags(const uint8_t *v, size_t n) {
  int flags = 0;
  size_t i = 0;
  for (;;) {
    while (i < n && (v[i] == ' ' || v[i] == '\t')) i++;
    size_t s = i;
    while (i < n && is_tchar(v[i])) i++;
    if (i == s) return -1;
    if (ieq(v + s, i - s, "close")) flags |= 1;
    if (ieq(v + s, i - s, "keep-alive")) flags |= 2;
    while (i < n && (v[i] == ' ' || v[i] == '\t')) i++;
    if (i == n) return flags;
    if (v[i] != ',') return -1;
    i++;
  }
}

/* ---- the Host field ---------------------------------------------------------------------- */

/* What the server makes of a Host value (docs/http.md: exactly one, in
 * every HTTP/1.1 request, and host[:port] as RFC 3986 writes it, no
 * percent-encoding, no userinfo, no name a URL parser would read as a
 * number). LINE_OK for a plain name or dotted-decimal address with an
 * optional port, LINE_BAD for bytes no authority has or a bad port,
 * LINE_UNSURE for the rest (IPv6 literals, sub-delims, numeric names). */
static int host_value(const uint8_t *v, size_t n) {
  size_t i = 0;
  for (size_t k = 0; k < n; k++) {
    uint8_t c = v[k];
    int alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
    if (!alnum && !strchr("-._~!$&'()*+,;=:[]", c)) return LINE_BAD; /* also NUL, blanks, '@', '%', '/' */
  }
  if (n == 0) return LINE_BAD;
  if (v[0] == '[') return LINE_UNSURE;
  size_t colon = n;
  for (size_t k = 0; k < n; k++)
    if (v[k] == ':') {
      colon = k;
      break;
    }
  if (colon < n) {
    size_t pn = n - colon - 1;
    if (pn == 0 || pn > 5) return LINE_BAD;
    unsigned port = 0;
    for (size_t k = colon + 1; k < n; k++) {
      if (v[k] < '0' || v[k] > '9') return LINE_BAD;
      port = port * 10 + (unsigned)(v[k] - '0');
    }
    if (port > 65535) return LINE_BAD;
  }
  /* the name: labels of letters, digits and '-' joined by single dots */
  size_t label = 0, last = 0;
  for (i = 0; i < colon; i++) {
    uint8_t c = v[i];
    if (c == '.') {
      if (label == 0) return LINE_UNSURE;
      label = 0;
      last = i + 1;
      continue;
    }
    int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-';
    if (!ok) return LINE_UNSURE;
    label++;
  }
  if (label == 0) return colon == 0 ? LINE_BAD : LINE_UNSURE;
  /* a last label of digits (or 0x...) makes the name a number: only a
   * canonical a.b.c.d is certain to pass */
  int numeric = 1;
  for (size_t k = last; k < colon; k++)
    if (v[k] < '0' || v[k] > '9') numeric = 0;
  if (colon - last >= 2 && v[last] == '0' && (v[last + 1] | 0x20) == 'x') return LINE_UNSURE;
  if (!numeric) return LINE_OK;
  int parts = 0;
  size_t k = 0;
  while (k < colon) {
    size_t st = k;
    unsigned val = 0;
    while (k < colon && v[k] >= '0' && v[k] <= '9') val = val * 10 + (unsigned)(v[k++] - '0');
    if (k == st || k - st > 3 || val > 255 || (k - st > 1 && v[st] == '0')) return LINE_UNSURE;
    parts++;
    if (k < colon) {
      if (v[k] != '.') return LINE_UNSURE;
      k++;
    }
  }
  return parts == 4 ? LINE_OK : LINE_UNSURE;
}

/* ---- the head ------------------------------------------------------------------------------ */

typedef struct {
  int chunked;
  uint64_t length;
  int has_length;
} framing_t;

static int set(ref_msg_t *m, int verdict, const char *why) {
  m->verdict = verdict;
  m->why = why;
  return verdict;
}

/* The request line l[0..n). */
static int request_line(ref_msg_t *m, const uint8_t *l, size_t n) {
  static const char *const methods[] = {"GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH", "TRACE"};
  size_t sp = 0;
  while (sp < n && l[sp] != ' ') sp++;
  int known = 0;
  for (size_t k = 0; k < sizeof(methods) / sizeof(methods[0]); k++)
    if (strlen(methods[k]) == sp && memcmp(l, methods[k], sp) == 0) known = 1;
  if (sp == 7 && memcmp(l, "CONNECT", 7) == 0) return set(m, REF_BAD_HEAD, "CONNECT (501)");
  if (!known) {
    /* llhttp knows some forty methods: if it takes this one, it is read as here */
    if (sp == 0 || sp >= sizeof(m->method)) return set(m, REF_UNSURE_HEAD, "a method the reference does not model");
    for (size_t k = 0; k < sp; k++)
      if (!is_tchar(l[k])) return set(m, REF_UNSURE_HEAD, "a method the reference does not model");
    m->maybe = "a method the reference does not model";
  }
  memcpy(m->method, l, sp);
  m->method[sp] = 0;
  if (sp + 1 >= n || l[sp + 1] == ' ') return set(m, REF_UNSURE_HEAD, "not one space after the method");
  size_t t = sp + 1, te = t;
  while (te < n && l[te] != ' ') te++;
  if (l[t] != '/') return set(m, REF_UNSURE_HEAD, "a target not in origin-form");
  for (size_t k = t; k < te; k++) {
    uint8_t c = l[k];
    if (c == '\t' || c == '\f' || c >= 0x80)
      return set(m, REF_BAD_HEAD, "a tab, form feed or non-ASCII byte in the target");
    if (c < 0x21 || c == 0x7f) m->maybe = "a control byte in the target";
  }
  m->target = l + t;
  m->target_len = te - t;
  if (te + 1 >= n || l[te + 1] == ' ') return set(m, REF_UNSURE_HEAD, "not one space after the target");
  const uint8_t *v = l + te + 1;
  size_t vn = n - te - 1;
  if (vn == 8 && memcmp(v, "HTTP/1.", 7) == 0 && (v[7] == '0' || v[7] == '1')) {
    m->minor = v[7] - '0';
    return REF_OK;
  }
  if (vn == 8 && memcmp(v, "HTTP/", 5) == 0 && v[5] >= '0' && v[5] <= '9' && v[6] == '.' && v[7] >= '0' && v[7] <= '9')
    return set(m, REF_BAD_HEAD, "an HTTP version other than 1.0 and 1.1");
  return set(m, REF_UNSURE_HEAD, "a malformed HTTP version");
}

/* The head p[start..end) (end just past its empty line), after the scanner
 * passed it: request line, fields, framing. */
static int head(ref_msg_t *m, const uint8_t *p, size_t start, size_t end, const ref_limits_t *lim, framing_t *fr) {
  size_t i = start;
  while (p[i] == '\r') i += 2; /* empty lines before the request line */
  size_t e = i;
  while (p[e] != '\r') e++;
  int rc = request_line(m, p + i, e - i);
  if (rc != REF_OK) return rc;
  i = e + 2;
  int n_te = 0, n_cl = 0, conn = 0, n_host = 0, host = LINE_OK;
  while (i < end - 2) {
    e = i;
    while (p[e] != '\r') e++;
    if (m->n_fields >= lim->max_fields) return set(m, REF_BAD_HEAD, "more fields than ISL_HTTP_MAX_HEADERS");
    ref_field_t *f = &m->fields[m->n_fields];
    const char *why = NULL;
    int lr = field_line(p + i, e - i, f, &why);
    if (lr == LINE_BAD) return set(m, REF_BAD_HEAD, why);
    if (lr == LINE_UNSURE) return set(m, REF_UNSURE_HEAD, why);
    if (lr == LINE_MAYBE) {
      if (ieq(f->name, f->name_len, "content-length") || ieq(f->name, f->name_len, "transfer-encoding") ||
          ieq(f->name, f->name_len, "connection") || ieq(f->name, f->name_len, "proxy-connection") ||
          ieq(f->name, f->name_len, "host"))
        return set(m, REF_UNSURE_HEAD, why);
      m->maybe = why;
    }
    m->n_fields++;
    i = e + 2;
    if (ieq(f->name, f->name_len, "content-length")) {
      n_cl++;
      const uint8_t *l = p + e;
      if (f->value_len == 0) return set(m, REF_UNSURE_HEAD, "an empty Content-Length");
      if (l[-1] == ' ' || l[-1] == '\t') return set(m, REF_UNSURE_HEAD, "whitespace after Content-Length");
      uint64_t v = 0;
      for (size_t k = 0; k < f->value_len; k++) {
        if (f->value[k] < '0' || f->value[k] > '9') return set(m, REF_BAD_HEAD, "a Content-Length that is not digits");
        if (k >= 18) return set(m, REF_UNSURE_HEAD, "a Content-Length of more than 18 digits");
        v = v * 10 + (uint64_t)(f->value[k] - '0');
      }
      fr->length = v;
      fr->has_length = 1;
    } else if (ieq(f->name, f->name_len, "transfer-encoding")) {
      n_te++;
      const uint8_t *l = p + e;
      if (l[-1] == ' ' || l[-1] == '\t') return set(m, REF_UNSURE_HEAD, "whitespace after Transfer-Encoding");
      fr->chunked = ieq(f->value, f->value_len, "chunked");
      if (!fr->chunked) return set(m, REF_BAD_HEAD, "a Transfer-Encoding other than chunked");
    } else if (ieq(f->name, f->name_len, "host")) {
      n_host++;
      host = host_value(f->value, f->value_len);
    } else if (ieq(f->name, f->name_len, "connection") || ieq(f->name, f->name_len, "proxy-connection")) {
      if (!ieq(f->name, f->name_len, "connection")) return set(m, REF_UNSURE_HEAD, "Proxy-Connection");
      int fl = connection_flags(f->value, f->value_len);
      if (fl < 0) return set(m, REF_UNSURE_HEAD, "a Connection value that is not a token list");
      conn |= fl;
    }
  }
  if (n_te > 1) return set(m, REF_BAD_HEAD, "two Transfer-Encoding fields");
  if (n_cl > 1) return set(m, REF_BAD_HEAD, "two Content-Length fields");
  if (n_te && n_cl) return set(m, REF_BAD_HEAD, "Transfer-Encoding with Content-Length");
  if (n_te && m->minor == 0) return set(m, REF_UNSURE_HEAD, "chunked in HTTP/1.0");
  if (fr->has_length && fr->length > lim->max_body_bytes)
    return set(m, REF_BAD_HEAD, "a Content-Length over max_body_bytes");
  if (n_host > 1) return set(m, REF_BAD_HEAD, "two Host fields");
  if (!n_host && m->minor == 1) return set(m, REF_BAD_HEAD, "an HTTP/1.1 request without Host");
  if (n_host && host == LINE_BAD) return set(m, REF_BAD_HEAD, "a Host that is not host[:port]");
  if (n_host && host == LINE_UNSURE) m->maybe = "a Host the reference does not model";
  m->keep_alive = m->minor == 1 ? !(conn & 1) : (conn & 2) != 0;
  if (fz_http_mode_of((const char *)m->target, m->target_len) == FZ_MODE_HOLD) m->keep_alive = 0;
  return REF_OK;
}

/* ---- the body ------------------------------------------------------------------------------ */

static void body_put(ref_msg_t *m, const uint8_t *s, size_t n) {
  if (n == 0) return;
  if (m->body_len + n > m->body_cap) {
    m->body_cap = (m->body_len + n) * 2 + 64;
    m->body = realloc(m->body, m->body_cap);
    if (!m->body) abort();
  }
  memcpy(m->body + m->body_len, s, n);
  m->body_len += n;
}

/* ";name[=value]" extensions from *i up to the CRLF of a chunk-size line. */
static int chunk_ext(ref_msg_t *m, const uint8_t *p, size_t len, size_t *i) {
  size_t k = *i;
  while (k < len && p[k] == ';') {
    k++;
    size_t s = k;
    while (k < len && is_tchar(p[k])) k++;
    if (k == len) return set(m, REF_INCOMPLETE_BODY, "the input ends in a chunk extension");
    if (k == s) return set(m, p[k] == '\r' ? REF_BAD_BODY : REF_UNSURE_BODY, "an empty chunk extension");
    if (p[k] == '=') {
      k++;
      if (k == len) return set(m, REF_INCOMPLETE_BODY, "the input ends in a chunk extension");
      if (p[k] == '"') {
        k++;
        while (k < len && p[k] != '"') {
          uint8_t c = p[k];
          if (c == '\\' || c >= 0x7f || (c < 0x20 && c != '\t'))
            return set(m, REF_UNSURE_BODY, "an escape, control or non-ASCII byte in a quoted chunk extension");
          k++;
        }
        if (k == len) return set(m, REF_INCOMPLETE_BODY, "the input ends in a chunk extension");
        k++;
      } else {
        s = k;
        while (k < len && is_tchar(p[k])) k++;
        if (k == len) return set(m, REF_INCOMPLETE_BODY, "the input ends in a chunk extension");
        if (k == s) return set(m, REF_UNSURE_BODY, "an empty chunk extension value");
        /* Found by this fuzzer: llhttp 8.1 (Debian's node-llhttp) refuses
         * any extension after one with a token value ("5;a=b;c=d" is a
         * 400, "Invalid character in chunk size"), though RFC 9112 allows
         * it. Safe (a refusal), but not what the reference reads. */
        if (p[k] == ';') return set(m, REF_UNSURE_BODY, "an extension after a token value (refused by llhttp 8.1)");
        /* Also found here: llhttp 8.1 reads a '"' inside a token value as
         * the start of a quoted string ("5;a=b\"x\"" passes). Lenient but
         * harmless: a quoted string cannot hold CR or LF for it, so the
         * line still ends at the first CRLF, as for any reader. */
        if (p[k] == '"') return set(m, REF_UNSURE_BODY, "a quote inside a token value (taken by llhttp 8.1)");
      }
    }
  }
  if (k == len) return set(m, REF_INCOMPLETE_BODY, "the input ends in a chunk-size line");
  *i = k;
  return REF_OK;
}

/* Checks the trailer lines p[from..to) (to just past the empty line). */
static int trailer_lines(ref_msg_t *m, const uint8_t *p, size_t from, size_t to) {
  size_t i = from;
  while (i < to - 2) {
    size_t e = i;
    while (p[e] != '\r') e++;
    ref_field_t f;
    const char *why = NULL;
    int lr = field_line(p + i, e - i, &f, &why);
    /* ": x" gets past llhttp; the server refuses it in the head only */
    if (lr == LINE_BAD && p[i] == ':') lr = LINE_UNSURE;
    if (lr == LINE_MAYBE) lr = LINE_UNSURE;
    if (lr != LINE_OK) return set(m, lr == LINE_BAD ? REF_BAD_BODY : REF_UNSURE_BODY, why);
    /* llhttp reads framing fields in trailers as in the head (a
     * Transfer-Encoding there is refused): not modelled */
    if (ieq(f.name, f.name_len, "transfer-encoding") || ieq(f.name, f.name_len, "content-length") ||
        ieq(f.name, f.name_len, "connection") || ieq(f.name, f.name_len, "proxy-connection") ||
        ieq(f.name, f.name_len, "upgrade"))
      return set(m, REF_UNSURE_BODY, "a framing field in the trailers");
    i = e + 2;
  }
  return REF_OK;
}

static int chunked_body(ref_msg_t *m, const uint8_t *p, size_t len, size_t *pos, size_t *count,
                        const ref_limits_t *lim) {
  size_t i = *pos;
  for (;;) {
    if (i == len) return set(m, REF_INCOMPLETE_BODY, "the input ends before a chunk-size line");
    if (!is_hex(p[i])) return set(m, REF_BAD_BODY, "a chunk-size line that does not start with a hex digit");
    uint64_t size = 0;
    int digits = 0;
    while (i < len && is_hex(p[i])) {
      if (size || p[i] != '0') digits++;
      if (digits > 15) return set(m, REF_UNSURE_BODY, "a chunk size of more than 15 hex digits");
      size = size * 16 + (uint64_t)hex_val(p[i]);
      i++;
    }
    if (i == len) return set(m, REF_INCOMPLETE_BODY, "the input ends in a chunk size");
    if (p[i] == ';') {
      int rc = chunk_ext(m, p, len, &i);
      if (rc != REF_OK) return rc;
    }
    if (p[i] == ' ' || p[i] == '\t') return set(m, REF_UNSURE_BODY, "whitespace after a chunk size");
    if (p[i] == '\n') return set(m, REF_UNSURE_BODY, "a bare LF after a chunk size");
    if (p[i] != '\r') return set(m, REF_BAD_BODY, "a chunk size followed by something else than ;ext or CRLF");
    if (i + 1 == len) return set(m, REF_INCOMPLETE_BODY, "the input ends in a chunk-size line");
    if (p[i + 1] != '\n') return set(m, REF_BAD_BODY, "CR not followed by LF after a chunk size");
    i += 2;
    if (size == 0) {
      size_t tstart = i;
      int s = scan_section(p, len, &i, count, lim->max_header_bytes, 1);
      if (s == SCAN_EOF) return set(m, REF_INCOMPLETE_BODY, "the input ends in the trailers");
      if (s == SCAN_FAULT) return set(m, REF_BAD_BODY, "a bare CR or LF, or too many bytes, in the trailers");
      *pos = i;
      return trailer_lines(m, p, tstart, i); /* dropped by the server, but they must parse */
    }
    size_t avail = len - i;
    size_t take = avail < size ? avail : (size_t)size;
    if (m->body_len + take > lim->max_body_bytes) {
      body_put(m, p + i, (size_t)(lim->max_body_bytes - m->body_len));
      return set(m, REF_BAD_BODY, "a chunked body over max_body_bytes");
    }
    body_put(m, p + i, take);
    i += take;
    if (take < size) return set(m, REF_INCOMPLETE_BODY, "the input ends in chunk data");
    if (i == len) return set(m, REF_INCOMPLETE_BODY, "the input ends after chunk data");
    if (p[i] != '\r') return set(m, REF_BAD_BODY, "chunk data not followed by CRLF");
    if (i + 1 == len) return set(m, REF_INCOMPLETE_BODY, "the input ends after chunk data");
    if (p[i + 1] != '\n') return set(m, REF_BAD_BODY, "chunk data not followed by CRLF");
    i += 2;
  }
}

/* ---- the stream ------------------------------------------------------------------------------ */

static int message(ref_msg_t *m, const uint8_t *p, size_t len, size_t *pos, const ref_limits_t *lim) {
  size_t count = 0, i = *pos;
  m->start = i;
  int s = scan_section(p, len, &i, &count, lim->max_header_bytes, 0);
  if (s == SCAN_EOF) return set(m, REF_INCOMPLETE_HEAD, "the input ends in the head");
  if (s == SCAN_FAULT) return set(m, REF_BAD_HEAD, "a bare CR or LF, or too many bytes, in the head");
  framing_t fr = {0};
  int rc = head(m, p, *pos, i, lim, &fr);
  if (rc != REF_OK) return rc;
  if (fr.chunked) {
    rc = chunked_body(m, p, len, &i, &count, lim);
    if (rc != REF_OK) return rc;
  } else if (fr.has_length) {
    size_t avail = len - i;
    size_t take = avail < fr.length ? avail : (size_t)fr.length;
    body_put(m, p + i, take);
    i += take;
    if (take < fr.length) return set(m, REF_INCOMPLETE_BODY, "the input ends in the body");
  }
  m->end = i;
  *pos = i;
  return set(m, REF_OK, "");
}

void ref_parse(const uint8_t *data, size_t len, const ref_limits_t *lim, ref_result_t *out) {
  memset(out, 0, sizeof(*out));
  size_t pos = 0;
  while (pos < len && out->n < REF_MAX_MSGS) {
    /* Only empty lines left: no message (the server never begins one). */
    size_t k = pos;
    while (k + 1 < len && data[k] == '\r' && data[k + 1] == '\n') k += 2;
    if (k == len || (k + 1 == len && data[k] == '\r')) break;
    ref_msg_t *m = &out->msgs[out->n++];
    int v = message(m, data, len, &pos, lim);
    if (v != REF_OK || !m->keep_alive) {
      out->stopped = 1;
      return;
    }
  }
}

void ref_free(ref_result_t *out) {
  for (int i = 0; i < out->n; i++) free(out->msgs[i].body);
  memset(out, 0, sizeof(*out));
}
