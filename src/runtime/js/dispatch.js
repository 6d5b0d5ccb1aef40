/*
 * dispatch.js - how a request reaches the tenant's fetch handler and how
 * its Response goes back to the host.
 *
 * Both worker formats end up here: an ES module's `export default { fetch }`
 * (registerModule gets the namespace) and a service-worker script's
 * `addEventListener("fetch", e => e.respondWith(...))`. Each request has an
 * id given by the host; its body stays in the host, a host stream
 * (streams.js hostStream) read on demand. A response with a known body is
 * sent in one write with its Content-Length; a response whose body is a
 * host stream nobody read (return fetch(request), an echoed request body)
 * is piped by the host without entering the isolate (host.respondBody);
 * any other stream is written chunk by chunk. The host is
 * told `done` only when the response is out and every ctx.waitUntil promise
 * has settled, so the isolate is not reset under background work.
 *
 * The common case costs one host call and no promise job: a handler that
 * returns a Response (or an async one whose promise is already fulfilled
 * with it) whose body is none, a string or bytes is answered at once by
 * sendWhole (response.js -> host.respondWhole: status, headers and body
 * in one write, the string encoded by the host) and, with no waitUntil
 * work, finished in the same call. The Request it got is made lazily
 * (request.js makeHostRequest): its headers stay the host's text until
 * read, its AbortSignal is made when first read (State's signal getter).
 *
 * Nothing a tenant throws escapes to the host: it becomes a 500 for the
 * client and a stack in the tenant's log (host.fail).
 */
import host from "./host.js";
import entry from "./entry.js";
import { headersToText } from "./headers.js";
import { Request, makeHostRequest } from "./request.js";
import { Response, responseParts, sendWhole, responseHeaderText } from "./response.js";
import { AbortController } from "./events.js";
import { fetch } from "./fetch.js";
import { hostStream, takeHostBody } from "./streams.js";
import { hostBody, bodyState } from "./body.js";

// A body goes to the host in pieces of at most this many bytes. host.write
// takes a piece only while neither the client's connection nor the tenant
// (over all its clients) holds too much queued (1 MiB and 32 MiB by
// default: http.max_queued_kb, http.max_tenant_queued_mb), and says 1
// otherwise: then the body waits for entry.writable(id), which the host
// calls once the queue has drained (src/http's drain callback).
const WRITE_PIECE = 64 << 10;
const writeWaiters = new Map(); // request id -> resolve, while its body waits
let env = Object.create(null);
let moduleHandler = null;
const fetchListeners = [];
const inflight = new Map();

function describe(err) {
  if (err && typeof err === "object" && typeof err.stack === "string" && err.stack) {
    const head = `${err.name || "Error"}: ${err.message}`;
    return err.stack.startsWith(head) ? err.stack : `${head}\n${err.stack}`;
  }
  try {
    return String(err);
  } catch {
    return "(unprintable value)";
  }
}

