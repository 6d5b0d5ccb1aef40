/*
 * streams.js - WHATWG Streams for the isolate: ReadableStream,
 * WritableStream, TransformStream, their readers, writers and queuing
 * strategies, from the pinned web-streams-polyfill (the reference
 * implementation, ES2015+ build), plus what Workers adds on top of it:
 * TextEncoderStream / TextDecoderStream, IdentityTransformStream and
 * FixedLengthStream.
 *
 * Byte bodies (Request, Response) are "bytes" streams, so BYOB readers
 * work on them as in Workers. streamFromBytes() does not enqueue until the
 * first read, so body.js can still take the bytes back from a stream that
 * nobody has read (the `new Response(resp.body, resp)` idiom keeps a known
 * length and no stream machinery at all). The bytes are *taken*: a byte
 * stream transfers (detaches) the buffer it enqueues.
 *
 * The polyfill captures globalThis.DOMException when it loads, so this
 * module comes after domexception.js in index.js.
 */
import {
  ByteLengthQueuingStrategy,
  CountQueuingStrategy,
  ReadableByteStreamController,
  ReadableStream,
  ReadableStreamBYOBReader,
  ReadableStreamBYOBRequest,
  ReadableStreamDefaultController,
  ReadableStreamDefaultReader,
  TransformStream,
  TransformStreamDefaultController,
  WritableStream,
  WritableStreamDefaultController,
  WritableStreamDefaultWriter,
} from "web-streams-polyfill";
import { defineGlobal, exposeInterface } from "./domexception.js";
import host from "./host.js";
import entry from "./entry.js";

/* ---- helpers shared with body.js and dispatch.js ------------------------- */

/* Streams made by streamFromBytes whose bytes have not been enqueued yet:
 * stream -> { bytes }. */
const pendingBytes = new WeakMap();
/* Streams whose total length is known up front (FixedLengthStream's
 * readable side, streamFromBytes): stream -> number of bytes. */
const knownLengths = new WeakMap();

/* ---- host bodies (src/runtime/host_body.c) ---------------------------------
 * A client's request body and a subrequest's response body stay in the
 * host until read: hostStream() is a "bytes" ReadableStream that asks the
 * host on each read (host.bodyRead: bytes, the end, or "wait" and a later
 * entry.bodyReady). While nobody has read it, the whole body can still be
 * taken by the host instead: text()/arrayBuffer() in one call
 * (hostBodyAll), or piped to the client without entering the isolate
 * (takeHostBody, dispatch.js). */
const hostBodies = new WeakMap(); // untouched host streams -> body id
const hostControllers = new WeakMap(); // host stream -> its controller
const bodyWaiters = new Map(); // body id -> resolve, while a read waits

entry.bodyReady = (id) => {
  const resolve = bodyWaiters.get(id);
  if (resolve) {
    bodyWaiters.delete(id);
    resolve();
  }
};

function waitBody(id) {
  return new Promise((resolve) => bodyWaiters.set(id, resolve));
}

function pullHost(id, c) {
  const r = host.bodyRead(id); // a TypeError when the body failed: the stream errors with it
  if (r === 0) return waitBody(id).then(() => pullHost(id, c));
  if (r === undefined) {
    c.close();
    if (c.byobRequest) c.byobRequest.respond(0);
    return undefined;
  }
  c.enqueue(new Uint8Array(r));
  return undefined;
}

/* The stream of host body `id`, of `length` bytes (-1: not known). */
export function hostStream(id, length) {
  let controller = null;
  const stream = new ReadableStream({
    type: "bytes",
    start(c) {
      controller = c;
    },
    pull(c) {
      hostBodies.delete(stream);
      return pullHost(id, c);
    },
    cancel() {
      hostBodies.delete(stream);
      bodyWaiters.delete(id);
      host.bodyCancel(id);
    },
  });
  hostBodies.set(stream, id);
  hostControllers.set(stream, controller);
  if (length >= 0) knownLengths.set(stream, length);
  return stream;
}

