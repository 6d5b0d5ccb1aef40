/*
 * request.js - Request, as the Fetch spec defines it with Workers'
 * changes: URLs must be absolute (a worker has no base URL), `redirect` is
 * "follow" or "manual", a request carries `cf` (an object or undefined),
 * and the browser-only init fields (mode, credentials, referrer, ...) are
 * accepted and ignored. dispatch.js builds the incoming request through
 * makeIncomingRequest(), whose headers are immutable as in Workers.
 */
import { Body, extractBody, nullBody, streamBody, takeBody, cloneBody, bodyState } from "./body.js";
import { exposeInterface } from "./domexception.js";
import { Headers, setGuard } from "./headers.js";
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

function parseURL(input) {
  const s = String(input);
  try {
    return new globalThis.URL(s).href;
  } catch {
    throw new TypeError(`Invalid URL: ${s}`);
  }
}

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

export class Request extends Body {
  #url;
  #method;
  #headers;
  #redirect;
  #signal;
  #cf;

  constructor(input, init = undefined) {
    if (input === INTERNAL) {
      super(init.body);
      this.#url = init.url;
      this.#method = init.method;
      this.#headers = init.headers;
      this.#redirect = init.redirect;
      this.#signal = init.signal;
      this.#cf = init.cf;
      return;
    }
    if (arguments.length < 1) throw new TypeError("Failed to construct 'Request': 1 argument required, but only 0 present.");
    if (init === null || init === undefined) init = {};
    else if (typeof init !== "object") throw new TypeError("Failed to construct 'Request': init is not an object.");

    const from = isRequest(input) ? input : null;
    const url = from ? from.#url : parseURL(input);
    const method = init.method !== undefined ? normalizeMethod(init.method) : from ? from.#method : "GET";
    const headers = new Headers(init.headers !== undefined ? init.headers : from ? from.#headers : undefined);
    const redirect = init.redirect !== undefined ? checkRedirect(init.redirect) : from ? from.#redirect : "follow";
    const signal = init.signal !== undefined ? checkSignal(init.signal) : from ? from.#signal : null;
    const cf = init.cf !== undefined ? checkCf(init.cf) : from ? from.#cf : undefined;
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
    this.#redirect = redirect;
    this.#signal = signal;
    this.#cf = cf;
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
    return this.#headers;
  }
  get redirect() {
    return this.#redirect;
  }
  get signal() {
    /* A request always has a signal; one nobody can abort is made on demand. */
    if (this.#signal === null) this.#signal = new AbortController().signal;
    return this.#signal;
  }
  get cf() {
    return this.#cf;
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
    const headers = new Headers(this.#headers);
    setGuard(headers, "request");
    return new Request(INTERNAL, {
      body: cloneBody(this),
      url: this.#url,
      method: this.#method,
      headers,
      redirect: this.#redirect,
      signal: this.#signal,
      cf: this.#cf,
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
  return new Request(INTERNAL, {
    body: streamBody(bodyStream),
    url: String(url),
    method: NORMALIZED.has(upper) ? upper : String(method),
    headers: h,
    redirect: "follow",
    signal: signal || null,
    cf: cf === null ? undefined : cf,
  });
}

/* Fields fetch() needs from a Request (internal). */
export function requestParts(req) {
  if (!isRequest(req)) throw new TypeError("not a Request");
  return { url: req.url, method: req.method, headers: req.headers, redirect: req.redirect, signal: req.signal, cf: req.cf };
}

exposeInterface("Request", Request);
