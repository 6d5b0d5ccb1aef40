/*
 * webapi_encoding.js - DOMException, TextEncoder, TextDecoder, atob, btoa.
 * Run by tests/runtime/test_webapi.c through `isolde run`: prints one line
 * per check and per group and "ok N" (N checks) last; the first failing
 * check throws.
 */
import { check, eq, throws, group, done } from "./lib/assert.js";

const bytes = (...b) => new Uint8Array(b);
const hex = (u8) => Array.from(u8, (b) => b.toString(16).padStart(2, "0")).join(" ");

await group("DOMException", () => {
  const e = new DOMException("gone", "AbortError");
  eq(e.name, "AbortError", "name");
  eq(e.message, "gone", "message");
  eq(e.code, 20, "code of AbortError");
  eq(new DOMException("x", "DataCloneError").code, 25, "code of DataCloneError");
  eq(new DOMException("x", "NoSuchName").code, 0, "code of an unknown name");
  eq(new DOMException().name, "Error", "default name");
  eq(new DOMException().message, "", "default message");
  check(e instanceof Error, "instanceof Error");
  check(e instanceof DOMException, "instanceof DOMException");
  eq(String(e), "AbortError: gone", "toString");
  eq(DOMException.ABORT_ERR, 20, "static constant");
  eq(e.TIMEOUT_ERR, 23, "prototype constant");
  eq(Object.prototype.toString.call(e), "[object DOMException]", "toStringTag");
  eq(DOMException.name, "DOMException", "class name");
  eq(typeof e.stack, "string", "has a stack");
  eq(new DOMException("m", { name: "TimeoutError", cause: 7 }).cause, 7, "options bag with cause");
  throws(() => Object.getOwnPropertyDescriptor(DOMException.prototype, "name").get.call({}), TypeError, null, "name getter on a foreign object");
});

await group("TextEncoder", () => {
  const enc = new TextEncoder();
  eq(enc.encoding, "utf-8", "encoding");
  eq(hex(enc.encode("aé€😀")), "61 c3 a9 e2 82 ac f0 9f 98 80", "encode 1-4 byte characters");
  eq(hex(enc.encode("\uD800x")), "ef bf bd 78", "lone surrogate becomes U+FFFD");
  eq(hex(enc.encode("\uDC00")), "ef bf bd", "lone trailing surrogate");
  eq(enc.encode().length, 0, "encode() is empty");
  check(enc.encode("x") instanceof Uint8Array, "returns a Uint8Array");
  const dest = new Uint8Array(5);
  const r = enc.encodeInto("a€😀", dest);
  eq(r.read, 2, "encodeInto read stops before a character that does not fit");
  eq(r.written, 4, "encodeInto written");
  eq(hex(dest), "61 e2 82 ac 00", "encodeInto bytes");
  const r2 = enc.encodeInto("😀", new Uint8Array(4));
  eq(r2.read, 2, "a surrogate pair counts two code units");
  throws(() => enc.encodeInto("a", new Uint16Array(2)), TypeError, null, "encodeInto into a Uint16Array");
  eq(Object.prototype.toString.call(enc), "[object TextEncoder]", "toStringTag");
});

