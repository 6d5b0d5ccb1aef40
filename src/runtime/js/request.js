/*
 * request.js - Request, as the Fetch spec defines it with Workers'
 * changes: URLs must be absolute (a worker has no base URL), `redirect` is
 * "follow" or "manual", a request carries `cf` (an object or undefined),
 * and the browser-only init fields (mode, credentials, referrer, ...) are
 * accepted and ignored. dispatch.js builds the incoming request through
 * makeIncomingRequest(), whose headers are immutable as in Workers.
 */
import { urlHref } from "./url.js";
import { Body, extractBody, nullBody, streamBody, takeBody, cloneBody, bodyState } from "./body.js";
import { exposeInterface } from "./domexception.js";
import { Headers, setGuard, headersFromEntries, entriesFromHost } from "./headers.js";
import { AbortController, AbortSignal } from "./events.js";

/* Methods the spec upper-cases; others keep the caller's case. */
const NORMALIZED = new Set(["DELETE", "GET", "HEAD", "OPTIONS", "POST", "PUT"]);
const FORBIDDEN = new Set(["CONNECT", "TRACE", "TRACK"]);
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const INTERNAL = Symbol("internal");

function normalizeMethod(m) {
  m = String(m);
  if (!TOKEN.test(m)) throw new TypeError(`Invalid HTTP method string: ${m}`);
  const upper = m.toUpperCase();
  if (FORBIDDEN.has(upper)) throw new TypeError(`Invalid HTTP method string: ${m}`);
  return NORMALIZED.has(upper) ? upper : m;
}

const parseURL = urlHref;

/* Workers itself refuses "error"; Isolde supports all three Fetch modes:
 * with "error" a redirect makes fetch() reject. */
function checkRedirect(r) {
  r = String(r);
  if (r !== "follow" && r !== "manual" && r !== "error") {
    throw new TypeError(`Invalid redirect value, must be one of "follow", "manual" or "error".`);
  }
  return r;
}

function checkSignal(signal) {
  if (signal === null || signal === undefined) return null;
  if (!(signal instanceof AbortSignal)) {
    throw new TypeError("Failed to construct 'Request': member signal is not of type AbortSignal.");
  }
  return signal;
}

function checkCf(cf) {
  if (cf === undefined || cf === null) return undefined;
  if (typeof cf !== "object") throw new TypeError("Failed to construct 'Request': member cf is not an object.");
  return cf;
}

let isRequest;

/* A clone's #x: the same fields, with the signal as it is now. */
function cloneX(x, signal) {
  if (x === null) return null;
  return { redirect: x.redirect, cf: x.cf, signal };
}

/* The null body of an incoming request: body.js never changes a null
 * state (a read, clone or move of one makes another). */
const NULL_STATE = Object.freeze(nullBody());
/* The fields that are almost always their defaults, in #x while they are not: */
const DEFAULTS = Object.freeze({ redirect: "follow", cf: undefined, signal: null });
/* makeHostRequest's arguments, for the constructor (no object per request). */
let hostUrl, hostMethod, hostText, hostBody, hostMaker;
const INTERNAL_HOST = Symbol("host");

export class Request extends Body {
  #url;
  #method;
  #headers; // a Headers, or the host's "name: value\n" text until `headers` is read
  /* null while redirect, cf and signal are their defaults ("follow",
   * undefined, none yet: one nobody can abort is made on demand), else an
   * object with those three: { redirect, cf, signal }, or for an incoming
   * request dispatch.js's state, whose `signal` getter makes the
   * request's AbortSignal when first read. */
  #x;

