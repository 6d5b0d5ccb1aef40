/*
 * structured_clone.js - structuredClone(value, { transfer }) (HTML).
 *
 * It follows the spec's two halves: serialize() turns the value into a
 * tree of records (copying the bytes of buffers and reading every
 * property once, getters included), then the transfer list is detached,
 * then deserialize() builds the copy. A memory map in each half keeps
 * shared references shared and cycles cyclic. Splitting it this way means
 * an error in serialization (a function, a symbol, a platform object)
 * leaves transferred buffers untouched, as the spec requires.
 *
 * Serializable: primitives, Boolean/Number/BigInt/String objects, Date,
 * RegExp, ArrayBuffer (resizable too), typed arrays, DataView, Map, Set,
 * Array, plain objects, Error types, DOMException, Blob and File.
 * Transferable: ArrayBuffer. Anything else is a DataCloneError.
 */
import { DOMException, defineGlobal } from "./domexception.js";
import { Blob, File, cloneBlob } from "./blob.js";

function dataCloneError(message) {
  return new DOMException(message, "DataCloneError");
}

function getter(proto, name) {
  return Object.getOwnPropertyDescriptor(proto, name).get;
}

const TypedArray = Object.getPrototypeOf(Uint8Array);
const typedArrayTag = getter(TypedArray.prototype, Symbol.toStringTag);
const typedArrayLength = getter(TypedArray.prototype, "length");
const typedArrayBuffer = getter(TypedArray.prototype, "buffer");
const typedArrayByteOffset = getter(TypedArray.prototype, "byteOffset");
const arrayBufferByteLength = getter(ArrayBuffer.prototype, "byteLength");
const arrayBufferResizableDesc = Object.getOwnPropertyDescriptor(ArrayBuffer.prototype, "resizable");
const arrayBufferDetachedDesc = Object.getOwnPropertyDescriptor(ArrayBuffer.prototype, "detached");
const dataViewBuffer = getter(DataView.prototype, "buffer");
const dataViewByteOffset = getter(DataView.prototype, "byteOffset");
const dataViewByteLength = getter(DataView.prototype, "byteLength");
const mapSize = getter(Map.prototype, "size");
const setSize = getter(Set.prototype, "size");
const regExpSource = getter(RegExp.prototype, "source");
const regExpFlags = getter(RegExp.prototype, "flags");
const sabByteLength = typeof SharedArrayBuffer === "function" ? getter(SharedArrayBuffer.prototype, "byteLength") : null;

const ERROR_TYPES = { Error, EvalError, RangeError, ReferenceError, SyntaxError, TypeError, URIError };

function has(fn, value) {
  if (!fn) return false;
  try {
    fn.call(value);
    return true;
  } catch {
    return false;
  }
}

function valueOf(C, value) {
  try {
    return { ok: true, v: C.prototype.valueOf.call(value) };
  } catch {
    return { ok: false };
  }
}

function isError(value) {
  if (typeof Error.isError === "function") return Error.isError(value);
  return value instanceof Error;
}

/* Platform objects that may not be cloned, by global name, checked at call time. */
const PLATFORM = [
  "Headers",
  "Request",
  "Response",
  "FormData",
  "URL",
  "URLSearchParams",
  "EventTarget",
  "Event",
  "AbortController",
  "TextEncoder",
  "TextDecoder",
  "CryptoKey",
  "SubtleCrypto",
  "Crypto",
  "ReadableStream",
  "WritableStream",
  "TransformStream",
  "ReadableStreamDefaultReader",
  "ReadableStreamBYOBReader",
  "WritableStreamDefaultWriter",
  "WebSocket",
];

function isPlatformObject(value) {
  for (const name of PLATFORM) {
    const C = globalThis[name];
    if (typeof C === "function" && value instanceof C) return name;
  }
  return null;
}

function isDetached(buffer) {
  if (arrayBufferDetachedDesc) return arrayBufferDetachedDesc.get.call(buffer);
  return false;
}

/* ---- serialize ------------------------------------------------------------------------ */

function serializeBuffer(buffer, memory, transferMap) {
  if (transferMap.has(buffer)) return { type: "transferred", index: transferMap.get(buffer) };
  if (isDetached(buffer)) throw dataCloneError("structuredClone: an ArrayBuffer is detached");
  const bytes = new Uint8Array(buffer).slice();
  const resizable = arrayBufferResizableDesc ? arrayBufferResizableDesc.get.call(buffer) : false;
  return { type: "ArrayBuffer", bytes, maxByteLength: resizable ? buffer.maxByteLength : undefined };
}

