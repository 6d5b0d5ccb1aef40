/*
 * err.c - names and messages for Isolde's error codes, from the one table
 * in err.h; negative errno values fall through to strerror.
 */
#include "common/err.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

const char *isl_strerror(int code) {
  switch (code) {
#define ISL_ERR_MSG(name, value, msg) \
  case value:                         \
    return msg;
    ISL_ERRNO_MAP(ISL_ERR_MSG)
#undef ISL_ERR_MSG
    case 0:
      return "success";
    default:
      return code < 0 && code > -4000 ? strerror(-code) : "unknown error";
  }
}

const char *isl_err_name(int code) {
  switch (code) {
#define ISL_ERR_NAME(name, value, msg) \
  case value:                          \
    return #name;
    ISL_ERRNO_MAP(ISL_ERR_NAME)
#undef ISL_ERR_NAME
    case 0:
      return "OK";
    default:
      return "ESYSTEM";
  }
}

int isl_err_set(isl_err_t *err, int code, const char *fmt, ...) {
  if (err) {
    va_list ap;
    va_start(ap, fmt);
    err->code = code;
    vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
    va_end(ap);
  }
  return code;
}
