/*
 * encoding.c - UTF-8 in the host, for TextEncoder, TextDecoder and the
 * body readers (src/runtime/js/encoding.js calls these; see api.h).
 *
 * Decoding is the WHATWG Encoding standard's UTF-8 decoder, byte for byte:
 * the same state machine (need, seen, lower and upper bounds), so every
 * maximal ill-formed subsequence becomes exactly one U+FFFD and a byte
 * that breaks a sequence starts over. Complete 2-, 3- and 4-byte sequences
 * and runs of ASCII take shortcuts that give the same result. It runs
 * twice over the input: once to count the UTF-16 code units and find
 * whether they all fit in Latin-1 (the engine's narrow strings), once to
 * write them straight into the new string's buffer in the isolate's memory
 * (isl_iso_new_string_fill). A stream's cut character travels as up to 3
 * bytes packed in a number that the caller keeps.
 *
 * Encoding takes the engine's own UTF-8 form of the string
 * (isl_iso_string_utf8_read), copies it into the new ArrayBuffer and turns
 * each lone surrogate (ED A0..BF xx, which is exactly 3 bytes, as U+FFFD's
 * EF BF BD is) into U+FFFD in place: the length never changes.
 */
#include <math.h>
#include <string.h>

#include "api/api.h"

/* ---- decoding ---------------------------------------------------------------- */

typedef struct {
  uint32_t cp;
  uint8_t need, seen, lower, upper;
  uint8_t buf[4], nbuf; /* the bytes of the unfinished sequence */
} dec_t;

static inline void dec_reset(dec_t *d) {
  d->cp = 0;
  d->need = d->seen = d->nbuf = 0;
  d->lower = 0x80;
  d->upper = 0xbf;
}

enum { SINK_COUNT, SINK_LATIN1, SINK_UTF16 };

typedef struct {
  uint8_t *out;  /* SINK_LATIN1: a byte per unit; SINK_UTF16: 2 bytes, low first */
  size_t n;      /* code units so far */
  uint32_t high; /* OR of every code point: above 0xFF means a wide string */
  int strip_bom; /* the first code point is dropped if it is U+FEFF */
  int produced;  /* a code point came out (BOM or not) */
} sink_t;

#define INLINE static inline __attribute__((always_inline))

INLINE void put16(uint8_t *out, size_t i, uint32_t u) {
  out[2 * i] = (uint8_t)u;
  out[2 * i + 1] = (uint8_t)(u >> 8);
}

INLINE void put(sink_t *k, int mode, uint32_t cp) {
  if (!k->produced) {
    k->produced = 1;
    if (k->strip_bom && cp == 0xfeff) return;
  }
  if (mode == SINK_COUNT) {
    k->high |= cp;
    k->n += cp >= 0x10000 ? 2 : 1;
  } else if (mode == SINK_LATIN1) {
    k->out[k->n++] = (uint8_t)cp;
  } else if (cp < 0x10000) {
    put16(k->out, k->n++, cp);
  } else {
    put16(k->out, k->n++, 0xd800 + ((cp - 0x10000) >> 10));
    put16(k->out, k->n++, 0xdc00 + ((cp - 0x10000) & 0x3ff));
  }
}

INLINE void put_ascii(sink_t *k, int mode, const uint8_t *s, size_t len) {
  k->produced = 1; /* ASCII is never a BOM */
  if (mode == SINK_LATIN1) {
    memcpy(k->out + k->n, s, len);
  } else if (mode == SINK_UTF16) {
    for (size_t i = 0; i < len; i++) put16(k->out, k->n + i, s[i]);
  }
  k->n += len;
}

INLINE int is_cont(uint8_t b) {
  return (b & 0xc0) == 0x80;
}

