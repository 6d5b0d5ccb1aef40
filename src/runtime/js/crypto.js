/*
 * crypto.js - the crypto global (Web Crypto): getRandomValues,
 * randomUUID and the parts of crypto.subtle that the host can back:
 * digest (SHA-1/256/384/512) and HMAC keys (importKey raw/jwk, exportKey,
 * generateKey, sign, verify). Every other algorithm is a NotSupportedError,
 * as the spec's "normalize an algorithm" gives for unknown names.
 *
 * The host does the hashing (host.digest, host.hmac) synchronously; the
 * promises only keep the API's shape. Input bytes are copied when a
 * method is called, as the spec asks, so later writes do not leak in.
 * Workers' crypto.subtle.timingSafeEqual and crypto.DigestStream are here
 * too (DigestStream buffers what is written and hashes it on close), and
 * so is Workers' non-standard MD5 digest, in JavaScript since the host
 * does not offer it (it is for checksums, not security).
 */
import host from "./host.js";
import { DOMException, defineGlobal, exposeInterface } from "./domexception.js";
import { base64Decode, base64Encode, bufferSourceBytes } from "./encoding.js";

const ILLEGAL = Symbol("illegal constructor");

function domError(name, message) {
  return new DOMException(message, name);
}

/* ---- getRandomValues / randomUUID -------------------------------------------------- */

const INTEGER_ARRAYS = [
  Int8Array,
  Uint8Array,
  Uint8ClampedArray,
  Int16Array,
  Uint16Array,
  Int32Array,
  Uint32Array,
  BigInt64Array,
  BigUint64Array,
];
const typedArrayTag = Object.getOwnPropertyDescriptor(Object.getPrototypeOf(Uint8Array.prototype), Symbol.toStringTag).get;
const INTEGER_TAGS = new Set(INTEGER_ARRAYS.map((C) => C.name));

function getRandomValues(array) {
  if (arguments.length < 1) throw new TypeError("crypto.getRandomValues: 1 argument required");
  if (!ArrayBuffer.isView(array)) throw new TypeError("crypto.getRandomValues: the argument must be an ArrayBufferView");
  if (!INTEGER_TAGS.has(typedArrayTag.call(array))) {
    throw domError("TypeMismatchError", "crypto.getRandomValues: the argument must be an integer typed array");
  }
  if (array.byteLength > 65536) {
    throw domError("QuotaExceededError", `crypto.getRandomValues: ${array.byteLength} bytes requested, at most 65536 allowed`);
  }
  if (array.byteLength > 0) {
    new Uint8Array(array.buffer, array.byteOffset, array.byteLength).set(new Uint8Array(host.random(array.byteLength)));
  }
  return array;
}

const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, "0"));

function randomUUID() {
  const b = new Uint8Array(host.random(16));
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  let s = "";
  for (let i = 0; i < 16; i++) {
    if (i === 4 || i === 6 || i === 8 || i === 10) s += "-";
    s += HEX[b[i]];
  }
  return s;
}

/* ---- algorithms ------------------------------------------------------------------- */

const HASHES = { "SHA-1": 512, "SHA-256": 512, "SHA-384": 1024, "SHA-512": 1024 }; // name -> block size in bits
const JWK_ALG = { "SHA-1": "HS1", "SHA-256": "HS256", "SHA-384": "HS384", "SHA-512": "HS512" };

/* Names the spec registers, which we know but do not implement. */
const KNOWN = [
  "RSASSA-PKCS1-v1_5",
  "RSA-PSS",
  "RSA-OAEP",
  "ECDSA",
  "ECDH",
  "AES-CTR",
  "AES-CBC",
  "AES-GCM",
  "AES-KW",
  "HKDF",
  "PBKDF2",
  "Ed25519",
  "X25519",
];

/* ---- MD5 (RFC 1321), for Workers compatibility ------------------------------------------ */

const MD5_S = [7, 12, 17, 22, 5, 9, 14, 20, 4, 11, 16, 23, 6, 10, 15, 21];
const MD5_K = Array.from({ length: 64 }, (_, i) => Math.floor(Math.abs(Math.sin(i + 1)) * 2 ** 32) >>> 0);