/* Errors a host stream from outside (fetch()'s signal aborted it). */
export function hostStreamFail(stream, reason) {
  const c = hostControllers.get(stream);
  if (!c) return;
  try {
    c.error(reason);
  } catch {
    // already closed or errored
  }
}

/* If stream is a host stream nobody has read, locks it (its other holders
 * see a used body) and returns its body id; else null. */
export function takeHostBody(stream) {
  const id = hostBodies.get(stream);
  if (id === undefined || stream.locked || streamDisturbed(stream)) return null;
  hostBodies.delete(stream);
  stream.getReader();
  return id;
}

/* For text() (asText) and arrayBuffer(): a promise of the whole body of a
 * host stream nobody has read, gathered and (as text) decoded by the
 * host; null for any other stream. */
export function hostBodyAll(stream, asText) {
  const id = takeHostBody(stream);
  return id === null ? null : hostAll(id, asText ? 1 : 0);
}

/* The whole of host body id (asText 1: as a string). */
export async function hostAll(id, asText) {
  for (;;) {
    const r = host.bodyAll(id, asText);
    if (r !== 0) return r;
    await waitBody(id);
  }
}

/* Any BufferSource as a Uint8Array over the same memory, or null. */
export function asBytes(chunk) {
  if (chunk instanceof Uint8Array) return chunk;
  if (ArrayBuffer.isView(chunk)) return new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength);
  if (chunk instanceof ArrayBuffer) return new Uint8Array(chunk);
  return null;
}

/* A "bytes" ReadableStream that yields u8 (taken, not copied) as one chunk. */
export function streamFromBytes(u8) {
  const state = { bytes: u8 };
  const stream = new ReadableStream({
    type: "bytes",
    pull(controller) {
      const bytes = state.bytes;
      state.bytes = null;
      pendingBytes.delete(stream);
      if (bytes && bytes.byteLength > 0) controller.enqueue(bytes);
      controller.close();
    },
    cancel() {
      state.bytes = null;
      pendingBytes.delete(stream);
    },
  });
  pendingBytes.set(stream, state);
  knownLengths.set(stream, u8.byteLength);
  return stream;
}

/*
 * If `stream` came from streamFromBytes and nothing has read it, locks it
 * (so its other holders see a used body) and returns its bytes; else null.
 */
export function takeStreamBytes(stream) {
  const state = pendingBytes.get(stream);
  if (!state || stream.locked || state.bytes === null) return null;
  const bytes = state.bytes;
  state.bytes = null;
  pendingBytes.delete(stream);
  stream.getReader();
  return bytes;
}

/* The stream's length in bytes when known in advance, else null. */
export function streamKnownLength(stream) {
  const n = knownLengths.get(stream);
  return n === undefined ? null : n;
}

/* True once something has read from or cancelled the stream. */
export function streamDisturbed(stream) {
  return stream._disturbed === true;
}

function concatBytes(chunks, total) {
  if (chunks.length === 1) return chunks[0].slice();
  const out = new Uint8Array(total);
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.byteLength;
  }
  return out;
}

/*
 * Reads the whole stream into one new Uint8Array. Chunks must be
 * BufferSources (TypeError otherwise, and the stream is cancelled). The
 * stream stays locked afterwards, as the Fetch spec's "fully read" leaves it.
 */
export async function readAllBytes(stream) {
  const direct = takeStreamBytes(stream);
  if (direct) return direct;
  const all = hostBodyAll(stream, false);
  if (all) return new Uint8Array(await all);
  const reader = stream.getReader();
  const chunks = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    const u8 = asBytes(value);
    if (!u8) {
      const err = new TypeError("This ReadableStream did not return bytes.");
      reader.cancel(err).catch(() => {});
      throw err;
    }
    if (u8.byteLength === 0) continue;
    chunks.push(u8);
    total += u8.byteLength;
  }
  return chunks.length === 0 ? new Uint8Array(0) : concatBytes(chunks, total);
}

/* ---- Workers' byte transform streams ------------------------------------ */

function byteChunk(chunk) {
  const u8 = asBytes(chunk);
  if (!u8) {
    throw new TypeError(
      "This TransformStream is being used as a byte stream, but received an object of " +
        "non-ArrayBuffer/ArrayBufferView type on its writable side.",
    );
  }
  return u8;
}

