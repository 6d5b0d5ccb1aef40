/*
 * headers.js - Headers (Fetch Standard) as Workers has it.
 *
 * The header list keeps entries in insertion order as { name, lower,
 * value }; lookups compare the lower-cased name. Iteration follows "sort
 * and combine": names lower-cased and sorted, values of one name joined
 * with ", ", except Set-Cookie, whose values come out as separate entries
 * (Workers and the spec agree). The sorted view is cached until the next
 * change.
 *
 * Workers has no forbidden header names, so of the spec's guards only
 * "immutable" matters: Response.error()/redirect() and fetch() results
 * call setGuard(headers, "immutable") and any change then throws.
 *
 * headersToText()/headersFromText() carry a header list across the host
 * boundary as "name: value\n" lines (one line per Set-Cookie value).
 *
 * Names and values are checked by the host (host.headerCheck,
 * src/api/headers.c): one call per append/set/get/has/delete instead of a
 * regular expression per rule. recordHeaders(), entriesFromHost() and
 * headersFromEntries() let Request and Response keep a header list as
 * plain entries (or the host's text) and make the Headers object only
 * when someone reads `headers`.
 */
import { exposeInterface } from "./domexception.js";
import { customInspect } from "./console.js";
import host from "./host.js";

/* RFC 9110 token characters. */
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const HTTP_WS = /^[\t\n\r ]+|[\t\n\r ]+$/g;

const NOT_BYTE = /[^\x00-\xff]/;

/* Most values have no surrounding whitespace: skip the regex replace then
 * (QuickJS makes a new string for every replace, even a no-op one). */
function normalizeValue(value) {
  const n = value.length;
  if (n === 0) return value;
  const a = value.charCodeAt(0), b = value.charCodeAt(n - 1);
  if (a > 32 && b > 32) return value;
  return value.replace(HTTP_WS, "");
}

/* WebIDL ByteString: a string with no code unit above 0xFF. One regex test
 * instead of a loop of charCodeAt, which costs ~50 ns a character here. */
function byteString(value, what) {
  const s = String(value);
  if (NOT_BYTE.test(s)) throw new TypeError(`Headers.${what}: the string contains a character above U+00FF`);
  return s;
}


/* host.headerCheck's codes (src/api/api.h): the first rule broken. */
const WIDE_NAME = 1;
const BAD_NAME = 3;
const CODE = 15;
const UPPER = 16; // a flag beside the code: the name has an upper-case ASCII letter

function checkFailed(code, name, what) {
  if (code <= 2) throw new TypeError(`Headers.${what}: the string contains a character above U+00FF`);
  if (code === BAD_NAME) throw new TypeError(`Headers.${what}: invalid header name "${name}"`);
  throw new TypeError(`Headers.${what}: invalid header value`);
}

/* String(name) checked as a header name (a ByteString and a token), in
 * the host: one call instead of two regular expressions. */
function nameArg(name, what) {
  name = String(name);
  const code = host.headerCheck(name, name.length);
  if ((code & CODE) !== 0) checkFailed(code & CODE, name, what);
  pairLower = (code & UPPER) !== 0;
  return name;
}

/*
 * [name, value] as append() and set() take them: both converted with
 * String() (the name first, and a name with a character above U+00FF
 * throws before an object value is converted, as WebIDL does), checked in
 * the host in one call in the order the spec checks them, and the value
 * without its surrounding HTTP whitespace. Returns the value; the name is
 * left in pairName.
 */
let pairName = "";
let pairLower = false; // the name has upper-case letters
function pairArgs(name, value, what) {
  name = String(name);
  if (typeof value !== "string") {
    if (value !== null && (typeof value === "object" || typeof value === "function")) {
      const code = host.headerCheck(name, name.length) & CODE;
      if (code === WIDE_NAME) checkFailed(code, name, what);
    }
    value = String(value);
  }
  const code = host.headerCheck(name, name.length, value, value.length);
  if ((code & CODE) !== 0) checkFailed(code & CODE, name, what);
  pairName = name;
  pairLower = (code & UPPER) !== 0;
  return normalizeValue(value);
}
const isEnumerable = Object.prototype.propertyIsEnumerable;

let internals;

export class Headers {
  #list = []; // { name, lower, value }
  #guard = "none";
  #sorted = null;

