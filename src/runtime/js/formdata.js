/*
 * formdata.js - FormData (XMLHttpRequest Standard) and the two body
 * codecs body.js uses: parseFormBody() for urlencoded and multipart
 * bodies, serializeFormData() for multipart/form-data with a random
 * boundary (HTML's multipart/form-data encoding algorithm).
 *
 * Entry values are strings or Files: a Blob appended without being a File
 * becomes File "blob", as the spec's "create an entry" says.
 */
import host from "./host.js";
import { exposeInterface } from "./domexception.js";
import { utf8Encode, TextDecoder } from "./encoding.js";
import { Blob, File, blobBytes } from "./blob.js";
import { URLSearchParams } from "./url.js";

/* WebIDL USVString: lone surrogates become U+FFFD. */
function usvString(value) {
  const s = String(value);
  return typeof s.toWellFormed === "function" ? s.toWellFormed() : s;
}

function makeEntry(name, value, filename, argc, what) {
  name = usvString(name);
  if (value instanceof Blob) {
    if (!(value instanceof File) || filename !== undefined) {
      const fname = filename !== undefined ? usvString(filename) : value instanceof File ? value.name : "blob";
      const opts = { type: value.type };
      if (value instanceof File) opts.lastModified = value.lastModified;
      value = new File([value], fname, opts);
    }
    return [name, value];
  }
  if (argc > 2 && filename !== undefined) {
    throw new TypeError(`FormData.${what}: the value must be a Blob when a filename is given`);
  }
  return [name, usvString(value)];
}

let entriesOf;

export class FormData {
  #entries = [];

  constructor(form = undefined) {
    if (form !== undefined) throw new TypeError("FormData: form elements are not supported");
  }

  append(name, value, filename = undefined) {
    if (arguments.length < 2) throw new TypeError("FormData.append: 2 arguments required");
    this.#entries.push(makeEntry(name, value, filename, arguments.length, "append"));
  }

  delete(name) {
    if (arguments.length < 1) throw new TypeError("FormData.delete: 1 argument required");
    name = usvString(name);
    this.#entries = this.#entries.filter((e) => e[0] !== name);
  }

  get(name) {
    if (arguments.length < 1) throw new TypeError("FormData.get: 1 argument required");
    name = usvString(name);
    const e = this.#entries.find((x) => x[0] === name);
    return e ? e[1] : null;
  }

  getAll(name) {
    if (arguments.length < 1) throw new TypeError("FormData.getAll: 1 argument required");
    name = usvString(name);
    return this.#entries.filter((e) => e[0] === name).map((e) => e[1]);
  }

  has(name) {
    if (arguments.length < 1) throw new TypeError("FormData.has: 1 argument required");
    name = usvString(name);
    return this.#entries.some((e) => e[0] === name);
  }

  set(name, value, filename = undefined) {
    if (arguments.length < 2) throw new TypeError("FormData.set: 2 arguments required");
    const entry = makeEntry(name, value, filename, arguments.length, "set");
    const i = this.#entries.findIndex((e) => e[0] === entry[0]);
    if (i < 0) {
      this.#entries.push(entry);
    } else {
      this.#entries[i] = entry;
      this.#entries = this.#entries.filter((e, j) => j <= i || e[0] !== entry[0]);
    }
  }

  forEach(callback, thisArg = undefined) {
    if (typeof callback !== "function") throw new TypeError("FormData.forEach: the callback must be a function");
    for (let i = 0; i < this.#entries.length; i++) {
      const [name, value] = this.#entries[i];
      callback.call(thisArg, value, name, this);
    }
  }

