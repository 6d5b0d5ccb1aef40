/*
 * fetch_response.js - Response: status and statusText validation, null
 * body statuses, ok/type/url/redirected, Workers' webSocket and
 * encodeBody, Response.json/redirect/error and clone(). Run by
 * tests/runtime/test_fetch_api.c through `isolde run`; prints one line per
 * check and "ok N" at the end, and the first failing check throws.
 */
import { check, eq, throws, done } from "./lib/assert.js";

/* ---- defaults ---- */
{
  const r = new Response("hi");
  eq(r.status, 200, "default status");
  eq(r.statusText, "", "default statusText");
  eq(r.ok, true, "200 is ok");
  eq(r.type, "default", "type is default");
  eq(r.url, "", "url is empty");
  eq(r.redirected, false, "redirected is false");
  eq(r.webSocket, null, "webSocket is null");
  eq(r.encodeBody, "automatic", "encodeBody is automatic");
  check(r.headers instanceof Headers, "headers is a Headers");
  r.headers.set("x-m", "1");
  eq(r.headers.get("x-m"), "1", "a constructed response's headers are mutable");
  eq(Object.prototype.toString.call(r), "[object Response]", "toStringTag is Response");
}

/* ---- status and statusText ---- */
{
  const r = new Response("nf", { status: 404, statusText: "Not Found", headers: { "x-h": "v" } });
  eq(r.status, 404, "status from init");
  eq(r.statusText, "Not Found", "statusText from init");
  eq(r.ok, false, "404 is not ok");
  eq(r.headers.get("x-h"), "v", "headers from init");
  eq(new Response(null, { status: 299 }).ok, true, "299 is ok");
  eq(new Response(null, { status: 300 }).ok, false, "300 is not ok");
  eq(new Response(null, { status: 599 }).status, 599, "599 is allowed");
  throws(() => new Response(null, { status: 199 }), RangeError, "status 199");
  throws(() => new Response(null, { status: 600 }), RangeError, "status 600");
  throws(() => new Response(null, { status: 0 }), RangeError, "status 0");
  throws(() => new Response(null, { status: 101 }), RangeError, "status 101 without a webSocket");
  throws(() => new Response("x", { statusText: "bad\nline" }), TypeError, "a statusText with a newline");
  throws(() => new Response("x", { encodeBody: "gzip" }), TypeError, "an unknown encodeBody");
  eq(new Response("x", { encodeBody: "manual" }).encodeBody, "manual", "encodeBody manual");
  for (const s of [204, 205, 304]) {
    throws(() => new Response("body", { status: s }), TypeError, `status ${s} with a body`);
    eq(new Response(null, { status: s }).status, s, `status ${s} without a body`);
  }
  eq(new Response("", { status: 201 }).status, 201, "an empty string body with 201");
  throws(() => new Response("", { status: 204 }), TypeError, "even an empty string body with 204");
}

/* ---- Response.json ---- */
{
  const r = Response.json({ a: 1, b: [true, null] });
  eq(r.status, 200, "json() status");
  eq(r.headers.get("content-type"), "application/json", "json() content-type");
  eq(await r.text(), '{"a":1,"b":[true,null]}', "json() body");
  const r2 = Response.json("s", { status: 418, headers: { "content-type": "application/vnd+json", "x-y": "z" } });
  eq(r2.status, 418, "json() with init status");
  eq(r2.headers.get("content-type"), "application/vnd+json", "json() keeps an explicit content-type");
  eq(r2.headers.get("x-y"), "z", "json() init headers");
  eq((await r2.json()), "s", "json() round trip");
  throws(() => Response.json(undefined), TypeError, "json(undefined)");
  throws(() => Response.json(1n), TypeError, "json(a BigInt)");
  throws(() => Response.json({}, { status: 204 }), TypeError, "json() with a null body status");
  throws(() => Response.json({}, { status: 700 }), RangeError, "json() with status 700");
}

/* ---- Response.redirect ---- */
{
  const r = Response.redirect("https://x.test/a/../next");
  eq(r.status, 302, "redirect() default status 302");
  eq(r.headers.get("location"), "https://x.test/next", "redirect() sets a parsed location");
  eq(r.body, null, "redirect() has no body");
  for (const s of [301, 302, 303, 307, 308]) eq(Response.redirect("https://x.test/", s).status, s, `redirect() with ${s}`);
  throws(() => Response.redirect("https://x.test/", 200), RangeError, "redirect() with 200");
  throws(() => Response.redirect("https://x.test/", 304), RangeError, "redirect() with 304");
  throws(() => Response.redirect("/relative"), TypeError, "redirect() to a relative URL");
  throws(() => r.headers.set("location", "https://evil.test/"), TypeError, "redirect() headers are immutable");
  eq(r.headers.get("location"), "https://x.test/next", "the location is unchanged");
}

/* ---- Response.error ---- */
{
  const r = Response.error();
  eq(r.type, "error", "error() type");
  eq(r.status, 0, "error() status 0");
  eq(r.statusText, "", "error() statusText");
  eq(r.ok, false, "error() is not ok");
  eq(r.body, null, "error() has no body");
  throws(() => r.headers.set("a", "b"), TypeError, "error() headers are immutable");
  const c = r.clone();
  eq(c.type, "error", "a clone of error() keeps its type");
  throws(() => c.headers.set("a", "b"), TypeError, "a clone of error() keeps immutable headers");
}

/* ---- clone ---- */
{
  const r = new Response("body", { status: 201, statusText: "Created", headers: { a: "1" }, encodeBody: "manual" });
  const c = r.clone();
  eq(c.status, 201, "clone status");
  eq(c.statusText, "Created", "clone statusText");
  eq(c.headers.get("a"), "1", "clone headers");
  eq(c.encodeBody, "manual", "clone encodeBody");
  c.headers.set("a", "2");
  eq(r.headers.get("a"), "1", "clone headers are a copy");
  eq(await c.text(), "body", "clone body");
  eq(await r.text(), "body", "original body");
}

done();
