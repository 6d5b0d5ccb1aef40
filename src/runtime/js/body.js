/*
 * body.js - the Fetch spec's Body mixin, shared by Request and Response as
 * a base class that is not a global (as in workerd): body init extraction,
 * `.body`, `.bodyUsed` and the readers text(), json(), arrayBuffer(),
 * bytes(), blob() and formData().
 *
 * A body lives in a small state object, one of four kinds:
 *   "null"    no body
 *   "bytes"   a Uint8Array we own (strings, buffers, forms): nothing else
 *             is built until someone touches `.body`, so the common case of
 *             a worker returning a string never makes a stream, and the
 *             host can send it with a Content-Length in one write
 *   "blob"    a Blob, whose bytes are copied only when the body is read
 *             (blobBytes() shares the Blob's own, which must not change)
 *   "host"    a body the host holds (a client's upload, a fetch()
 *             response's body: streams.js, src/runtime/host_body.c), by
 *             its id: no stream exists until someone touches `.body`, so
 *             a body passed through or read whole costs no stream at all
 *   "stream"  a ReadableStream (the tenant's, or ours once `.body` was
 *             touched)
 * `used` marks a body that was consumed without a stream ever existing;
 * a stream body is used once it is disturbed, as the spec says.
 */
import {
  ReadableStream,
  readAllBytes,
  streamFromBytes,
  takeStreamBytes,
  streamDisturbed,
  streamKnownLength,
  asBytes,
  hostBodyAll,
  hostAll,
  hostStream,
} from "./streams.js";
import { exposeInterface } from "./domexception.js";
import { FormData, parseFormBody, serializeFormData } from "./formdata.js";
import { Blob, blobBytes } from "./blob.js";
import { utf8Encode, utf8Decode } from "./encoding.js";

const USED = "Body has already been used. It can only be used once. Use tee() first if you need to read it twice.";

/* ---- states ------------------------------------------------------------------ */

function newState(kind, data) {
  return {
    kind,
    bytes: kind === "bytes" ? data : null,
    blob: kind === "blob" ? data : null,
    stream: kind === "stream" ? data : null,
    used: false,
  };
}

export function nullBody() {
  return newState("null", null);
}

/* A body over a ReadableStream (or null), for dispatch.js and fetch; a
 * host body's state (hostBody) is taken as it is. */
export function streamBody(stream) {
  if (stream && stream.kind === "host") return stream;
  return stream ? newState("stream", stream) : nullBody();
}

/* The state of host body `id` of `length` bytes (-1: unknown). */
export function hostBody(id, length) {
  const s = newState("host", null);
  s.id = id;
  s.length = length;
  return s;
}

/* A host body becomes a stream body (someone touched `.body`, or tees it). */
function hostToStream(s) {
  s.stream = s.used ? usedStream() : hostStream(s.id, s.length);
  s.kind = "stream";
  return s.stream;
}

function isUsed(s) {
  return s.used || (s.stream !== null && streamDisturbed(s.stream));
}

function isUnusable(s) {
  return isUsed(s) || (s.stream !== null && s.stream.locked);
}

/*
 * Extracts a body from a BodyInit (Fetch "extract a body"): returns
 * { state, contentType } where contentType is null or the value the
 * Content-Type header gets when the caller's headers have none.
 */
export function extractBody(init) {
  if (typeof init === "string") {
    return { state: newState("bytes", ownBytes(utf8Encode(init))), contentType: "text/plain;charset=UTF-8" };
  }
  if (init instanceof ArrayBuffer || ArrayBuffer.isView(init)) {
    return { state: newState("bytes", asBytes(init).slice()), contentType: null };
  }
  if (init instanceof Blob) {
    return { state: newState("blob", init), contentType: init.type === "" ? null : init.type };
  }
  if (globalThis.URLSearchParams && init instanceof globalThis.URLSearchParams) {
    return {
      state: newState("bytes", ownBytes(utf8Encode(init.toString()))),
      contentType: "application/x-www-form-urlencoded;charset=UTF-8",
    };
  }
  if (init instanceof FormData) {
    const { bytes, contentType } = serializeFormData(init);
    return { state: newState("bytes", ownBytes(bytes)), contentType };
  }
  if (init instanceof ReadableStream) {
    if (streamDisturbed(init) || init.locked) {
      throw new TypeError("This ReadableStream is disturbed (has already been read from), and cannot be used as a body.");
    }
    const bytes = takeStreamBytes(init);
    return { state: bytes ? newState("bytes", bytes) : newState("stream", init), contentType: null };
  }
  /* Anything else is converted to a string, as WebIDL does for the union. */
  return { state: newState("bytes", ownBytes(utf8Encode(String(init)))), contentType: "text/plain;charset=UTF-8" };
}

/* u8 itself when it spans its whole buffer, else a copy that does. */
function ownBytes(u8) {
  return u8.byteOffset === 0 && u8.byteLength === u8.buffer.byteLength ? u8 : u8.slice();
}

/* ---- the Body base class ------------------------------------------------------------ */

let stateOf;
let setState;

/* A consumed body with no stream yet: its `.body` is an empty stream that
 * is locked and disturbed, as a fully read stream would be. */
function usedStream() {
  const rs = new ReadableStream({
    start(c) {
      c.close();
    },
  });
  rs.getReader()
    .read()
    .catch(() => {});
  return rs;
}

