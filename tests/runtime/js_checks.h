/*
 * js_checks.h - how many checks each JS test file in tests/runtime/js runs,
 * in one place for the tests that run them through `isolde run`
 * (test_webapi.c, test_fetch_api.c) and in a served worker
 * (test_api_served.c). A file must end with exactly "ok N": a check that
 * silently stops running, or a new one, shows up as a wrong count.
 */
#ifndef ISL_TESTS_JS_CHECKS_H
#define ISL_TESTS_JS_CHECKS_H

#define JS_CHECKED_FILES(X) \
  X(webapi_encoding, 222)   \
  X(webapi_events, 67)      \
  X(webapi_timers, 11)      \
  X(webapi_clone, 63)       \
  X(webapi_crypto, 86)      \
  X(webapi_url, 50)         \
  X(webapi_headers, 50)     \
  X(webapi_blob, 70)        \
  X(webapi_globals, 108)    \
  X(fetch_streams, 71)      \
  X(fetch_body, 85)         \
  X(fetch_request, 74)      \
  X(fetch_response, 72)     \
  X(cache_api, 74)

enum {
#define JS_CHECKS_ENUM(file, n) JS_CHECKS_##file = n,
  JS_CHECKED_FILES(JS_CHECKS_ENUM)
#undef JS_CHECKS_ENUM
};

/* Run only through `isolde run`: the file needs a fresh isolate. */
enum { JS_CHECKS_webapi_url_idna = 32 };

#endif
