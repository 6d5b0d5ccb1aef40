/*
 * response.js - Response, as the Fetch spec defines it with Workers'
 * additions (`webSocket`, `encodeBody`, `cf`), and the statics json(),
 * redirect() and error(). responseParts() is how dispatch.js takes a
 * response apart for the host: a body of known bytes goes out in one write
 * with a Content-Length, anything else is streamed; sendWhole() is its
 * shortcut for the common case (one host call for the whole answer).
 *
 * A response is cheap to make: a string body stays the string (TextState)
 * until someone reads its bytes, the header list stays as given (a plain
 * record's checked entries, or only a Content-Type) until someone reads
 * `headers`, and the fields that are almost always their defaults (the
 * status text, type, url, webSocket, ...) live in one object that is null
 * while they are.
 */
import { urlHref } from "./url.js";
import { Body, extractBody, nullBody, streamBody, cloneBody, bodyForSend, bodyState } from "./body.js";
import { exposeInterface } from "./domexception.js";
import { utf8Encode } from "./encoding.js";
import host from "./host.js";
import {
  Headers,
  setGuard,
  recordHeaders,
  RECORD_TEXT_PLAIN,
  RECORD_JSON,
  isHostText,
  headersFromEntries,
  entriesHas,
  entriesFromHost,
  entriesToText,
  headersToText,
} from "./headers.js";

const NULL_BODY_STATUS = new Set([101, 204, 205, 304]);
const REDIRECT_STATUS = new Set([301, 302, 303, 307, 308]);
const REASON_PHRASE = /^[\t\x20-\x7e\x80-\xff]*$/;
const INTERNAL = Symbol("internal");
const INTERNAL_JSON = Symbol("json");
const TEXT_PLAIN = "text/plain;charset=UTF-8";
const JSON_TYPE = "application/json";
/* What a response's header list is for the host when it is only these. */
const LINE_TEXT_PLAIN = `content-type: ${TEXT_PLAIN}\n`;
const LINE_JSON = `content-type: ${JSON_TYPE}\n`;
/* host.respondWhole's codes (host_http.c): headers that are only the
 * Content-Type of a string body or of Response.json(), */
const WHOLE_TEXT_PLAIN = 1;
const WHOLE_JSON = 2;
/* units for a body that is not a string, */
const WHOLE_NO_BODY = -2;
const WHOLE_BUFFER = -1;
/* and flags: finish the request too; statusText is not "". */
const WHOLE_DONE = 1;
const WHOLE_REASON = 2;

/*
 * A string body, kept as the string until someone needs its bytes: body.js
 * sees a "bytes" state whose `bytes` are made (UTF-8) on first read, and
 * dispatch.js has the host encode the string itself onto the wire
 * (sendWhole). The fields body.js reads (kind, blob, stream, used) start
 * on the prototype, so a new state costs one field.
 */
class TextState {
  constructor(text) {
    this.text = text;
  }
  get bytes() {
    if (this.text !== null) {
      const u8 = utf8Encode(this.text);
      this.u8 = u8.byteOffset === 0 && u8.byteLength === u8.buffer.byteLength ? u8 : u8.slice();
      this.text = null;
    }
    return this.u8;
  }
  set bytes(v) {
    this.text = null;
    this.u8 = v;
  }
}
Object.assign(TextState.prototype, { kind: "bytes", blob: null, stream: null, used: false, u8: null });

/* The null body of a response made here: body.js never changes a null
 * state (a read, clone or send of one makes or returns another). */
const NULL_STATE = Object.freeze(nullBody());

/* The fields of a response that are almost always their defaults live in
 * one object, #x, which is null while they are the defaults: */
const DEFAULTS = Object.freeze({
  statusText: "",
  guard: "response",
  type: "default",
  url: "",
  redirected: false,
  webSocket: null,
  encodeBody: "automatic",
  cf: undefined,
});

/* WebIDL unsigned short conversion. */
function toUShort(v) {
  const x = Number(v);
  if (!Number.isFinite(x)) return 0;
  return ((Math.trunc(x) % 65536) + 65536) % 65536;
}

function checkStatus(status, webSocket) {
  if (status === 101 && webSocket !== null) return status;
  if (status < 200 || status > 599) {
    throw new RangeError("Responses may only be constructed with status codes in the range 200 to 599, inclusive.");
  }
  return status;
}