function serialize(value, memory, transferMap) {
  if (value === null || (typeof value !== "object" && typeof value !== "function")) {
    if (typeof value === "symbol") throw dataCloneError("structuredClone: a Symbol could not be cloned");
    return { type: "primitive", value };
  }
  if (memory.has(value)) return memory.get(value);
  if (typeof value === "function") throw dataCloneError(`structuredClone: ${value.name || "a function"} could not be cloned`);

  let record;
  const remember = (r) => {
    memory.set(value, r);
    return r;
  };

  for (const [C, type] of [
    [Boolean, "Boolean"],
    [Number, "Number"],
    [BigInt, "BigInt"],
    [String, "String"],
  ]) {
    const r = valueOf(C, value);
    if (r.ok) return remember({ type, value: r.v });
  }
  if (valueOf(Symbol, value).ok) throw dataCloneError("structuredClone: a Symbol object could not be cloned");
  if (has(Date.prototype.getTime, value)) return remember({ type: "Date", value: Date.prototype.getTime.call(value) });
  if (has(regExpSource, value) && value !== RegExp.prototype) {
    return remember({ type: "RegExp", source: regExpSource.call(value), flags: regExpFlags.call(value) });
  }
  if (has(arrayBufferByteLength, value)) return remember(serializeBuffer(value, memory, transferMap));
  if (has(sabByteLength, value)) throw dataCloneError("structuredClone: a SharedArrayBuffer could not be cloned");
  if (typedArrayTag.call(value) !== undefined) {
    const buffer = typedArrayBuffer.call(value);
    record = remember({ type: "TypedArray", ctor: typedArrayTag.call(value) });
    if (isDetached(buffer)) throw dataCloneError("structuredClone: a typed array's buffer is detached");
    record.buffer = serialize(buffer, memory, transferMap);
    record.byteOffset = typedArrayByteOffset.call(value);
    record.length = typedArrayLength.call(value);
    return record;
  }
  if (has(dataViewByteLength, value)) {
    const buffer = dataViewBuffer.call(value);
    record = remember({ type: "DataView" });
    record.buffer = serialize(buffer, memory, transferMap);
    record.byteOffset = dataViewByteOffset.call(value);
    record.byteLength = dataViewByteLength.call(value);
    return record;
  }
  if (has(mapSize, value)) {
    record = remember({ type: "Map", entries: [] });
    const copy = [...Map.prototype.entries.call(value)];
    for (const [k, v] of copy) record.entries.push([serialize(k, memory, transferMap), serialize(v, memory, transferMap)]);
    return record;
  }
  if (has(setSize, value)) {
    record = remember({ type: "Set", values: [] });
    const copy = [...Set.prototype.values.call(value)];
    for (const v of copy) record.values.push(serialize(v, memory, transferMap));
    return record;
  }
  if (value instanceof DOMException) {
    return remember({ type: "DOMException", name: value.name, message: value.message, stack: ownData(value, "stack") });
  }
  if (isError(value)) {
    let name = value.name;
    name = typeof name === "string" && Object.hasOwn(ERROR_TYPES, name) ? name : "Error";
    const message = ownData(value, "message");
    record = remember({
      type: "Error",
      name,
      message: message === undefined ? undefined : String(message),
      stack: ownData(value, "stack"),
    });
    if (Object.hasOwn(value, "cause")) record.cause = serialize(ownData(value, "cause"), memory, transferMap);
    return record;
  }
  if (value instanceof File) return remember({ type: "Blob", blob: cloneBlob(value) });
  if (value instanceof Blob) return remember({ type: "Blob", blob: cloneBlob(value) });
  if (value instanceof Promise || value instanceof WeakMap || value instanceof WeakSet || value instanceof WeakRef) {
    throw dataCloneError(`structuredClone: ${Object.prototype.toString.call(value)} could not be cloned`);
  }
  if (typeof FinalizationRegistry === "function" && value instanceof FinalizationRegistry) {
    throw dataCloneError("structuredClone: a FinalizationRegistry could not be cloned");
  }
  const platform = isPlatformObject(value);
  if (platform) throw dataCloneError(`structuredClone: ${platform} object could not be cloned`);

  const isArray = Array.isArray(value);
  record = remember({ type: isArray ? "Array" : "Object", length: isArray ? value.length : 0, props: [] });
  for (const key of Object.keys(value)) {
    // Keys are read one by one: a getter may delete later ones.
    if (!Object.prototype.propertyIsEnumerable.call(value, key)) continue;
    record.props.push([key, serialize(value[key], memory, transferMap)]);
  }
  return record;
}

