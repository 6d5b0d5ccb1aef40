/*
 * host.js - the functions the C host gives the prelude (src/runtime/host_*.c).
 *
 * The host defines them on globalThis.__isolde_host before the prelude runs;
 * the prelude takes the object and removes the global, so tenant code can
 * only reach the host through the Web APIs built on it.
 *
 * Binary data crosses the boundary as ArrayBuffer (never typed arrays).
 *
 *   log(level, text)              level: "debug" | "info" | "log" | "warn" | "error"
 *   random(n) -> ArrayBuffer      n bytes from the host's CSPRNG (n <= 65536)
 *   digest(alg, data) -> ArrayBuffer            alg: "SHA-1" | "SHA-256" | "SHA-384" | "SHA-512"
 *   hmac(alg, key, data) -> ArrayBuffer         same algs
 *   timerStart(id, ms) -> bits, timerStop(id)   the host later calls entry.timer(id); bit 1: armed
 *                                 (0: refused, no live request owns it), bit 2: dropped ids are waiting
 *   timersDropped() -> "id,id"    timers the host stopped because their request ended
 *   fetchStart(...) -> id, fetchAbort(id)      subrequests (host_fetch.c)
 *   bodyRead(bodyId) -> ArrayBuffer | undefined (end) | 0 (wait for entry.bodyReady)   host bodies
 *   bodyAll(bodyId, asText) -> string | ArrayBuffer | 0 (wait)    (host_body.c); both throw
 *                                 a TypeError when the body failed
 *   bodyCancel(bodyId)
 *   respondBody(reqId, status, statusText, headerText, bodyId) -> 1 piped by the host, 0 not
 *   fetchesDropped() -> "id,id"   subrequests the host aborted because their request ended
 *   respond(reqId, status, statusText, headerText)   headerText: "name: value\n" lines
 *   write(reqId, data: ArrayBuffer) -> 0 taken, 1 not taken (entry.writable(reqId) follows once the
 *                                 client's queue drained), -1 the client is gone
 *   pending(reqId) -> 0 | 1 | -1                the same state, without writing
 *   end(reqId)
 *   fail(reqId, message)          500 for the client, message (a stack) for the tenant log
 *   done(reqId)                   the request and its waitUntil work are finished
 *   cachePut(cacheName, url, status, headerText, body: ArrayBuffer, expiresAtMs) -> 1 stored, 0 not (too large)
 *   cacheMatch(cacheName, url, nowMs) -> { status, headers: headerText, body: ArrayBuffer } or undefined
 *   cacheDelete(cacheName, url, nowMs) -> 1 if a live entry was removed, else 0
 *                                 the Cache API's store (host_cache.c); the tenant is the caller's worker
 *   lazySource(name) -> string    a prelude chunk kept out of the snapshot (host_lazy.c): "tr46"
 *   respondWhole(reqId, status, statusText, headerText | 1 | 2, body, units, flags) -> 0 sent, 1 not taken
 *                                 the whole response in one write (host_http.c): body a string of `units`
 *                                 UTF-16 units (UTF-8 on the wire), an ArrayBuffer (units -1) or none (-2);
 *                                 headerText 1 / 2: only content-type text/plain;charset=UTF-8 / application/json;
 *                                 flags: 1 also finish the request (done), 2 statusText is the reason phrase
 *   promiseValue(p) -> value | undefined        the value of an already fulfilled promise
 *   headerCheck(name, nameUnits, value?, valueUnits?) -> code | 16   header rules (src/api/headers.c)
 *   headerRecord(text, units, count, contentType) -> host text | 0   a record's whole header list (src/api/headers.c)
 *   utf8Decode(buffer, offset, length, flags, state) -> string | {text, state} | undefined   (src/api/encoding.c)
 *   utf8Encode(string, length) -> ArrayBuffer
 *   utf8EncodeInto(string, length, capacity) -> {read, bytes}
 */
const host = globalThis.__isolde_host;
delete globalThis.__isolde_host;
if (!host) throw new Error("prelude: the host functions are missing");
export default host;