/* Feeds len bytes to the decoder; -1 on the first error when fatal. */
INLINE int feed(dec_t *d, const uint8_t *in, size_t len, int fatal, sink_t *k, int mode) {
  size_t i = 0;
  while (i < len) {
    if (d->need == 0) {
      uint8_t b = in[i];
      if (b < 0x80) {
        size_t j = i + 1;
        while (j + 8 <= len) {
          uint64_t w;
          memcpy(&w, in + j, 8);
          if (w & 0x8080808080808080ull) break;
          j += 8;
        }
        while (j < len && in[j] < 0x80) j++;
        put_ascii(k, mode, in + i, j - i);
        i = j;
        continue;
      }
      i++;
      uint8_t lo = 0x80, hi = 0xbf;
      /* A complete, valid sequence is decoded at once; anything else goes
       * through the state machine one byte at a time. */
      if (b >= 0xc2 && b <= 0xdf) {
        if (i < len && is_cont(in[i])) {
          put(k, mode, (uint32_t)(b & 0x1f) << 6 | (in[i] & 0x3f));
          i += 1;
          continue;
        }
        d->need = 1;
        d->cp = b & 0x1f;
      } else if (b >= 0xe0 && b <= 0xef) {
        if (b == 0xe0) lo = 0xa0;
        if (b == 0xed) hi = 0x9f;
        if (i + 1 < len && in[i] >= lo && in[i] <= hi && is_cont(in[i + 1])) {
          put(k, mode, (uint32_t)(b & 0xf) << 12 | (uint32_t)(in[i] & 0x3f) << 6 | (in[i + 1] & 0x3f));
          i += 2;
          continue;
        }
        d->need = 2;
        d->cp = b & 0xf;
      } else if (b >= 0xf0 && b <= 0xf4) {
        if (b == 0xf0) lo = 0x90;
        if (b == 0xf4) hi = 0x8f;
        if (i + 2 < len && in[i] >= lo && in[i] <= hi && is_cont(in[i + 1]) && is_cont(in[i + 2])) {
          put(k, mode,
              (uint32_t)(b & 0x7) << 18 | (uint32_t)(in[i] & 0x3f) << 12 | (uint32_t)(in[i + 1] & 0x3f) << 6 |
                  (in[i + 2] & 0x3f));
          i += 3;
          continue;
        }
        d->need = 3;
        d->cp = b & 0x7;
      } else {
        if (fatal) return -1;
        put(k, mode, 0xfffd);
        continue;
      }
      d->lower = lo;
      d->upper = hi;
      d->seen = 0;
      d->buf[0] = b;
      d->nbuf = 1;
      continue;
    }
    uint8_t b = in[i];
    if (b < d->lower || b > d->upper) {
      dec_reset(d);
      if (fatal) return -1;
      put(k, mode, 0xfffd);
      continue; /* b starts over */
    }
    i++;
    d->lower = 0x80;
    d->upper = 0xbf;
    d->cp = d->cp << 6 | (b & 0x3f);
    if (++d->seen == d->need) {
      uint32_t cp = d->cp;
      dec_reset(d);
      put(k, mode, cp);
    } else {
      d->buf[d->nbuf++] = b;
    }
  }
  return 0;
}

/* Decodes the kept bytes of a stream, then the input; -1 when fatal and
 * the input is ill-formed. d is left with the unfinished sequence. */
INLINE int decode(const uint8_t *pend, size_t np, const uint8_t *in, size_t n, int flush, int fatal, sink_t *k,
                  int mode, dec_t *d) {
  dec_reset(d);
  if (np && feed(d, pend, np, fatal, k, mode) < 0) return -1;
  if (feed(d, in, n, fatal, k, mode) < 0) return -1;
  if (flush && d->need) {
    dec_reset(d);
    if (fatal) return -1;
    put(k, mode, 0xfffd);
  }
  return 0;
}

static int decode_count(const uint8_t *pend, size_t np, const uint8_t *in, size_t n, int flush, int fatal, sink_t *k,
                        dec_t *d) {
  return decode(pend, np, in, n, flush, fatal, k, SINK_COUNT, d);
}

static void decode_latin1(const uint8_t *pend, size_t np, const uint8_t *in, size_t n, int flush, sink_t *k) {
  dec_t d;
  decode(pend, np, in, n, flush, 0, k, SINK_LATIN1, &d);
}

static void decode_utf16(const uint8_t *pend, size_t np, const uint8_t *in, size_t n, int flush, sink_t *k) {
  dec_t d;
  decode(pend, np, in, n, flush, 0, k, SINK_UTF16, &d);
}

typedef struct {
  isl_iso_t *iso;
  double offset, length;
  unsigned flags;
  uint32_t state;
  isl_val_t *ret;
  /* set by decode_buffer */
  const uint8_t *in;
  size_t n, np, units;
  uint8_t pend[3];
  int wide;
} decode_call_t;

static int fill_string(uint8_t *dst, size_t units, void *arg) {
  decode_call_t *c = arg;
  sink_t k = {.out = dst, .strip_bom = (c->flags & ISL_API_UTF8_STRIP_BOM) != 0};
  int flush = !(c->flags & ISL_API_UTF8_STREAM);
  if (c->wide)
    decode_utf16(c->pend, c->np, c->in, c->n, flush, &k);
  else
    decode_latin1(c->pend, c->np, c->in, c->n, flush, &k);
  return k.n == units ? 0 : ISL_EINVAL; /* the two passes cannot differ */
}