/* A TransformStream that passes bytes through unchanged (Workers). */
class IdentityTransformStream extends TransformStream {
  constructor() {
    super({
      transform(chunk, controller) {
        const u8 = byteChunk(chunk);
        if (u8.byteLength > 0) controller.enqueue(u8);
      },
    });
  }
}

/* An identity byte stream that must see exactly expectedLength bytes; a
 * Response whose body is its readable side gets a Content-Length. */
class FixedLengthStream extends TransformStream {
  constructor(expectedLength) {
    const expected = typeof expectedLength === "bigint" ? Number(expectedLength) : Number(expectedLength);
    if (!Number.isSafeInteger(expected) || expected < 0) {
      throw new TypeError("FixedLengthStream requires a non-negative integer expected length.");
    }
    let seen = 0;
    super({
      transform(chunk, controller) {
        const u8 = byteChunk(chunk);
        seen += u8.byteLength;
        if (seen > expected) throw new TypeError("Attempt to write too many bytes through a FixedLengthStream.");
        if (u8.byteLength > 0) controller.enqueue(u8);
      },
      flush() {
        if (seen < expected) throw new TypeError("FixedLengthStream did not see all expected bytes before close().");
      },
    });
    knownLengths.set(this.readable, expected);
  }
}

/* ---- text streams ---------------------------------------------------------- */

class TextEncoderStream extends TransformStream {
  constructor() {
    const encoder = new globalThis.TextEncoder();
    let pending = ""; /* a high surrogate waiting for its pair */
    super({
      transform(chunk, controller) {
        let s = pending + String(chunk);
        pending = "";
        const last = s.charCodeAt(s.length - 1);
        if (last >= 0xd800 && last <= 0xdbff) {
          pending = s[s.length - 1];
          s = s.slice(0, -1);
        }
        if (s.length > 0) controller.enqueue(encoder.encode(s));
      },
      flush(controller) {
        if (pending) controller.enqueue(new Uint8Array([0xef, 0xbf, 0xbd]));
      },
    });
  }
  get encoding() {
    return "utf-8";
  }
}

class TextDecoderStream extends TransformStream {
  #decoder;
  constructor(label = "utf-8", options = {}) {
    const decoder = new globalThis.TextDecoder(label, options);
    super({
      transform(chunk, controller) {
        const u8 = asBytes(chunk);
        if (!u8) throw new TypeError("TextDecoderStream: chunk is not an ArrayBuffer or ArrayBufferView");
        const s = decoder.decode(u8, { stream: true });
        if (s.length > 0) controller.enqueue(s);
      },
      flush(controller) {
        const s = decoder.decode();
        if (s.length > 0) controller.enqueue(s);
      },
    });
    this.#decoder = decoder;
  }
  get encoding() {
    return this.#decoder.encoding;
  }
  get fatal() {
    return this.#decoder.fatal;
  }
  get ignoreBOM() {
    return this.#decoder.ignoreBOM;
  }
}

/* ---- globals ------------------------------------------------------------------- */

const globals = {
  ReadableStream,
  ReadableStreamDefaultReader,
  ReadableStreamBYOBReader,
  ReadableStreamBYOBRequest,
  ReadableStreamDefaultController,
  ReadableByteStreamController,
  WritableStream,
  WritableStreamDefaultWriter,
  WritableStreamDefaultController,
  TransformStream,
  TransformStreamDefaultController,
  ByteLengthQueuingStrategy,
  CountQueuingStrategy,
  TextEncoderStream,
  TextDecoderStream,
  IdentityTransformStream,
  FixedLengthStream,
};
for (const [name, value] of Object.entries(globals)) defineGlobal(name, value);
exposeInterface("TextEncoderStream", TextEncoderStream, false);
exposeInterface("TextDecoderStream", TextDecoderStream, false);
exposeInterface("IdentityTransformStream", IdentityTransformStream, false);
exposeInterface("FixedLengthStream", FixedLengthStream, false);

export { ReadableStream, WritableStream, TransformStream };
