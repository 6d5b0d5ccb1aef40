/*
 * webapi_clone.js - structuredClone. Run by tests/runtime/test_webapi.c
 * through `isolde run`: one line per check and per group, "ok N" last; the
 * first failing check throws.
 */
import { check, eq, throws, group, show, done } from "./lib/assert.js";

await group("primitives and wrappers", () => {
  for (const v of [1, -0, NaN, "s", true, null, undefined, 12n]) eq(structuredClone(v), v, `primitive ${show(v)}`);
  const num = structuredClone(new Number(5));
  check(typeof num === "object" && num.valueOf() === 5, "Number object");
  eq(structuredClone(new String("ab")).valueOf(), "ab", "String object");
  eq(structuredClone(new Boolean(false)).valueOf(), false, "Boolean object");
  eq(structuredClone(Object(3n)).valueOf(), 3n, "BigInt object");
  throws(() => structuredClone(Symbol("s")), DOMException, "DataCloneError", "a symbol");
  throws(() => structuredClone(Object(Symbol("s"))), DOMException, "DataCloneError", "a Symbol object");
  throws(() => structuredClone(), TypeError, null, "no argument");
});

await group("objects", () => {
  const d = new Date(1234);
  const cd = structuredClone(d);
  check(cd instanceof Date && cd !== d && cd.getTime() === 1234, "Date");
  const re = /a+b/gi;
  re.lastIndex = 3;
  const cre = structuredClone(re);
  check(cre instanceof RegExp && cre.source === "a+b" && cre.flags === "gi", "RegExp source and flags");
  eq(cre.lastIndex, 0, "RegExp lastIndex not kept");
  const m = new Map([[{ k: 1 }, new Set([1, 2])]]);
  const cm = structuredClone(m);
  const [[ck, cv]] = [...cm];
  check(cm instanceof Map && ck.k === 1 && cv instanceof Set && cv.has(2), "Map of object to Set");
  const arr = [1, , "three"];
  arr.extra = "x";
  const carr = structuredClone(arr);
  check(Array.isArray(carr) && carr.length === 3 && !(1 in carr) && carr[2] === "three", "Array with a hole");
  eq(carr.extra, "x", "Array's non-index property");
  class Thing {
    constructor() {
      this.v = 1;
    }
    method() {}
  }
  const ct = structuredClone(new Thing());
  check(Object.getPrototypeOf(ct) === Object.prototype && ct.v === 1, "class instance becomes a plain object");
  const hidden = Object.defineProperty({ a: 1 }, "h", { value: 2, enumerable: false });
  check(!("h" in structuredClone(hidden)), "non-enumerable properties are skipped");
  const withGetter = {
    get g() {
      return "got";
    },
  };
  const cg = structuredClone(withGetter);
  eq(Object.getOwnPropertyDescriptor(cg, "g").value, "got", "getters are read into data properties");
  check(!(Symbol.iterator in structuredClone({ [Symbol.iterator]: 1 })), "symbol keys are skipped");
  const proto = structuredClone({ ["__proto__"]: 1 });
  check(Object.getPrototypeOf(proto) === Object.prototype, "__proto__ key does not change the prototype");
});

await group("references", () => {
  const shared = { s: 1 };
  const o = { a: shared, b: shared, list: [shared] };
  o.self = o;
  const c = structuredClone(o);
  check(c !== o && c.self === c, "cycle preserved");
  check(c.a === c.b && c.a === c.list[0] && c.a !== shared, "shared references stay shared");
  const m = new Map();
  m.set("me", m);
  const cm = structuredClone(m);
  eq(cm.get("me"), cm, "Map containing itself");
});

await group("errors", () => {
  const e = new RangeError("out");
  const ce = structuredClone(e);
  check(ce instanceof RangeError && ce !== e, "RangeError type");
  eq(ce.message, "out", "message");
  eq(typeof ce.stack, "string", "stack kept");
  class Custom extends Error {
    constructor() {
      super("custom");
      this.name = "Custom";
    }
  }
  const cc = structuredClone(new Custom());
  check(Object.getPrototypeOf(cc) === Error.prototype && cc.message === "custom", "unknown Error subclasses become Error");
  const withCause = structuredClone(new Error("outer", { cause: new TypeError("inner") }));
  check(withCause.cause instanceof TypeError && withCause.cause.message === "inner", "cause cloned");
  const dom = structuredClone(new DOMException("dm", "AbortError"));
  check(dom instanceof DOMException && dom.name === "AbortError" && dom.message === "dm", "DOMException");
});