static int stream_result(isl_iso_t *iso, isl_val_t text, uint32_t state, isl_val_t *ret) {
  isl_val_t obj = 0, num = 0;
  int rc = isl_iso_new_object(iso, &obj);
  if (rc == 0) rc = isl_iso_set(iso, obj, "text", text);
  if (rc == 0) rc = isl_iso_new_number(iso, state, &num);
  if (rc == 0) rc = isl_iso_set(iso, obj, "state", num);
  isl_iso_release(iso, num);
  if (rc < 0) {
    isl_iso_release(iso, obj);
    return rc;
  }
  *ret = obj;
  return 0;
}

static int decode_buffer(const uint8_t *bytes, size_t size, void *arg) {
  decode_call_t *c = arg;
  if (c->offset > (double)size || c->length > (double)size - c->offset) return ISL_EINVAL;
  c->in = bytes + (size_t)c->offset;
  c->n = (size_t)c->length;
  c->np = c->state & ISL_API_UTF8_PENDING;
  for (size_t i = 0; i < c->np; i++) c->pend[i] = (uint8_t)(c->state >> (8 + 8 * i));
  int flush = !(c->flags & ISL_API_UTF8_STREAM), fatal = (c->flags & ISL_API_UTF8_FATAL) != 0;
  sink_t k = {.strip_bom = (c->flags & ISL_API_UTF8_STRIP_BOM) != 0};
  dec_t d;
  if (decode_count(c->pend, c->np, c->in, c->n, flush, fatal, &k, &d) < 0) return 0; /* undefined: not UTF-8 */
  c->units = k.n;
  c->wide = k.high > 0xff;
  if (c->units >= (1u << 30)) return ISL_ELIMIT; /* longer than the engine's strings */
  isl_val_t text = 0;
  int rc = isl_iso_new_string_fill(c->iso, c->units, c->wide, fill_string, c, &text);
  if (rc < 0 || flush) {
    *c->ret = text;
    return rc;
  }
  uint32_t state = d.nbuf | (k.produced ? ISL_API_UTF8_PRODUCED : 0);
  for (int i = 0; i < d.nbuf; i++) state |= (uint32_t)d.buf[i] << (8 + 8 * i);
  rc = stream_result(c->iso, text, state, c->ret);
  isl_iso_release(c->iso, text);
  return rc;
}

int isl_api_utf8_new_string(isl_iso_t *iso, const uint8_t *bytes, size_t n, isl_val_t *out) {
  decode_call_t c = {.iso = iso, .length = (double)n, .flags = ISL_API_UTF8_STRIP_BOM, .ret = out};
  *out = 0;
  return decode_buffer(bytes, n, &c);
}

/* A whole number in [0, max] from argument v, else -1. */
static double arg_count(isl_iso_t *iso, isl_val_t v, double max) {
  double d = isl_iso_to_number(iso, v);
  return isfinite(d) && d >= 0 && d <= max && d == floor(d) ? d : -1;
}

/* Turns a failure of the engine into an exception JS can catch and read. */
static int fail(isl_iso_t *iso, int rc, const char *what) {
  if (rc == ISL_EDEAD || rc == ISL_ETRAP || rc == ISL_ETIMEOUT || isl_iso_is_dead(iso)) return rc;
  if (rc == ISL_EMEMLIMIT) return isl_iso_throw(iso, "RangeError", "out of memory");
  return isl_iso_throw(iso, "RangeError", what);
}

static int host_utf8_decode(isl_iso_t *iso, void *data, int argc, const isl_val_t *argv, isl_val_t *ret) {
  (void)data;
  if (argc < 5) return isl_iso_throw(iso, "TypeError", "utf8Decode: want 5 arguments");
  decode_call_t c = {.iso = iso, .ret = ret};
  c.offset = arg_count(iso, argv[1], 4294967295.0);
  c.length = arg_count(iso, argv[2], 4294967295.0);
  double flags = arg_count(iso, argv[3], 7), state = arg_count(iso, argv[4], 4294967295.0);
  if (c.offset < 0 || c.length < 0 || flags < 0 || state < 0)
    return isl_iso_throw(iso, "TypeError", "utf8Decode: bad arguments");
  c.flags = (unsigned)flags;
  c.state = (uint32_t)state;
  int rc = isl_iso_array_buffer_read(iso, argv[0], decode_buffer, &c);
  if (rc == ISL_EINVAL) return isl_iso_throw(iso, "TypeError", "utf8Decode: not an ArrayBuffer, or out of its bounds");
  return rc < 0 ? fail(iso, rc, "Invalid string length") : 0;
}

/* ---- encoding ---------------------------------------------------------------- */

