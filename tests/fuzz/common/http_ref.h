/*
 * http_ref.h - an independent reference reading of an HTTP/1.1 request
 * stream, for the HTTP fuzz targets to hold the server against.
 *
 * It is written from RFC 9112 and the rules docs/http.md promises (strict
 * line ends checked by the server's line scanner, strict chunk framing,
 * max_header_bytes counted on the wire from the end of the previous
 * message, at most ISL_HTTP_MAX_HEADERS fields, 413 for a Content-Length
 * over max_body_bytes, one Transfer-Encoding and only "chunked", no
 * Content-Length with it), not from llhttp. It only claims what it is sure
 * of: every message gets a verdict, and where the input uses something the
 * reference does not model exactly (an unusual method, obs-fold, BWS in a
 * chunk extension, obs-text in a value, ...) the verdict is "unsure" and
 * the comparison stops there.
 *
 * Verdicts, and what the server must then have done with message i:
 *   OK               delivered it: on_request with the same method, target
 *                    and fields, and on_body_end with the same body
 *   INCOMPLETE_HEAD, BAD_HEAD
 *                    never called on_request for it (nor for anything later)
 *   INCOMPLETE_BODY, BAD_BODY
 *                    called on_request (same head) but never on_body_end,
 *                    and delivered at most a prefix of `body`
 *   UNSURE_HEAD      nothing is claimed from here on
 *   UNSURE_BODY      the head as for OK; the body only as a common prefix
 * A verdict may come with `maybe`: the head is well-formed but holds bytes
 * whose acceptance the reference does not model (an unusual method, obs-text
 * in a value, ...). If the server refused the message, nothing more is
 * claimed; if it delivered it, the verdict holds as for any other.
 * After an OK message that ends the connection (Connection: close, HTTP/1.0
 * without keep-alive) or that the handler never answers (/hold...), the
 * server delivers nothing more.
 */
#ifndef ISL_FUZZ_HTTP_REF_H
#define ISL_FUZZ_HTTP_REF_H

#include <stddef.h>
#include <stdint.h>

#define REF_MAX_MSGS 64
#define REF_MAX_FIELDS 128

enum {
  REF_OK,
  REF_INCOMPLETE_HEAD,
  REF_BAD_HEAD,
  REF_INCOMPLETE_BODY,
  REF_BAD_BODY,
  REF_UNSURE_HEAD,
  REF_UNSURE_BODY,
};

typedef struct {
  const uint8_t *name, *value; /* into the input; value without surrounding OWS */
  size_t name_len, value_len;
} ref_field_t;

typedef struct {
  int verdict;     /* REF_* */
  const char *why; /* for reports */
  char method[16];
  const uint8_t *target;
  size_t target_len;
  int minor;
  ref_field_t fields[REF_MAX_FIELDS];
  size_t n_fields;
  uint8_t *body; /* decoded (owned) */
  size_t body_len, body_cap;
  int keep_alive;    /* the server reads on after it */
  const char *maybe; /* non-NULL: the head holds something the reference does
                      * not know the server takes (why); if the server did
                      * not deliver the message, nothing more is claimed */
  size_t start, end; /* offsets in the input */
} ref_msg_t;

typedef struct {
  size_t max_header_bytes; /* as configured on the server */
  uint64_t max_body_bytes;
  size_t max_fields; /* ISL_HTTP_MAX_HEADERS */
} ref_limits_t;

typedef struct {
  ref_msg_t msgs[REF_MAX_MSGS];
  int n;       /* messages with a verdict */
  int stopped; /* 1: after msgs[n-1] the server reads no more (close, /hold, or a fault) */
} ref_result_t;

/* Reads data[0..len). out must be released with ref_free. */
void ref_parse(const uint8_t *data, size_t len, const ref_limits_t *lim, ref_result_t *out);
void ref_free(ref_result_t *out);
const char *ref_verdict_name(int verdict);

#endif
