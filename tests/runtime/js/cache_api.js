/*
 * cache_api.js - the Workers Cache API (src/runtime/js/cache.js over
 * src/cache): caches.default and caches.open(), match/put/delete, what
 * may be stored and for how long, conditional and range requests, byte-
 * exact bodies. Run by tests/runtime/test_webapi.c through `isolde run`
 * and in a served worker by test_api_served.c; lib/assert.js describes
 * the "ok N" contract. Expiry waits until Date.now() is 1 s past the
 * puts (max-age=1).
 */
import { check, eq, rejects, group, done } from "./lib/assert.js";

const BASE = "https://cache.test";
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const cc = (v, more = {}) => ({ headers: { "cache-control": v, ...more } });

await group("globals", async () => {
  eq(typeof caches, "object", "caches is a global");
  check(caches instanceof CacheStorage, "caches is a CacheStorage");
  check(caches.default instanceof Cache, "caches.default is a Cache");
  eq(caches.default, caches.default, "caches.default is one object");
  const named = await caches.open("things");
  check(named instanceof Cache, "caches.open resolves to a Cache");
  let threw = false;
  try {
    new Cache();
  } catch (e) {
    threw = e instanceof TypeError;
  }
  check(threw, "new Cache() throws TypeError");
});

await group("hits and misses", async () => {
  const c = caches.default;
  eq(await c.match(`${BASE}/nothing`), undefined, "a miss is undefined");
  const put = await c.put(`${BASE}/hello`, new Response("hello", cc("max-age=60", { "x-custom": "kept" })));
  eq(put, undefined, "put resolves to undefined");
  const r = await c.match(`${BASE}/hello`);
  check(r instanceof Response, "a hit is a Response");
  eq(r.status, 200, "status kept");
  eq(await r.text(), "hello", "body kept");
  eq(r.headers.get("x-custom"), "kept", "headers kept");
  eq(r.headers.get("content-type"), "text/plain;charset=UTF-8", "content-type kept");
  eq(r.headers.get("cf-cache-status"), "HIT", "CF-Cache-Status: HIT as in Workers");
  const again = await c.match(new Request(`${BASE}/hello#fragment`));
  eq(again && (await again.text()), "hello", "a Request key, fragment ignored");
  eq(await c.match(`${BASE}/hello?x=1`), undefined, "the query is part of the key");
  /* A later put replaces the entry. */
  await c.put(new Request(`${BASE}/hello`), new Response("second", cc("s-maxage=60")));
  eq(await (await c.match(`${BASE}/hello`)).text(), "second", "put replaces");
  /* Non-GET match misses unless ignoreMethod. */
  const post = new Request(`${BASE}/hello`, { method: "POST", body: "x" });
  eq(await c.match(post), undefined, "POST match misses");
  const ignored = await c.match(new Request(`${BASE}/hello`, { method: "POST" }), { ignoreMethod: true });
  eq(ignored && ignored.status, 200, "ignoreMethod matches a POST");
  await rejects(c.match("not a url"), TypeError, "an invalid URL");
});

await group("bodies round-trip byte-exact", async () => {
  const c = caches.default;
  const bytes = new Uint8Array(70000);
  for (let i = 0; i < bytes.length; i++) bytes[i] = (i * 31 + 7) & 0xff;
  await c.put(`${BASE}/bin`, new Response(bytes, cc("max-age=60", { "content-type": "application/octet-stream" })));
  const got = new Uint8Array(await (await c.match(`${BASE}/bin`)).arrayBuffer());
  eq(got.length, bytes.length, "binary length");
  check(got.every((b, i) => b === bytes[i]), "binary bytes");
  /* A streamed body is read whole. */
  const stream = new ReadableStream({
    start(ctl) {
      ctl.enqueue(new Uint8Array([0, 255, 1]));
      ctl.enqueue(new Uint8Array([254, 0]));
      ctl.close();
    },
  });
  await c.put(`${BASE}/stream`, new Response(stream, cc("max-age=60")));
  eq([...new Uint8Array(await (await c.match(`${BASE}/stream`)).arrayBuffer())].join(), "0,255,1,254,0", "stream body");
  /* Byte-string header values survive. */
  await c.put(`${BASE}/latin1`, new Response("", cc("max-age=60", { "x-latin1": "caf\u00e9" })));
  eq((await c.match(`${BASE}/latin1`)).headers.get("x-latin1"), "caf\u00e9", "latin-1 header value");
  /* Two Set-Cookie headers stay apart when private=Set-Cookie drops them... */
  const h = new Headers(cc("max-age=60, private=Set-Cookie").headers);
  h.append("set-cookie", "a=1");
  await c.put(`${BASE}/cookie-private`, new Response("c", { headers: h }));
  const pc = await c.match(`${BASE}/cookie-private`);
  eq(pc && pc.headers.get("set-cookie"), null, "private=Set-Cookie: stored without Set-Cookie");
});

