/*
 * fetch_request.js - Request: URL and method validation, GET/HEAD without
 * a body, headers, redirect, signal, cf, the ignored browser init fields,
 * Request from Request with init overrides, and clone(). Run by
 * tests/runtime/test_fetch_api.c through `isolde run`; prints one line per
 * check and "ok N" at the end, and the first failing check throws.
 */
import { check, eq, throws, rejects, done } from "./lib/assert.js";

/* ---- url ---- */
{
  const r = new Request("https://Example.COM/a/../b?q=1#frag");
  eq(r.url, "https://example.com/b?q=1#frag", "url is parsed and serialized");
  eq(new Request(new URL("http://h.test/x")).url, "http://h.test/x", "a URL object as input");
  throws(() => new Request("/relative"), TypeError, "a relative URL (no base in Workers)");
  throws(() => new Request("http://"), TypeError, "an invalid URL");
  throws(() => new Request(), TypeError, "no arguments");
}

/* ---- method ---- */
{
  const r = new Request("https://x.test/");
  eq(r.method, "GET", "default method is GET");
  eq(new Request("https://x.test/", { method: "post", body: "b" }).method, "POST", "post is normalized to POST");
  for (const m of ["delete", "get", "head", "options", "put"]) {
    eq(new Request("https://x.test/", { method: m }).method, m.toUpperCase(), `${m} is normalized`);
  }
  eq(new Request("https://x.test/", { method: "patch" }).method, "patch", "patch keeps its case (not a normalized method)");
  eq(new Request("https://x.test/", { method: "PROPFIND" }).method, "PROPFIND", "an extension method");
  throws(() => new Request("https://x.test/", { method: "bad method" }), TypeError, "a method that is not a token");
  throws(() => new Request("https://x.test/", { method: "" }), TypeError, "an empty method");
  throws(() => new Request("https://x.test/", { method: "GET", body: "x" }), TypeError, "GET with a body");
  throws(() => new Request("https://x.test/", { method: "head", body: "x" }), TypeError, "HEAD with a body");
  eq(new Request("https://x.test/", { method: "GET", body: null }).body, null, "GET with a null body is fine");
}

/* ---- headers, body ---- */
{
  const r = new Request("https://x.test/", { method: "POST", headers: [["X-One", "1"]], body: "payload" });
  check(r.headers instanceof Headers, "headers is a Headers");
  eq(r.headers.get("x-one"), "1", "init headers");
  eq(r.headers.get("content-type"), "text/plain;charset=UTF-8", "body content-type added to request headers");
  r.headers.set("x-two", "2");
  eq(r.headers.get("x-two"), "2", "a constructed request's headers are mutable");
  check(r.body instanceof ReadableStream, "a request with a body has a stream .body");
  eq(await r.text(), "payload", "request text()");
  eq(r.bodyUsed, true, "request bodyUsed after text()");
  eq(new Request("https://x.test/").body, null, "a GET request has a null body");
}

/* ---- redirect, signal, cf, Workers fields ---- */
{
  const r = new Request("https://x.test/");
  eq(r.redirect, "follow", "default redirect is follow");
  eq(new Request("https://x.test/", { redirect: "manual" }).redirect, "manual", "redirect manual");
  eq(new Request("https://x.test/", { redirect: "error" }).redirect, "error", "redirect error");
  throws(() => new Request("https://x.test/", { redirect: "nope" }), TypeError, "an unknown redirect mode");

  check(r.signal instanceof AbortSignal, "a request always has a signal");
  eq(r.signal.aborted, false, "the default signal is not aborted");
  const ac = new AbortController();
  const rs = new Request("https://x.test/", { signal: ac.signal });
  check(rs.signal === ac.signal, "init.signal is the request's signal");
  ac.abort();
  eq(rs.signal.aborted, true, "aborting the controller aborts the request's signal");
  throws(() => new Request("https://x.test/", { signal: {} }), TypeError, "a signal that is not an AbortSignal");

  eq(r.cf, undefined, "cf is undefined by default");
  const cf = { cacheTtl: 5, colo: "AMS" };
  eq(new Request("https://x.test/", { cf }).cf.colo, "AMS", "init.cf is kept");
  throws(() => new Request("https://x.test/", { cf: "str" }), TypeError, "cf that is not an object");

  const ignored = new Request("https://x.test/", {
    mode: "cors", credentials: "include", cache: "no-cache", referrer: "about:client",
    referrerPolicy: "no-referrer", integrity: "", keepalive: true, priority: "high", duplex: "half",
  });
  eq(ignored.url, "https://x.test/", "browser-only init fields are accepted and ignored");
  eq(ignored.integrity, "", "integrity is empty");
  eq(ignored.keepalive, false, "keepalive is false");
  eq(ignored.fetcher, null, "fetcher is null");
  eq(Object.prototype.toString.call(ignored), "[object Request]", "toStringTag is Request");
}