function ownData(obj, key) {
  const desc = Object.getOwnPropertyDescriptor(obj, key);
  return desc && "value" in desc ? desc.value : undefined;
}

/* ---- deserialize ---------------------------------------------------------------------- */

function deserialize(record, memory, transferred) {
  if (record.type === "primitive") return record.value;
  if (memory.has(record)) return memory.get(record);
  let value;
  const remember = (v) => {
    memory.set(record, v);
    return v;
  };
  switch (record.type) {
    case "Boolean":
    case "Number":
    case "BigInt":
    case "String":
      return remember(Object(record.value));
    case "Date":
      return remember(new Date(record.value));
    case "RegExp":
      return remember(new RegExp(record.source, record.flags));
    case "ArrayBuffer": {
      if (record.maxByteLength !== undefined) {
        value = new ArrayBuffer(record.bytes.length, { maxByteLength: record.maxByteLength });
        new Uint8Array(value).set(record.bytes);
        return remember(value);
      }
      return remember(record.bytes.buffer);
    }
    case "transferred":
      return remember(transferred[record.index]);
    case "TypedArray": {
      const buffer = deserialize(record.buffer, memory, transferred);
      return remember(new globalThis[record.ctor](buffer, record.byteOffset, record.length));
    }
    case "DataView": {
      const buffer = deserialize(record.buffer, memory, transferred);
      return remember(new DataView(buffer, record.byteOffset, record.byteLength));
    }
    case "Map":
      value = remember(new Map());
      for (const [k, v] of record.entries) value.set(deserialize(k, memory, transferred), deserialize(v, memory, transferred));
      return value;
    case "Set":
      value = remember(new Set());
      for (const v of record.values) value.add(deserialize(v, memory, transferred));
      return value;
    case "DOMException":
      value = remember(new DOMException(record.message, record.name));
      if (record.stack !== undefined) setHidden(value, "stack", record.stack);
      return value;
    case "Error": {
      const C = ERROR_TYPES[record.name];
      value = remember(record.message === undefined ? new C() : new C(record.message));
      if (record.stack !== undefined) setHidden(value, "stack", record.stack);
      if ("cause" in record) setHidden(value, "cause", deserialize(record.cause, memory, transferred));
      return value;
    }
    case "Blob":
      return remember(record.blob);
    case "Array":
    default:
      value = remember(record.type === "Array" ? new Array(record.length) : {});
      for (const [k, v] of record.props) {
        Object.defineProperty(value, k, {
          value: deserialize(v, memory, transferred),
          writable: true,
          enumerable: true,
          configurable: true,
        });
      }
      return value;
  }
}

function setHidden(obj, key, value) {
  Object.defineProperty(obj, key, { value, writable: true, configurable: true, enumerable: false });
}

/* ---- structuredClone ---------------------------------------------------------------------- */

export function structuredClone(value, options = undefined) {
  if (arguments.length < 1) throw new TypeError("structuredClone: 1 argument required");
  if (options !== undefined && options !== null && typeof options !== "object") {
    throw new TypeError("structuredClone: options must be an object");
  }
  const transfer = options?.transfer === undefined ? [] : [...options.transfer];
  const transferMap = new Map();
  for (const t of transfer) {
    if (!has(arrayBufferByteLength, t)) throw dataCloneError("structuredClone: only ArrayBuffers can be transferred");
    if (transferMap.has(t)) throw dataCloneError("structuredClone: an ArrayBuffer is listed twice in transfer");
    if (isDetached(t)) throw dataCloneError("structuredClone: an ArrayBuffer to transfer is already detached");
    transferMap.set(t, transferMap.size);
  }
  const record = serialize(value, new Map(), transferMap);
  const transferred = transfer.map((t) => {
    if (typeof t.transfer === "function") return t.transfer();
    // Engines without ArrayBuffer.prototype.transfer: copy (the source stays attached).
    return t.slice(0);
  });
  return deserialize(record, new Map(), transferred);
}

defineGlobal("structuredClone", structuredClone);
