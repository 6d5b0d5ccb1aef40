/*
 * api.h - the contract of src/api: the host side of the Web API.
 *
 * The Web API that tenants see is JavaScript (the prelude, src/runtime/js);
 * where the work is better done in C, the prelude calls host functions on
 * the host object it is given at build time (src/runtime/js/host.js lists
 * them). src/api holds those host functions, one file per API, each
 * exporting a table that src/runtime/prelude.c joins with the runtime's
 * own (a function's name is its key in the base snapshot, so names must be
 * unique across all tables).
 *
 * What it owns: conversions and data structures of the Web API that need
 * no event loop, no request and no tenant state (encoding.c: UTF-8;
 * bytestring.c: header bytes, which src/runtime calls directly).
 * What it does not do: instances, scheduling, I/O (src/runtime), HTTP
 * (src/http). It includes src/isolate and src/common, never src/runtime.
 *
 * Threads: every function here works on the isolate it is given and keeps
 * no other state, so any number of threads may call them at once.
 */
#ifndef ISL_API_H
#define ISL_API_H

#include <stddef.h>
#include <stdint.h>

#include "isolate/isolate.h"

/* A host function the prelude calls, by the name it has on the host object.
 * Each file's table ends with {NULL, NULL}. */
typedef struct {
  const char *name;
  isl_iso_host_fn fn;
} isl_api_host_fn_t;

/*
 * encoding.c: UTF-8 for TextEncoder, TextDecoder and bodies, with the
 * WHATWG Encoding standard's semantics, converted in the host:
 *
 *   utf8Decode(buffer, offset, length, flags, state) -> string | {text, state} | undefined
 *       decodes `length` bytes of ArrayBuffer `buffer` from `offset`.
 *       flags: ISL_API_UTF8_FATAL (undefined on the first error, which
 *       the caller throws as a TypeError; else each maximal ill-formed
 *       subsequence becomes one U+FFFD), ISL_API_UTF8_STREAM (a character
 *       cut at the end is kept for the next call; without it the input
 *       ends there), ISL_API_UTF8_STRIP_BOM (a leading U+FEFF is dropped).
 *       state: 0, or the state of the previous call of the same stream.
 *       With ISL_API_UTF8_STREAM the result is {text, state}: state packs
 *       the kept bytes (ISL_API_UTF8_PENDING bits: their count; byte i in
 *       bits 8+8i..15+8i) and ISL_API_UTF8_PRODUCED (a character came out
 *       of this call, before the BOM was dropped).
 *   utf8Encode(string, units) -> ArrayBuffer
 *       the UTF-8 bytes of a string of `units` UTF-16 code units (its
 *       length); each lone surrogate becomes U+FFFD (EF BF BD).
 *   utf8EncodeInto(string, units, capacity) -> {read, bytes}
 *       as utf8Encode, cut before the first character that would not fit
 *       in `capacity` bytes: `read` code units were encoded into the
 *       ArrayBuffer `bytes` (TextEncoder.encodeInto's read and written).
 */
enum {
  ISL_API_UTF8_FATAL = 1,
  ISL_API_UTF8_STREAM = 2,
  ISL_API_UTF8_STRIP_BOM = 4,
};
enum {
  ISL_API_UTF8_PENDING = 3,
  ISL_API_UTF8_PRODUCED = 4,
};
extern const isl_api_host_fn_t isl_api_encoding_fns[];
/* The string of n bytes of UTF-8 (a body's text()): a leading BOM dropped,
 * each maximal ill-formed subsequence one U+FFFD. ISL_ELIMIT when longer
 * than the engine's strings. */
int isl_api_utf8_new_string(isl_iso_t *iso, const uint8_t *bytes, size_t n, isl_val_t *out);

/*
 * headers.c: the Fetch rules for header names and values, checked on bytes:
 *
 *   headerCheck(name, nameUnits, value, valueUnits) -> code
 *       name and value are strings of nameUnits and valueUnits UTF-16
 *       code units (their lengths); value may be undefined (a name-only
 *       check: get, has, delete). The code is the first rule broken, in
 *       the order Headers.append checks them: 0 none,
 *       ISL_API_HEADER_WIDE_NAME / _WIDE_VALUE (a code point above U+00FF:
 *       not a ByteString), ISL_API_HEADER_BAD_NAME (not an RFC 9110
 *       token), ISL_API_HEADER_BAD_VALUE (NUL, CR or LF once the value's
 *       leading and trailing HTTP whitespace is cut, as Headers stores it),
 *       plus ISL_API_HEADER_UPPER when the name has an upper-case ASCII
 *       letter (so the caller lower-cases only names that need it).
 */
