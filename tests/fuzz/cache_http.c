/*
 * cache_http.c - fuzz target: the Cache API's HTTP semantics
 * (src/runtime/js/cache.js: Cache-Control and Expires deciding whether
 * and how long a response is kept, Range on a hit), through
 * caches.default in a real isolate cloned from the base snapshot, with the
 * process's real store behind it (src/runtime/host_cache.c, src/cache).
 *
 * Input: a status line, response header lines, an empty line, a Range
 * value line, then the body; tests/fuzz/cache_http.js (embedded at build
 * time) puts the response, matches it back at chosen times and with the
 * Range, and compares with its own reading of RFC 9111 and RFC 9110.
 * Each input is one call into a long-lived isolate
 * (tests/fuzz/common/iso_drive.h).
 *
 * What must hold: put() and match() never fail but as documented; what is
 * stored, for how long, with which fields, and what a Range gives agree
 * with the reference; no hang (5 s of CPU for one input), no trap; ASan
 * and UBSan on the host side (the store included).
 */
#include "cache_http_js.h" /* generated: fuzz_harness_js from tests/fuzz/cache_http.js */
#include "fuzz/common/fuzz.h"
#include "fuzz/common/iso_drive.h"

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc;
  (void)argv;
  fz_iso_init(fuzz_harness_js, fuzz_harness_js_len, "tests/fuzz/cache_http.js");
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  fz_iso_one(data, size);
  return 0;
}