  static {
    internals = {
      setGuard(h, guard) {
        h.#guard = guard;
      },
      getGuard(h) {
        return h.#guard;
      },
      list(h) {
        return h.#list;
      },
      sorted(h) {
        return h.#sortAndCombine();
      },
      appendRaw(h, name, value) {
        h.#list.push({ name, lower: name.toLowerCase(), value });
        h.#sorted = null;
      },
      adopt(h, list) {
        h.#list = list;
      },
    };
  }

  constructor(init = undefined) {
    if (init === undefined || init === null) {
      if (init === null) throw new TypeError("Headers: the init argument must be an object");
      return;
    }
    if (typeof init !== "object" && typeof init !== "function") {
      throw new TypeError("Headers: the init argument must be an object");
    }
    if (init instanceof Headers) {
      for (const e of init.#list) this.#list.push({ ...e });
      return;
    }
    const iter = init[Symbol.iterator];
    if (iter !== undefined && iter !== null) {
      if (typeof iter !== "function") throw new TypeError("Headers: the init argument is not iterable");
      for (const pair of iter.call(init)) {
        if (pair === null || (typeof pair !== "object" && typeof pair !== "function")) {
          throw new TypeError("Headers: each header must be a [name, value] pair");
        }
        // Arrays (the usual case) skip the spread's iterator protocol.
        const items = Array.isArray(pair) ? pair : [...pair];
        if (items.length !== 2) throw new TypeError("Headers: each header must be a [name, value] pair");
        this.append(items[0], items[1]);
      }
      return;
    }
    for (const key of Reflect.ownKeys(init)) {
      const desc = Reflect.getOwnPropertyDescriptor(init, key);
      if (desc === undefined || !desc.enumerable) continue;
      if (typeof key === "symbol") throw new TypeError("Headers: header names must be strings");
      this.append(key, init[key]);
    }
  }

  #mutable(what) {
    if (this.#guard === "immutable") throw new TypeError(`Headers.${what}: can't modify immutable headers`);
  }

  append(name, value) {
    if (arguments.length < 2) throw new TypeError("Headers.append: 2 arguments required");
    value = pairArgs(name, value, "append");
    name = pairName;
    this.#mutable("append");
    const lower = pairLower ? name.toLowerCase() : name;
    const existing = this.#list.find((e) => e.lower === lower);
    this.#list.push({ name: existing ? existing.name : name, lower, value });
    this.#sorted = null;
  }

  delete(name) {
    if (arguments.length < 1) throw new TypeError("Headers.delete: 1 argument required");
    name = nameArg(name, "delete");
    this.#mutable("delete");
    const lower = pairLower ? name.toLowerCase() : name;
    const kept = this.#list.filter((e) => e.lower !== lower);
    if (kept.length !== this.#list.length) {
      this.#list = kept;
      this.#sorted = null;
    }
  }

  get(name) {
    if (arguments.length < 1) throw new TypeError("Headers.get: 1 argument required");
    name = nameArg(name, "get");
    const lower = pairLower ? name.toLowerCase() : name;
    const values = [];
    for (const e of this.#list) if (e.lower === lower) values.push(e.value);
    return values.length === 0 ? null : values.join(", ");
  }

  getSetCookie() {
    const values = [];
    for (const e of this.#list) if (e.lower === "set-cookie") values.push(e.value);
    return values;
  }

  /* Workers' getAll(), kept for Set-Cookie only as there. */
  getAll(name) {
    name = byteString(name, "getAll");
    if (name.toLowerCase() !== "set-cookie") throw new TypeError('Headers.getAll: only "set-cookie" is supported');
    return this.getSetCookie();
  }

  has(name) {
    if (arguments.length < 1) throw new TypeError("Headers.has: 1 argument required");
    name = nameArg(name, "has");
    const lower = pairLower ? name.toLowerCase() : name;
    return this.#list.some((e) => e.lower === lower);
  }

  set(name, value) {
    if (arguments.length < 2) throw new TypeError("Headers.set: 2 arguments required");
    value = pairArgs(name, value, "set");
    name = pairName;
    this.#mutable("set");
    const lower = pairLower ? name.toLowerCase() : name;
    const i = this.#list.findIndex((e) => e.lower === lower);
    if (i < 0) {
      this.#list.push({ name, lower, value });
    } else {
      this.#list[i] = { name: this.#list[i].name, lower, value };
      this.#list = this.#list.filter((e, j) => j <= i || e.lower !== lower);
    }
    this.#sorted = null;
  }

  #sortAndCombine() {
    if (this.#sorted) return this.#sorted;
    this.#sorted = sortAndCombine(this.#list);
    return this.#sorted;
  }

  forEach(callback, thisArg = undefined) {
    if (typeof callback !== "function") throw new TypeError("Headers.forEach: the callback must be a function");
    for (let i = 0; i < this.#sortAndCombine().length; i++) {
      const [name, value] = this.#sortAndCombine()[i];
      callback.call(thisArg, value, name, this);
    }
  }

  entries() {
    return new HeadersIterator(this, "entries");
  }

  keys() {
    return new HeadersIterator(this, "keys");
  }

  values() {
    return new HeadersIterator(this, "values");
  }

  [customInspect](depth, options, inspect) {
    const obj = {};
    for (const [name, value] of this.#sortAndCombine()) {
      if (name in obj) obj[name] = [].concat(obj[name], value);
      else obj[name] = value;
    }
    return `Headers ${inspect(obj, options)}`;
  }
}
Object.defineProperty(Headers.prototype, Symbol.iterator, {
  value: Headers.prototype.entries,
  writable: true,
  configurable: true,
  enumerable: false,
});

const IteratorPrototype = Object.getPrototypeOf(Object.getPrototypeOf([][Symbol.iterator]()));

/* The spec's default iterator: an index into the sorted list as it is at each step. */
class HeadersIterator {
  #headers;
  #kind;
  #index = 0;

  constructor(headers, kind) {
    this.#headers = headers;
    this.#kind = kind;
  }

  next() {
    const pairs = internals.sorted(this.#headers);
    if (this.#index >= pairs.length) return { value: undefined, done: true };
    const [name, value] = pairs[this.#index++];
    if (this.#kind === "keys") return { value: name, done: false };
    if (this.#kind === "values") return { value, done: false };
    return { value: [name, value], done: false };
  }
}
Object.setPrototypeOf(HeadersIterator.prototype, IteratorPrototype);
Object.defineProperty(HeadersIterator.prototype, Symbol.toStringTag, { value: "Headers Iterator", configurable: true });

exposeInterface("Headers", Headers);

/* Sets the guard of a Headers object ("immutable" stops every change). */
export function setGuard(headers, guard) {
  internals.setGuard(headers, guard);
}

export function getGuard(headers) {
  return internals.getGuard(headers);
}

/* The spec's "sort and combine" of a header list: [lower, value] pairs,
 * names sorted, values of one name joined with ", " except Set-Cookie's. */
function sortAndCombine(list) {
  const out = [];
  const n = list.length;
  if (n === 1) {
    out.push([list[0].lower, list[0].value]);
    return out;
  }
  const names = [...new Set(list.map((e) => e.lower))].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  for (const lower of names) {
    const values = list.filter((e) => e.lower === lower).map((e) => e.value);
    if (lower === "set-cookie") {
      for (const v of values) out.push([lower, v]);
    } else {
      out.push([lower, values.join(", ")]);
    }
  }
  return out;
}

/* "name: value\n" lines, one per Set-Cookie value, for the host. */
export function headersToText(headers) {
  return entriesToText(internals.list(headers));
}

/* The same text from a header list ({ name, lower, value } entries). */
export function entriesToText(list) {
  if (list.length === 0) return "";
  if (list.length === 1) return `${list[0].lower}: ${list[0].value}\n`;
  let text = "";
  for (const [name, value] of sortAndCombine(list)) text += `${name}: ${value}\n`;
  return text;
}

/*
 * The header list `new Headers(init)` would hold for a plain record init
 * (an object whose prototype is Object.prototype or null and that is not
 * iterable), read in the same order with the same errors; or null for any
 * other init, which the caller hands to new Headers. For a Response whose
 * Headers object is made only if someone asks for it.
 *
 * The common case costs one host call: when every value is a string, the
 * names and values go to host.headerRecord (src/api/headers.c) as one
 * text, which checks them all and returns the host's "name: value\n"
 * lines, sorted, with a Content-Type line for contentType (RECORD_* code,
 * 0 none) when there is none; "" for an empty record. Anything else (a
 * value to convert, a broken rule, a name twice) goes entry by entry as
 * new Headers would, from the entries already read, and returns a list of
 * { name, lower, value } entries. (All values are then read before the
 * first broken rule throws, as WebIDL's record conversion does before the
 * Headers are filled.)
 */
export const RECORD_TEXT_PLAIN = 1;
export const RECORD_JSON = 2;
export function recordHeaders(init, contentType) {
  if (init === null || typeof init !== "object" || init instanceof Headers) return null;
  const iter = init[Symbol.iterator];
  if (iter !== undefined && iter !== null) return null;
  const keys = Reflect.ownKeys(init);
  const pairs = [];
  for (let k = 0; k < keys.length; k++) {
    const key = keys[k];
    if (!isEnumerable.call(init, key)) continue;
    if (typeof key === "symbol") return recordEntries(init, keys, k, pairs, false, undefined);
    const value = init[key];
    if (typeof value !== "string") return recordEntries(init, keys, k, pairs, true, value);
    pairs.push(key, value);
  }
  if (pairs.length === 0) return "";
  const text = pairs.join("\n");
  const r = host.headerRecord(text, text.length, pairs.length >> 1, contentType);
  if (r !== 0) return r;
  return recordEntries(init, keys, keys.length, pairs, false, undefined);
}

/* One entry of a record, checked as append() would. */
function recordEntry(list, key, value) {
  value = pairArgs(key, value, "append");
  const name = pairName;
  const lower = pairLower ? name.toLowerCase() : name;
  let kept = name;
  for (let i = 0; i < list.length; i++) {
    if (list[i].lower === lower) {
      kept = list[i].name;
      break;
    }
  }
  list.push({ name: kept, lower, value });
}

/* recordHeaders entry by entry: pairs (names and values read), then
 * keys[k] (whose value, when read, is value), then the rest. */
function recordEntries(init, keys, k, pairs, read, value) {
  const list = [];
  for (let i = 0; i < pairs.length; i += 2) recordEntry(list, pairs[i], pairs[i + 1]);
  if (read) {
    recordEntry(list, keys[k], value);
    k++;
  } else if (k < keys.length) {
    throw new TypeError("Headers: header names must be strings"); /* keys[k]: an enumerable symbol */
  }
  for (; k < keys.length; k++) {
    const key = keys[k];
    if (!isEnumerable.call(init, key)) continue;
    if (typeof key === "symbol") throw new TypeError("Headers: header names must be strings");
    recordEntry(list, key, init[key]);
  }
  return list;
}

/* Whether a response's header list kept as a string is the host's text
 * (recordHeaders) and not a lone Content-Type value (which never ends in
 * a line feed: values are cut of surrounding whitespace). */
export function isHostText(h) {
  return h.charCodeAt(h.length - 1) === 10;
}

/* A Headers object over list (taken), with the given guard. */
export function headersFromEntries(list, guard) {
  const h = new Headers();
  internals.adopt(h, list);
  internals.setGuard(h, guard);
  return h;
}

/* Whether list has an entry named lower (lower-cased). */
export function entriesHas(list, lower) {
  for (let i = 0; i < list.length; i++) if (list[i].lower === lower) return true;
  return false;
}

/* A header list from the host's "name: value\n" lines for an incoming
 * request: runtime.c writes only names that are tokens, lower-cased (the
 * case of a name is never seen: iteration and the host text use the lower
 * case) and values with no NUL, CR, LF or surrounding whitespace (the HTTP
 * parser checked them), so nothing is checked again here. */
export function entriesFromHost(text) {
  const list = [];
  let start = 0;
  for (;;) {
    const end = text.indexOf("\n", start);
    if (end < 0) break;
    const colon = text.indexOf(":", start);
    const name = text.slice(start, colon);
    list.push({ name, lower: name, value: text.slice(colon + 2, end) });
    start = end + 1;
  }
  return list;
}

/* A Headers object from the host's "name: value\n" lines; lines without a
 * valid name are skipped. */
export function headersFromText(text) {
  const headers = new Headers();
  for (const line of String(text).split("\n")) {
    const colon = line.indexOf(":");
    if (colon <= 0) continue;
    const name = line.slice(0, colon);
    const value = normalizeValue(line.slice(colon + 1));
    if (!TOKEN.test(name) || /[\0\r\n]/.test(value)) continue;
    internals.appendRaw(headers, name, value);
  }
  return headers;
}
