/*
 * iso_drive.h - one long-lived isolate for the fuzz targets that test the
 * JavaScript side of the runtime (src/runtime/js), one call per input.
 *
 * The isolate is what a worker's request gets: an instance (runtime
 * internal.h) cloned from the base snapshot that the normal build makes
 * (isolde.snap: $ISOLDE_SNAPSHOT, else the FUZZ_SNAPSHOT path compiled in),
 * on a libuv loop of the fuzzer's thread, so that host functions which
 * refuse to run at load time (random values, the Cache API) work. A
 * harness script (tests/fuzz/<name>.js, embedded at build time) runs in it
 * once and leaves `globalThis.__fuzz`, a function of one ArrayBuffer.
 *
 * Each input is one call of __fuzz with the input's bytes, then the
 * promise jobs it queued. The call must return (or resolve to) a string
 * starting with "ok"; each further space-separated word is a fact about
 * what the input exercised ("fast", "host:ipv4", "err:boundary", ...).
 * libFuzzer sees no coverage inside the engine (it is not instrumented), so
 * the facts are hashed into libFuzzer's extra counters: an input that
 * brings a new fact is kept, as one that reaches a new branch would be.
 *
 * Anything else is a finding and aborts with the message: a throw or
 * rejection (the harness catches the errors an input may legitimately
 * cause and rethrows the rest with the prefix "FUZZ:"), a CPU time-out
 * (a hang: ISL_FUZZ_CPU_MS of CPU in one call), the memory cap, a trap.
 */
#ifndef ISL_FUZZ_ISO_DRIVE_H
#define ISL_FUZZ_ISO_DRIVE_H

#include <stddef.h>
#include <stdint.h>

#ifndef ISL_FUZZ_CPU_MS
#define ISL_FUZZ_CPU_MS 5000
#endif

/* Makes the isolate and runs the harness (len bytes of source, named file
 * in stack traces). Aborts on failure. */
void fz_iso_init(const char *harness, size_t len, const char *file);

/* One input: __fuzz(ArrayBuffer of data[0..len)). */
void fz_iso_one(const uint8_t *data, size_t len);

#endif
