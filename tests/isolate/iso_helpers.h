/* tests/isolate/iso_helpers.h - small helpers shared by the isolate tests. */
#ifndef ISL_TESTS_ISO_HELPERS_H
#define ISL_TESTS_ISO_HELPERS_H

#include <stdlib.h>
#include <string.h>

#include "isolate/isolate.h"
#include "test.h"

/* Evaluates src as a script; String(result) from malloc, or NULL on error. */
char *test_eval_str(isl_iso_t *iso, const char *src);
/* Evaluates src as a script and drops the result; the isl_iso_eval code. */
int test_run(isl_iso_t *iso, const char *src);

/* Fails the current test unless String(eval(src)) is exactly `want`. */
#define CHECK_EVAL(iso, src, want)                                                                                   \
  do {                                                                                                               \
    char *got_ = test_eval_str((iso), (src));                                                                        \
    int same_ = got_ && strcmp(got_, (want)) == 0;                                                                   \
    if (!same_) test__fail(__FILE__, __LINE__, "eval(%s): \"%s\" != \"%s\"", #src, got_ ? got_ : "(error)", (want)); \
    free(got_);                                                                                                      \
    if (!same_) return;                                                                                              \
  } while (0)

#endif
