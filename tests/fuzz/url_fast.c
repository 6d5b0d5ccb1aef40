/*
 * url_fast.c - fuzz target: the URL parser's fast path and cache
 * (src/runtime/js/url_fast.js) against whatwg-url's full state machine,
 * inside a real isolate cloned from the base snapshot.
 *
 * Input: UTF-8 bytes of a URL, optionally followed by a NUL and a base
 * URL. Each input is one call into a long-lived isolate
 * (tests/fuzz/common/iso_drive.h), where tests/fuzz/url_fast.js (embedded
 * at build time) reaches the parsers through the `isolde.urlFast` hook, as
 * tests/runtime/js/url_fast.js does, and compares: the full parser's record
 * is the truth; the fast path's record, when it takes the input, and the
 * wrapped basicURLParse's (three calls, each changing the record it got)
 * must be identical; so must the ASCII form-urlencoded parser and
 * percent-encoders against the originals. The cache lives on across
 * inputs, as in a worker, so a record one input changes must never show up
 * in another's.
 *
 * What must hold: no difference, no exception out of the parsers, no hang
 * (5 s of CPU for one input), no trap; ASan and UBSan on the host side.
 */
#include "fuzz/common/fuzz.h"
#include "fuzz/common/iso_drive.h"
#include "url_fast_js.h" /* generated: fuzz_harness_js from tests/fuzz/url_fast.js */

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc;
  (void)argv;
  fz_iso_init(fuzz_harness_js, fuzz_harness_js_len, "tests/fuzz/url_fast.js");
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  fz_iso_one(data, size);
  return 0;
}