function md5(bytes) {
  const bitLen = bytes.length * 8;
  const padded = new Uint8Array((((bytes.length + 8) >> 6) + 1) << 6);
  padded.set(bytes);
  padded[bytes.length] = 0x80;
  const view = new DataView(padded.buffer);
  view.setUint32(padded.length - 8, bitLen >>> 0, true);
  view.setUint32(padded.length - 4, Math.floor(bitLen / 2 ** 32), true);
  let a0 = 0x67452301;
  let b0 = 0xefcdab89;
  let c0 = 0x98badcfe;
  let d0 = 0x10325476;
  const m = new Uint32Array(16);
  for (let off = 0; off < padded.length; off += 64) {
    for (let i = 0; i < 16; i++) m[i] = view.getUint32(off + i * 4, true);
    let a = a0;
    let b = b0;
    let c = c0;
    let d = d0;
    for (let i = 0; i < 64; i++) {
      let f;
      let g;
      if (i < 16) {
        f = (b & c) | (~b & d);
        g = i;
      } else if (i < 32) {
        f = (d & b) | (~d & c);
        g = (5 * i + 1) & 15;
      } else if (i < 48) {
        f = b ^ c ^ d;
        g = (3 * i + 5) & 15;
      } else {
        f = c ^ (b | ~d);
        g = (7 * i) & 15;
      }
      const sum = (a + f + MD5_K[i] + m[g]) | 0;
      const s = MD5_S[(i >> 4) * 4 + (i & 3)];
      a = d;
      d = c;
      c = b;
      b = (b + ((sum << s) | (sum >>> (32 - s)))) | 0;
    }
    a0 = (a0 + a) | 0;
    b0 = (b0 + b) | 0;
    c0 = (c0 + c) | 0;
    d0 = (d0 + d) | 0;
  }
  const out = new DataView(new ArrayBuffer(16));
  [a0, b0, c0, d0].forEach((v, i) => out.setUint32(i * 4, v, true));
  return out.buffer;
}

function digestBytes(name, bytes) {
  return name === "MD5" ? md5(bytes) : host.digest(name, bytes.buffer);
}

const DIGESTS = [...Object.keys(HASHES), "MD5"];

function algorithmName(algorithm) {
  if (typeof algorithm === "string") return algorithm;
  if (algorithm === null || typeof algorithm !== "object") {
    throw new TypeError("crypto.subtle: the algorithm must be a string or an object with a name");
  }
  if (algorithm.name === undefined) throw new TypeError("crypto.subtle: the algorithm has no name");
  return String(algorithm.name);
}

/* The registered spelling of a name (matched case-insensitively), or a NotSupportedError. */
function canonical(name, allowed) {
  const upper = name.toUpperCase();
  for (const n of allowed) if (n.toUpperCase() === upper) return n;
  for (const n of KNOWN) {
    if (n.toUpperCase() === upper) throw domError("NotSupportedError", `crypto.subtle: ${n} is not supported here`);
  }
  throw domError("NotSupportedError", `crypto.subtle: unrecognized algorithm name "${name}"`);
}

function hashName(hash) {
  if (hash === undefined) throw new TypeError("crypto.subtle: HMAC needs a hash");
  return canonical(algorithmName(hash), Object.keys(HASHES));
}

function bytesArg(value, what) {
  const view = bufferSourceBytes(value);
  if (!view) throw new TypeError(`crypto.subtle.${what}: expected an ArrayBuffer or ArrayBufferView`);
  return view.slice(); // the spec's "get a copy of the buffer source"
}

/* ---- CryptoKey ------------------------------------------------------------------------ */

let keyData;

export class CryptoKey {
  #type;
  #extractable;
  #algorithm;
  #usages;
  #data;

  static {
    keyData = (key) => key.#data;
  }

  constructor(key = undefined, type, extractable, algorithm, usages, data) {
    if (key !== ILLEGAL) throw new TypeError("Illegal constructor");
    this.#type = type;
    this.#extractable = extractable;
    this.#algorithm = algorithm;
    this.#usages = usages;
    this.#data = data;
  }

