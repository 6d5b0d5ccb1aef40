/*
 * tests/isolate/test_bulk.c - bulk data in place (isolate.h): strings and
 * ArrayBuffers written by the host straight into linear memory, and an
 * ArrayBuffer's bytes and a string's UTF-8 form read there. Host functions
 * built on them are called from JS, which checks every character.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "isolate/isolate.h"
#include "iso_helpers.h"
#include "test.h"

/* The code unit at i of the test strings: every value 0..0xFFFF turns up
 * (NUL, lone surrogates, U+FEFF...) when n is large. */
static uint32_t unit_at(size_t i, int wide) {
  uint32_t u = (uint32_t)(i * 40503u + (i >> 16));
  return wide ? u & 0xffff : u & 0xff;
}

typedef struct {
  int wide;
  int fail;
} fill_arg_t;

static int fill_units(uint8_t *dst, size_t n, void *arg) {
  const fill_arg_t *a = arg;
  if (a->fail) return ISL_EINVAL;
  for (size_t i = 0; i < n; i++) {
    uint32_t u = unit_at(i, a->wide);
    if (a->wide) {
      dst[2 * i] = (uint8_t)u;
      dst[2 * i + 1] = (uint8_t)(u >> 8);
    } else {
      dst[i] = (uint8_t)u;
    }
  }
  return 0;
}

/* mkstr(n, wide) */
static int host_mkstr(isl_iso_t *iso, void *data, int argc, const isl_val_t *argv, isl_val_t *ret) {
  (void)data, (void)argc;
  fill_arg_t a = {.wide = (int)isl_iso_to_number(iso, argv[1])};
  return isl_iso_new_string_fill(iso, (size_t)isl_iso_to_number(iso, argv[0]), a.wide, fill_units, &a, ret);
}

static int fill_bytes(uint8_t *dst, size_t n, void *arg) {
  (void)arg;
  for (size_t i = 0; i < n; i++) dst[i] = (uint8_t)unit_at(i, 0);
  return 0;
}

/* mkbuf(n) */
static int host_mkbuf(isl_iso_t *iso, void *data, int argc, const isl_val_t *argv, isl_val_t *ret) {
  (void)data, (void)argc;
  return isl_iso_new_array_buffer_fill(iso, (size_t)isl_iso_to_number(iso, argv[0]), fill_bytes, NULL, ret);
}

typedef struct {
  isl_iso_t *iso;
  isl_val_t *ret;
} out_arg_t;

/* The bytes as "n:hex" (hex of the first 64 bytes), as a new string. */
static int bytes_to_string(const uint8_t *b, size_t n, void *arg) {
  out_arg_t *o = arg;
  char buf[256];
  int k = snprintf(buf, sizeof(buf), "%zu:", n);
  for (size_t i = 0; i < n && i < 64; i++) k += snprintf(buf + k, sizeof(buf) - (size_t)k, "%02x", b[i]);
  return isl_iso_new_string(o->iso, buf, o->ret);
}

/* readbuf(ab) */
static int host_readbuf(isl_iso_t *iso, void *data, int argc, const isl_val_t *argv, isl_val_t *ret) {
  (void)data, (void)argc;
  out_arg_t o = {iso, ret};
  int rc = isl_iso_array_buffer_read(iso, argv[0], bytes_to_string, &o);
  return rc == ISL_EINVAL ? isl_iso_throw(iso, "TypeError", "not an ArrayBuffer") : rc;
}

/* utf8(s, units) */
static int host_utf8(isl_iso_t *iso, void *data, int argc, const isl_val_t *argv, isl_val_t *ret) {
  (void)data, (void)argc;
  out_arg_t o = {iso, ret};
  int rc = isl_iso_string_utf8_read(iso, argv[0], (size_t)isl_iso_to_number(iso, argv[1]), bytes_to_string, &o);
  return rc == ISL_EINVAL ? isl_iso_throw(iso, "TypeError", "length mismatch") : rc;
}

static int host_fail(isl_iso_t *iso, void *data, int argc, const isl_val_t *argv, isl_val_t *ret) {
  (void)data, (void)argc, (void)argv;
  fill_arg_t a = {.wide = 1, .fail = 1};
  int rc = isl_iso_new_string_fill(iso, 10, 1, fill_units, &a, ret);
  if (rc != ISL_EINVAL) return isl_iso_throw(iso, "Error", "a failing fill was not reported");
  if (isl_iso_new_array_buffer_fill(iso, 10, fill_units, &a, ret) != ISL_EINVAL)
    return isl_iso_throw(iso, "Error", "a failing buffer fill was not reported");
  if (isl_iso_new_string_fill(iso, (size_t)1 << 30, 0, fill_units, &a, ret) != ISL_EINVAL)
    return isl_iso_throw(iso, "Error", "a string of 2^30 was not refused");
  return isl_iso_new_string(iso, "refused", ret);
}

