/* tests/isolate/test_basics.c - evaluating code and calling the host. */
#include <stdlib.h>

#include "isolate/isolate.h"
#include "iso_helpers.h"
#include "test.h"

TEST(iso_eval_returns_value) {
  isl_iso_t *iso;
  CHECK(isl_iso_new(NULL, &iso, NULL) == 0);
  CHECK_EVAL(iso, "1 + 2", "3");
  CHECK_EVAL(iso, "[1,2,3].map(x => x * 2).join(',') + ' ' + typeof Math.random()", "2,4,6 number");
  isl_iso_free(iso);
}

static int host_concat(isl_iso_t *iso, void *data, int argc, const isl_val_t *argv, isl_val_t *ret) {
  (void)data;
  if (argc != 2) return isl_iso_throw(iso, "TypeError", "concat: want 2 arguments");
  char *a = isl_iso_to_cstring(iso, argv[0]), *b = isl_iso_to_cstring(iso, argv[1]);
  char buf[256];
  snprintf(buf, sizeof(buf), "%s+%s", a, b);
  free(a);
  free(b);
  return isl_iso_new_string(iso, buf, ret);
}

TEST(iso_host_function_round_trip) {
  isl_iso_t *iso;
  CHECK(isl_iso_new(NULL, &iso, NULL) == 0);
  CHECK(isl_iso_define_function(iso, 0, "concat", host_concat, NULL) == 0);
  CHECK_EVAL(iso, "concat('a', 42)", "a+42");
  CHECK_EVAL(iso, "try { concat(1) } catch (e) { e instanceof TypeError ? 'caught ' + e.message : 'wrong' }",
             "caught concat: want 2 arguments");
  isl_iso_free(iso);
}

static char *load_lib(isl_iso_t *iso, void *data, const char *name) {
  (void)iso, (void)data;
  if (strcmp(name, "lib.js") == 0) return strdup("export function twice(x) { return x * 2; }");
  return NULL;
}

TEST(iso_module_loader_imports_and_reports_missing) {
  isl_iso_t *iso;
  CHECK(isl_iso_new(NULL, &iso, NULL) == 0);
  isl_iso_set_module_loader(iso, load_lib, NULL);
  const char *src = "import { twice } from './lib.js'; export const v = twice(21);";
  isl_val_t ns;
  CHECK(isl_iso_eval(iso, src, strlen(src), "main.js", ISL_ISO_EVAL_MODULE, &ns) == 0);
  isl_iso_run_jobs(iso, NULL);
  isl_val_t v;
  CHECK(isl_iso_get(iso, ns, "v", &v) == 0);
  CHECK(isl_iso_to_number(iso, v) == 42);
  isl_iso_release(iso, v);
  isl_iso_release(iso, ns);
  src = "import { x } from './missing.js';";
  CHECK_EQ_INT(isl_iso_eval(iso, src, strlen(src), "main2.js", ISL_ISO_EVAL_MODULE, NULL), ISL_EJS);
  CHECK_EQ_STR(isl_iso_last_error(iso)->name, "ReferenceError");
  CHECK(strstr(isl_iso_last_error(iso)->message, "missing.js") != NULL);
  isl_iso_free(iso);
}
