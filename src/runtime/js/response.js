/*
 * response.js - Response, as the Fetch spec defines it with Workers'
 * additions (`webSocket`, `encodeBody`, `cf`), and the statics json(),
 * redirect() and error(). responseParts() is how dispatch.js takes a
 * response apart for the host: a body of known bytes goes out in one write
 * with a Content-Length, anything else is streamed.
 */
import { Body, extractBody, nullBody, streamBody, cloneBody, bodyForSend } from "./body.js";
import { exposeInterface } from "./domexception.js";
import { Headers, setGuard } from "./headers.js";

const NULL_BODY_STATUS = new Set([101, 204, 205, 304]);
const REDIRECT_STATUS = new Set([301, 302, 303, 307, 308]);
const REASON_PHRASE = /^[\t\x20-\x7e\x80-\xff]*$/;
const INTERNAL = Symbol("internal");

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

function parseURL(input) {
  const s = String(input);
  try {
    return new globalThis.URL(s).href;
  } catch {
    throw new TypeError(`Invalid URL: ${s}`);
  }
}

/*
 * The Fetch spec's "initialize a response" for a body init `body`
 * (undefined or null for none); bodyOverride is an already extracted
 * { state, contentType } for the statics.
 */
function initFields(body, init, bodyOverride) {
  if (init === null || init === undefined) init = {};
  else if (typeof init !== "object") throw new TypeError("Failed to construct 'Response': init is not an object.");
  const webSocket = init.webSocket === undefined || init.webSocket === null ? null : init.webSocket;
  const status = checkStatus(init.status === undefined ? 200 : toUShort(init.status), webSocket);
  const statusText = init.statusText === undefined ? "" : String(init.statusText);
  if (!REASON_PHRASE.test(statusText)) throw new TypeError("Invalid statusText");
  let encodeBody = "automatic";
  if (init.encodeBody !== undefined) {
    encodeBody = String(init.encodeBody);
    if (encodeBody !== "automatic" && encodeBody !== "manual") {
      throw new TypeError(`encodeBody must be "automatic" or "manual", got "${encodeBody}"`);
    }
  }
  const cf = init.cf === undefined || init.cf === null ? undefined : init.cf;
  if (cf !== undefined && typeof cf !== "object") throw new TypeError("Failed to construct 'Response': member cf is not an object.");
  const headers = new Headers(init.headers);
  let state = nullBody();
  const extracted = bodyOverride || (body === undefined || body === null ? null : extractBody(body));
  if (extracted) {
    if (NULL_BODY_STATUS.has(status)) {
      throw new TypeError(`Response with null body status (101, 204, 205, or 304) cannot have a body.`);
    }
    state = extracted.state;
    if (extracted.contentType !== null && !headers.has("content-type")) headers.set("content-type", extracted.contentType);
  }
  setGuard(headers, "response");
  return { body: state, status, statusText, headers, guard: "response", type: "default", url: "", redirected: false, webSocket, encodeBody, cf };
}

let isResponse;

export class Response extends Body {
  #status;
  #statusText;
  #headers;
  #guard;
  #type;
  #url;
  #redirected;
  #webSocket;
  #encodeBody;
  #cf;

  constructor(body = null, init = undefined) {
    const f = body === INTERNAL ? init : initFields(body, init, null);
    super(f.body);
    this.#status = f.status;
    this.#statusText = f.statusText;
    this.#headers = f.headers;
    this.#guard = f.guard;
    this.#type = f.type;
    this.#url = f.url;
    this.#redirected = f.redirected;
    this.#webSocket = f.webSocket;
    this.#encodeBody = f.encodeBody;
    this.#cf = f.cf;
  }

  static {
    isResponse = (o) => o !== null && typeof o === "object" && #status in o;
  }

  static json(data, init = undefined) {
    const text = JSON.stringify(data);
    if (text === undefined) throw new TypeError("Response.json: the value is not JSON serializable");
    const extracted = extractBody(text);
    extracted.contentType = "application/json";
    return new Response(INTERNAL, initFields(undefined, init, extracted));
  }

  static redirect(url, status = 302) {
    const href = parseURL(url);
    status = toUShort(status);
    if (!REDIRECT_STATUS.has(status)) {
      throw new RangeError(`${status} is not a redirect status code. It must be one of: 301, 302, 303, 307, or 308.`);
    }
    const f = initFields(undefined, { status });
    f.headers.set("location", href);
    setGuard(f.headers, "immutable");
    f.guard = "immutable";
    return new Response(INTERNAL, f);
  }

  static error() {
    const headers = new Headers();
    setGuard(headers, "immutable");
    return new Response(INTERNAL, {
      body: nullBody(),
      status: 0,
      statusText: "",
      headers,
      guard: "immutable",
      type: "error",
      url: "",
      redirected: false,
      webSocket: null,
      encodeBody: "automatic",
      cf: undefined,
    });
  }

  get status() {
    return this.#status;
  }
  get statusText() {
    return this.#statusText;
  }
  get headers() {
    return this.#headers;
  }
  get ok() {
    return this.#status >= 200 && this.#status <= 299;
  }
  get redirected() {
    return this.#redirected;
  }
  get type() {
    return this.#type;
  }
  get url() {
    return this.#url;
  }
  get webSocket() {
    return this.#webSocket;
  }
  get encodeBody() {
    return this.#encodeBody;
  }
  get cf() {
    return this.#cf;
  }

  clone() {
    if (!isResponse(this)) throw new TypeError("Illegal invocation");
    if (this.#webSocket !== null) throw new TypeError("Cannot clone a response to a WebSocket handshake.");
    const headers = new Headers(this.#headers);
    setGuard(headers, this.#guard);
    return new Response(INTERNAL, {
      body: cloneBody(this),
      status: this.#status,
      statusText: this.#statusText,
      headers,
      guard: this.#guard,
      type: this.#type,
      url: this.#url,
      redirected: this.#redirected,
      webSocket: null,
      encodeBody: this.#encodeBody,
      cf: this.#cf,
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
 * A response from the network, for fetch(): immutable headers (a Headers
 * or any HeadersInit), body a ReadableStream or null, url the final URL.
 */
export function makeIncomingResponse(status, statusText, headers, bodyStream, url, redirected) {
  const h = headers instanceof Headers ? headers : new Headers(headers);
  setGuard(h, "immutable");
  return new Response(INTERNAL, {
    body: streamBody(NULL_BODY_STATUS.has(status) ? null : bodyStream),
    status,
    statusText: String(statusText),
    headers: h,
    guard: "immutable",
    type: "default",
    url: url ? String(url) : "",
    redirected: Boolean(redirected),
    webSocket: null,
    encodeBody: "automatic",
    cf: undefined,
  });
}

exposeInterface("Response", Response);