await group("TextDecoder utf-8", () => {
  const dec = new TextDecoder();
  eq(dec.encoding, "utf-8", "encoding");
  eq(dec.fatal, false, "fatal default");
  eq(dec.ignoreBOM, false, "ignoreBOM default");
  eq(dec.decode(bytes(0x61, 0xc3, 0xa9, 0xf0, 0x9f, 0x98, 0x80)), "aé😀", "decode");
  eq(dec.decode(bytes(0xef, 0xbb, 0xbf, 0x61)), "a", "BOM stripped");
  eq(new TextDecoder("utf-8", { ignoreBOM: true }).decode(bytes(0xef, 0xbb, 0xbf, 0x61)), "\uFEFFa", "BOM kept with ignoreBOM");
  eq(dec.decode(bytes(0x61, 0xff, 0x62)), "a\uFFFDb", "invalid byte");
  eq(dec.decode(bytes(0xe2, 0x82)), "\uFFFD", "truncated sequence at the end is one U+FFFD");
  eq(dec.decode(bytes(0xe2, 0x82, 0x61)), "\uFFFDa", "truncated sequence then ASCII");
  eq(dec.decode(bytes(0xed, 0xa0, 0x80)), "\uFFFD\uFFFD\uFFFD", "encoded surrogate is three errors");
  eq(dec.decode(bytes(0xc0, 0x80)), "\uFFFD\uFFFD", "overlong encoding");
  eq(dec.decode(bytes(0xf4, 0x90, 0x80, 0x80)), "\uFFFD\uFFFD\uFFFD\uFFFD", "above U+10FFFF");
  eq(dec.decode(), "", "decode() is empty");
  eq(dec.decode(new Uint8Array([0x78, 0x61, 0x62]).subarray(1)), "ab", "a view's own bytes");
  eq(dec.decode(new Uint16Array([0x6261]).buffer), "ab", "an ArrayBuffer");
  eq(dec.decode(new DataView(bytes(0x61, 0x62).buffer, 1)), "b", "a DataView");
  throws(() => dec.decode("abc"), TypeError, null, "decode of a string");
  const fatal = new TextDecoder("utf-8", { fatal: true });
  eq(fatal.fatal, true, "fatal");
  throws(() => fatal.decode(bytes(0x61, 0xff)), TypeError, null, "fatal invalid byte");
  throws(() => fatal.decode(bytes(0xe2, 0x82)), TypeError, null, "fatal truncated end");
  eq(fatal.decode(bytes(0x61)), "a", "fatal decoder works after an error");
  const big = new Uint8Array(100000).fill(0x61);
  eq(dec.decode(big).length, 100000, "a large input");
});

await group("TextDecoder streaming", () => {
  const dec = new TextDecoder();
  const euro = bytes(0xe2, 0x82, 0xac);
  let s = dec.decode(euro.subarray(0, 1), { stream: true });
  s += dec.decode(euro.subarray(1, 2), { stream: true });
  eq(s, "", "no output for a partial character");
  s += dec.decode(euro.subarray(2), { stream: true });
  eq(s, "€", "a character split over three chunks");
  eq(dec.decode(bytes(0xf0, 0x9f), { stream: true }) + dec.decode(bytes(0x98, 0x80)), "😀", "a 4-byte character over two chunks");
  eq(dec.decode(bytes(0xe2), { stream: true }) + dec.decode(), "\uFFFD", "flush of an unfinished character");
  const bom = new TextDecoder();
  eq(bom.decode(bytes(0xef, 0xbb), { stream: true }) + bom.decode(bytes(0xbf, 0x61, 0xef, 0xbb, 0xbf)), "a\uFEFF", "only the first BOM is stripped");
  eq(bom.decode(bytes(0xef, 0xbb, 0xbf, 0x62)), "b", "a new stream strips its BOM again");
});

await group("TextDecoder labels", () => {
  eq(new TextDecoder(" UTF8 ").encoding, "utf-8", "label trimmed and case-folded");
  eq(new TextDecoder("unicode-1-1-utf-8").encoding, "utf-8", "utf-8 alias");
  eq(new TextDecoder("latin1").encoding, "windows-1252", "latin1 is windows-1252");
  eq(new TextDecoder("ascii").encoding, "windows-1252", "ascii is windows-1252");
  eq(new TextDecoder("latin1").decode(bytes(0x41, 0xe9, 0x80, 0x9f)), "Aé€Ÿ", "windows-1252 decoding");
  eq(new TextDecoder("utf-16").encoding, "utf-16le", "utf-16 is utf-16le");
  eq(new TextDecoder("utf-16le").decode(bytes(0xff, 0xfe, 0x61, 0x00, 0x3d, 0xd8, 0x00, 0xde)), "a😀", "utf-16le with BOM and a pair");
  eq(new TextDecoder("utf-16le").decode(bytes(0x00, 0xd8, 0x61, 0x00)), "\uFFFDa", "utf-16le lone surrogate");
  eq(new TextDecoder("utf-16le").decode(bytes(0x61)), "\uFFFD", "utf-16le odd byte");
  eq(new TextDecoder("utf-16be").decode(bytes(0x00, 0x61)), "a", "utf-16be");
  throws(() => new TextDecoder("klingon"), RangeError, null, "unknown label");
  throws(() => new TextDecoder("replacement"), RangeError, null, "the replacement encoding");
});

