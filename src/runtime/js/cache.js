/*
 * cache.js - the Workers Cache API: `caches.default`, `caches.open(name)`
 * and Cache's match(), put() and delete().
 *
 * The bytes live in the host (host_cache.c, src/cache): one store per
 * process, shared by every isolate of every loop and kept when isolates
 * are evicted, keyed by (tenant, cache name, URL) where the host supplies
 * the tenant. This file holds the HTTP semantics, as Workers documents
 * them (docs/runtime.md, "Cache API", lists each decision):
 *
 *   put    GET requests only (TypeError otherwise); 206 and `Vary: *` are
 *          TypeErrors; the response body is read and stored whole. Not
 *          stored, with put() still resolving to undefined as Workers'
 *          does: Cache-Control no-store, no-cache or private (without a
 *          field list), a lifetime of 0 or less, a Set-Cookie header
 *          unless Cache-Control has private=Set-Cookie (then the header is
 *          dropped), and statuses with no default lifetime. The lifetime is
 *          s-maxage, else max-age, else Expires - now, else Cloudflare's
 *          default edge TTL for the status (200/203/300/301: 2 h,
 *          302/303: 20 min, 404/410: 3 min).
 *   match  GET only unless ignoreMethod; undefined on a miss or an expired
 *          entry; If-None-Match (weak comparison) or, without it,
 *          If-Modified-Since at or after Last-Modified gives a 304 with the
 *          stored validators and no body; a single `Range: bytes=` range
 *          gives a 206 (416 when unsatisfiable). Matched responses carry
 *          `CF-Cache-Status: HIT`, as Workers' do, and immutable headers.
 *   delete GET only unless ignoreMethod; true if a live entry was removed.
 *
 * Time is Date.now(), which the host freezes per event as Workers does.
 * Keys are the request URL without its fragment.
 */
import host from "./host.js";
import { exposeInterface, defineGlobal } from "./domexception.js";
import { Headers, headersFromText, headersToText } from "./headers.js";
import { Request } from "./request.js";
import { Response, makeIncomingResponse } from "./response.js";
import { streamFromBytes } from "./streams.js";

const NULL_BODY_STATUS = new Set([101, 204, 205, 304]);
/* Cloudflare's edge TTL when a response says nothing (seconds). */
const DEFAULT_TTL = new Map([
  [200, 7200],
  [203, 7200],
  [300, 7200],
  [301, 7200],
  [302, 1200],
  [303, 1200],
  [404, 180],
  [410, 180],
]);
/* Headers a 304 repeats from the stored response (RFC 9110 15.4.5). */
const NOT_MODIFIED_HEADERS = ["cache-control", "content-location", "date", "etag", "expires", "last-modified", "vary"];
const INTERNAL = Symbol("internal");
/* An RFC 9110 field name (token). */
const FIELD_NAME = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

/* ---- keys ---------------------------------------------------------------------------- */

function toRequest(input, what) {
  if (input instanceof Request) return input;
  try {
    return new Request(input);
  } catch (e) {
    throw new TypeError(`${what}: ${e && e.message ? e.message : "invalid request"}`);
  }
}

function keyURL(request) {
  const url = request.url;
  const hash = url.indexOf("#");
  return hash < 0 ? url : url.slice(0, hash);
}

function methodAllowed(request, options) {
  return request.method === "GET" || Boolean(options && typeof options === "object" && options.ignoreMethod);
}

/* ---- HTTP parsing ----------------------------------------------------------------------- */

/* Cache-Control as a Map of lower-cased directive -> value (null when bare).
 * The field is a list (RFC 9110 5.6.1): it is cut at commas outside quoted
 * strings and each element is read on its own, so an empty or malformed
 * element is skipped without hiding the directives after it. (The parse
 * used to stop at the first element it could not read: "max-age=5,,no-store"
 * or "=x, no-store" were kept for 5 s or the default 2 h; found by
 * tests/fuzz/cache_http.) */
function parseCacheControl(value) {
  const out = new Map();
  if (value === null) return out;
  for (const element of listElements(value)) {
    const m = /^([^=\s]+)\s*(?:=\s*(.*))?$/s.exec(element);
    if (m === null) continue;
    const name = m[1].toLowerCase();
    let v = m[2] === undefined ? null : m[2];
    if (v !== null && v.startsWith('"')) {
      if (v.length < 2 || !v.endsWith('"')) continue;
      v = v.slice(1, -1).replace(/\\(.)/g, "$1");
    }
    if (!out.has(name)) out.set(name, v);
  }
  return out;
}

