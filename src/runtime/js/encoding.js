/*
 * encoding.js - TextEncoder, TextDecoder (WHATWG Encoding) and atob/btoa
 * (HTML forgiving-base64), because QuickJS has none.
 *
 * UTF-8 is converted in the host (src/api/encoding.c: host.utf8Decode,
 * utf8Encode, utf8EncodeInto), which reads and writes the bytes where they
 * lie in the isolate's memory: a body's text() or a string body costs a
 * few native instructions per byte instead of a JS loop (the call itself
 * costs less than a JS loop over 2 bytes did, so even short strings go to
 * the host). A stream's character cut between chunks travels between
 * calls as a small number (its bytes) kept in the TextDecoder.
 *
 * The other decoders (utf-16le/be and windows-1252, which the spec also
 * names latin1, ascii and iso-8859-1) are the spec's byte-at-a-time state
 * machines in JS, kept in the TextDecoder between calls so that
 * `stream: true` can split a character across chunks.
 *
 * The globals are installed when this module is evaluated: whatwg-url
 * (url.js) constructs a TextEncoder while esbuild's bundle initializes it,
 * so index.js imports this file before url.js.
 *
 * Also exported for the other modules: UTF-8 and base64 helpers and
 * bufferSourceBytes(), the BufferSource conversion used by every API.
 */
import { DOMException, defineGlobal, exposeInterface } from "./domexception.js";
import host from "./host.js";

/* ---- BufferSource ---------------------------------------------------------------- */

/* A Uint8Array over the bytes of an ArrayBuffer or view (no copy), or null. */
export function bufferSourceBytes(value) {
  if (ArrayBuffer.isView(value)) return new Uint8Array(value.buffer, value.byteOffset, value.byteLength);
  if (value instanceof ArrayBuffer) return new Uint8Array(value);
  if (typeof SharedArrayBuffer === "function" && value instanceof SharedArrayBuffer) return new Uint8Array(value);
  return null;
}

/* A fresh copy of a BufferSource's bytes; TypeError for anything else. */
export function copyBufferSource(value, what) {
  const bytes = bufferSourceBytes(value);
  if (!bytes) throw new TypeError(`${what}: expected an ArrayBuffer or ArrayBufferView`);
  return bytes.slice();
}

/* ---- UTF-16 code units to strings ------------------------------------------------------ */

const CHUNK = 8192;

function unitsToString(units, length) {
  if (length <= CHUNK) return String.fromCharCode.apply(null, units.subarray(0, length));
  let s = "";
  for (let i = 0; i < length; i += CHUNK) {
    s += String.fromCharCode.apply(null, units.subarray(i, Math.min(i + CHUNK, length)));
  }
  return s;
}

/* ---- UTF-8 ------------------------------------------------------------------------------ */

/* The host's flags and stream state bits (src/api/api.h). */
const UTF8_FATAL = 1;
const UTF8_STREAM = 2;
const UTF8_STRIP_BOM = 4;
const UTF8_PRODUCED = 4;

/* UTF-8 bytes of a string; lone surrogates become U+FFFD (USVString). */
export function utf8Encode(input) {
  const str = String(input);
  return new Uint8Array(host.utf8Encode(str, str.length));
}

const NO_BYTES = new ArrayBuffer(0);

/* The host's UTF-8 decoder over a Uint8Array: a string, {text, state} with
 * UTF8_STREAM, undefined when fatal and the bytes are not UTF-8. */
function hostDecode(bytes, flags, state) {
  let buffer = bytes.buffer;
  let offset = bytes.byteOffset;
  const length = bytes.byteLength;
  /* The host reads the whole buffer: a small view of a large one (or a
   * SharedArrayBuffer's) is copied first. No bytes (a detached buffer's
   * view, say) are none. */
  if (length === 0) {
    buffer = NO_BYTES;
    offset = 0;
  } else if (!(buffer instanceof ArrayBuffer) || buffer.byteLength - length > length) {
    buffer = bytes.slice().buffer;
    offset = 0;
  }
  return host.utf8Decode(buffer, offset, length, flags, state);
}

/* UTF-16 little or big endian. */
class Utf16Decoder {
  lead = -1;
  surrogate = -1;

  constructor(bigEndian) {
    this.bigEndian = bigEndian;
  }