await group("what is not stored", async () => {
  const c = caches.default;
  await c.put(`${BASE}/no-store`, new Response("x", cc("no-store")));
  eq(await c.match(`${BASE}/no-store`), undefined, "no-store is not stored");
  await c.put(`${BASE}/private`, new Response("x", cc("private, max-age=60")));
  eq(await c.match(`${BASE}/private`), undefined, "private is not stored");
  await c.put(`${BASE}/no-cache`, new Response("x", cc("no-cache")));
  eq(await c.match(`${BASE}/no-cache`), undefined, "no-cache is not stored");
  await c.put(`${BASE}/zero`, new Response("x", cc("max-age=0")));
  eq(await c.match(`${BASE}/zero`), undefined, "max-age=0 is not stored");
  await c.put(`${BASE}/cookie`, new Response("x", cc("max-age=60", { "set-cookie": "id=1" })));
  eq(await c.match(`${BASE}/cookie`), undefined, "Set-Cookie is not stored");
  await c.put(`${BASE}/expired`, new Response("x", { headers: { expires: "Thu, 01 Jan 1970 00:00:00 GMT" } }));
  eq(await c.match(`${BASE}/expired`), undefined, "an Expires in the past is not stored");
  await c.put(`${BASE}/bad-expires`, new Response("x", { headers: { expires: "0" } }));
  eq(await c.match(`${BASE}/bad-expires`), undefined, "an invalid Expires is not stored");
  await c.put(`${BASE}/500`, new Response("x", { status: 500 }));
  eq(await c.match(`${BASE}/500`), undefined, "a 500 without Cache-Control is not stored");
  /* Statuses with a default edge TTL are stored without Cache-Control. */
  await c.put(`${BASE}/plain`, new Response("plain"));
  eq(await (await c.match(`${BASE}/plain`)).text(), "plain", "a 200 without Cache-Control is stored (2 h)");
  await c.put(`${BASE}/404`, new Response("gone", { status: 404 }));
  eq((await c.match(`${BASE}/404`)).status, 404, "a 404 is stored (3 min)");
  const future = new Date(Date.now() + 3600e3).toUTCString();
  await c.put(`${BASE}/expires`, new Response("e", { status: 500, headers: { expires: future } }));
  eq((await c.match(`${BASE}/expires`)).status, 500, "a future Expires makes any status storable");
  await c.put(`${BASE}/smax`, new Response("s", cc("max-age=0, s-maxage=60")));
  eq((await c.match(`${BASE}/smax`)).status, 200, "s-maxage wins over max-age");
});

await group("put errors", async () => {
  const c = caches.default;
  const post = new Request(`${BASE}/post`, { method: "POST" });
  await rejects(c.put(post, new Response("x", cc("max-age=60"))), TypeError, "put of a POST");
  await rejects(c.put(`${BASE}/206`, new Response("x", { status: 206 })), TypeError, "put of a 206");
  await rejects(c.put(`${BASE}/vary`, new Response("x", cc("max-age=60", { vary: "Accept, *" }))), TypeError, "Vary: *");
  await rejects(c.put(`${BASE}/notresp`, "a string"), TypeError, "put of a non-Response");
  const used = new Response("x", cc("max-age=60"));
  await used.text();
  await rejects(c.put(`${BASE}/used`, used), TypeError, "put of a used body");
  eq(await c.match(`${BASE}/vary`), undefined, "nothing stored by a failed put");
  const r = new Response("consumed", cc("max-age=60"));
  await c.put(`${BASE}/consumed`, r);
  check(r.bodyUsed, "put consumes the response body");
});

