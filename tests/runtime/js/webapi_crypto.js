/*
 * webapi_crypto.js - crypto.getRandomValues, randomUUID and crypto.subtle
 * (digest and HMAC against published test vectors: FIPS 180 "abc", RFC 2202
 * and RFC 4231). Run by tests/runtime/test_webapi.c through `isolde run`:
 * one line per check and per group, "ok N" last; the first failing check
 * throws.
 */
import { check, eq, throws, rejects, group, done } from "./lib/assert.js";

const hex = (buf) => Array.from(new Uint8Array(buf), (b) => b.toString(16).padStart(2, "0")).join("");
const enc = (s) => new TextEncoder().encode(s);
const subtle = crypto.subtle;

/* SubtleCrypto reports errors by rejecting, never by throwing: each call
 * also checks (as a check of its own) that a promise came back. */
async function rejectsPromise(promise, Type, name, what) {
  check(promise instanceof Promise, `${what} returns a promise`);
  await rejects(promise, Type, name, what);
}

await group("getRandomValues", () => {
  const a = new Uint8Array(64);
  eq(crypto.getRandomValues(a), a, "returns its argument");
  check(a.some((b) => b !== 0), "fills with random bytes");
  const b = new Uint8Array(64);
  crypto.getRandomValues(b);
  check(hex(a) !== hex(b), "two draws differ");
  for (const C of [Int8Array, Uint8ClampedArray, Int16Array, Uint16Array, Int32Array, Uint32Array, BigInt64Array, BigUint64Array]) {
    crypto.getRandomValues(new C(4));
  }
  check(true, "every integer typed array is accepted");
  const part = new Uint8Array(8);
  crypto.getRandomValues(part.subarray(2, 4));
  check(part[0] === 0 && part[1] === 0 && part.slice(4).every((x) => x === 0), "only the view's bytes are written");
  crypto.getRandomValues(new Uint8Array(65536));
  check(true, "65536 bytes is allowed");
  throws(() => crypto.getRandomValues(new Uint8Array(65537)), DOMException, "QuotaExceededError", "65537 bytes");
  throws(() => crypto.getRandomValues(new Float64Array(2)), DOMException, "TypeMismatchError", "a Float64Array");
  throws(() => crypto.getRandomValues(new DataView(new ArrayBuffer(2))), DOMException, "TypeMismatchError", "a DataView");
  throws(() => crypto.getRandomValues([1, 2]), TypeError, null, "an Array");
  const g = crypto.getRandomValues;
  throws(() => g(new Uint8Array(1)), TypeError, null, "called without the crypto object");
});

await group("randomUUID", () => {
  const u = crypto.randomUUID();
  check(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/.test(u), `version 4 format (${u})`);
  check(crypto.randomUUID() !== u, "unique");
  eq(Object.prototype.toString.call(crypto), "[object Crypto]", "Crypto toStringTag");
  eq(Object.prototype.toString.call(subtle), "[object SubtleCrypto]", "SubtleCrypto toStringTag");
  throws(() => new Crypto(), TypeError, null, "Crypto is not constructible");
  throws(() => new CryptoKey(), TypeError, null, "CryptoKey is not constructible");
});