/* ---- UTF-8 in the host (src/api/encoding.c) ------------------------------------
 * Every case runs bare and between 40 ASCII bytes on each side, so the
 * host's ASCII loop (8 bytes at a time) and its shortcuts for whole
 * sequences meet the ill-formed bytes from every side. */

const PAD = "0123456789abcdefghijklmnopqrstuvwxyzABCD"; // 40 bytes
const padBytes = new TextEncoder().encode(PAD);
const F = "\uFFFD";
const fromHex = (h) => new Uint8Array(h.split(" ").map((x) => parseInt(x, 16)));
const padded = (u8) => {
  const out = new Uint8Array(u8.length + 80);
  out.set(padBytes, 0);
  out.set(u8, 40);
  out.set(padBytes, 40 + u8.length);
  return out;
};
const showUnits = (s) => Array.from(s, (c) => c.codePointAt(0).toString(16)).join(",");

/* [bytes, decoded, what]: the number of U+FFFD is the Encoding standard's
 * (one per maximal subpart of an ill-formed sequence). */
const illFormed = [
  ["C3", F, "truncated 2-byte sequence"],
  ["C3 41", F + "A", "truncated 2-byte sequence before ASCII"],
  ["E2 82", F, "truncated 3-byte sequence"],
  ["E2 41", F + "A", "3-byte sequence cut after its lead"],
  ["E2 82 41", F + "A", "3-byte sequence cut after 2 bytes"],
  ["E0 A0", F, "truncated E0 sequence"],
  ["F0 9F 98", F, "truncated 4-byte sequence"],
  ["F0 9F 98 41", F + "A", "4-byte sequence cut after 3 bytes"],
  ["F0 9F 41", F + "A", "4-byte sequence cut after 2 bytes"],
  ["F0 41", F + "A", "4-byte sequence cut after its lead"],
  ["C0 80", F + F, "overlong NUL (C0 80)"],
  ["C1 BF", F + F, "overlong 2-byte (C1)"],
  ["E0 80 80", F + F + F, "overlong 3-byte NUL"],
  ["E0 9F BF", F + F + F, "overlong 3-byte (E0 9F)"],
  ["F0 80 80 80", F + F + F + F, "overlong 4-byte NUL"],
  ["F0 8F BF BF", F + F + F + F, "overlong 4-byte (F0 8F)"],
  ["ED A0 80", F + F + F, "high surrogate D800 encoded"],
  ["ED BF BF", F + F + F, "low surrogate DFFF encoded"],
  ["ED A0 BD ED B2 A9", F.repeat(6), "surrogate pair encoded as two 3-byte sequences (CESU-8)"],
  ["F4 90 80 80", F + F + F + F, "U+110000"],
  ["F5 80 80 80", F + F + F + F, "F5 lead"],
  ["F7 BF BF BF", F + F + F + F, "F7 lead (U+1FFFFF)"],
  ["F8 88 80 80 80", F.repeat(5), "5-byte form"],
  ["FC 84 80 80 80 80", F.repeat(6), "6-byte form"],
  ["FE FF", F + F, "FE and FF"],
  ["80", F, "lone continuation byte 80"],
  ["BF", F, "lone continuation byte BF"],
  ["80 BF 80", F + F + F, "three continuation bytes"],
  ["41 80 42", "A" + F + "B", "continuation byte between ASCII"],
  ["61 F1 80 80 E1 80 C2 62 80 63 80 BF 64", "a" + F + F + F + "b" + F + "c" + F + F + "d", "Unicode's maximal-subpart example"],
];
const wellFormed = [
  ["ED 9F BF", "\uD7FF", "U+D7FF, just below the surrogates"],
  ["EE 80 80", "\uE000", "U+E000, just above them"],
  ["F4 8F BF BF", "\uDBFF\uDFFF", "U+10FFFF"],
  ["F0 90 80 80", "\uD800\uDC00", "U+10000"],
  ["C2 80", "\u0080", "U+0080"],
  ["DF BF", "\u07FF", "U+07FF"],
  ["E0 A0 80", "\u0800", "U+0800"],
  ["EF BF BF", "\uFFFF", "U+FFFF"],
  ["00 C3 A9 00", "\0\u00E9\0", "NUL bytes around a Latin-1 character"],
];