/* Reads the whole body as bytes (the spec's "consume body"). */
async function consume(obj) {
  const s = stateOf(obj);
  if (isUnusable(s)) throw new TypeError(USED);
  switch (s.kind) {
    case "null":
      return new Uint8Array(0);
    case "bytes": {
      const b = s.bytes;
      s.bytes = null;
      s.used = true;
      return b;
    }
    case "blob": {
      const b = blobBytes(s.blob).slice();
      s.blob = null;
      s.used = true;
      return b;
    }
    case "host":
      s.used = true;
      return new Uint8Array(await hostAll(s.id, 0));
    default: {
      const all = readAllBytes(s.stream);
      s.used = true;
      return all;
    }
  }
}

function mimeEssence(contentType) {
  return contentType === null ? "" : contentType.split(";")[0].trim().toLowerCase();
}

export class Body {
  #s;

  constructor(state) {
    this.#s = state;
  }

  static {
    stateOf = (o) => {
      if (o === null || typeof o !== "object" || !(#s in o)) throw new TypeError("Illegal invocation");
      return o.#s;
    };
    setState = (o, state) => {
      o.#s = state;
    };
  }

  get body() {
    const s = stateOf(this);
    switch (s.kind) {
      case "null":
        return null;
      case "bytes":
        s.stream = s.used ? usedStream() : streamFromBytes(s.bytes);
        s.bytes = null;
        s.kind = "stream";
        return s.stream;
      case "blob":
        s.stream = s.used ? usedStream() : streamFromBytes(blobBytes(s.blob).slice());
        s.blob = null;
        s.kind = "stream";
        return s.stream;
      case "host":
        return hostToStream(s);
      default:
        return s.stream;
    }
  }

  get bodyUsed() {
    return isUsed(stateOf(this));
  }

  async arrayBuffer() {
    const u8 = await consume(this);
    return u8.byteOffset === 0 && u8.byteLength === u8.buffer.byteLength ? u8.buffer : u8.slice().buffer;
  }

  async bytes() {
    return consume(this);
  }

  async text() {
    const s = stateOf(this);
    if (s.kind === "host" && !s.used) {
      s.used = true;
      return hostAll(s.id, 1); // gathered and decoded by the host
    }
    if (s.kind === "stream" && !isUnusable(s)) {
      // A host body (a request's, a fetch() response's): gathered and decoded by the host.
      const all = hostBodyAll(s.stream, true);
      if (all) {
        s.used = true;
        return all;
      }
    }
    return utf8Decode(await consume(this));
  }

  async json() {
    return JSON.parse(await this.text());
  }

  async blob() {
    const u8 = await consume(this);
    const type = this.headers.get("content-type");
    return new Blob([u8], { type: type === null ? "" : type });
  }

  async formData() {
    const contentType = this.headers.get("content-type");
    const essence = mimeEssence(contentType);
    const u8 = await consume(this);
    if (essence === "multipart/form-data" || essence === "application/x-www-form-urlencoded") {
      return parseFormBody(u8, contentType);
    }
    throw new TypeError(
      "Unrecognized Content-Type header value. FormData can only parse the following MIME types: " +
        "multipart/form-data, application/x-www-form-urlencoded",
    );
  }
}

exposeInterface("Body", Body, false);

/* ---- internal helpers for request.js, response.js and dispatch.js ---------------- */

export function bodyState(obj) {
  return stateOf(obj);
}

/* Throws TypeError when obj's body cannot be read (used or locked). */
export function checkBodyUsable(obj) {
  if (isUnusable(stateOf(obj))) throw new TypeError(USED);
}

/*
 * Moves obj's body into a new state (new Request(request) without a body
 * in init): obj's body becomes used, as the spec's proxy stream leaves it.
 */
export function takeBody(obj) {
  const s = stateOf(obj);
  if (s.kind === "null") return nullBody();
  if (isUnusable(s)) throw new TypeError(USED);
  const moved = { ...s };
  setState(obj, { kind: "stream", bytes: null, blob: null, stream: usedStream(), used: true });
  return moved;
}

/* The clone steps: a copy of the body, teeing a stream body. */
export function cloneBody(obj) {
  const s = stateOf(obj);
  if (isUnusable(s)) throw new TypeError(USED);
  switch (s.kind) {
    case "null":
      return nullBody();
    case "bytes":
      return newState("bytes", s.bytes.slice());
    case "blob":
      return newState("blob", s.blob);
    default: {
      if (s.kind === "host") hostToStream(s);
      const [a, b] = s.stream.tee();
      s.stream = a;
      return newState("stream", b);
    }
  }
}

/*
 * What the host sends: { bytes, stream, length } with at most one of bytes
 * and stream non-null (neither for a null body); bytes is a Uint8Array
 * that spans its whole ArrayBuffer (so `bytes.buffer` can cross to the
 * host as it is); length is the byte count when known in advance, else
 * null. A bytes body is marked used; a stream
 * body becomes used as the host reads it. Throws TypeError on a used body.
 */
export function bodyForSend(obj) {
  const s = stateOf(obj);
  if (s.kind === "null") return { bytes: null, stream: null, length: null };
  if (isUnusable(s)) throw new TypeError(USED);
  if (s.kind === "bytes") {
    const bytes = s.bytes;
    s.bytes = null;
    s.used = true;
    return { bytes, stream: null, length: bytes.byteLength };
  }
  if (s.kind === "blob") {
    const bytes = blobBytes(s.blob).slice();
    s.blob = null;
    s.used = true;
    return { bytes, stream: null, length: bytes.byteLength };
  }
  if (s.kind === "host") hostToStream(s); // dispatch.js pipes an untouched one before it gets here
  const taken = takeStreamBytes(s.stream);
  if (taken) {
    const bytes = ownBytes(taken);
    s.used = true;
    return { bytes, stream: null, length: bytes.byteLength };
  }
  return { bytes: null, stream: s.stream, length: streamKnownLength(s.stream) };
}
