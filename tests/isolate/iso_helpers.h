/* tests/isolate/iso_helpers.h - small helpers shared by the isolate tests. */
#ifndef ISL_TESTS_ISO_HELPERS_H
#define ISL_TESTS_ISO_HELPERS_H

#include "isolate/isolate.h"

/* Evaluates src as a script; String(result) from malloc, or NULL on error. */
char *test_eval_str(isl_iso_t *iso, const char *src);
/* Evaluates src as a script and drops the result; the isl_iso_eval code. */
int test_run(isl_iso_t *iso, const char *src);

#endif