  entries() {
    return new FormDataIterator(this.#entries, "entries", this);
  }

  keys() {
    return new FormDataIterator(this.#entries, "keys", this);
  }

  values() {
    return new FormDataIterator(this.#entries, "values", this);
  }

  static {
    entriesOf = (fd) => fd.#entries;
  }
}

Object.defineProperty(FormData.prototype, Symbol.iterator, {
  value: FormData.prototype.entries,
  writable: true,
  configurable: true,
  enumerable: false,
});

const IteratorPrototype = Object.getPrototypeOf(Object.getPrototypeOf([][Symbol.iterator]()));

/* The spec's default iterator, indexing the live entry list. */
class FormDataIterator {
  #fd;
  #kind;
  #index = 0;

  constructor(entries, kind, fd) {
    this.#fd = fd;
    this.#kind = kind;
  }

  next() {
    const entries = entriesOf(this.#fd);
    if (this.#index >= entries.length) return { value: undefined, done: true };
    const [name, value] = entries[this.#index++];
    if (this.#kind === "keys") return { value: name, done: false };
    if (this.#kind === "values") return { value, done: false };
    return { value: [name, value], done: false };
  }
}
Object.setPrototypeOf(FormDataIterator.prototype, IteratorPrototype);
Object.defineProperty(FormDataIterator.prototype, Symbol.toStringTag, { value: "FormData Iterator", configurable: true });

exposeInterface("FormData", FormData);

/* ---- parsing ---------------------------------------------------------------------- */

/* The parameters of a MIME type: "multipart/form-data; boundary=x" -> Map. */
function mimeParams(contentType) {
  const params = new Map();
  const s = String(contentType);
  let i = s.indexOf(";");
  while (i >= 0 && i < s.length) {
    i++;
    while (i < s.length && /[\t\n\r ]/.test(s[i])) i++;
    let j = i;
    while (j < s.length && s[j] !== ";" && s[j] !== "=") j++;
    const key = s.slice(i, j).toLowerCase();
    if (j >= s.length || s[j] === ";") {
      i = j;
      continue;
    }
    j++;
    let value = "";
    if (s[j] === '"') {
      j++;
      while (j < s.length && s[j] !== '"') {
        if (s[j] === "\\" && j + 1 < s.length) j++;
        value += s[j++];
      }
      const next = s.indexOf(";", j);
      i = next < 0 ? s.length : next;
    } else {
      const next = s.indexOf(";", j);
      const end = next < 0 ? s.length : next;
      value = s.slice(j, end).replace(/[\t\n\r ]+$/, "");
      i = end;
    }
    if (key !== "" && !params.has(key)) params.set(key, value);
    if (i >= s.length) break;
  }
  return params;
}

function essence(contentType) {
  return String(contentType).split(";")[0].trim().toLowerCase();
}

function indexOfBytes(hay, needle, from) {
  const first = needle[0];
  const last = hay.length - needle.length;
  outer: for (let i = hay.indexOf(first, from); i >= 0 && i <= last; i = hay.indexOf(first, i + 1)) {
    for (let k = 1; k < needle.length; k++) if (hay[i + k] !== needle[k]) continue outer;
    return i;
  }
  return -1;
}

/* UTF-8 decode without BOM (Encoding Standard), as Fetch's
 * multipart/form-data parser and the URL Standard's urlencoded parser
 * decode names and values: a leading U+FEFF is kept. (utf8Decode, "UTF-8
 * decode", drops it: a FormData whose value began with U+FEFF came back
 * without it from new Response(fd).formData(); found by tests/fuzz/formdata.) */
const utf8NoBOM = new TextDecoder("utf-8", { ignoreBOM: true });
function utf8Decode(bytes) {
  return utf8NoBOM.decode(bytes);
}

/* Latin-1 view of header bytes (header lines are bytes, values decoded later). */
function latin1(bytes) {
  let s = "";
  for (let i = 0; i < bytes.length; i++) s += String.fromCharCode(bytes[i]);
  return s;
}

function decodeHeaderValue(raw) {
  // Browsers send names and filenames as UTF-8 with ", CR and LF percent-encoded.
  const units = new Uint8Array(raw.length);
  for (let i = 0; i < raw.length; i++) units[i] = raw.charCodeAt(i) & 0xff;
  return utf8Decode(units).replace(/%22/g, '"').replace(/%0D/gi, "\r").replace(/%0A/gi, "\n");
}

/* name="x"; filename="y" from a Content-Disposition value. A quoted value
 * runs to the next '"', with no backslash escapes: HTML's multipart/form-data
 * encoding writes '"' as %22 and leaves '\' alone, and Fetch's parser reads
 * it so (decodeHeaderValue undoes the %-escapes). Reading '\' as an escape
 * turned filename="C:\dir\f.txt", as a browser sends it, into "C:dirf.txt",
 * and a name ending in '\' into one with quotes; found by tests/fuzz/formdata. */
function dispositionParams(value) {
  const params = new Map();
  const re = /;\s*([^\s=;]+)\s*=\s*(?:"([^"]*)"|([^;]*))/g;
  let m;
  while ((m = re.exec(value)) !== null) {
    const key = m[1].toLowerCase();
    const v = m[2] !== undefined ? m[2] : m[3].trim();
    if (!params.has(key)) params.set(key, v);
  }
  return params;
}

function parseMultipart(bytes, contentType) {
  const boundary = mimeParams(contentType).get("boundary");
  if (!boundary) throw new TypeError("FormData: multipart/form-data without a boundary");
  const fd = new FormData();
  const delimiter = utf8Encode(`--${boundary}`);
  const malformed = () => new TypeError("FormData: the multipart body is malformed");
  let pos = indexOfBytes(bytes, delimiter, 0);
  if (pos !== 0 && (pos < 2 || bytes[pos - 2] !== 13 || bytes[pos - 1] !== 10)) throw malformed();
  pos += delimiter.length;
  const crlfDelimiter = utf8Encode(`\r\n--${boundary}`);
  for (;;) {
    // After a delimiter: "--" ends the body, CRLF starts a part (linear whitespace allowed before it).
    if (bytes[pos] === 45 && bytes[pos + 1] === 45) return fd;
    while (bytes[pos] === 32 || bytes[pos] === 9) pos++;
    if (bytes[pos] !== 13 || bytes[pos + 1] !== 10) throw malformed();
    pos += 2;
    const headerEnd = indexOfBytes(bytes, utf8Encode("\r\n\r\n"), pos - 2);
    if (headerEnd < 0) throw malformed();
    const headerText = headerEnd < pos ? "" : latin1(bytes.subarray(pos, headerEnd));
    let name = null;
    let filename = null;
    let type = null;
    for (const line of headerText.split("\r\n")) {
      if (line === "") continue;
      const colon = line.indexOf(":");
      if (colon <= 0) throw malformed();
      const hname = line.slice(0, colon).trim().toLowerCase();
      const hvalue = line.slice(colon + 1).trim();
      if (hname === "content-disposition") {
        if (!/^form-data\s*(;|$)/i.test(hvalue)) throw malformed();
        const params = dispositionParams(hvalue);
        if (params.has("name")) name = decodeHeaderValue(params.get("name"));
        if (params.has("filename")) filename = decodeHeaderValue(params.get("filename"));
      } else if (hname === "content-type") {
        type = hvalue;
      }
    }
    if (name === null) throw malformed();
    const bodyStart = headerEnd + 4;
    const next = indexOfBytes(bytes, crlfDelimiter, bodyStart);
    if (next < 0) throw malformed();
    const content = bytes.subarray(bodyStart, next);
    if (filename !== null) {
      fd.append(name, new File([content], filename, { type: type ?? "text/plain" }));
    } else {
      fd.append(name, utf8Decode(content));
    }
    pos = next + crlfDelimiter.length;
  }
}

/* A FormData from a request or response body; TypeError when the body
 * is malformed or its type is neither urlencoded nor multipart. */
export function parseFormBody(bytes, contentType) {
  const kind = essence(contentType ?? "");
  if (kind === "application/x-www-form-urlencoded") {
    const fd = new FormData();
    for (const [k, v] of new URLSearchParams(utf8Decode(bytes))) fd.append(k, v);
    return fd;
  }
  if (kind === "multipart/form-data") return parseMultipart(bytes, contentType);
  throw new TypeError(
    "FormData: the Content-Type must be multipart/form-data or application/x-www-form-urlencoded",
  );
}

/* ---- serializing ------------------------------------------------------------------ */

function escapeName(s) {
  return s.replace(/\n/g, "%0A").replace(/\r/g, "%0D").replace(/"/g, "%22");
}

function normalizeNewlines(s) {
  return s.replace(/\r\n|\r|\n/g, "\r\n");
}

/* multipart/form-data bytes of fd with a random boundary, and their Content-Type. */
export function serializeFormData(fd) {
  const random = new Uint8Array(host.random(12));
  const boundary = `----IsoldeFormBoundary${Array.from(random, (b) => b.toString(16).padStart(2, "0")).join("")}`;
  const chunks = [];
  let size = 0;
  const push = (b) => {
    chunks.push(b);
    size += b.length;
  };
  for (const [name, value] of entriesOf(fd)) {
    let head = `--${boundary}\r\nContent-Disposition: form-data; name="${escapeName(normalizeNewlines(name))}"`;
    if (typeof value === "string") {
      push(utf8Encode(`${head}\r\n\r\n${normalizeNewlines(value)}\r\n`));
    } else {
      head += `; filename="${escapeName(value.name)}"\r\nContent-Type: ${value.type || "application/octet-stream"}\r\n\r\n`;
      push(utf8Encode(head));
      push(blobBytes(value));
      push(utf8Encode("\r\n"));
    }
  }
  push(utf8Encode(`--${boundary}--\r\n`));
  const bytes = new Uint8Array(size);
  let offset = 0;
  for (const c of chunks) {
    bytes.set(c, offset);
    offset += c.length;
  }
  return { bytes, contentType: `multipart/form-data; boundary=${boundary}` };
}
