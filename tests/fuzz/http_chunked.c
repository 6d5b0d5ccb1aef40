/*
 * http_chunked.c - fuzz target: the chunked transfer coding of request
 * bodies (llhttp's decoder as the server drives it: chunk sizes,
 * extensions, data, the last chunk, trailers), against an independent
 * decoder written from RFC 9112 section 7.1 (tests/fuzz/common/http_ref.c).
 *
 * Input: byte 0 is a plan: its low 6 bits cut the stream into writes (as
 * in http_request.c, so chunk lines and data split across reads), bit 6
 * appends a pipelined "GET /after" request after the input, bit 7 sends
 * the chunked request to /async (answered from a timer, so the follow-up
 * waits in the server's buffer). The rest is the body, after the head
 *
 *   POST /c HTTP/1.1 / Host: fuzz / Transfer-Encoding: chunked
 *
 * For a body the reference decodes, the handler must get exactly the
 * reference's bytes and then the follow-up request, whole; for one it
 * refuses, the body must never end and nothing after it may be read as a
 * request (no smuggling); for one that ends early, the body must never
 * end. All the checks of http_request.c apply as well.
 */
#include <stdlib.h>
#include <string.h>

#include "fuzz/common/fuzz.h"
#include "fuzz/common/http_check.h"

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc;
  (void)argv;
  fz_http_check_init();
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1) return 0;
  static const char head_sync[] = "POST /c HTTP/1.1\r\nHost: fuzz\r\nTransfer-Encoding: chunked\r\n\r\n";
  static const char head_async[] = "POST /async HTTP/1.1\r\nHost: fuzz\r\nTransfer-Encoding: chunked\r\n\r\n";
  static const char after[] = "GET /after HTTP/1.1\r\nHost: fuzz\r\n\r\n";
  const char *head = data[0] & 0x80 ? head_async : head_sync;
  size_t hn = strlen(head), an = data[0] & 0x40 ? strlen(after) : 0, bn = size - 1;
  uint8_t *stream = malloc(hn + bn + an);
  if (!stream) abort();
  memcpy(stream, head, hn);
  memcpy(stream + hn, data + 1, bn);
  memcpy(stream + hn + bn, after, an);
  static size_t segs[1 << 16];
  size_t n = fz_http_segments(data[0] & 0x3f, hn + bn + an, segs, sizeof(segs) / sizeof(segs[0]));
  fz_http_check(stream, hn + bn + an, segs, n);
  free(stream);
  return 0;
}
