/*
 * http_check.h - what the HTTP fuzz targets assert about one run of the
 * server (http_drive.h) on a request stream:
 *
 *   1. the requests the handler got agree with the reference reading of
 *      the stream (http_ref.h): same messages, same heads, same decoded
 *      bodies, nothing delivered past a fault, a close or an unanswered
 *      request;
 *   2. each delivered request is framed by the fields the handler sees
 *      (one Content-Length of digits equal to the body's length, or one
 *      Transfer-Encoding: chunked and no Content-Length, or no body), its
 *      field names are tokens and its target has no byte the docs refuse;
 *   3. the bytes the client read are a clean sequence of responses: in
 *      request order (X-Seq), each echo carrying exactly the body the
 *      handler got, at most one error response and only at the end, one
 *      Date and one Connection field each, nothing truncated.
 *
 * Any failure prints the input's reading and the server's records and
 * aborts, so libFuzzer keeps the input as a crash.
 */
#ifndef ISL_FUZZ_HTTP_CHECK_H
#define ISL_FUZZ_HTTP_CHECK_H

#include <stddef.h>
#include <stdint.h>

#include "fuzz/common/http_ref.h"

/* The limits both HTTP targets run the server with (small, so that
 * inputs of a few KB reach them). */
#define FZ_HTTP_MAX_HEADER_BYTES 1024
#define FZ_HTTP_MAX_BODY_BYTES 2048

/* Starts the server with the limits above (once). */
void fz_http_check_init(void);

/* Runs stream[0..len) in segments (see fz_http_run) and checks it. */
void fz_http_check(const uint8_t *stream, size_t len, const size_t *segs, size_t n_segs);

/* Segment lengths for a stream of len bytes from a one-byte plan: 0 sends
 * everything at once, anything else cuts pieces of 1..(plan & 31)+1 bytes
 * from a generator seeded by plan. Returns how many were written to segs
 * (at most max). */
size_t fz_http_segments(uint8_t plan, size_t len, size_t *segs, size_t max);

#endif
