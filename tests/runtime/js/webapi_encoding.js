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