typedef struct {
  isl_iso_t *iso;
  double cap; /* bytes that fit; -1 for no bound */
  const uint8_t *src;
  size_t read; /* code units encoded */
  isl_val_t *ret;
} encode_call_t;

static int fill_utf8(uint8_t *dst, size_t len, void *arg) {
  const encode_call_t *c = arg;
  memcpy(dst, c->src, len);
  /* Every 0xED is a lead byte (continuation bytes are 80..BF) followed by
   * two continuation bytes; A0..BF after it makes a surrogate. */
  uint8_t *end = dst + len;
  for (uint8_t *p = memchr(dst, 0xed, len); p; p = p < end ? memchr(p, 0xed, (size_t)(end - p)) : NULL) {
    if (end - p >= 3 && p[1] >= 0xa0) {
      p[0] = 0xef;
      p[1] = 0xbf;
      p[2] = 0xbd;
    }
    p += 3;
  }
  return 0;
}

/* Bytes of the longest run of whole characters of s (len bytes) that fits
 * in cap; *units gets the code units they stand for. */
static size_t fit_prefix(const uint8_t *s, size_t len, size_t cap, size_t *units) {
  size_t i = 0, u = 0;
  while (i < len) {
    uint8_t b = s[i];
    size_t w = b < 0x80 ? 1 : b < 0xe0 ? 2 : b < 0xf0 ? 3 : 4;
    if (i + w > cap) break;
    i += w;
    u += w == 4 ? 2 : 1;
  }
  *units = u;
  return i;
}

static int encode_string(const uint8_t *s, size_t len, void *arg) {
  encode_call_t *c = arg;
  c->src = s;
  size_t out = len;
  if (c->cap >= 0 && (double)len > c->cap) out = fit_prefix(s, len, (size_t)c->cap, &c->read);
  return isl_iso_new_array_buffer_fill(c->iso, out, fill_utf8, c, c->ret);
}

static int host_utf8_encode(isl_iso_t *iso, void *data, int argc, const isl_val_t *argv, isl_val_t *ret) {
  (void)data;
  if (argc < 2) return isl_iso_throw(iso, "TypeError", "utf8Encode: want 2 arguments");
  double units = arg_count(iso, argv[1], (double)(1u << 30));
  if (units < 0) return isl_iso_throw(iso, "TypeError", "utf8Encode: bad arguments");
  encode_call_t c = {.iso = iso, .cap = -1, .ret = ret};
  int rc = isl_iso_string_utf8_read(iso, argv[0], (size_t)units, encode_string, &c);
  if (rc == ISL_EINVAL) return isl_iso_throw(iso, "TypeError", "utf8Encode: not a string of that length");
  return rc < 0 ? fail(iso, rc, "Array buffer allocation failed") : 0;
}

static int host_utf8_encode_into(isl_iso_t *iso, void *data, int argc, const isl_val_t *argv, isl_val_t *ret) {
  (void)data;
  if (argc < 3) return isl_iso_throw(iso, "TypeError", "utf8EncodeInto: want 3 arguments");
  double units = arg_count(iso, argv[1], (double)(1u << 30)), cap = arg_count(iso, argv[2], 9007199254740991.0);
  if (units < 0 || cap < 0) return isl_iso_throw(iso, "TypeError", "utf8EncodeInto: bad arguments");
  isl_val_t bytes = 0, obj = 0, read = 0;
  encode_call_t c = {.iso = iso, .cap = cap, .read = (size_t)units, .ret = &bytes};
  int rc = isl_iso_string_utf8_read(iso, argv[0], (size_t)units, encode_string, &c);
  if (rc == ISL_EINVAL) return isl_iso_throw(iso, "TypeError", "utf8EncodeInto: not a string of that length");
  if (rc == 0) rc = isl_iso_new_object(iso, &obj);
  if (rc == 0) rc = isl_iso_new_number(iso, (double)c.read, &read);
  if (rc == 0) rc = isl_iso_set(iso, obj, "read", read);
  if (rc == 0) rc = isl_iso_set(iso, obj, "bytes", bytes);
  isl_iso_release(iso, read);
  isl_iso_release(iso, bytes);
  if (rc < 0) {
    isl_iso_release(iso, obj);
    return fail(iso, rc, "Array buffer allocation failed");
  }
  *ret = obj;
  return 0;
}

const isl_api_host_fn_t isl_api_encoding_fns[] = {{"utf8Decode", host_utf8_decode},
                                                  {"utf8Encode", host_utf8_encode},
                                                  {"utf8EncodeInto", host_utf8_encode_into},
                                                  {NULL, NULL}};