/* The trimmed, non-empty elements of a comma-separated field value; commas
 * inside quoted strings (with backslash escapes) do not separate. */
function listElements(value) {
  const out = [];
  let start = 0;
  let quoted = false;
  for (let i = 0; i <= value.length; i++) {
    const c = value[i];
    if (quoted && c === "\\") {
      i++;
    } else if (c === '"') {
      quoted = !quoted;
    } else if (i === value.length || (c === "," && !quoted)) {
      const e = value.slice(start, i).trim();
      if (e !== "") out.push(e);
      start = i + 1;
    }
  }
  return out;
}

/* The largest delta-seconds kept as given: RFC 9111 1.2.2 lets a cache read
 * any larger value as 2^31 s (68 years). Without the cap, max-age=10^13 made
 * put() throw, the expiry being past what the store takes; found by
 * tests/fuzz/cache_http. */
const MAX_DELTA_SECONDS = 2147483648;

/* A delta-seconds value, or null when absent or malformed. */
function seconds(v) {
  if (v === null || v === undefined || !/^\d+$/.test(v)) return null;
  return Math.min(Number(v), MAX_DELTA_SECONDS);
}

/* An HTTP date in ms, or NaN. */
function httpDate(v) {
  return v === null ? NaN : Date.parse(v);
}

/* The entity tags of an If-None-Match value, "*" for any. */
function entityTags(v) {
  if (v.trim() === "*") return "*";
  return v.split(",").map((t) => opaqueTag(t.trim())).filter((t) => t !== "");
}

/* W/"x" and "x" compare alike (weak comparison). */
function opaqueTag(t) {
  return t.startsWith("W/") ? t.slice(2) : t;
}

/* How long a response may be kept (ms), or null when it is not to be kept;
 * headers may lose the fields Cache-Control's private=... names. */
function lifetime(status, headers, now) {
  const cc = parseCacheControl(headers.get("cache-control"));
  if (cc.has("no-store")) return null;
  if (cc.has("no-cache") && cc.get("no-cache") === null) return null;
  if (cc.has("private")) {
    const fields = cc.get("private");
    if (fields === null) return null;
    /* Only names: Headers.delete throws on anything else, and put() with
     * it (private="a b" made put() reject; found by tests/fuzz/cache_http). */
    for (const f of fields.split(",")) if (FIELD_NAME.test(f.trim())) headers.delete(f.trim());
  }
  if (headers.has("set-cookie")) return null;
  const s = seconds(cc.get("s-maxage"));
  if (s !== null) return s * 1000;
  const m = seconds(cc.get("max-age"));
  if (m !== null) return m * 1000;
  if (headers.has("expires")) {
    const t = httpDate(headers.get("expires"));
    return Number.isNaN(t) ? 0 : t - now;
  }
  const d = DEFAULT_TTL.get(status);
  return d === undefined ? null : d * 1000;
}

/* ---- responses from the store ----------------------------------------------------------------- */

function cachedHeaders(text) {
  const h = headersFromText(text);
  h.set("cf-cache-status", "HIT");
  return h;
}

function notModified(stored) {
  const h = new Headers();
  for (const name of NOT_MODIFIED_HEADERS) {
    const v = stored.get(name);
    if (v !== null) h.set(name, v);
  }
  h.set("cf-cache-status", "HIT");
  return makeIncomingResponse(304, "Not Modified", h, null, "", false);
}

function isNotModified(request, stored) {
  const inm = request.headers.get("if-none-match");
  if (inm !== null) {
    const etag = stored.get("etag");
    if (etag === null) return false;
    const tags = entityTags(inm);
    return tags === "*" || tags.includes(opaqueTag(etag.trim()));
  }
  const ims = httpDate(request.headers.get("if-modified-since"));
  const lm = httpDate(stored.get("last-modified"));
  return !Number.isNaN(ims) && !Number.isNaN(lm) && lm <= ims;
}

/* A single `bytes=` range of a body of n bytes: [start, end) , "bad" when
 * unsatisfiable, null when there is none we serve (absent, several, malformed). */