class FetchEvent extends Event {
  #state;
  #request;
  constructor(type, init, state) {
    super(type);
    this.#request = init && init.request;
    this.#state = state;
  }
  get request() {
    return this.#request;
  }
  respondWith(r) {
    const st = this.#state;
    if (!st) throw new TypeError("FetchEvent.respondWith: not a live fetch event");
    if (st.respondWith) throw new DOMException("respondWith() was already called", "InvalidStateError");
    st.respondWith = Promise.resolve(r);
    this.stopImmediatePropagation();
  }
  waitUntil(p) {
    if (this.#state) this.#state.ctx.waitUntil(p);
  }
  passThroughOnException() {
    if (this.#state) this.#state.ctx.passThroughOnException();
  }
}

function defineGlobal(name, value) {
  Object.defineProperty(globalThis, name, { value, writable: true, configurable: true, enumerable: false });
}

defineGlobal("FetchEvent", FetchEvent);
defineGlobal("addEventListener", function addEventListener(type, listener) {
  if (type === "fetch" && (typeof listener === "function" || (listener && typeof listener.handleEvent === "function")))
    if (!fetchListeners.includes(listener)) fetchListeners.push(listener);
});
defineGlobal("removeEventListener", function removeEventListener(type, listener) {
  const i = type === "fetch" ? fetchListeners.indexOf(listener) : -1;
  if (i >= 0) fetchListeners.splice(i, 1);
});

entry.setEnv = (json) => {
  env = JSON.parse(json);
  if (env === null || typeof env !== "object" || Array.isArray(env)) throw new TypeError("env must be a JSON object");
};

entry.registerModule = (ns) => {
  const def = ns && ns.default;
  if (def && typeof def.fetch === "function") {
    moduleHandler = def;
    return;
  }
  if (fetchListeners.length) {
    // Service-worker format: bindings are globals.
    for (const k of Object.keys(env)) defineGlobal(k, env[k]);
    return;
  }
  if (ns && ns.default !== undefined)
    throw new TypeError("the default export has no fetch() method: export default { fetch(request, env, ctx) { ... } }");
  throw new TypeError(
    "no fetch handler: export default { fetch(request, env, ctx) } or call addEventListener(\"fetch\", ...)",
  );
};

/* ctx, the handler's third argument: its methods act on the request's state. */
class ExecutionContext {
  #st;
  constructor(st) {
    this.#st = st;
  }
  waitUntil(p) {
    const st = this.#st;
    if (st.waitUntil === null) st.waitUntil = [];
    st.waitUntil.push(Promise.resolve(p).catch((e) => host.log("error", `Uncaught (in waitUntil) ${describe(e)}`)));
  }
  passThroughOnException() {
    this.#st.passThrough = true;
  }
}

/* A request's state. Fields that keep their defaults live on the prototype,
 * so a request that is answered at once sets only id, ctx and request. */
class State {
  constructor(id) {
    this.id = id;
    this.ctx = new ExecutionContext(this);
  }
  /* The request's signal (request.js reads it, with redirect and cf,
   * from here): made on first use, already aborted if the client went
   * away before anyone asked. */
  get signal() {
    if (this.abort === null) {
      this.abort = new AbortController();
      if (this.aborted !== null) this.abort.abort(this.aborted);
    }
    return this.abort.signal;
  }
}
Object.assign(State.prototype, {
  waitUntil: null, // ctx.waitUntil promises, once there is one
  respondWith: null,
  passThrough: false,
  abort: null, // the request's AbortController, made when its signal is first read
  aborted: null, // the reason, once the client went away
  sent: false,
  finished: false, // host.done was said (with the response)
  request: null,
  redirect: "follow", // the incoming request's (request.js)
  cf: undefined,
});

function runHandler(st, request) {
  if (moduleHandler) return moduleHandler.fetch(request, env, st.ctx);
  st.request = request;
  const ev = new FetchEvent("fetch", { request }, st);
  for (const l of fetchListeners.slice()) {
    if (typeof l === "function") l.call(globalThis, ev);
    else l.handleEvent(ev);
    if (st.respondWith) break;
  }
  if (!st.respondWith) throw new TypeError("no fetch listener called event.respondWith()");
  return st.respondWith;
}

/*
 * The common case in one host call: a Response whose body is none, a
 * string or bytes goes to the host whole (status, headers and body in one
 * write; the host encodes a string), and with no waitUntil work the
 * request is done in the same call (response.js sendWhole). false when
 * resp must take send()'s general way.
 */
function sendFast(st, resp) {
  const done = st.waitUntil === null;
  if (!sendWhole(resp, st.id, done)) return false;
  st.sent = true;
  if (done) {
    inflight.delete(st.id);
    st.finished = true;
  }
  return true;
}

async function send(st, resp) {
  if (!(resp instanceof Response)) throw new TypeError("the fetch handler did not return a Response");
  const bs = bodyState(resp);
  if (bs.kind === "host" && !bs.used && resp.status !== 0) {
    // A host body nobody touched (return fetch(request), an echoed upload):
    // the host pipes it, no stream is ever made.
    const text = responseHeaderText(resp);
    if (host.respondBody(st.id, resp.status, resp.statusText, text, bs.id)) {
      bs.used = true;
      st.sent = true;
      return;
    }
  }
  const parts = responseParts(resp);
  if (parts.status === 0) throw new TypeError("the fetch handler returned Response.error()");
  const id = st.id;
  st.sent = true;
  let text = headersToText(parts.headers);
  if (parts.bytes) {
    text += `content-length: ${parts.bytes.byteLength}\n`;
    host.respond(id, parts.status, parts.statusText, text);
    const written = writeBody(id, parts.bytes);
    if (written !== true && written !== false) await written;
    host.end(id);
    return;
  }
  if (!parts.stream) {
    host.respond(id, parts.status, parts.statusText, text + "content-length: 0\n");
    host.end(id);
    return;
  }
  let stream = parts.stream;
  const bodyId = takeHostBody(stream);
  if (bodyId !== null) {
    // A host body nobody read: the host pipes it to the client (its length,
    // when known, from the body itself unless the headers say it).
    if (host.respondBody(id, parts.status, parts.statusText, text, bodyId)) return;
    stream = hostStream(bodyId, parts.length ?? -1);
  }
  // A FixedLengthStream (or a Blob's stream) knows its size up front.
  if (parts.length != null) text += `content-length: ${parts.length}\n`;
  host.respond(id, parts.status, parts.statusText, text);
  const reader = stream.getReader();
  for (;;) {
    let value, done;
    try {
      ({ value, done } = await reader.read());
    } catch (e) {
      // The body cannot be sent whole: cut the client's response (never a
      // normal end, which would pass part of it for all of it) and say why.
      host.fail(id, `The response body stream failed; the response was cut short: ${describe(e)}`);
      return;
    }
    if (done) break;
    if (value instanceof ArrayBuffer) value = new Uint8Array(value);
    else if (ArrayBuffer.isView(value)) value = new Uint8Array(value.buffer, value.byteOffset, value.byteLength);
    else {
      reader.cancel(new TypeError("not a byte chunk")).catch(() => {});
      throw new TypeError("a response body stream must yield ArrayBuffer or ArrayBufferView chunks");
    }
    // Back-pressure: slow clients must not make the host buffer the body.
    let written = value.byteLength ? writeBody(id, value) : host.pending(id) >= 0;
    if (written !== true && written !== false) written = await written;
    if (!written) {
      reader.cancel(new Error("the client went away")).catch(() => {});
      break;
    }
  }
  host.end(id);
}

/* Writes u8 to request id's client in pieces of WRITE_PIECE. Returns true
 * (all written) or false (the client went away) when the host took every
 * piece at once, which is the common case and costs no promise; else a
 * promise of that, settled once the host has taken the rest. */
function writeBody(id, u8) {
  const n = u8.byteLength;
  for (let off = 0; off < n; ) {
    const end = Math.min(off + WRITE_PIECE, n);
    const piece = off === 0 && end === n ? toArrayBuffer(u8) : u8.buffer.slice(u8.byteOffset + off, u8.byteOffset + end);
    const state = host.write(id, piece);
    if (state < 0) return false;
    if (state > 0) return writeRest(id, u8, off, piece);
    off = end;
  }
  return true;
}

async function writeRest(id, u8, off, piece) {
  const n = u8.byteLength;
  for (;;) {
    await new Promise((resolve) => writeWaiters.set(id, resolve));
    const state = host.write(id, piece);
    if (state < 0) return false;
    if (state > 0) continue;
    // Taken: go on with the next pieces at once, waiting again only if asked.
    off += piece.byteLength;
    for (;;) {
      if (off >= n) return true;
      const end = Math.min(off + WRITE_PIECE, n);
      piece = u8.buffer.slice(u8.byteOffset + off, u8.byteOffset + end);
      const next = host.write(id, piece);
      if (next < 0) return false;
      if (next > 0) break;
      off = end;
    }
  }
}

entry.writable = (id) => {
  const resolve = writeWaiters.get(id);
  if (resolve) {
    writeWaiters.delete(id);
    resolve();
  }
};

/* ctx.passThroughOnException(): the handler threw before answering, so
 * the request goes on to the origin (the route's own, through fetch()) as
 * if no worker were there. The exception still goes to the tenant's log. A
 * body the handler already read cannot be sent again: the request goes
 * without it. */
async function passThrough(st, err) {
  host.log("error", `Uncaught ${describe(err)} (passed through to the origin)`);
  const r = st.request;
  const req = r.bodyUsed ? new Request(r.url, { method: r.method, headers: r.headers }) : r;
  await send(st, await fetch(req));
}

function toArrayBuffer(u8) {
  if (u8.byteOffset === 0 && u8.byteLength === u8.buffer.byteLength) return u8.buffer;
  return u8.buffer.slice(u8.byteOffset, u8.byteOffset + u8.byteLength);
}

async function settle(st) {
  // waitUntil may be called while earlier promises run: wait until no new one came.
  if (st.waitUntil === null) st.waitUntil = [];
  for (let seen = -1; seen !== st.waitUntil.length; ) {
    seen = st.waitUntil.length;
    await Promise.allSettled(st.waitUntil);
  }
  inflight.delete(st.id);
  host.done(st.id);
}

entry.dispatch = (id, method, url, headerText, bodyId, length) => {
  const st = new State(id);
  const body = bodyId ? hostBody(bodyId, length) : null;
  let result;
  let request = null;
  try {
    request = makeHostRequest(url, method, headerText, body, st);
    result = runHandler(st, request);
    // A Response now, or an async handler's promise already fulfilled with one: no promise jobs.
    if (sendFast(st, result) || (result instanceof Promise && sendFast(st, host.promiseValue(result)))) {
      if (!st.finished) {
        inflight.set(id, st);
        settle(st);
      }
      return;
    }
  } catch (e) {
    result = Promise.reject(e);
  }
  st.request = request;
  inflight.set(id, st);
  Promise.resolve(result)
    .then((resp) => (sendFast(st, resp) ? undefined : send(st, resp)))
    .catch((err) => (st.passThrough && !st.sent && st.request ? passThrough(st, err) : Promise.reject(err)))
    .catch((err) => host.fail(id, `Uncaught ${describe(err)}`))
    .then(() => st.finished || settle(st));
};

entry.abort = (id) => {
  const st = inflight.get(id);
  if (!st) return;
  // (A body still arriving failed in the host: its read rejects.)
  const reason = new DOMException("The client disconnected", "AbortError");
  st.aborted = reason;
  if (st.abort) st.abort.abort(reason);
};
