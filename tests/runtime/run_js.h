/*
 * run_js.h - runs a JavaScript test file with `isolde run` (the binary in
 * ISOLDE_BIN) as a subprocess, for tests whose logic lives in JS
 * (tests/runtime/js/fetch_*.js and the like). Each such file prints one
 * line per check and "ok N" last, and throws on the first failing check,
 * so `isolde run` exits non-zero (js/lib/assert.js). For stdout and
 * stderr apart, use test_isolde_exec (server_proc.h).
 */
#ifndef ISL_TESTS_RUN_JS_H
#define ISL_TESTS_RUN_JS_H

/* Runs `isolde run js_path` to completion. Returns its exit status (128 +
 * signal if it was killed, -1 if it could not run). *stdout_out, when not
 * NULL, gets what it printed on stdout (owned: free()). What it printed on
 * stderr is echoed to our stdout when the status is not 0, so a failing
 * test shows why. */
int test_run_js(const char *js_path, char **stdout_out);

/* 1 if `out` has a line that is exactly "ok <n>" (the JS files' last line). */
int test_js_ok_count(const char *out, int n);

#endif
