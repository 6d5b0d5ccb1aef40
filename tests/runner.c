/*
 * runner.c - runs every test in tests/test_list.h, or those whose names
 * contain one of the command-line arguments.
 */
#include <stdarg.h>
#include <stdlib.h>
#include <time.h>

#include "test.h"

#define X(name) void test_##name(void);
#include "test_list.h"
#undef X

static const struct {
  const char *name;
  void (*fn)(void);
} tests[] = {
#define X(name) {#name, test_##name},
#include "test_list.h"
#undef X
};

int test__failed;

void test__fail(const char *file, int line, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fprintf(stdout, "  %s:%d: ", file, line);
  vfprintf(stdout, fmt, ap);
  fprintf(stdout, "\n");
  va_end(ap);
  test__failed = 1;
}

int test_under_sanitizer(void) {
  return getenv("ISOLDE_SANITIZER") != NULL;
}

static int selected(const char *name, int argc, char **argv) {
  if (argc < 2) return 1;
  for (int i = 1; i < argc; i++)
    if (strstr(name, argv[i])) return 1;
  return 0;
}

int main(int argc, char **argv) {
  setvbuf(stdout, NULL, _IOLBF, 0);
  int passed = 0, failed = 0;
  for (size_t i = 0; i < sizeof(tests) / sizeof(tests[0]); i++) {
    if (!selected(tests[i].name, argc, argv)) continue;
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    test__failed = 0;
    tests[i].fn();
    clock_gettime(CLOCK_MONOTONIC, &b);
    double ms = (double)(b.tv_sec - a.tv_sec) * 1e3 + (double)(b.tv_nsec - a.tv_nsec) / 1e6;
    printf("%s %s (%.0f ms)\n", test__failed ? "FAIL" : "ok  ", tests[i].name, ms);
    if (test__failed) {
      failed++;
    } else {
      passed++;
    }
  }
  printf("%d passed, %d failed\n", passed, failed);
  return failed ? 1 : 0;
}