enum {
  ISL_API_HEADER_WIDE_NAME = 1,
  ISL_API_HEADER_WIDE_VALUE = 2,
  ISL_API_HEADER_BAD_NAME = 3,
  ISL_API_HEADER_BAD_VALUE = 4,
  ISL_API_HEADER_UPPER = 16,
};
/*
 *   headerRecord(text, units, count, contentType) -> host text | 0
 *       a plain record's whole header list (Response's init.headers) in
 *       one call: text is its count names and values as lines joined
 *       with "\n" (name, value, name, value; units its length). When every
 *       name is a token, every value a byte string with no NUL or CR and
 *       no LF (so the text has exactly 2 * count lines), no name comes
 *       twice (in any case) and count <= 64, the result is the host's
 *       header text: "name: value\n" lines, names lower-cased and sorted,
 *       values cut of surrounding spaces and tabs, plus a Content-Type
 *       line for contentType (ISL_API_RECORD_TEXT_PLAIN / _JSON; 0 none)
 *       when no name is content-type. Else 0: the caller checks the
 *       entries one by one (headerCheck), which finds the exact error.
 */
enum {
  ISL_API_RECORD_TEXT_PLAIN = 1,
  ISL_API_RECORD_JSON = 2,
};
extern const isl_api_host_fn_t isl_api_headers_fns[];

/*
 * bytestring.c: Fetch's byte strings (header names and values, reason
 * phrases), the one codec between their bytes (the wire, the cache's
 * store) and the engine's UTF-8 text of code points U+0000..U+00FF (what
 * isl_iso_new_string takes and isl_iso_to_cstring gives). Each byte is the
 * code point of the same value, in every direction: a client's request,
 * a worker's response, a subrequest, an origin's response, the cache.
 *
 *   isl_api_bytes_to_utf8(dst, src, n) -> bytes written to dst
 *       each of the n bytes of src as its code point in UTF-8 (below 0x80
 *       as is, else two bytes): dst must hold 2 * n bytes (no NUL added).
 *   isl_api_utf8_to_bytes(dst, src, n, &len) -> 0 or ISL_EINVAL
 *       the reverse for n bytes of text; dst may be src (converts in
 *       place; it never writes ahead of what it has read) and *len is the
 *       number of bytes written. A code point above U+00FF (Headers
 *       already refuses those) or bytes that are not UTF-8 are not a byte
 *       string: ISL_EINVAL, with *len the offset of that sequence in src.
 *   isl_api_cstring_to_bytes(s) -> 0 or ISL_EINVAL
 *       isl_api_utf8_to_bytes in place on the NUL-terminated s (from
 *       isl_iso_to_cstring), which stays NUL-terminated; on ISL_EINVAL s
 *       is left empty, so nothing of a refused text is used by mistake.
 */
size_t isl_api_bytes_to_utf8(char *dst, const char *src, size_t n);
/*
 *   isl_api_is_tchar(c) -> 1 when byte c is an RFC 9110 tchar
 *   isl_api_is_token(s, n) -> 1 when s[0..n) is an RFC 9110 token (n > 0)
 *   isl_api_header_line(dst, name, name_len, value, value_len) -> bytes
 *       one header as a line of the host's header text, the form JS takes
 *       without checking it again (headers.js entriesFromHost): the name
 *       lower-cased, ": ", the value cut of surrounding HTTP whitespace
 *       as a byte string (isl_api_bytes_to_utf8), "\n"; 0 (nothing
 *       written) when the name is not a token or the value has a NUL, CR
 *       or LF: such a header is left out, as Headers would refuse it. dst
 *       must hold name_len + 2 * value_len + 3 bytes. For every direction
 *       that hands headers to JS: a client's request, an origin's response.
 */
int isl_api_is_tchar(unsigned char c);
int isl_api_is_token(const char *s, size_t n);
size_t isl_api_header_line(char *dst, const char *name, size_t name_len, const char *value, size_t value_len);
int isl_api_utf8_to_bytes(char *dst, const char *src, size_t n, size_t *len);
int isl_api_cstring_to_bytes(char *s);

#endif
