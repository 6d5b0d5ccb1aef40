/* tests/isolate/iso_helpers.c - see iso_helpers.h. */
#include "iso_helpers.h"

#include <string.h>

char *test_eval_str(isl_iso_t *iso, const char *src) {
  isl_val_t v;
  if (isl_iso_eval(iso, src, strlen(src), "test.js", ISL_ISO_EVAL_SCRIPT, &v) < 0) return NULL;
  char *s = isl_iso_to_cstring(iso, v);
  isl_iso_release(iso, v);
  return s;
}

int test_run(isl_iso_t *iso, const char *src) {
  isl_val_t v = 0;
  int rc = isl_iso_eval(iso, src, strlen(src), "limits.js", ISL_ISO_EVAL_SCRIPT, &v);
  if (rc == 0) isl_iso_release(iso, v);
  return rc;
}