const parseURL = urlHref;

/*
 * A response's header list until someone reads `response.headers`: null
 * (none), a string (only Content-Type, this value; or, ending in a line
 * feed, the host text of a plain record init: recordHeaders), an array of
 * { name, lower, value } entries (a plain record init that went entry by
 * entry), or else the Headers.
 */
function listOf(h) {
  if (h === null) return [];
  if (typeof h === "string") {
    return isHostText(h) ? entriesFromHost(h) : [{ name: "content-type", lower: "content-type", value: h }];
  }
  return h;
}

function hostText(h) {
  if (h === null) return "";
  if (h === TEXT_PLAIN) return LINE_TEXT_PLAIN;
  if (h === JSON_TYPE) return LINE_JSON;
  if (typeof h === "string") return isHostText(h) ? h : `content-type: ${h}\n`;
  return Array.isArray(h) ? entriesToText(h) : headersToText(h);
}

/*
 * The Fetch spec's "initialize a response" for a body init `body`
 * (undefined or null for none), or an already extracted body (state,
 * contentType) for the statics when state is given. The results go to
 * f* below, which the constructor takes at once: no object per response.
 */
let fState, fStatus, fHeaders, fX;
function initFields(body, init, state, contentType) {
  if (init === null || init === undefined) init = DEFAULTS;
  else if (typeof init !== "object") throw new TypeError("Failed to construct 'Response': init is not an object.");
  const webSocket = init.webSocket === undefined || init.webSocket === null ? null : init.webSocket;
  const status = checkStatus(init.status === undefined ? 200 : toUShort(init.status), webSocket);
  const statusText = init.statusText === undefined ? "" : String(init.statusText);
  if (statusText !== "" && !REASON_PHRASE.test(statusText)) throw new TypeError("Invalid statusText");
  let encodeBody = "automatic";
  if (init.encodeBody !== undefined) {
    encodeBody = String(init.encodeBody);
    if (encodeBody !== "automatic" && encodeBody !== "manual") {
      throw new TypeError(`encodeBody must be "automatic" or "manual", got "${encodeBody}"`);
    }
  }
  const cf = init.cf === undefined || init.cf === null ? undefined : init.cf;
  if (cf !== undefined && typeof cf !== "object") throw new TypeError("Failed to construct 'Response': member cf is not an object.");
  const headersInit = init === DEFAULTS ? undefined : init.headers;
  /* The Content-Type the body will add, when known before extracting it
   * (a string, or the statics' own), goes to the host with a record. */
  const typeCode =
    state !== undefined
      ? contentType === JSON_TYPE
        ? RECORD_JSON
        : 0
      : typeof body === "string" && !NULL_BODY_STATUS.has(status)
        ? RECORD_TEXT_PLAIN
        : 0;
  let headers = null;
  if (headersInit !== undefined) {
    headers = recordHeaders(headersInit, typeCode);
    if (headers === null) headers = new Headers(headersInit);
    else if (headers === "" || headers.length === 0) headers = null;
  }
  let extracted = state !== undefined;
  if (!extracted && body !== undefined && body !== null) {
    extracted = true;
    if (typeof body === "string") {
      state = new TextState(body);
      contentType = TEXT_PLAIN;
    } else {
      const e = extractBody(body);
      state = e.state;
      contentType = e.contentType;
    }
  }
  if (extracted) {
    if (NULL_BODY_STATUS.has(status)) {
      throw new TypeError(`Response with null body status (101, 204, 205, or 304) cannot have a body.`);
    }
    if (contentType !== null) {
      // headers.set("content-type", type) unless there is one: the types
      // extracted bodies give are byte strings with no surrounding space.
      if (headers === null) headers = contentType;
      else if (typeof headers === "string") {
        /* the host text: with this type unless the host was not given it */
        if (typeCode === 0) {
          headers = entriesFromHost(headers);
          if (!entriesHas(headers, "content-type")) {
            headers.push({ name: "content-type", lower: "content-type", value: contentType });
          }
        }
      } else if (Array.isArray(headers)) {
        if (!entriesHas(headers, "content-type")) {
          headers.push({ name: "content-type", lower: "content-type", value: contentType });
        }
      } else if (!headers.has("content-type")) headers.set("content-type", contentType);
    }
  } else {
    state = NULL_STATE;
  }
  if (headers instanceof Headers) setGuard(headers, "response");
  fState = state;
  fStatus = status;
  fHeaders = headers;
  fX =
    statusText === "" && webSocket === null && encodeBody === "automatic" && cf === undefined
      ? null
      : { statusText, guard: "response", type: "default", url: "", redirected: false, webSocket, encodeBody, cf };
}