await group("UTF-8 decode: ill-formed sequences", () => {
  const dec = new TextDecoder();
  const fatal = new TextDecoder("utf-8", { fatal: true });
  for (const [hex, want, what] of illFormed) {
    const got = dec.decode(fromHex(hex));
    const gotPadded = dec.decode(padded(fromHex(hex)));
    check(got === want && gotPadded === PAD + want + PAD, `${what}: ${hex} -> ${showUnits(want)} (got ${showUnits(got)})`);
    let threw = 0;
    for (const input of [fromHex(hex), padded(fromHex(hex))]) {
      try {
        fatal.decode(input);
      } catch (e) {
        if (e instanceof TypeError) threw++;
      }
    }
    check(threw === 2, `${what}: fatal mode throws TypeError`);
  }
  for (const [hex, want, what] of wellFormed) {
    const ok = dec.decode(fromHex(hex)) === want && dec.decode(padded(fromHex(hex))) === PAD + want + PAD;
    check(ok && fatal.decode(padded(fromHex(hex))) === PAD + want + PAD, `${what}: ${hex} decodes, fatal or not`);
  }
});

await group("UTF-8 decode: BOM", () => {
  const dec = new TextDecoder();
  const keep = new TextDecoder("utf-8", { ignoreBOM: true });
  const bom = fromHex("EF BB BF");
  eq(dec.decode(bom), "", "a lone BOM decodes to nothing");
  eq(dec.decode(fromHex("EF BB BF EF BB BF")), "\uFEFF", "only the first of two BOMs is stripped");
  eq(keep.decode(fromHex("EF BB BF EF BB BF")), "\uFEFF\uFEFF", "ignoreBOM keeps both");
  const big = new Uint8Array(3 + 100);
  big.set(bom);
  big.fill(0x62, 3);
  eq(dec.decode(big), "b".repeat(100), "BOM stripped before a long input");
  eq(keep.decode(big), "\uFEFF" + "b".repeat(100), "ignoreBOM keeps it before a long input");
  eq(dec.decode(fromHex("41 EF BB BF")), "A\uFEFF", "a BOM after the first character stays");
  eq(dec.decode(fromHex("80 EF BB BF")), F + "\uFEFF", "a BOM after an error stays");
  for (let cut = 1; cut < 3; cut++) {
    const s = new TextDecoder();
    const out = s.decode(bom.subarray(0, cut), { stream: true }) + s.decode(fromHex("EF BB BF 61").subarray(0, 0), { stream: true });
    eq(out + s.decode(concat(bom.subarray(cut), fromHex("61"))), "a", `BOM split after byte ${cut} is still stripped`);
  }
  const s = new TextDecoder();
  eq(s.decode(bom, { stream: true }), "", "a streamed BOM gives nothing");
  eq(s.decode(fromHex("EF BB BF 61")), "\uFEFFa", "and a second BOM in the same stream is kept");
  eq(s.decode(fromHex("EF BB BF 61")), "a", "a new stream strips again");
  const fatal = new TextDecoder("utf-8", { fatal: true });
  eq(fatal.decode(fromHex("EF BB BF 61")), "a", "fatal mode strips the BOM too");
});