/* ---- Request from Request ---- */
{
  const ac = new AbortController();
  const base = new Request("https://x.test/base", {
    method: "PUT",
    headers: { "x-base": "b", "content-type": "text/custom" },
    body: "base body",
    redirect: "manual",
    signal: ac.signal,
    cf: { k: 1 },
  });
  const same = new Request(base);
  eq(same.url, "https://x.test/base", "copied url");
  eq(same.method, "PUT", "copied method");
  eq(same.headers.get("x-base"), "b", "copied headers");
  eq(same.redirect, "manual", "copied redirect");
  check(same.signal === ac.signal, "copied signal");
  eq(same.cf.k, 1, "copied cf");
  eq(base.bodyUsed, true, "the input request's body moved to the new request");
  eq(await same.text(), "base body", "the new request has the body");
  await rejects(base.text(), TypeError, "the input request's body after the move");
  throws(() => new Request(base), TypeError, "a request from a request whose body was used");

  const b2 = new Request("https://x.test/two", { method: "POST", headers: { "x-keep": "k" }, body: "two" });
  const over = new Request(b2, { method: "PATCH", headers: { "x-new": "n" }, redirect: "manual", cf: { z: 2 } });
  eq(over.url, "https://x.test/two", "override keeps the input url");
  eq(over.method, "PATCH", "init.method overrides");
  eq(over.headers.get("x-new"), "n", "init.headers replace the headers");
  eq(over.headers.get("x-keep"), null, "init.headers drop the input headers");
  eq(over.redirect, "manual", "init.redirect overrides");
  eq(over.cf.z, 2, "init.cf overrides");
  eq(await over.text(), "two", "the input body is taken when init has none");

  const b3 = new Request("https://x.test/3", { method: "POST", body: "old" });
  const nb = new Request(b3, { body: "new body" });
  eq(await nb.text(), "new body", "init.body overrides");
  eq(b3.bodyUsed, false, "the input body is left alone when init has a body");
  eq(await b3.text(), "old", "and can still be read");

  const b4 = new Request("https://x.test/4", { method: "POST", body: "x" });
  throws(() => new Request(b4, { method: "GET" }), TypeError, "GET override of a request with a body");
  eq(new Request(new Request("https://x.test/5"), { method: "HEAD" }).method, "HEAD", "HEAD override of a bodiless request");
}

/* ---- clone ---- */
{
  const r = new Request("https://x.test/c", { method: "POST", headers: { a: "1" }, body: "cl", cf: { c: 3 } });
  const c = r.clone();
  eq(c.url, r.url, "clone url");
  eq(c.method, "POST", "clone method");
  eq(c.headers.get("a"), "1", "clone headers");
  check(c.headers !== r.headers, "clone headers are a new object");
  eq(c.cf.c, 3, "clone cf");
  eq(await c.text(), "cl", "clone body");
  eq(await r.text(), "cl", "original body after clone");
  throws(() => r.clone(), TypeError, "clone of a used request");
}

done();