function byteRange(value, n) {
  if (value === null) return null;
  const m = /^\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*$/i.exec(value);
  if (!m || (m[1] === "" && m[2] === "")) return null;
  let start, end;
  if (m[1] === "") {
    const suffix = Number(m[2]);
    if (suffix === 0) return "bad";
    start = Math.max(0, n - suffix);
    end = n;
  } else {
    start = Number(m[1]);
    end = m[2] === "" ? n : Math.min(n, Number(m[2]) + 1);
    if (m[2] !== "" && Number(m[2]) < start) return null;
  }
  return start >= n ? "bad" : [start, end];
}

function fromStore(request, hit) {
  const headers = cachedHeaders(hit.headers);
  if (isNotModified(request, headers)) return notModified(headers);
  const status = hit.status;
  if (NULL_BODY_STATUS.has(status)) return makeIncomingResponse(status, "", headers, null, "", false);
  let bytes = new Uint8Array(hit.body);
  if (status === 200) {
    const range = byteRange(request.headers.get("range"), bytes.byteLength);
    if (range === "bad") {
      const h = new Headers({ "content-range": `bytes */${bytes.byteLength}`, "cf-cache-status": "HIT" });
      return makeIncomingResponse(416, "Range Not Satisfiable", h, null, "", false);
    }
    if (range !== null) {
      headers.set("content-range", `bytes ${range[0]}-${range[1] - 1}/${bytes.byteLength}`);
      headers.delete("content-length");
      bytes = bytes.slice(range[0], range[1]);
      return makeIncomingResponse(206, "Partial Content", headers, streamFromBytes(bytes), "", false);
    }
  }
  return makeIncomingResponse(status, "", headers, streamFromBytes(bytes), "", false);
}

/* ---- Cache and CacheStorage ---------------------------------------------------------------------- */

let cacheName;

export class Cache {
  #name;

  constructor(token, name) {
    if (token !== INTERNAL) throw new TypeError("Illegal constructor");
    this.#name = name;
  }

  static {
    cacheName = (c) => {
      if (c === null || typeof c !== "object" || !(#name in c)) throw new TypeError("Illegal invocation");
      return c.#name;
    };
  }

  async match(request, options = undefined) {
    const name = cacheName(this);
    const req = toRequest(request, "Cache.match");
    if (!methodAllowed(req, options)) return undefined;
    const hit = host.cacheMatch(name, keyURL(req), Date.now());
    return hit === undefined ? undefined : fromStore(req, hit);
  }

  async put(request, response) {
    const name = cacheName(this);
    const req = toRequest(request, "Cache.put");
    if (req.method !== "GET") throw new TypeError("Cannot cache response to non-GET request.");
    if (!(response instanceof Response)) throw new TypeError("Cache.put: the second argument must be a Response.");
    if (response.status === 206) throw new TypeError("Cannot cache response to a range request (206 Partial Content).");
    const vary = response.headers.get("vary");
    if (vary !== null && vary.split(",").some((v) => v.trim() === "*")) {
      throw new TypeError("Cannot cache response with 'Vary: *' header.");
    }
    if (response.bodyUsed) throw new TypeError("Cache.put: the response body has already been used.");
    const status = response.status;
    const headers = new Headers(response.headers);
    const body = await response.arrayBuffer();
    if (status < 200 || status > 599) return undefined;
    const now = Date.now();
    const ttl = lifetime(status, headers, now);
    if (ttl === null || !(ttl > 0)) return undefined;
    host.cachePut(name, keyURL(req), status, headersToText(headers), body, now + ttl);
    return undefined;
  }

  async delete(request, options = undefined) {
    const name = cacheName(this);
    const req = toRequest(request, "Cache.delete");
    if (!methodAllowed(req, options)) return false;
    return Boolean(host.cacheDelete(name, keyURL(req), Date.now()));
  }
}

/* The host's cache names: "default" for caches.default, "open:" + name
 * for caches.open(name), so no name given to open() is the default. */
const defaultCache = new Cache(INTERNAL, "default");

export class CacheStorage {
  constructor(token) {
    if (token !== INTERNAL) throw new TypeError("Illegal constructor");
  }

  get default() {
    return defaultCache;
  }

  async open(name) {
    if (arguments.length < 1) throw new TypeError("CacheStorage.open: a cache name is required");
    return new Cache(INTERNAL, `open:${String(name)}`);
  }
}

exposeInterface("Cache", Cache);
exposeInterface("CacheStorage", CacheStorage);
defineGlobal("caches", new CacheStorage(INTERNAL));
