/*
 * err.h - Isolde's error codes.
 *
 * Functions return 0 or a negative code. System errors keep libuv's
 * convention (negative errno); Isolde's own codes sit in a range errno
 * never reaches. One X-macro table gives each code its name and message.
 * Where a person reads the error (script load, config), an optional
 * isl_err_t carries detail next to the code.
 */
#ifndef ISL_COMMON_ERR_H
#define ISL_COMMON_ERR_H

#include <stddef.h>

#define ISL_ERRNO_MAP(X)                               \
  X(EINVAL, -4001, "invalid argument")                 \
  X(ENOMEM, -4002, "host out of memory")               \
  X(EJS, -4003, "JavaScript exception")                \
  X(ETIMEOUT, -4004, "CPU time limit exceeded")        \
  X(EMEMLIMIT, -4005, "memory limit exceeded")         \
  X(ETRAP, -4006, "isolate trapped and was discarded") \
  X(EDEAD, -4007, "isolate is dead")                   \
  X(ESYS, -4008, "system call failed")                 \
  X(ENOTFOUND, -4009, "not found")                     \
  X(ELIMIT, -4010, "limit exceeded")

typedef enum {
#define ISL_ERR_ENUM(name, value, msg) ISL_##name = (value),
  ISL_ERRNO_MAP(ISL_ERR_ENUM)
#undef ISL_ERR_ENUM
} isl_errno_t;

/* Detail for errors a person will read; filled with snprintf. */
typedef struct {
  int code;
  char msg[512];
} isl_err_t;

const char *isl_strerror(int code);
const char *isl_err_name(int code);

/* Sets err (if not NULL) and returns code, so callers can `return isl_err_set(...)`. */
int isl_err_set(isl_err_t *err, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#endif
