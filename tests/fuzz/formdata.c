/*
 * formdata.c - fuzz target: multipart/form-data (and urlencoded) bodies,
 * parsed and serialised by src/runtime/js/formdata.js inside a real
 * isolate cloned from the base snapshot.
 *
 * Input: a Content-Type line and a body, which tests/fuzz/formdata.js
 * (embedded at build time) reads with Response.formData(); the same bytes
 * are also taken as a list of entries to serialise. Each input is one call
 * into a long-lived isolate (tests/fuzz/common/iso_drive.h).
 *
 * What must hold: a body either parses or fails with a TypeError (no other
 * exception, no hang: 5 s of CPU for one input, no trap); what parses, and
 * any list of entries, survives serialising and parsing again as the
 * HTML and Fetch specifications say it does; ASan and UBSan on the host.
 */
#include "formdata_js.h" /* generated: fuzz_harness_js from tests/fuzz/formdata.js */
#include "fuzz/common/fuzz.h"
#include "fuzz/common/iso_drive.h"

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc;
  (void)argv;
  fz_iso_init(fuzz_harness_js, fuzz_harness_js_len, "tests/fuzz/formdata.js");
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  fz_iso_one(data, size);
  return 0;
}