function concat(...parts) {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

await group("UTF-8 decode: streaming splits", () => {
  const grin = fromHex("F0 9F 98 80"); // U+1F600
  for (const [pre, post, what] of [
    [new Uint8Array(0), new Uint8Array(0), "bare"],
    [padBytes, padBytes, "between long ASCII"],
  ]) {
    const all = concat(pre, grin, post);
    const want = new TextDecoder().decode(pre) + "\u{1F600}" + new TextDecoder().decode(post);
    for (let cut = 1; cut < 4; cut++) {
      const d = new TextDecoder();
      const at = pre.length + cut;
      const got = d.decode(all.subarray(0, at), { stream: true }) + d.decode(all.subarray(at));
      eq(got, want, `U+1F600 split after its byte ${cut}, ${what}`);
    }
    const d = new TextDecoder("utf-8", { fatal: true });
    let got = d.decode(pre, { stream: true });
    for (let i = 0; i < 4; i++) got += d.decode(grin.subarray(i, i + 1), { stream: true });
    eq(got + d.decode(post), want, `U+1F600 one byte per call, ${what}, fatal decoder`);
    const e = new TextDecoder();
    let two = e.decode(concat(pre, grin.subarray(0, 1)), { stream: true });
    two += e.decode(grin.subarray(1, 3), { stream: true });
    eq(two + e.decode(concat(grin.subarray(3), post)), want, `U+1F600 as 1+2+1 bytes with the padding attached, ${what}`);
  }
  const d = new TextDecoder();
  eq(d.decode(fromHex("F0 9F"), { stream: true }) + d.decode(fromHex("41")), F + "A", "a cut sequence broken by the next chunk");
  eq(d.decode(fromHex("F0"), { stream: true }) + d.decode(fromHex("9F 98"), { stream: true }) + d.decode(), F, "flush of a 3-byte prefix");
  eq(d.decode(fromHex("E0"), { stream: true }) + d.decode(fromHex("80")), F + F, "E0 then 80 over two chunks: two errors");
  eq(d.decode(fromHex("ED"), { stream: true }) + d.decode(fromHex("A0 80")), F + F + F, "ED then A0 80 over two chunks");
  const f = new TextDecoder("utf-8", { fatal: true });
  eq(f.decode(fromHex("E2 82"), { stream: true }), "", "fatal streaming keeps a cut character");
  throws(() => f.decode(), TypeError, null, "and throws when the stream ends inside it");
  eq(f.decode(fromHex("E2 82 AC")), "\u20AC", "the fatal decoder starts over after the error");
  throws(() => f.decode(fromHex("E2"), { stream: true }) + f.decode(fromHex("41"), { stream: true }), TypeError, null, "fatal: a cut character broken in the next chunk");
  eq(f.decode(fromHex("41")), "A", "and no state is left behind");
});

/* The Encoding standard's UTF-8 decoder, byte at a time, as a reference. */
function referenceDecode(bytes, fatal = false) {
  let need = 0, seen = 0, cp = 0, lower = 0x80, upper = 0xbf;
  let out = "";
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i];
    if (need === 0) {
      if (b < 0x80) out += String.fromCharCode(b);
      else if (b >= 0xc2 && b <= 0xdf) [need, cp] = [1, b & 0x1f];
      else if (b >= 0xe0 && b <= 0xef) {
        if (b === 0xe0) lower = 0xa0;
        if (b === 0xed) upper = 0x9f;
        [need, cp] = [2, b & 0xf];
      } else if (b >= 0xf0 && b <= 0xf4) {
        if (b === 0xf0) lower = 0x90;
        if (b === 0xf4) upper = 0x8f;
        [need, cp] = [3, b & 0x7];
      } else {
        if (fatal) return null;
        out += F;
      }
      continue;
    }
    if (b < lower || b > upper) {
      need = seen = cp = 0;
      lower = 0x80;
      upper = 0xbf;
      if (fatal) return null;
      out += F;
      i--;
      continue;
    }
    lower = 0x80;
    upper = 0xbf;
    cp = (cp << 6) | (b & 0x3f);
    if (++seen === need) {
      out += String.fromCodePoint(cp);
      need = seen = cp = 0;
    }
  }
  if (need !== 0) {
    if (fatal) return null;
    out += F;
  }
  return out.charCodeAt(0) === 0xfeff ? out.slice(1) : out;
}