let isResponse;
let headerTextOf;
/*
 * sendWhole(resp, id, done), dispatch.js's fast send (set in Response's
 * static block): when resp's body is none, a string or bytes not yet
 * used, the whole response (status, headers, body) goes to the host in one
 * call (host.respondWhole, which encodes a string body as UTF-8 itself and
 * writes it all at once; with done it also finishes request id) and its
 * body is then used: true. false when resp must go the general way
 * (responseParts), which also reports every error (not a Response,
 * Response.error(), a used body), or when the host would rather stream it
 * (a body over 64 KiB, a full client queue).
 */
export let sendWhole;

export class Response extends Body {
  #status;
  #headers; // as listOf() takes it, until `headers` is read: then a Headers
  #x; // null, or the fields DEFAULTS lists (statusText among them)

  constructor(body = null, init = undefined) {
    if (init === undefined && typeof body === "string") {
      // new Response(text): the common case, with no intermediate objects.
      super(new TextState(body));
      this.#status = 200;
      this.#headers = TEXT_PLAIN;
      this.#x = null;
      return;
    }
    if (body === INTERNAL_JSON) {
      super(new TextState(init));
      this.#status = 200;
      this.#headers = JSON_TYPE;
      this.#x = null;
      return;
    }
    if (body === INTERNAL) {
      super(init.body);
      this.#status = init.status;
      this.#headers = init.headers;
      this.#x = init.x;
      return;
    }
    initFields(body, init, undefined, null);
    super(fState);
    this.#status = fStatus;
    this.#headers = fHeaders;
    this.#x = fX;
    fState = fHeaders = fX = null;
  }