static isl_iso_t *bulk_iso(void) {
  isl_iso_limits_t l = {.memory_max_mb = 256, .cpu_ms = 20000};
  isl_iso_t *iso = NULL;
  if (isl_iso_new(&l, &iso, NULL) < 0) return NULL;
  if (isl_iso_define_function(iso, 0, "mkstr", host_mkstr, NULL) < 0 ||
      isl_iso_define_function(iso, 0, "mkbuf", host_mkbuf, NULL) < 0 ||
      isl_iso_define_function(iso, 0, "readbuf", host_readbuf, NULL) < 0 ||
      isl_iso_define_function(iso, 0, "utf8", host_utf8, NULL) < 0 ||
      isl_iso_define_function(iso, 0, "failing", host_fail, NULL) < 0) {
    isl_iso_free(iso);
    return NULL;
  }
  return iso;
}

/* JS's own copy of unit_at. */
static const char unit_js[] =
    "function unitAt(i, wide) { const u = (Math.imul(i, 40503) >>> 0) + Math.floor(i / 65536);"
    " return wide ? u & 0xffff : u & 0xff; }\n"
    "function checkStr(n, wide) { const s = mkstr(n, wide); if (s.length !== n) return 'length ' + s.length;"
    " for (let i = 0; i < n; i++) if (s.charCodeAt(i) !== unitAt(i, wide)) return 'unit ' + i; return 'ok'; }\n";

TEST(iso_bulk_strings_written_in_place_hold_every_code_unit) {
  isl_iso_t *iso = bulk_iso();
  CHECK(iso != NULL);
  CHECK(test_run(iso, unit_js) == 0);
  /* Lengths around the LEB128 steps of the length field (n << 1 | wide). */
  CHECK_EVAL(iso, "[0, 1, 2, 63, 64, 65, 8191, 8192, 100000].map(n => checkStr(n, 0) + '/' + checkStr(n, 1)).join(' ')",
             "ok/ok ok/ok ok/ok ok/ok ok/ok ok/ok ok/ok ok/ok ok/ok");
  /* A wide string of 3 Mi units holds NULs and lone surrogates as they are. */
  CHECK_EVAL(iso, "checkStr(3 << 20, 1)", "ok");
  CHECK_EVAL(iso, "const s = mkstr(70000, 1); [s.includes('\\0'), /[\\ud800-\\udfff]/.test(s), typeof s].join()",
             "true,true,string");
  /* A narrow string is a real Latin-1 string: it compares and concatenates. */
  CHECK_EVAL(iso, "const t = mkstr(3, 0); [t === '\\x007n', (t + 'x').length].join()", "true,4");
  CHECK_EVAL(iso, "failing()", "refused");
  isl_iso_free(iso);
}

TEST(iso_bulk_buffers_are_read_and_written_in_place) {
  isl_iso_t *iso = bulk_iso();
  CHECK(iso != NULL);
  CHECK(test_run(iso, unit_js) == 0);
  CHECK_EVAL(iso,
             "const b = new Uint8Array(mkbuf(100000)); let bad = -1;"
             " for (let i = 0; i < b.length; i++) if (b[i] !== unitAt(i, 0)) { bad = i; break; } bad",
             "-1");
  CHECK_EVAL(iso, "new Uint8Array(mkbuf(0)).length", "0");
  CHECK_EVAL(iso, "readbuf(new Uint8Array([1, 2, 255, 0, 7]).buffer)", "5:0102ff0007");
  CHECK_EVAL(iso, "readbuf(new ArrayBuffer(0))", "0:");
  CHECK_EVAL(iso, "readbuf(mkbuf(1 << 20)).slice(0, 12)", "1048576:0037");
  CHECK_EVAL(iso, "try { readbuf({}) } catch (e) { e.message }", "not an ArrayBuffer");
  CHECK_EVAL(iso, "try { readbuf('abc') } catch (e) { e.message }", "not an ArrayBuffer");
  isl_iso_free(iso);
}

TEST(iso_bulk_string_utf8_form_is_found_by_its_length) {
  isl_iso_t *iso = bulk_iso();
  CHECK(iso != NULL);
  CHECK_EVAL(iso, "utf8('a\\0b', 3)", "3:610062");
  CHECK_EVAL(iso, "utf8('', 0)", "0:");
  /* A pair is one 4-byte character; a lone surrogate keeps 3 bytes (WTF-8). */
  CHECK_EVAL(iso, "utf8('\\ud83d\\ude00\\ud800', 3)", "7:f09f9880eda080");
  CHECK_EVAL(iso, "utf8('\\u00e9\\u20ac', 2)", "5:c3a9e282ac");
  CHECK_EVAL(iso, "utf8('x'.repeat(100) + '\\0', 101).slice(0, 8)", "101:7878");
  /* A length that the bytes show to be wrong is refused. */
  CHECK_EVAL(iso, "try { utf8('abc', 2) } catch (e) { e.message }", "length mismatch");
  CHECK_EVAL(iso, "try { utf8('a\u00e9c', 4) } catch (e) { e.message }", "length mismatch");
  CHECK_EVAL(iso, "try { utf8('\\ud83d\\ude00', 1) } catch (e) { e.message }", "length mismatch");
  isl_iso_free(iso);
}