/* Deterministic pseudo-random bytes, mostly UTF-8-shaped. */
let seed = 12345;
const rnd = (n) => {
  seed = (seed * 1103515245 + 12345) >>> 0;
  return (seed >>> 8) % n;
};
const PIECES = [[0x41], [0xc3, 0xa9], [0xe2, 0x82, 0xac], [0xf0, 0x9f, 0x98, 0x80], [0xef, 0xbb, 0xbf], [0xed, 0xa0, 0x80],
  [0x80], [0xbf], [0xc0], [0xe0], [0xe0, 0xa0], [0xf0, 0x90], [0xf4, 0x90], [0xf5], [0xff], [0x00]];
function randomBytes() {
  const out = [];
  const n = rnd(3) === 0 ? rnd(120) : rnd(12);
  for (let i = 0; i < n; i++) {
    if (rnd(4) === 0) out.push(rnd(256));
    else out.push(...PIECES[rnd(PIECES.length)]);
  }
  return new Uint8Array(out);
}

await group("UTF-8 decode: random inputs against the reference decoder", () => {
  let same = 0, sameFatal = 0, sameSplit = 0;
  const N = 600;
  for (let k = 0; k < N; k++) {
    const bytes = randomBytes();
    const want = referenceDecode(bytes);
    if (new TextDecoder().decode(bytes) === want) same++;
    else console.log("differs:", Array.from(bytes, (b) => b.toString(16)).join(" "));
    let got = null;
    try {
      got = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
    } catch {}
    if (got === referenceDecode(bytes, true)) sameFatal++;
    /* the same bytes in three streamed chunks at random places */
    const a = rnd(bytes.length + 1), b = a + rnd(bytes.length - a + 1);
    const d = new TextDecoder();
    const split = d.decode(bytes.subarray(0, a), { stream: true }) + d.decode(bytes.subarray(a, b), { stream: true }) + d.decode(bytes.subarray(b));
    if (split === want) sameSplit++;
    else console.log("split differs:", a, b, Array.from(bytes, (x) => x.toString(16)).join(" "));
  }
  eq(same, N, "whole inputs decode as the reference does");
  eq(sameFatal, N, "fatal mode throws exactly when the reference finds an error");
  eq(sameSplit, N, "three streamed chunks at random cuts decode as the whole");
});

