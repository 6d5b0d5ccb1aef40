/*
 * test_bytestring.c - the header byte codec (src/api/bytestring.c) on its
 * own, exhaustively where it is small: every byte comes back as itself,
 * every text of up to three bytes is either a byte string's exact form
 * (and comes back as itself) or refused at the right offset, so no code
 * point above U+00FF and no broken UTF-8 can become header bytes. The
 * served directions are tests/runtime/test_header_bytes_served.c.
 */
#include <string.h>

#include "api/api.h"
#include "test.h"

/* Whether t[0..n) is the engine's UTF-8 of code points U+0000..U+00FF. */
static int is_byte_string_text(const unsigned char *t, size_t n, size_t *bad) {
  for (size_t i = 0; i < n;) {
    if (t[i] < 0x80) {
      i++;
    } else if ((t[i] == 0xC2 || t[i] == 0xC3) && i + 1 < n && (t[i + 1] & 0xC0) == 0x80) {
      i += 2;
    } else {
      *bad = i;
      return 0;
    }
  }
  return 1;
}

TEST(bytestring_codec_round_trips_every_byte_and_refuses_the_rest) {
  /* Every byte: one or two bytes of text, and back to itself. */
  char all[256], text[512], back[512];
  for (int b = 0; b < 256; b++) all[b] = (char)b;
  size_t tn = isl_api_bytes_to_utf8(text, all, 256);
  CHECK_EQ_INT((int)tn, 128 + 2 * 128);
  CHECK(memcmp(text + 0x80 + 2 * (0xE9 - 0x80), "\xC3\xA9", 2) == 0); /* é: after 128 one-byte, 0x69 two-byte */
  size_t bn = 0;
  CHECK_EQ_INT(isl_api_utf8_to_bytes(back, text, tn, &bn), 0);
  CHECK_EQ_INT((int)bn, 256);
  CHECK(memcmp(back, all, 256) == 0);
  /* In place. */
  memcpy(back, text, tn);
  CHECK_EQ_INT(isl_api_utf8_to_bytes(back, back, tn, &bn), 0);
  CHECK(bn == 256 && memcmp(back, all, 256) == 0);

  /* Every text of 1..3 bytes (over a set of bytes that covers every class:
   * ASCII, continuation, C0/C1/C2/C3 and C4 leads, E0..FF leads). */
  static const unsigned char pick[] = {0x00, 0x41, 0x7F, 0x80, 0xA9, 0xBF, 0xC0, 0xC1, 0xC2,
                                       0xC3, 0xC4, 0xC5, 0xDF, 0xE2, 0xED, 0xF0, 0xFF};
  const size_t np = sizeof(pick);
  int accepted = 0, refused = 0;
  for (size_t len = 1; len <= 3; len++) {
    size_t combos = len == 1 ? np : len == 2 ? np * np : np * np * np;
    for (size_t k = 0; k < combos; k++) {
      unsigned char t[3] = {0};
      for (size_t j = 0, r = k; j < len; j++, r /= np) t[j] = pick[r % np];
      size_t want_bad = 0, got = 0;
      int ok = is_byte_string_text(t, len, &want_bad);
      char out[3];
      int rc = isl_api_utf8_to_bytes(out, (const char *)t, len, &got);
      if (ok) {
        CHECK_MSG(rc == 0, "refused %02X %02X %02X (len %zu)", t[0], t[1], t[2], len);
        char again[6];
        size_t an = isl_api_bytes_to_utf8(again, out, got);
        CHECK_MSG(an == len && memcmp(again, t, len) == 0, "%02X.. did not come back", t[0]);
        accepted++;
      } else {
        CHECK_MSG(rc == ISL_EINVAL && got == want_bad, "%02X %02X %02X (len %zu): rc %d at %zu, want at %zu", t[0],
                  t[1], t[2], len, rc, got, want_bad);
        refused++;
      }
    }
  }
  CHECK(accepted > 0 && refused > 0);

  /* Code points above U+00FF, as the engine writes them: refused. */
  const char *wide[] = {"\xC4\x80", "a\xE2\x82\xAC", "\xF0\x9F\x98\x80", "\xED\xA0\x80" /* lone surrogate */};
  for (size_t i = 0; i < sizeof(wide) / sizeof(wide[0]); i++) {
    size_t at = 99;
    CHECK_EQ_INT(isl_api_utf8_to_bytes(back, wide[i], strlen(wide[i]), &at), ISL_EINVAL);
    CHECK_EQ_INT((int)at, wide[i][0] == 'a' ? 1 : 0);
  }

  /* The C-string form: in place, NUL-terminated; left empty when refused. */
  char s1[] = "x-t: caf\xC3\xA9\n";
  CHECK_EQ_INT(isl_api_cstring_to_bytes(s1), 0);
  CHECK_EQ_STR(s1, "x-t: caf\xE9\n");
  char s2[] = "x-t: \xE2\x82\xAC\n";
  CHECK_EQ_INT(isl_api_cstring_to_bytes(s2), ISL_EINVAL);
  CHECK_EQ_STR(s2, "");
}