  get type() {
    return this.#type;
  }
  get extractable() {
    return this.#extractable;
  }
  get algorithm() {
    return this.#algorithm;
  }
  get usages() {
    return this.#usages;
  }
}

const HMAC_USAGES = ["sign", "verify"];

function checkUsages(usages, allowed, what) {
  const list = [...usages].map(String);
  for (const u of list) {
    if (!allowed.includes(u)) throw domError("SyntaxError", `crypto.subtle.${what}: usage "${u}" is not valid for this key`);
  }
  return allowed.filter((u) => list.includes(u)); // spec order, no duplicates
}

function hmacKey(bytes, hash, length, extractable, usages) {
  const algorithm = { name: "HMAC", hash: { name: hash }, length };
  return new CryptoKey(ILLEGAL, "secret", Boolean(extractable), algorithm, usages, bytes);
}

function hmacLength(algorithm, dataBits, what) {
  if (algorithm.length === undefined) return dataBits;
  const length = Number(algorithm.length);
  if (!Number.isInteger(length) || length <= 0) throw domError("DataError", `crypto.subtle.${what}: invalid HMAC length`);
  if (length > dataBits || length <= dataBits - 8) {
    throw domError("DataError", `crypto.subtle.${what}: the HMAC length does not match the key data`);
  }
  return length;
}

function importHmac(format, keyData, algorithm, extractable, usages) {
  const hash = hashName(algorithm.hash);
  let bytes;
  if (format === "raw") {
    bytes = bytesArg(keyData, "importKey");
  } else if (format === "jwk") {
    const jwk = keyData;
    if (jwk === null || typeof jwk !== "object" || bufferSourceBytes(jwk)) {
      throw new TypeError("crypto.subtle.importKey: a jwk key must be an object");
    }
    if (jwk.kty !== "oct") throw domError("DataError", 'crypto.subtle.importKey: the jwk kty must be "oct"');
    if (typeof jwk.k !== "string") throw domError("DataError", "crypto.subtle.importKey: the jwk has no k");
    bytes = base64Decode(jwk.k, true);
    if (!bytes) throw domError("DataError", "crypto.subtle.importKey: the jwk k is not base64url");
    if (jwk.alg !== undefined && jwk.alg !== JWK_ALG[hash]) {
      throw domError("DataError", `crypto.subtle.importKey: the jwk alg does not match ${hash}`);
    }
    if (usages.length > 0 && jwk.use !== undefined && jwk.use !== "sig") {
      throw domError("DataError", 'crypto.subtle.importKey: the jwk use must be "sig"');
    }
    if (jwk.key_ops !== undefined) {
      if (!Array.isArray(jwk.key_ops)) throw domError("DataError", "crypto.subtle.importKey: jwk key_ops must be an array");
      for (const u of usages) {
        if (!jwk.key_ops.includes(u)) throw domError("DataError", `crypto.subtle.importKey: jwk key_ops lacks "${u}"`);
      }
    }
    if (jwk.ext === false && extractable) {
      throw domError("DataError", "crypto.subtle.importKey: the jwk is not extractable");
    }
  } else {
    throw domError("NotSupportedError", `crypto.subtle.importKey: format "${format}" is not supported for HMAC`);
  }
  if (bytes.length === 0) throw domError("DataError", "crypto.subtle.importKey: the HMAC key is empty");
  const length = hmacLength(algorithm, bytes.length * 8, "importKey");
  return hmacKey(bytes, hash, length, extractable, usages);
}

function checkKey(key, name, usage, what) {
  if (!(key instanceof CryptoKey)) throw new TypeError(`crypto.subtle.${what}: the key must be a CryptoKey`);
  if (key.algorithm.name !== name) {
    throw domError("InvalidAccessError", `crypto.subtle.${what}: the key is not a ${name} key`);
  }
  if (!key.usages.includes(usage)) {
    throw domError("InvalidAccessError", `crypto.subtle.${what}: the key does not allow "${usage}"`);
  }
}

function hmacSign(key, data) {
  return new Uint8Array(host.hmac(key.algorithm.hash.name, keyData(key).slice().buffer, data.buffer));
}