  run(bytes, units, flush, fatal) {
    let k = 0;
    for (let i = 0; i < bytes.length; i++) {
      const b = bytes[i];
      if (this.lead < 0) {
        this.lead = b;
        continue;
      }
      const cu = this.bigEndian ? (this.lead << 8) | b : this.lead | (b << 8);
      this.lead = -1;
      if (this.surrogate >= 0) {
        const s = this.surrogate;
        this.surrogate = -1;
        if (cu >= 0xdc00 && cu <= 0xdfff) {
          units[k++] = s;
          units[k++] = cu;
          continue;
        }
        if (fatal) return -1;
        units[k++] = 0xfffd;
      }
      if (cu >= 0xd800 && cu <= 0xdbff) {
        this.surrogate = cu;
      } else if (cu >= 0xdc00 && cu <= 0xdfff) {
        if (fatal) return -1;
        units[k++] = 0xfffd;
      } else {
        units[k++] = cu;
      }
    }
    if (flush && (this.lead >= 0 || this.surrogate >= 0)) {
      this.reset();
      if (fatal) return -1;
      units[k++] = 0xfffd;
    }
    return k;
  }

  reset() {
    this.lead = this.surrogate = -1;
  }
}

/* windows-1252: Latin-1 except for 0x80-0x9F. */
const CP1252 = [
  0x20ac, 0x81, 0x201a, 0x192, 0x201e, 0x2026, 0x2020, 0x2021, 0x2c6, 0x2030, 0x160, 0x2039, 0x152, 0x8d, 0x17d, 0x8f,
  0x90, 0x2018, 0x2019, 0x201c, 0x201d, 0x2022, 0x2013, 0x2014, 0x2dc, 0x2122, 0x161, 0x203a, 0x153, 0x9d, 0x17e, 0x178,
];

class Windows1252Decoder {
  run(bytes, units) {
    for (let i = 0; i < bytes.length; i++) {
      const b = bytes[i];
      units[i] = b >= 0x80 && b < 0xa0 ? CP1252[b - 0x80] : b;
    }
    return bytes.length;
  }

  reset() {}
}

const LABELS = new Map();
for (const [name, labels] of [
  ["utf-8", "unicode-1-1-utf-8 unicode11utf8 unicode20utf8 utf-8 utf8 x-unicode20utf8"],
  ["utf-16le", "csunicode iso-10646-ucs-2 ucs-2 unicode unicodefeff utf-16 utf-16le"],
  ["utf-16be", "unicodefffe utf-16be"],
  [
    "windows-1252",
    "ansi_x3.4-1968 ascii cp1252 cp819 csisolatin1 ibm819 iso-8859-1 iso-ir-100 iso8859-1 iso88591 " +
      "iso_8859-1 iso_8859-1:1987 l1 latin1 us-ascii windows-1252 x-cp1252",
  ],
]) {
  for (const label of labels.split(" ")) LABELS.set(label, name);
}

function newDecoder(encoding) {
  if (encoding === "utf-8") return null; // the host's (hostDecode)
  if (encoding === "windows-1252") return new Windows1252Decoder();
  return new Utf16Decoder(encoding === "utf-16be");
}

/* ---- TextEncoder / TextDecoder ---------------------------------------------------------- */

export class TextEncoder {
  get encoding() {
    return "utf-8";
  }

  encode(input = "") {
    return utf8Encode(input);
  }

  encodeInto(source, destination) {
    if (!(destination instanceof Uint8Array)) {
      throw new TypeError("TextEncoder.encodeInto: the destination must be a Uint8Array");
    }
    const str = String(source);
    const r = host.utf8EncodeInto(str, str.length, destination.length);
    const bytes = new Uint8Array(r.bytes);
    destination.set(bytes);
    return { read: r.read, written: bytes.length };
  }
}

export class TextDecoder {
  #encoding;
  #fatal;
  #ignoreBOM;
  #decoder;
  #bomSeen = false;
  #streaming = false;
  #pending = 0; // utf-8: the host's stream state (a cut character's bytes)

  constructor(label = "utf-8", options = undefined) {
    const key = String(label)
      .replace(/^[\t\n\f\r ]+|[\t\n\f\r ]+$/g, "")
      .toLowerCase();
    const encoding = LABELS.get(key);
    if (!encoding) throw new RangeError(`TextDecoder: the "${label}" encoding is not supported`);
    if (options !== undefined && options !== null && typeof options !== "object") {
      throw new TypeError("TextDecoder: options must be an object");
    }
    this.#encoding = encoding;
    this.#fatal = Boolean(options?.fatal);
    this.#ignoreBOM = Boolean(options?.ignoreBOM);
    this.#decoder = newDecoder(encoding);
  }

  get encoding() {
    return this.#encoding;
  }

  get fatal() {
    return this.#fatal;
  }

  get ignoreBOM() {
    return this.#ignoreBOM;
  }