await group("UTF-8 encode: lone surrogates and encodeInto", () => {
  const enc = new TextEncoder();
  const long = "x".repeat(40);
  const cases = [
    ["\uD800", "ef bf bd", "a lone high surrogate"],
    ["\uDFFF", "ef bf bd", "a lone low surrogate"],
    ["\uDC00\uD800", "ef bf bd ef bf bd", "a reversed pair is two errors"],
    ["\uD83D\uDE00", "f0 9f 98 80", "a pair is one 4-byte character"],
    ["\uDBFF\uDFFF", "f4 8f bf bf", "U+10FFFF"],
    ["a\uD800\uD800b", "61 ef bf bd ef bf bd 62", "two high surrogates"],
    ["\uD7FF\uE000", "ed 9f bf ee 80 80", "the neighbours of the surrogates"],
    ["\0\u00e9", "00 c3 a9", "NUL and a Latin-1 character"],
  ];
  for (const [str, want, what] of cases) {
    const longHex = hex(enc.encode(long));
    const ok = hex(enc.encode(str)) === want && hex(enc.encode(long + str + long)) === `${longHex} ${want} ${longHex}`;
    check(ok, `${what} encodes to ${want}, short and between long ASCII`);
  }
  eq(hex(enc.encode(long + "\uD800")).slice(-8), "ef bf bd", "a high surrogate at the very end of a long string");
  eq(hex(enc.encode("\uDC00" + long)).slice(0, 8), "ef bf bd", "a low surrogate at the very start of a long string");
  const body = "é".repeat(20) + "\uD800" + "€".repeat(20) + "\uD83D\uDE00" + long;
  const bytes = enc.encode(body);
  eq(bytes.length, 40 + 3 + 60 + 4 + 40, "length of a long mixed string with a lone surrogate");
  eq(new TextDecoder().decode(bytes), body.replace("\uD800", F), "it decodes back with U+FFFD for the surrogate");
  /* encodeInto: whole characters only, read counts UTF-16 code units */
  const src = long + "\uD83D\uDE00" + "\uD800" + "é";
  for (const [cap, read, written, what] of [
    [0, 0, 0, "no room"],
    [40, 40, 40, "room up to the 4-byte character"],
    [43, 40, 40, "3 bytes are not enough for it"],
    [44, 42, 44, "4 bytes are: read counts its 2 code units"],
    [46, 42, 44, "the lone surrogate needs 3 bytes"],
    [47, 43, 47, "and takes them as U+FFFD"],
    [48, 43, 47, "é needs 2"],
    [49, 44, 49, "all of it"],
    [100, 44, 49, "more room than needed"],
  ]) {
    const dest = new Uint8Array(cap + 4).fill(0x7e);
    const r = enc.encodeInto(src, dest.subarray(2, 2 + cap));
    const full = enc.encode(src);
    const ok = r.read === read && r.written === written && hex(dest.subarray(2, 2 + written)) === hex(full.subarray(0, written));
    check(ok && dest[0] === 0x7e && dest[1] === 0x7e && dest[2 + written] === 0x7e, `encodeInto capacity ${cap}: read ${read}, written ${written}: ${what} (got ${r.read}/${r.written})`);
  }
  const shortDest = new Uint8Array(5);
  const r = enc.encodeInto("\uD800ab", shortDest);
  eq(`${r.read}/${r.written}/${hex(shortDest)}`, "3/5/ef bf bd 61 62", "encodeInto of a short string with a lone surrogate");
  /* random strings against a reference encoder */
  const units = [0x41, 0xe9, 0x20ac, 0xd800, 0xdbff, 0xdc00, 0xdfff, 0xd83d, 0xde00, 0, 0x7f, 0x80, 0x7ff, 0x800, 0xffff];
  let same = 0, sameInto = 0;
  for (let k = 0; k < 300; k++) {
    let s = "";
    const n = rnd(2) ? rnd(80) : rnd(8);
    for (let i = 0; i < n; i++) s += String.fromCharCode(units[rnd(units.length)]);
    const ref = [];
    for (const ch of s) {
      const c = ch.codePointAt(0);
      const cp = c >= 0xd800 && c <= 0xdfff ? 0xfffd : c;
      if (cp < 0x80) ref.push(cp);
      else if (cp < 0x800) ref.push(0xc0 | (cp >> 6), 0x80 | (cp & 63));
      else if (cp < 0x10000) ref.push(0xe0 | (cp >> 12), 0x80 | ((cp >> 6) & 63), 0x80 | (cp & 63));
      else ref.push(0xf0 | (cp >> 18), 0x80 | ((cp >> 12) & 63), 0x80 | ((cp >> 6) & 63), 0x80 | (cp & 63));
    }
    if (hex(enc.encode(s)) === hex(ref)) same++;
    const cap = rnd(ref.length + 2);
    const dest = new Uint8Array(cap);
    const got = enc.encodeInto(s, dest);
    /* the reference: whole characters while they fit */
    let read = 0, written = 0;
    for (const ch of s) {
      const c = ch.codePointAt(0);
      const w = c < 0x80 ? 1 : c < 0x800 ? 2 : c < 0x10000 ? 3 : 4;
      if (written + w > cap) break;
      written += w;
      read += ch.length;
    }
    if (got.read === read && got.written === written && hex(dest.subarray(0, written)) === hex(ref.slice(0, written))) sameInto++;
  }
  eq(same, 300, "random strings encode as the reference does");
  eq(sameInto, 300, "encodeInto with random capacities matches the reference");
});