/* Compares in time that depends only on the lengths. */
function timingSafeEqualBytes(a, b) {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a[i] ^ b[i];
  return diff === 0;
}

/* ---- SubtleCrypto ------------------------------------------------------------------------ */

/* Runs fn now and turns its result or exception into a promise. */
function promised(fn) {
  try {
    return Promise.resolve(fn());
  } catch (err) {
    return Promise.reject(err);
  }
}

export class SubtleCrypto {
  constructor(key = undefined) {
    if (key !== ILLEGAL) throw new TypeError("Illegal constructor");
  }

  digest(algorithm, data) {
    return promised(() => {
      if (arguments.length < 2) throw new TypeError("crypto.subtle.digest: 2 arguments required");
      const name = canonical(algorithmName(algorithm), DIGESTS);
      const bytes = bytesArg(data, "digest");
      return digestBytes(name, bytes);
    });
  }

  importKey(format, keyData, algorithm, extractable, keyUsages) {
    return promised(() => {
      if (arguments.length < 5) throw new TypeError("crypto.subtle.importKey: 5 arguments required");
      format = String(format);
      if (!["raw", "jwk", "spki", "pkcs8"].includes(format)) {
        throw new TypeError(`crypto.subtle.importKey: invalid format "${format}"`);
      }
      const name = canonical(algorithmName(algorithm), ["HMAC"]);
      const usages = checkUsages(keyUsages, HMAC_USAGES, "importKey");
      const key = importHmac(format, keyData, typeof algorithm === "string" ? { name } : algorithm, extractable, usages);
      if (usages.length === 0) throw domError("SyntaxError", "crypto.subtle.importKey: a secret key needs usages");
      return key;
    });
  }

  exportKey(format, key) {
    return promised(() => {
      if (arguments.length < 2) throw new TypeError("crypto.subtle.exportKey: 2 arguments required");
      format = String(format);
      if (!(key instanceof CryptoKey)) throw new TypeError("crypto.subtle.exportKey: the key must be a CryptoKey");
      if (!key.extractable) throw domError("InvalidAccessError", "crypto.subtle.exportKey: the key is not extractable");
      const bytes = keyData(key);
      if (format === "raw") return bytes.slice().buffer;
      if (format === "jwk") {
        return {
          kty: "oct",
          k: base64Encode(bytes, true),
          alg: JWK_ALG[key.algorithm.hash.name],
          key_ops: [...key.usages],
          ext: key.extractable,
        };
      }
      if (format === "spki" || format === "pkcs8") {
        throw domError("NotSupportedError", `crypto.subtle.exportKey: format "${format}" is not supported for HMAC`);
      }
      throw new TypeError(`crypto.subtle.exportKey: invalid format "${format}"`);
    });
  }

  generateKey(algorithm, extractable, keyUsages) {
    return promised(() => {
      if (arguments.length < 3) throw new TypeError("crypto.subtle.generateKey: 3 arguments required");
      canonical(algorithmName(algorithm), ["HMAC"]);
      const usages = checkUsages(keyUsages, HMAC_USAGES, "generateKey");
      const hash = hashName(algorithm.hash);
      let length = HASHES[hash];
      if (algorithm.length !== undefined) {
        length = Number(algorithm.length);
        if (!Number.isInteger(length) || length <= 0) {
          throw domError("OperationError", "crypto.subtle.generateKey: invalid HMAC length");
        }
      }
      if (usages.length === 0) throw domError("SyntaxError", "crypto.subtle.generateKey: a secret key needs usages");
      const bytes = new Uint8Array(host.random(Math.ceil(length / 8)));
      if (length % 8 !== 0) bytes[bytes.length - 1] &= 0xff << (8 - (length % 8));
      return hmacKey(bytes, hash, length, extractable, usages);
    });
  }

  sign(algorithm, key, data) {
    return promised(() => {
      if (arguments.length < 3) throw new TypeError("crypto.subtle.sign: 3 arguments required");
      const name = canonical(algorithmName(algorithm), ["HMAC"]);
      const bytes = bytesArg(data, "sign");
      checkKey(key, name, "sign", "sign");
      return hmacSign(key, bytes).buffer;
    });
  }