await group("conditional and range requests", async () => {
  const c = caches.default;
  const lm = "Wed, 21 Oct 2015 07:28:00 GMT";
  await c.put(`${BASE}/v`, new Response("validated", cc("max-age=60", { etag: '"abc"', "last-modified": lm, "x-other": "1" })));
  const inm = await c.match(new Request(`${BASE}/v`, { headers: { "if-none-match": '"abc"' } }));
  eq(inm.status, 304, "If-None-Match equal gives 304");
  eq(inm.body, null, "a 304 has no body");
  eq(inm.headers.get("etag"), '"abc"', "the 304 keeps ETag");
  eq(inm.headers.get("last-modified"), lm, "the 304 keeps Last-Modified");
  eq(inm.headers.get("x-other"), null, "the 304 drops other headers");
  const weak = await c.match(new Request(`${BASE}/v`, { headers: { "if-none-match": 'W/"zzz", W/"abc"' } }));
  eq(weak.status, 304, "weak comparison in a list");
  const star = await c.match(new Request(`${BASE}/v`, { headers: { "if-none-match": "*" } }));
  eq(star.status, 304, "If-None-Match: *");
  const other = await c.match(new Request(`${BASE}/v`, { headers: { "if-none-match": '"nope"', "if-modified-since": lm } }));
  eq(other.status, 200, "a non-matching If-None-Match wins over If-Modified-Since");
  const ims = await c.match(new Request(`${BASE}/v`, { headers: { "if-modified-since": lm } }));
  eq(ims.status, 304, "If-Modified-Since equal to Last-Modified gives 304");
  const later = await c.match(new Request(`${BASE}/v`, { headers: { "if-modified-since": "Thu, 22 Oct 2015 00:00:00 GMT" } }));
  eq(later.status, 304, "If-Modified-Since after Last-Modified gives 304");
  const before = await c.match(new Request(`${BASE}/v`, { headers: { "if-modified-since": "Tue, 20 Oct 2015 00:00:00 GMT" } }));
  eq(before.status, 200, "If-Modified-Since before Last-Modified gives 200");
  eq(await before.text(), "validated", "with the body");
  const range = await c.match(new Request(`${BASE}/v`, { headers: { range: "bytes=2-4" } }));
  eq(range.status, 206, "Range gives 206");
  eq(range.headers.get("content-range"), "bytes 2-4/9", "Content-Range");
  eq(await range.text(), "lid", "the range's bytes");
  const suffix = await c.match(new Request(`${BASE}/v`, { headers: { range: "bytes=-3" } }));
  eq(await suffix.text(), "ted", "a suffix range");
  const bad = await c.match(new Request(`${BASE}/v`, { headers: { range: "bytes=50-" } }));
  eq(bad.status, 416, "an unsatisfiable range gives 416");
});

await group("delete and names", async () => {
  const c = caches.default;
  const a = await caches.open("a");
  const b = await caches.open("a-other");
  const named = await caches.open("default");
  await a.put(`${BASE}/shared`, new Response("from a", cc("max-age=60")));
  eq(await b.match(`${BASE}/shared`), undefined, "another name misses");
  eq(await c.match(`${BASE}/shared`), undefined, "caches.default misses a named cache's entry");
  eq(await named.match(`${BASE}/shared`), undefined, "open('default') is not caches.default");
  const again = await caches.open("a");
  eq(await (await again.match(`${BASE}/shared`)).text(), "from a", "the same name opens the same cache");
  eq(await b.delete(`${BASE}/shared`), false, "delete in another name: false");
  eq(await a.delete(new Request(`${BASE}/shared`, { method: "POST" })), false, "POST delete: false");
  eq(await a.delete(new Request(`${BASE}/shared`, { method: "POST" }), { ignoreMethod: true }), true, "ignoreMethod delete: true");
  eq(await a.match(`${BASE}/shared`), undefined, "gone after delete");
  eq(await a.delete(`${BASE}/shared`), false, "a second delete: false");
});

await group("expiry", async () => {
  const c = caches.default;
  await c.put(`${BASE}/short`, new Response("short", cc("max-age=1")));
  const soon = new Date(Date.now() + 1000).toUTCString();
  await c.put(`${BASE}/short-expires`, new Response("e", { headers: { expires: soon } }));
  const stored = Date.now(); // no earlier than either put
  eq(await (await c.match(`${BASE}/short`)).text(), "short", "fresh before max-age");
  /* Entries expire by Date.now(), which a timer does not follow: it counts
   * from the event loop's last turn, which can come well before the puts
   * (under `isolde run`, before the whole file ran; on a busy machine, long
   * before). So wait until the clock itself is past both expiries. */
  do await sleep(100);
  while (Date.now() <= stored + 1000);
  eq(await c.match(`${BASE}/short`), undefined, "expired after max-age=1");
  eq(await c.match(`${BASE}/short-expires`), undefined, "expired after Expires");
  eq(await c.delete(`${BASE}/short`), false, "delete of an expired entry: false");
});

done();
