/*
 * mksnap.c - isolde-mksnap, the build step that makes the base snapshot.
 *
 *   isolde-mksnap build/gen/prelude.js build/release/isolde.snap
 *
 * Evaluates the bundled JS prelude once in a fresh isolate, with trusted
 * limits, and writes the result to the snapshot file that isolde maps at
 * start (src/runtime/prelude.c). It links the same runtime as isolde, so
 * the host functions the prelude sees are the binary's own. Exits 1 with
 * the reason when the prelude fails.
 */
#include <stdio.h>

#include "runtime/runtime.h"

int main(int argc, char **argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: isolde-mksnap PRELUDE.js OUT.snap\n");
    return 2;
  }
  isl_err_t err = {0};
  if (isl_rt_base_build(argv[1], argv[2], &err) < 0) {
    fprintf(stderr, "isolde-mksnap: %s\n", err.msg[0] ? err.msg : isl_strerror(err.code));
    return 1;
  }
  return 0;
}