  verify(algorithm, key, signature, data) {
    return promised(() => {
      if (arguments.length < 4) throw new TypeError("crypto.subtle.verify: 4 arguments required");
      const name = canonical(algorithmName(algorithm), ["HMAC"]);
      const sig = bytesArg(signature, "verify");
      const bytes = bytesArg(data, "verify");
      checkKey(key, name, "verify", "verify");
      return timingSafeEqualBytes(hmacSign(key, bytes), sig);
    });
  }

  /* Workers' extension: constant-time comparison of two equal-length buffers. */
  timingSafeEqual(a, b) {
    const x = bufferSourceBytes(a);
    const y = bufferSourceBytes(b);
    if (!x || !y) throw new TypeError("crypto.subtle.timingSafeEqual: expected two ArrayBuffers or views");
    if (x.length !== y.length) throw new TypeError("crypto.subtle.timingSafeEqual: the buffers differ in length");
    return timingSafeEqualBytes(x, y);
  }
}

for (const name of ["encrypt", "decrypt", "deriveBits", "deriveKey", "wrapKey", "unwrapKey"]) {
  Object.defineProperty(SubtleCrypto.prototype, name, {
    value: {
      [name]() {
        return Promise.reject(domError("NotSupportedError", `crypto.subtle.${name} is not supported here`));
      },
    }[name],
    writable: true,
    configurable: true,
    enumerable: false,
  });
}

/* ---- Crypto --------------------------------------------------------------------------- */

const subtle = new SubtleCrypto(ILLEGAL);

export class Crypto {
  #brand = true;

  constructor(key = undefined) {
    if (key !== ILLEGAL) throw new TypeError("Illegal constructor");
  }

  static #check(self, what) {
    if (self === null || typeof self !== "object" || !(#brand in self)) {
      throw new TypeError(`crypto.${what}: illegal invocation (call it on crypto)`);
    }
  }

  get subtle() {
    Crypto.#check(this, "subtle");
    return subtle;
  }

  getRandomValues(array) {
    Crypto.#check(this, "getRandomValues");
    return getRandomValues.apply(this, arguments);
  }

  randomUUID() {
    Crypto.#check(this, "randomUUID");
    return randomUUID();
  }
}

exposeInterface("CryptoKey", CryptoKey);
exposeInterface("SubtleCrypto", SubtleCrypto);
exposeInterface("Crypto", Crypto);

const crypto = new Crypto(ILLEGAL);

/* Workers' crypto.DigestStream: a WritableStream whose `digest` promise
 * resolves to the hash of everything written once it is closed. */
function makeDigestStream() {
  const WS = globalThis.WritableStream;
  if (typeof WS !== "function") return undefined;
  class DigestStream extends WS {
    #digest;

    constructor(algorithm) {
      const name = canonical(algorithmName(algorithm), DIGESTS);
      const chunks = [];
      let resolve;
      let reject;
      const digest = new Promise((res, rej) => {
        resolve = res;
        reject = rej;
      });
      super({
        write(chunk) {
          const view = bufferSourceBytes(chunk);
          if (typeof chunk === "string") chunks.push(new TextEncoder().encode(chunk));
          else if (view) chunks.push(view.slice());
          else throw new TypeError("DigestStream: chunks must be ArrayBuffers, views or strings");
        },
        close() {
          let size = 0;
          for (const c of chunks) size += c.length;
          const all = new Uint8Array(size);
          let offset = 0;
          for (const c of chunks) {
            all.set(c, offset);
            offset += c.length;
          }
          resolve(digestBytes(name, all));
        },
        abort(reason) {
          reject(reason);
        },
      });
      digest.catch(() => {});
      this.#digest = digest;
    }

    get digest() {
      return this.#digest;
    }
  }
  exposeInterface("DigestStream", DigestStream, false);
  return DigestStream;
}

/* DigestStream needs WritableStream, which streams.js installs after this
 * module runs: it is created on first use. */
let DigestStreamClass;
Object.defineProperty(crypto, "DigestStream", {
  get() {
    DigestStreamClass ??= makeDigestStream();
    return DigestStreamClass;
  },
  configurable: true,
  enumerable: false,
});

defineGlobal("crypto", crypto);
