/*
 * run_js.c - see run_js.h. The run itself is test_isolde_exec
 * (server_proc.c), the one place the tests fork isolde.
 */
#include "runtime/run_js.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/server_proc.h"

int test_run_js(const char *js_path, char **stdout_out) {
  const char *args[] = {"run", js_path, NULL};
  test_isolde_result_t r;
  int status = test_isolde_exec(args, &r);
  if (status != 0) printf("  `isolde run %s` exited with %d; stderr:\n%s\n", js_path, status, r.err);
  if (stdout_out) {
    *stdout_out = r.out;
    r.out = NULL;
  }
  test_isolde_result_free(&r);
  return status;
}

/* 1 if text has a line that is exactly line. */
static int has_line(const char *text, const char *line) {
  size_t n = strlen(line);
  for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
    if (strncmp(p, line, n) == 0 && (p[n] == '\n' || p[n] == 0)) return 1;
  }
  return 0;
}

int test_js_ok_count(const char *out, int n) {
  char want[32];
  snprintf(want, sizeof(want), "ok %d", n);
  return has_line(out, want);
}