await group("binary", async () => {
  const buf = new Uint8Array([1, 2, 3, 4]).buffer;
  const cb = structuredClone(buf);
  check(cb instanceof ArrayBuffer && cb !== buf && new Uint8Array(cb)[3] === 4, "ArrayBuffer copied");
  const u16 = new Uint16Array([1, 2, 3]);
  const view = { whole: u16, part: new Uint8Array(u16.buffer, 2, 2), dv: new DataView(u16.buffer, 4) };
  const cv = structuredClone(view);
  check(cv.whole instanceof Uint16Array && cv.whole[2] === 3, "Uint16Array");
  check(cv.part.buffer === cv.whole.buffer && cv.dv.buffer === cv.whole.buffer, "views keep sharing one buffer");
  eq(cv.part.byteOffset, 2, "view byteOffset");
  eq(cv.dv.getUint16(0, true), 3, "DataView offset and contents");
  cv.whole[0] = 99;
  eq(u16[0], 1, "the copy does not alias the original");
  eq(structuredClone(new BigInt64Array([5n]))[0], 5n, "BigInt64Array");
  const rab = new ArrayBuffer(2, { maxByteLength: 8 });
  const crab = structuredClone(rab);
  check(crab.resizable && crab.maxByteLength === 8, "resizable ArrayBuffer stays resizable");

  const t = new Uint8Array([7, 8]).buffer;
  const moved = structuredClone({ t, view: new Uint8Array(t) }, { transfer: [t] });
  eq(t.byteLength, 0, "transferred buffer is detached");
  check(moved.t.byteLength === 2 && moved.view.buffer === moved.t && moved.view[1] === 8, "transferred buffer arrives with its views");
  const keep = new ArrayBuffer(1);
  throws(() => structuredClone({ keep, f() {} }, { transfer: [keep] }), DOMException, "DataCloneError", "failing clone with transfer");
  eq(keep.byteLength, 1, "a failed clone does not detach");
  throws(() => structuredClone(1, { transfer: [keep, keep] }), DOMException, "DataCloneError", "duplicate transfer");
  throws(() => structuredClone(1, { transfer: [t] }), DOMException, "DataCloneError", "transferring a detached buffer");
  throws(() => structuredClone(1, { transfer: [{}] }), DOMException, "DataCloneError", "transferring a non-buffer");

  const blob = new Blob(["hi"], { type: "text/plain" });
  const cblob = structuredClone(blob);
  check(cblob instanceof Blob && cblob !== blob && cblob.type === "text/plain", "Blob");
  eq(await cblob.text(), "hi", "Blob contents");
  const file = new File(["f"], "a.txt", { lastModified: 5 });
  const cfile = structuredClone(file);
  check(cfile instanceof File && cfile.name === "a.txt" && cfile.lastModified === 5, "File");
  eq(await cfile.text(), "f", "File contents");
});

await group("not cloneable", () => {
  throws(() => structuredClone(() => 1), DOMException, "DataCloneError", "a function");
  throws(() => structuredClone({ nested: { f: function () {} } }), DOMException, "DataCloneError", "a nested function");
  throws(() => structuredClone(new WeakMap()), DOMException, "DataCloneError", "a WeakMap");
  throws(() => structuredClone(Promise.resolve()), DOMException, "DataCloneError", "a Promise");
  throws(() => structuredClone(new Headers()), DOMException, "DataCloneError", "Headers");
  throws(() => structuredClone(new URL("http://a/")), DOMException, "DataCloneError", "a URL");
  throws(() => structuredClone(new AbortController().signal), DOMException, "DataCloneError", "an AbortSignal");
  throws(() => structuredClone(new ReadableStream()), DOMException, "DataCloneError", "a ReadableStream");
  let code = 0;
  try {
    structuredClone(() => 1);
  } catch (e) {
    code = e.code;
  }
  eq(code, 25, "DataCloneError code");
});

done();