  static {
    isResponse = (o) => o !== null && typeof o === "object" && #status in o;
    headerTextOf = (r) => hostText(r.#headers);
    sendWhole = (r, id, done) => {
      if (r === null || typeof r !== "object" || !(#status in r)) return false;
      if (r.#status === 0 || (r.#x !== null && r.#x.webSocket !== null)) return false;
      const s = bodyState(r);
      let body = undefined;
      let units = WHOLE_NO_BODY;
      if (s instanceof TextState) {
        if (s.used) return false;
        if (s.text !== null) {
          body = s.text;
          units = body.length;
        } else {
          // its bytes were made (a clone read them): they span their buffer
          if (s.u8 === null) return false;
          body = s.u8.buffer;
          units = WHOLE_BUFFER;
        }
      } else if (s.kind !== "null") {
        if (s.kind !== "bytes" || s.used || s.bytes === null) return false;
        body = s.bytes.buffer;
        units = WHOLE_BUFFER;
      }
      const h = r.#headers;
      const x = r.#x;
      const flags = (done ? WHOLE_DONE : 0) | (x !== null && x.statusText !== "" ? WHOLE_REASON : 0);
      const text = h === TEXT_PLAIN ? WHOLE_TEXT_PLAIN : h === JSON_TYPE ? WHOLE_JSON : hostText(h);
      if (host.respondWhole(id, r.#status, x === null ? "" : x.statusText, text, body, units, flags) !== 0) return false;
      if (body !== undefined) {
        s.bytes = null;
        s.used = true;
      }
      return true;
    };
  }

  static json(data, init = undefined) {
    const text = JSON.stringify(data);
    if (text === undefined) throw new TypeError("Response.json: the value is not JSON serializable");
    if (init === undefined) return new Response(INTERNAL_JSON, text);
    initFields(undefined, init, new TextState(text), JSON_TYPE);
    const f = { body: fState, status: fStatus, headers: fHeaders, x: fX };
    fState = fHeaders = fX = null;
    return new Response(INTERNAL, f);
  }

  static redirect(url, status = 302) {
    const href = parseURL(url);
    status = toUShort(status);
    if (!REDIRECT_STATUS.has(status)) {
      throw new RangeError(`${status} is not a redirect status code. It must be one of: 301, 302, 303, 307, or 308.`);
    }
    const headers = new Headers();
    headers.set("location", href);
    setGuard(headers, "immutable");
    return new Response(INTERNAL, {
      body: NULL_STATE,
      status,
      headers,
      x: { ...DEFAULTS, guard: "immutable" },
    });
  }

  static error() {
    const headers = new Headers();
    setGuard(headers, "immutable");
    return new Response(INTERNAL, {
      body: nullBody(),
      status: 0,
      headers,
      x: { ...DEFAULTS, guard: "immutable", type: "error" },
    });
  }

  get status() {
    return this.#status;
  }
  get statusText() {
    return (this.#x || DEFAULTS).statusText;
  }
  get headers() {
    const h = this.#headers;
    if (h instanceof Headers) return h;
    return (this.#headers = headersFromEntries(listOf(h), (this.#x || DEFAULTS).guard));
  }
  get ok() {
    return this.#status >= 200 && this.#status <= 299;
  }
  get redirected() {
    return (this.#x || DEFAULTS).redirected;
  }
  get type() {
    return (this.#x || DEFAULTS).type;
  }
  get url() {
    return (this.#x || DEFAULTS).url;
  }
  get webSocket() {
    return (this.#x || DEFAULTS).webSocket;
  }
  get encodeBody() {
    return (this.#x || DEFAULTS).encodeBody;
  }
  get cf() {
    return (this.#x || DEFAULTS).cf;
  }

  clone() {
    if (!isResponse(this)) throw new TypeError("Illegal invocation");
    const x = this.#x;
    if (x !== null && x.webSocket !== null) throw new TypeError("Cannot clone a response to a WebSocket handshake.");
    let headers = this.#headers;
    if (headers instanceof Headers) {
      headers = new Headers(headers);
      setGuard(headers, (x || DEFAULTS).guard);
    } else if (Array.isArray(headers)) {
      headers = headers.map((e) => ({ name: e.name, lower: e.lower, value: e.value }));
    }
    return new Response(INTERNAL, {
      body: cloneBody(this),
      status: this.#status,
      headers,
      x: x === null ? null : { ...x, webSocket: null },
    });
  }
}

/*
 * For dispatch.js: the parts the host sends. Exactly one of bytes and
 * stream is non-null unless the body is null; length is the body's size
 * in bytes when known up front (bytes, a Blob, a FixedLengthStream), else
 * null. Marks a bytes body used, so a response can be sent only once;
 * throws TypeError when the body was already used.
 */
export function responseParts(resp) {
  if (!isResponse(resp)) throw new TypeError("The worker did not return a Response object.");
  const { bytes, stream, length } = bodyForSend(resp);
  return { status: resp.status, statusText: resp.statusText, headers: resp.headers, bytes, stream, length };
}


/*
 * A response from the network, for fetch(): immutable headers (a Headers,
 * any HeadersInit, or the host's header text, which stays text until
 * `headers` is read: src/api isl_api_header_line made it), body a
 * ReadableStream, a host body (body.js hostBody) or null, url the final URL.
 */
export function makeIncomingResponse(status, statusText, headers, bodyStream, url, redirected) {
  let h;
  if (typeof headers === "string") {
    h = headers === "" ? null : headers;
  } else {
    h = headers instanceof Headers ? headers : new Headers(headers);
    setGuard(h, "immutable");
  }
  return new Response(INTERNAL, {
    body: streamBody(NULL_BODY_STATUS.has(status) ? null : bodyStream),
    status,
    headers: h,
    x: {
      statusText: String(statusText),
      guard: "immutable",
      type: "default",
      url: url ? String(url) : "",
      redirected: Boolean(redirected),
      webSocket: null,
      encodeBody: "automatic",
      cf: undefined,
    },
  });
}

/* The host's header text of a response ("name: value\n" lines), without
 * making its Headers when it has none yet (a pass-through). */
export function responseHeaderText(resp) {
  return headerTextOf(resp);
}

exposeInterface("Response", Response);