  constructor(input, init = undefined) {
    if (input === INTERNAL_HOST) {
      super(hostBody);
      this.#url = hostUrl;
      this.#method = hostMethod;
      this.#headers = hostText;
      this.#x = hostMaker;
      hostBody = hostMaker = null;
      return;
    }
    if (input === INTERNAL) {
      super(init.body);
      this.#url = init.url;
      this.#method = init.method;
      this.#headers = init.headers;
      this.#x = init.x;
      return;
    }
    if (arguments.length < 1) throw new TypeError("Failed to construct 'Request': 1 argument required, but only 0 present.");
    if (init === null || init === undefined) init = {};
    else if (typeof init !== "object") throw new TypeError("Failed to construct 'Request': init is not an object.");

    const from = isRequest(input) ? input : null;
    const url = from ? from.#url : parseURL(input);
    const method = init.method !== undefined ? normalizeMethod(init.method) : from ? from.#method : "GET";
    let headers;
    if (init.headers !== undefined) headers = new Headers(init.headers);
    else if (from !== null && typeof from.#headers === "string") {
      // the host's text (an incoming request's): its lines are already checked
      headers = headersFromEntries(entriesFromHost(from.#headers), "none");
    } else headers = new Headers(from !== null ? from.#headers : undefined);
    const fx = from && from.#x !== null ? from.#x : DEFAULTS;
    const redirect = init.redirect !== undefined ? checkRedirect(init.redirect) : fx.redirect;
    const signal = init.signal !== undefined ? checkSignal(init.signal) : from ? from.#sig() : null;
    const cf = init.cf !== undefined ? checkCf(init.cf) : fx.cf;
    const hasInitBody = init.body !== undefined && init.body !== null;
    const inputHasBody = from !== null && bodyState(from).kind !== "null";
    if ((hasInitBody || inputHasBody) && (method === "GET" || method === "HEAD")) {
      throw new TypeError("Request with a GET or HEAD method cannot have a body.");
    }
    let body;
    if (hasInitBody) {
      const extracted = extractBody(init.body);
      body = extracted.state;
      if (extracted.contentType !== null && !headers.has("content-type")) headers.set("content-type", extracted.contentType);
    } else {
      body = from ? takeBody(from) : nullBody();
    }

    super(body);
    setGuard(headers, "request");
    this.#url = url;
    this.#method = method;
    this.#headers = headers;
    this.#x = redirect === "follow" && cf === undefined && signal === null ? null : { redirect, cf, signal };
  }

  /* The Headers, made from the host's text on first use (immutable, as
   * only an incoming request has host text). */
  #hdrs() {
    const h = this.#headers;
    if (typeof h !== "string") return h;
    return (this.#headers = headersFromEntries(entriesFromHost(h), "immutable"));
  }

  /* The signal as it is now (null: none yet); an incoming request's is
   * made on first use. */
  #sig() {
    const x = this.#x;
    return x === null ? null : x.signal;
  }

  static {
    isRequest = (o) => o !== null && typeof o === "object" && #url in o;
  }

  get url() {
    return this.#url;
  }
  get method() {
    return this.#method;
  }
  get headers() {
    return this.#hdrs();
  }
  get redirect() {
    return (this.#x || DEFAULTS).redirect;
  }
  get signal() {
    /* A request always has a signal; one nobody can abort is made on demand. */
    let s = this.#sig();
    if (s === null) {
      const x = this.#x || DEFAULTS;
      s = new AbortController().signal;
      this.#x = { redirect: x.redirect, cf: x.cf, signal: s };
    }
    return s;
  }
  get cf() {
    return (this.#x || DEFAULTS).cf;
  }
  get fetcher() {
    return null;
  }
  get integrity() {
    return "";
  }
  get keepalive() {
    return false;
  }
  get cache() {
    return undefined;
  }

  clone() {
    if (!isRequest(this)) throw new TypeError("Illegal invocation");
    const headers = new Headers(this.#hdrs());
    setGuard(headers, "request");
    return new Request(INTERNAL, {
      body: cloneBody(this),
      url: this.#url,
      method: this.#method,
      headers,
      x: cloneX(this.#x, this.#sig()),
    });
  }
}

/*
 * The request dispatch.js hands the worker: url absolute, method as the
 * client sent it (upper-cased when standard), headers a Headers or any
 * HeadersInit (made immutable), bodyStream a ReadableStream of Uint8Array
 * or null, signal an AbortSignal or null, cf an object or undefined.
 */
export function makeIncomingRequest(url, method, headers, bodyStream, signal, cf) {
  const h = headers instanceof Headers ? headers : new Headers(headers);
  setGuard(h, "immutable");
  const upper = String(method).toUpperCase();
  cf = cf === null ? undefined : cf;
  return new Request(INTERNAL, {
    body: streamBody(bodyStream),
    url: String(url),
    method: NORMALIZED.has(upper) ? upper : String(method),
    headers: h,
    x: cf === undefined && !signal ? null : { redirect: "follow", cf, signal: signal || null },
  });
}

/*
 * The same from what the host gives dispatch.js, made lazily: headerText
 * is the host's "name: value\n" lines (checked by the HTTP parser and
 * runtime.c), parsed only when the worker reads request.headers; state
 * (dispatch.js's) has redirect "follow", cf undefined and a `signal`
 * getter that makes the request's AbortSignal when first read.
 */
export function makeHostRequest(url, method, headerText, bodyStream, state) {
  if (!NORMALIZED.has(method)) {
    const upper = method.toUpperCase();
    if (NORMALIZED.has(upper)) method = upper;
  }
  hostUrl = url;
  hostMethod = method;
  hostText = headerText;
  hostBody = bodyStream === null ? NULL_STATE : streamBody(bodyStream);
  hostMaker = state;
  return new Request(INTERNAL_HOST);
}

/* Fields fetch() needs from a Request (internal). */
export function requestParts(req) {
  if (!isRequest(req)) throw new TypeError("not a Request");
  return { url: req.url, method: req.method, headers: req.headers, redirect: req.redirect, signal: req.signal, cf: req.cf };
}

exposeInterface("Request", Request);
