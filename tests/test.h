/*
 * test.h - Isolde's tiny test harness. Each test is a function registered
 * in tests/test_list.h; CHECK records a failure with file and line and
 * returns from the test. The runner prints one line per test and closes
 * with "N passed, M failed".
 */
#ifndef ISL_TEST_H
#define ISL_TEST_H

#include <stdio.h>
#include <string.h>

extern int test__failed;
void test__fail(const char *file, int line, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#define CHECK(cond)                                       \
  do {                                                    \
    if (!(cond)) {                                        \
      test__fail(__FILE__, __LINE__, "CHECK(%s)", #cond); \
      return;                                             \
    }                                                     \
  } while (0)

#define CHECK_MSG(cond, ...)                       \
  do {                                             \
    if (!(cond)) {                                 \
      test__fail(__FILE__, __LINE__, __VA_ARGS__); \
      return;                                      \
    }                                              \
  } while (0)

#define CHECK_EQ_INT(a, b)                                                      \
  do {                                                                          \
    long long a_ = (long long)(a), b_ = (long long)(b);                         \
    if (a_ != b_) {                                                             \
      test__fail(__FILE__, __LINE__, "%s == %s: %lld != %lld", #a, #b, a_, b_); \
      return;                                                                   \
    }                                                                           \
  } while (0)

#define CHECK_EQ_STR(a, b)                                                                                          \
  do {                                                                                                              \
    const char *a_ = (a), *b_ = (b);                                                                                \
    if (!a_ || !b_ || strcmp(a_, b_) != 0) {                                                                        \
      test__fail(__FILE__, __LINE__, "%s == %s: \"%s\" != \"%s\"", #a, #b, a_ ? a_ : "(null)", b_ ? b_ : "(null)"); \
      return;                                                                                                       \
    }                                                                                                               \
  } while (0)

/* True when running under AddressSanitizer (set by `make test-asan`). */
int test_under_sanitizer(void);

#define TEST(name) void test_##name(void)

#endif
