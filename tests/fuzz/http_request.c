/*
 * http_request.c - fuzz target: whole request streams, pipelined, through
 * the real HTTP server (src/http/conn.c with llhttp), one loopback
 * connection per input.
 *
 * Input: byte 0 is the segment plan (how the stream is cut into writes,
 * each of which the server reads on its own: see fz_http_segments), the
 * rest is the byte stream a client sends. The path of each request picks
 * what the test handler does with it (tests/fuzz/common/http_drive.h:
 * echo now or from a timer, answer before the body, stream a chunked
 * answer, release unanswered, never answer), so one stream walks the
 * server through pipelining, pausing and resuming, aborts and errors.
 *
 * What must hold (tests/fuzz/common/http_check.h): the requests the
 * handler gets are the ones an independent strict reading of the stream
 * finds (tests/fuzz/common/http_ref.c), with the same heads and decoded
 * bodies, and none past a fault or a close; each is framed by the fields
 * the handler sees; the responses come back in order and intact; the
 * server lets go of the connection and every request after the client's
 * FIN; ASan and UBSan stay quiet. The server runs with a 1 KiB header limit
 * and a 2 KiB body limit, so that small inputs reach them.
 */
#include "fuzz/common/fuzz.h"
#include "fuzz/common/http_check.h"

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc;
  (void)argv;
  fz_http_check_init();
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 2) return 0;
  static size_t segs[1 << 16];
  size_t n = fz_http_segments(data[0], size - 1, segs, sizeof(segs) / sizeof(segs[0]));
  fz_http_check(data + 1, size - 1, segs, n);
  return 0;
}