await group("UTF-8 bodies", async () => {
  const long = "aé€\u{1F600}\uD800".repeat(20000) + "\0end";
  const want = long.replaceAll("\uD800", F);
  eq(await new Response(long).text(), want, "a string body round-trips through text() with lone surrogates replaced");
  const bytes = await new Response(long).arrayBuffer();
  eq(bytes.byteLength, 20000 * (1 + 2 + 3 + 4 + 3) + 4, "its UTF-8 length");
  eq(await new Request("http://x/", { method: "POST", body: long }).text(), want, "a Request's string body too");
  eq(await new Response(concat(fromHex("EF BB BF"), new TextEncoder().encode(long))).text(), want, "text() strips a BOM");
  eq(await new Response(fromHex("EF BB BF EF BB BF")).text(), "\uFEFF", "text() strips only one BOM");
  eq(await new Response(padded(fromHex("C0 80 F4 90 80 80"))).text(), PAD + F.repeat(6) + PAD, "text() replaces ill-formed sequences");
  eq((await new Response('{"k":"\u20AC' + "x".repeat(50) + '"}').json()).k, "\u20AC" + "x".repeat(50), "json() of a non-ASCII body");
  const latin = "é".repeat(1 << 20);
  eq(await new Response(latin).text(), latin, "a 1 Mi-character Latin-1 string");
  const view = new TextEncoder().encode("zz" + "€".repeat(100) + "zz");
  eq(new TextDecoder().decode(view.subarray(2, 302)), "€".repeat(100), "a view in the middle of its buffer");
  const bigBuf = new Uint8Array(1 << 20).fill(0x61);
  bigBuf.set(fromHex("E2 82 AC"), 500000);
  eq(new TextDecoder().decode(bigBuf.subarray(499990, 500013)), "aaaaaaaaaa\u20ACaaaaaaaaaa", "a small view of a large buffer");
});

await group("atob and btoa", () => {
  eq(btoa("hello"), "aGVsbG8=", "btoa");
  eq(btoa(""), "", "btoa of empty");
  eq(btoa("\xff\xfe"), "//4=", "btoa of high Latin-1");
  eq(atob("aGVsbG8="), "hello", "atob");
  eq(atob(" aGVs\nbG8 "), "hello", "atob ignores ASCII whitespace");
  eq(atob("aGVsbG8"), "hello", "atob without padding");
  eq(atob("//4="), "\xff\xfe", "atob to Latin-1");
  eq(atob(""), "", "atob of empty");
  throws(() => atob("a"), DOMException, "InvalidCharacterError", "atob length 1 mod 4");
  throws(() => atob("aGVsbG8=="), DOMException, "InvalidCharacterError", "atob too much padding");
  throws(() => atob("aG=Vs"), DOMException, "InvalidCharacterError", "atob padding inside");
  throws(() => atob("a*bc"), DOMException, "InvalidCharacterError", "atob bad character");
  throws(() => btoa("€"), DOMException, "InvalidCharacterError", "btoa above Latin-1");
  throws(() => atob(), TypeError, null, "atob with no argument");
  eq(atob(btoa("\x00\x01\x02")), "\x00\x01\x02", "round trip of control bytes");
});

done();