  decode(input = undefined, options = undefined) {
    let bytes;
    if (input === undefined || input === null) {
      if (input === null) throw new TypeError("TextDecoder.decode: expected an ArrayBuffer or ArrayBufferView");
      bytes = new Uint8Array(0);
    } else {
      bytes = bufferSourceBytes(input);
      if (!bytes) throw new TypeError("TextDecoder.decode: expected an ArrayBuffer or ArrayBufferView");
    }
    if (!this.#streaming) {
      this.#decoder?.reset();
      this.#pending = 0;
      this.#bomSeen = false;
    }
    const stream = Boolean(options?.stream);
    this.#streaming = stream;
    if (this.#decoder === null) return this.#decodeUtf8(bytes, stream);
    const units = new Uint16Array(bytes.length + 4);
    const n = this.#decoder.run(bytes, units, !stream, this.#fatal);
    if (n < 0) {
      this.#decoder.reset();
      this.#streaming = false;
      throw new TypeError(`TextDecoder.decode: the data is not valid ${this.#encoding}`);
    }
    let start = 0;
    if (!this.#bomSeen && n > 0) {
      this.#bomSeen = true;
      if (!this.#ignoreBOM && units[0] === 0xfeff) start = 1;
    }
    return unitsToString(units.subarray(start), n - start);
  }

  #decodeUtf8(bytes, stream) {
    let flags = this.#fatal ? UTF8_FATAL : 0;
    if (stream) flags |= UTF8_STREAM;
    if (!this.#ignoreBOM && !this.#bomSeen) flags |= UTF8_STRIP_BOM;
    const r = hostDecode(bytes, flags, this.#pending);
    if (r === undefined) {
      this.#pending = 0;
      this.#streaming = false;
      throw new TypeError("TextDecoder.decode: the data is not valid utf-8");
    }
    if (!stream) {
      this.#pending = 0;
      return r;
    }
    if (r.state & UTF8_PRODUCED) this.#bomSeen = true;
    this.#pending = r.state - (r.state & UTF8_PRODUCED);
    return r.text;
  }
}

/* UTF-8 decode (Encoding's "UTF-8 decode": BOM stripped, errors replaced). */
export function utf8Decode(bytes) {
  return hostDecode(bytes, UTF8_STRIP_BOM, 0);
}

exposeInterface("TextEncoder", TextEncoder);
exposeInterface("TextDecoder", TextDecoder);

/* ---- base64 ----------------------------------------------------------------------------- */

const ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
const DECODE = new Int16Array(128).fill(-1);
for (let i = 0; i < 64; i++) DECODE[ALPHABET.charCodeAt(i)] = i;
DECODE[0x2d] = 62; // '-' and '_' of base64url, accepted only by base64Decode(s, true)
DECODE[0x5f] = 63;

/* Standard base64 (or base64url without padding) of bytes. */
export function base64Encode(bytes, url = false) {
  const abc = url ? ALPHABET.slice(0, 62) + "-_" : ALPHABET;
  let out = "";
  let i = 0;
  for (; i + 2 < bytes.length; i += 3) {
    const v = (bytes[i] << 16) | (bytes[i + 1] << 8) | bytes[i + 2];
    out += abc[v >> 18] + abc[(v >> 12) & 63] + abc[(v >> 6) & 63] + abc[v & 63];
  }
  if (i < bytes.length) {
    const v = (bytes[i] << 16) | (i + 1 < bytes.length ? bytes[i + 1] << 8 : 0);
    out += abc[v >> 18] + abc[(v >> 12) & 63];
    if (i + 1 < bytes.length) out += abc[(v >> 6) & 63];
    else if (!url) out += "=";
    if (!url) out += "=";
  }
  return out;
}

/* Forgiving-base64 decode (or base64url when url is true); null on failure. */
export function base64Decode(input, url = false) {
  let s = input.replace(/[\t\n\f\r ]+/g, "");
  if (!url && s.length % 4 === 0) s = s.replace(/={1,2}$/, "");
  if (s.length % 4 === 1) return null;
  if (url ? /[^A-Za-z0-9_-]/.test(s) : /[^A-Za-z0-9+/]/.test(s)) return null;
  const out = new Uint8Array((s.length * 3) >> 2);
  let j = 0;
  let acc = 0;
  let bits = 0;
  for (let i = 0; i < s.length; i++) {
    acc = (acc << 6) | DECODE[s.charCodeAt(i)];
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out[j++] = (acc >> bits) & 0xff;
    }
  }
  return out;
}

function invalidCharacter(message) {
  return new DOMException(message, "InvalidCharacterError");
}

export function atob(data) {
  if (arguments.length < 1) throw new TypeError("atob: 1 argument required");
  const bytes = base64Decode(String(data));
  if (!bytes) throw invalidCharacter("atob: the string to be decoded is not correctly encoded");
  const units = new Uint16Array(bytes.length);
  units.set(bytes);
  return unitsToString(units, units.length);
}

export function btoa(data) {
  if (arguments.length < 1) throw new TypeError("btoa: 1 argument required");
  const s = String(data);
  const bytes = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c > 0xff) throw invalidCharacter("btoa: the string contains characters outside of the Latin1 range");
    bytes[i] = c;
  }
  return base64Encode(bytes);
}

defineGlobal("atob", atob);
defineGlobal("btoa", btoa);
