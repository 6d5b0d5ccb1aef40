/*
 * blob.js - Blob and File (File API).
 *
 * A Blob holds its bytes in one Uint8Array that nothing ever writes to
 * after construction, so slice() and structuredClone() share it instead
 * of copying (a slice is a subarray). stream() is streams.js's lazy byte
 * stream, so a Response made from it knows its length.
 *
 * Exported for body.js and structured_clone.js: blobBytes(), the bytes
 * without a copy (callers must not write to them), and cloneBlob().
 */
import { exposeInterface } from "./domexception.js";
import { bufferSourceBytes, utf8Encode, utf8Decode } from "./encoding.js";
import { customInspect } from "./console.js";
import { streamFromBytes } from "./streams.js";

let bytesOf;
let setBytes;
let fromBytes;

/* The type attribute: lower-cased, or "" when it has characters outside U+0020-U+007E. */
function normalizeType(type) {
  const s = String(type);
  return /^[\x20-\x7e]*$/.test(s) ? s.toLowerCase() : "";
}

function partBytes(part, endings) {
  const view = bufferSourceBytes(part);
  if (view) return view;
  if (part instanceof Blob) return bytesOf(part);
  let s = String(part);
  if (endings === "native") s = s.replace(/\r\n|\r/g, "\n");
  return utf8Encode(s);
}

export class Blob {
  #bytes;
  #type;

  static {
    bytesOf = (blob) => blob.#bytes;
    setBytes = (blob, bytes) => {
      blob.#bytes = bytes;
    };
    fromBytes = (bytes, type) => {
      const blob = new Blob();
      blob.#bytes = bytes;
      blob.#type = type;
      return blob;
    };
  }

  constructor(blobParts = undefined, options = undefined) {
    if (options !== undefined && options !== null && typeof options !== "object") {
      throw new TypeError("Blob: options must be an object");
    }
    const endings = options?.endings === undefined ? "transparent" : String(options.endings);
    if (endings !== "transparent" && endings !== "native") {
      throw new TypeError('Blob: endings must be "transparent" or "native"');
    }
    const type = options?.type === undefined ? "" : normalizeType(options.type);
    let bytes;
    if (blobParts === undefined) {
      bytes = new Uint8Array(0);
    } else {
      if (blobParts === null || typeof blobParts !== "object" || typeof blobParts[Symbol.iterator] !== "function") {
        throw new TypeError("Blob: blobParts must be a sequence");
      }
      const parts = [];
      let size = 0;
      for (const part of blobParts) {
        const b = partBytes(part, endings);
        parts.push(b);
        size += b.length;
      }
      bytes = new Uint8Array(size);
      let offset = 0;
      for (const b of parts) {
        bytes.set(b, offset);
        offset += b.length;
      }
    }
    this.#bytes = bytes;
    this.#type = type;
  }

  get size() {
    return this.#bytes.length;
  }

  get type() {
    return this.#type;
  }

  slice(start = undefined, end = undefined, contentType = undefined) {
    const size = this.#bytes.length;
    const clamp = (v, dflt) => {
      if (v === undefined) return dflt;
      const n = Math.trunc(Number(v)) || 0;
      return n < 0 ? Math.max(size + n, 0) : Math.min(n, size);
    };
    const from = clamp(start, 0);
    const to = clamp(end, size);
    const type = contentType === undefined ? "" : normalizeType(contentType);
    return fromBytes(this.#bytes.subarray(from, Math.max(from, to)), type);
  }

  async text() {
    return utf8Decode(this.#bytes);
  }

  async arrayBuffer() {
    return this.#bytes.slice().buffer;
  }

  async bytes() {
    return this.#bytes.slice();
  }

  /* console.log shows Blob { size, type }, as Node does. */
  [customInspect](depth, options, inspect) {
    const fields = { size: this.size, type: this.type };
    if (this instanceof File) Object.assign(fields, { name: this.name, lastModified: this.lastModified });
    return `${this instanceof File ? "File" : "Blob"} ${inspect(fields, options)}`;
  }

  /* A byte stream of a copy of the bytes (enqueueing detaches a chunk's
   * buffer, and ours is shared), with its length known to Response. */
  stream() {
    return streamFromBytes(this.#bytes.slice());
  }

}

export class File extends Blob {
  #name;
  #lastModified;

  constructor(fileBits, fileName, options = undefined) {
    if (arguments.length < 2) throw new TypeError("File: 2 arguments required");
    super(fileBits, options);
    this.#name = String(fileName);
    this.#lastModified = options?.lastModified === undefined ? Date.now() : Math.trunc(Number(options.lastModified)) || 0;
  }

  get name() {
    return this.#name;
  }

  get lastModified() {
    return this.#lastModified;
  }
}

exposeInterface("Blob", Blob);
exposeInterface("File", File);

/* The bytes of a Blob, not copied: read them, never write them. */
export function blobBytes(blob) {
  return bytesOf(blob);
}

/* A copy of a Blob or File for structuredClone (sharing its immutable bytes). */
export function cloneBlob(blob) {
  if (blob instanceof File) {
    const file = new File([], blob.name, { type: blob.type, lastModified: blob.lastModified });
    setBytes(file, bytesOf(blob));
    return file;
  }
  return fromBytes(bytesOf(blob), blob.type);
}