await group("digest", async () => {
  eq(hex(await subtle.digest("SHA-1", enc("abc"))), "a9993e364706816aba3e25717850c26c9cd0d89d", "SHA-1");
  eq(hex(await subtle.digest("SHA-256", enc("abc"))), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", "SHA-256");
  eq(
    hex(await subtle.digest({ name: "sha-384" }, enc("abc"))),
    "cb00753f45a35e8bb5a03d699ac65007272c32ab0eded1631a8b605a43ff5bed8086072ba1e7cc2358baeca134c825a7",
    "SHA-384 by object and lower-case name",
  );
  eq(
    hex(await subtle.digest("SHA-512", enc("abc").buffer)),
    "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f",
    "SHA-512 of an ArrayBuffer",
  );
  eq(hex(await subtle.digest("SHA-256", new Uint8Array(0))), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", "SHA-256 of nothing");
  eq(hex(await subtle.digest("SHA-256", new Uint8Array([0, 97, 98, 99, 0]).subarray(1, 4))), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", "a view's own bytes");
  check((await subtle.digest("SHA-1", enc("x"))) instanceof ArrayBuffer, "resolves to an ArrayBuffer");
  const data = enc("abc");
  const p = subtle.digest("SHA-256", data);
  data[0] = 0; // changed after the call: the digest uses the bytes as they were
  eq(hex(await p), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", "input copied at call time");
  eq(hex(await subtle.digest("MD5", enc("abc"))), "900150983cd24fb0d6963f7d28e17f72", "MD5 (Workers extension)");
  eq(hex(await subtle.digest("md5", new Uint8Array(0))), "d41d8cd98f00b204e9800998ecf8427e", "MD5 of nothing");
  eq(
    hex(await subtle.digest("MD5", enc("12345678901234567890123456789012345678901234567890123456789012345678901234567890"))),
    "57edf4a22be3c955ac49da2e2107b67a",
    "MD5 over two blocks",
  );
  await rejectsPromise(subtle.digest("MD4", enc("x")), DOMException, "NotSupportedError", "unknown hash");
  await rejectsPromise(subtle.importKey("raw", enc("k"), { name: "HMAC", hash: "MD5" }, false, ["sign"]), DOMException, "NotSupportedError", "HMAC-MD5");
  await rejectsPromise(subtle.digest("SHA-256", "text"), TypeError, null, "a string as data");
  const ds = new crypto.DigestStream("SHA-256");
  const w = ds.getWriter();
  await w.write(enc("a"));
  await w.write(enc("bc"));
  await w.close();
  eq(hex(await ds.digest), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", "DigestStream");
});

await group("HMAC", async () => {
  const data = enc("what do ya want for nothing?");
  const vectors = [
    ["SHA-1", "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79"],
    ["SHA-256", "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"],
    ["SHA-512", "164b7a7bfcf819e2e395fbe73b56e0a387bd64222e831fd610270cd7ea2505549758bf75c05a994a6d034f65f8f0e6fdcaeab1a34d4a6b4b636e070a38bce737"],
  ];
  for (const [hash, want] of vectors) {
    const key = await subtle.importKey("raw", enc("Jefe"), { name: "HMAC", hash }, true, ["sign", "verify"]);
    eq(hex(await subtle.sign("HMAC", key, data)), want, `HMAC-${hash} sign`);
    eq(await subtle.verify("HMAC", key, new Uint8Array(Buffer_from_hex(want)), data), true, `HMAC-${hash} verify`);
  }
  const key = await subtle.importKey("raw", enc("Jefe"), { name: "HMAC", hash: { name: "SHA-256" } }, true, ["verify", "sign", "sign"]);
  check(key instanceof CryptoKey, "importKey gives a CryptoKey");
  eq(key.type, "secret", "type");
  eq(key.extractable, true, "extractable");
  eq(key.algorithm.name, "HMAC", "algorithm name");
  eq(key.algorithm.hash.name, "SHA-256", "algorithm hash");
  eq(key.algorithm.length, 32, "algorithm length in bits");
  eq(key.usages.join(), "sign,verify", "usages in order without duplicates");
  const sig = new Uint8Array(await subtle.sign({ name: "hmac" }, key, data));
  sig[0] ^= 1;
  eq(await subtle.verify("HMAC", key, sig, data), false, "verify rejects a changed signature");
  eq(await subtle.verify("HMAC", key, sig.subarray(1), data), false, "verify rejects a short signature");
  eq(hex(await subtle.exportKey("raw", key)), hex(enc("Jefe")), "exportKey raw");
  const jwk = await subtle.exportKey("jwk", key);
  eq(`${jwk.kty} ${jwk.k} ${jwk.alg} ${jwk.ext}`, "oct SmVmZQ HS256 true", "exportKey jwk");
  const fromJwk = await subtle.importKey("jwk", { kty: "oct", k: "SmVmZQ", alg: "HS256" }, { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
  eq(hex(await subtle.sign("HMAC", fromJwk, data)), vectors[1][1], "importKey jwk signs the same");
  await rejectsPromise(subtle.exportKey("raw", fromJwk), DOMException, "InvalidAccessError", "exporting a non-extractable key");
  await rejectsPromise(subtle.verify("HMAC", fromJwk, sig, data), DOMException, "InvalidAccessError", "verify with a sign-only key");
  await rejectsPromise(
    subtle.importKey("jwk", { kty: "oct", k: "SmVmZQ", alg: "HS512" }, { name: "HMAC", hash: "SHA-256" }, false, ["sign"]),
    DOMException,
    "DataError",
    "jwk alg mismatch",
  );
  await rejectsPromise(subtle.importKey("jwk", { kty: "RSA" }, { name: "HMAC", hash: "SHA-256" }, false, ["sign"]), DOMException, "DataError", "jwk kty");
  await rejectsPromise(subtle.importKey("raw", enc("k"), { name: "HMAC", hash: "SHA-256" }, false, ["encrypt"]), DOMException, "SyntaxError", "bad usage");
  await rejectsPromise(subtle.importKey("raw", enc("k"), { name: "HMAC", hash: "SHA-256" }, false, []), DOMException, "SyntaxError", "no usages");
  await rejectsPromise(subtle.importKey("raw", new Uint8Array(0), { name: "HMAC", hash: "SHA-256" }, false, ["sign"]), DOMException, "DataError", "empty key");
  await rejectsPromise(subtle.importKey("raw", enc("k"), { name: "HMAC" }, false, ["sign"]), TypeError, null, "HMAC without a hash");
  await rejectsPromise(subtle.importKey("raw", enc("k"), { name: "HMAC", hash: "SHA-256", length: 16 }, false, ["sign"]), DOMException, "DataError", "length larger than the key");

  const gen = await subtle.generateKey({ name: "HMAC", hash: "SHA-512" }, true, ["sign"]);
  eq(gen.algorithm.length, 1024, "generateKey default length is the block size");
  eq((await subtle.exportKey("raw", gen)).byteLength, 128, "generated key bytes");
  const gen2 = await subtle.generateKey({ name: "HMAC", hash: "SHA-256", length: 256 }, false, ["sign", "verify"]);
  const s2 = await subtle.sign("HMAC", gen2, data);
  eq(await subtle.verify("HMAC", gen2, s2, data), true, "generated key signs and verifies");
  eq(subtle.timingSafeEqual(enc("abc"), enc("abc")), true, "timingSafeEqual equal");
  eq(subtle.timingSafeEqual(enc("abc"), enc("abd")), false, "timingSafeEqual different");
});

await group("unsupported", async () => {
  await rejectsPromise(subtle.importKey("raw", new Uint8Array(16), "AES-GCM", false, ["encrypt"]), DOMException, "NotSupportedError", "AES-GCM importKey");
  await rejectsPromise(subtle.generateKey({ name: "ECDSA", namedCurve: "P-256" }, false, ["sign"]), DOMException, "NotSupportedError", "ECDSA generateKey");
  await rejectsPromise(subtle.encrypt({ name: "AES-GCM" }, null, new Uint8Array(1)), DOMException, "NotSupportedError", "encrypt");
  await rejectsPromise(subtle.deriveBits({ name: "HKDF" }, null, 8), DOMException, "NotSupportedError", "deriveBits");
  await rejectsPromise(subtle.importKey("raw", enc("k"), "NoSuchAlgorithm", false, ["sign"]), DOMException, "NotSupportedError", "unknown algorithm");
});

function Buffer_from_hex(h) {
  return h.match(/../g).map((x) => parseInt(x, 16));
}

done();
