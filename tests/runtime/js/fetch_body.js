/*
 * fetch_body.js - the Body mixin of Request and Response: body init types
 * and their Content-Type, the readers, bodyUsed and its errors, and
 * clone() of byte and streamed bodies. Run by tests/runtime/test_fetch_api.c
 * through `isolde run`; prints one line per check and "ok N" at the end,
 * and the first failing check throws (non-zero exit).
 */
import { check, eq, throws, rejects, done } from "./lib/assert.js";

const enc = (s) => new TextEncoder().encode(s);
const dec = (b) => new TextDecoder().decode(b);
function streamOf(...chunks) {
  return new ReadableStream({
    start(c) {
      for (const ch of chunks) c.enqueue(typeof ch === "string" ? enc(ch) : ch);
      c.close();
    },
  });
}
const URL_ = "https://example.com/";

/* ---- body init types and their Content-Type ---- */
{
  const r = new Response("héllo");
  eq(r.headers.get("content-type"), "text/plain;charset=UTF-8", "string body content-type");
  eq(await r.text(), "héllo", "string body text()");

  const ab = enc("abc").buffer;
  const r2 = new Response(ab);
  eq(r2.headers.get("content-type"), null, "ArrayBuffer body sets no content-type");
  new Uint8Array(ab)[0] = 0x7a;
  eq(await r2.text(), "abc", "an ArrayBuffer body is copied at construction");

  const view = new DataView(enc("xxdatayy").buffer, 2, 4);
  eq(await new Response(view).text(), "data", "a DataView body is exactly the view's bytes");
  eq(await new Response(new Uint16Array([0x6968])).text(), "hi", "a Uint16Array body is its bytes");

  const blob = new Blob(["<p>", "hi</p>"], { type: "text/html" });
  const r3 = new Response(blob);
  eq(r3.headers.get("content-type"), "text/html", "Blob body content-type is the blob's type");
  eq(await r3.text(), "<p>hi</p>", "Blob body text()");
  eq(new Response(new Blob(["x"])).headers.get("content-type"), null, "untyped Blob sets no content-type");

  const usp = new URLSearchParams({ a: "1", b: "x y" });
  const r4 = new Request(URL_, { method: "POST", body: usp });
  eq(r4.headers.get("content-type"), "application/x-www-form-urlencoded;charset=UTF-8", "URLSearchParams body content-type");
  eq(await r4.text(), "a=1&b=x+y", "URLSearchParams body is its serialization");

  const fd = new FormData();
  fd.append("k", "v");
  const r5 = new Response(fd);
  const ct = r5.headers.get("content-type");
  check(/^multipart\/form-data; ?boundary=.+/.test(ct), `FormData body content-type is multipart with a boundary (${ct})`);
  const boundary = ct.split("boundary=")[1];
  const text5 = await r5.text();
  check(text5.includes(`--${boundary}`) && text5.includes('name="k"') && text5.includes("v"), "FormData body is multipart with the boundary and field");

  const r6 = new Response(streamOf("str", "eam"));
  eq(r6.headers.get("content-type"), null, "ReadableStream body sets no content-type");
  eq(await r6.text(), "stream", "ReadableStream body text() joins chunks");

  const r7 = new Response("x", { headers: { "Content-Type": "application/custom" } });
  eq(r7.headers.get("content-type"), "application/custom", "an explicit Content-Type wins over the body's");

  const r8 = new Response(12345);
  eq(await r8.text(), "12345", "other values are converted to strings");

  const r9 = new Response(null);
  eq(r9.body, null, "a null body has .body null");
  eq(await r9.text(), "", "a null body reads as empty");
  eq(r9.bodyUsed, false, "reading a null body does not use it");
  eq(await r9.text(), "", "a null body can be read again");
  eq(new Response().body, null, "no body argument is a null body");
}

/* ---- readers ---- */
{
  eq((await new Response('{"a":[1,2]}').json()).a[1], 2, "json() parses");
  await rejects(new Response("{nope").json(), SyntaxError, "json() of invalid JSON");

  const ab = await new Response("abc").arrayBuffer();
  check(ab instanceof ArrayBuffer, "arrayBuffer() gives an ArrayBuffer");
  eq(ab.byteLength, 3, "arrayBuffer() length");
  const u8 = await new Response(streamOf("ab", "cd")).bytes();
  check(u8 instanceof Uint8Array, "bytes() gives a Uint8Array");
  eq(dec(u8), "abcd", "bytes() of a stream body");

  const b = await new Response("blobby", { headers: { "content-type": "text/x-test" } }).blob();
  check(b instanceof Blob, "blob() gives a Blob");
  eq(b.type, "text/x-test", "blob() type is the Content-Type");
  eq(await b.text(), "blobby", "blob() content");

  eq(await new Response(new Uint8Array([0xef, 0xbb, 0xbf, 0x68, 0x69])).text(), "hi", "text() strips a UTF-8 BOM");
  eq(await new Response(new Uint8Array([0x61, 0xff, 0x62])).text(), "a\uFFFDb", "text() replaces invalid UTF-8");

  const notBytes = new ReadableStream({
    start(c) {
      c.enqueue("a string, not bytes");
      c.close();
    },
  });
  await rejects(new Response(notBytes).text(), TypeError, "text() of a stream of strings");
}

/* ---- formData() ---- */
{
  const fd = await new Response("a=1&b=x+y&a=%C3%A9", {
    headers: { "content-type": "application/x-www-form-urlencoded" },
  }).formData();
  check(fd instanceof FormData, "formData() gives a FormData");
  eq(fd.getAll("a").join(","), "1,é", "urlencoded formData() keeps repeated names in order");
  eq(fd.get("b"), "x y", "urlencoded formData() decodes + as space");

  const src = new FormData();
  src.append("name", "Ada");
  src.append("doc", new File(["file body\r\nline 2"], "notes.txt", { type: "text/plain" }));
  src.append("bin", new Blob([new Uint8Array([0, 1, 2, 255])]), "data.bin");
  const req = new Request(URL_, { method: "POST", body: src });
  const got = await req.formData();
  eq(got.get("name"), "Ada", "multipart round trip: text field");
  const doc = got.get("doc");
  check(doc instanceof File, "multipart round trip: a file field is a File");
  eq(doc.name, "notes.txt", "multipart round trip: file name");
  eq(doc.type, "text/plain", "multipart round trip: file type");
  eq(await doc.text(), "file body\r\nline 2", "multipart round trip: file content");
  const bin = got.get("bin");
  eq(bin.name, "data.bin", "multipart round trip: a Blob appended with a file name");
  eq(Array.from(new Uint8Array(await bin.arrayBuffer())).join(","), "0,1,2,255", "multipart round trip: binary content");

  const raw =
    "--XyZ\r\n" +
    'Content-Disposition: form-data; name="field"\r\n\r\n' +
    "value one\r\n" +
    "--XyZ\r\n" +
    'Content-Disposition: form-data; name="up"; filename="a.json"\r\n' +
    "Content-Type: application/json\r\n\r\n" +
    '{"x":1}\r\n' +
    "--XyZ--\r\n";
  const parsed = await new Response(raw, { headers: { "content-type": "multipart/form-data; boundary=XyZ" } }).formData();
  eq(parsed.get("field"), "value one", "hand-written multipart: text field");
  eq(parsed.get("up").name, "a.json", "hand-written multipart: file name");
  eq(await parsed.get("up").text(), '{"x":1}', "hand-written multipart: file content");

  await rejects(new Response("a=1", { headers: { "content-type": "text/plain" } }).formData(), TypeError, "formData() of text/plain");
  await rejects(new Response("a=1").formData(), TypeError, "formData() of a string body (text/plain default)");
}

/* ---- bodyUsed and its errors ---- */
{
  const r = new Response("once");
  eq(r.bodyUsed, false, "a fresh body is not used");
  await r.text();
  eq(r.bodyUsed, true, "text() uses the body");
  const e = await rejects(r.text(), TypeError, "a second text()");
  check(e.message.includes("Body has already been used"), `the error says the body was used (${e.message})`);
  await rejects(r.arrayBuffer(), TypeError, "arrayBuffer() after text()");
  await rejects(r.json(), TypeError, "json() after text()");
  throws(() => r.clone(), TypeError, "clone() of a used body");
  check(r.body instanceof ReadableStream, "a used body still has a .body stream");
  eq(r.body.locked, true, "the stream of a used body is locked");

  const s = new Response(streamOf("abc"));
  const reader = s.body.getReader();
  eq(s.bodyUsed, false, "a locked but unread stream body is not used");
  await rejects(s.text(), TypeError, "text() of a locked body");
  await reader.read();
  eq(s.bodyUsed, true, "reading .body directly uses the body");

  const t = new Response("bytes then stream");
  const chunk = await t.body.getReader().read();
  check(chunk.value instanceof Uint8Array, ".body of a string body yields Uint8Array chunks");
  eq(dec(chunk.value), "bytes then stream", ".body of a string body yields its bytes");
  eq(t.bodyUsed, true, "reading .body of a byte body uses it");

  const u = new Response("byob");
  const byob = u.body.getReader({ mode: "byob" });
  const part = await byob.read(new Uint8Array(2));
  eq(dec(part.value), "by", "a BYOB reader works on a body");

  const used = streamOf("x");
  await used.getReader().read();
  throws(() => new Response(used), TypeError, "a disturbed stream as a body");
  const locked = streamOf("x");
  locked.getReader();
  throws(() => new Request(URL_, { method: "POST", body: locked }), TypeError, "a locked stream as a body");
}

/* ---- re-wrapping: new Response(resp.body, resp) ---- */
{
  const orig = new Response("rewrap me", { status: 201, headers: { "x-a": "1" } });
  const copy = new Response(orig.body, orig);
  eq(copy.status, 201, "re-wrapped response keeps the status");
  eq(copy.headers.get("x-a"), "1", "re-wrapped response keeps the headers");
  copy.headers.set("x-b", "2");
  eq(orig.headers.get("x-b"), null, "re-wrapped headers are a copy");
  eq(await copy.text(), "rewrap me", "re-wrapped response has the body");
  await rejects(orig.text(), TypeError, "the original body after re-wrapping");
}

/* ---- clone ---- */
{
  const r = new Response("cloned", { status: 202, statusText: "Accepted", headers: { "x-h": "v" } });
  const c = r.clone();
  eq(c.status, 202, "clone keeps status");
  eq(c.statusText, "Accepted", "clone keeps statusText");
  eq(c.headers.get("x-h"), "v", "clone keeps headers");
  c.headers.set("x-h", "changed");
  eq(r.headers.get("x-h"), "v", "clone headers are a copy");
  eq(await r.text(), "cloned", "original readable after clone");
  eq(await c.text(), "cloned", "clone readable after the original");

  const a = new Response(new Uint8Array([1, 2, 3]));
  const b = a.clone();
  new Uint8Array(await a.arrayBuffer())[0] = 9;
  eq(new Uint8Array(await b.arrayBuffer())[0], 1, "clones do not share buffers");

  let pulls = 0;
  const src = new ReadableStream({
    pull(ctl) {
      pulls++;
      if (pulls <= 3) ctl.enqueue(enc(`p${pulls};`));
      else ctl.close();
    },
  });
  const s1 = new Response(src);
  const s2 = s1.clone();
  const [t1, t2] = await Promise.all([s1.text(), s2.text()]);
  eq(t1, "p1;p2;p3;", "a streamed body: original reads everything after clone");
  eq(t2, "p1;p2;p3;", "a streamed body: clone reads everything");

  const q = new Request(URL_, { method: "PUT", body: streamOf("req", "body") });
  const q2 = q.clone();
  eq(await q2.text(), "reqbody", "a streamed Request body clone");
  eq(await q.text(), "reqbody", "the original streamed Request body");

  const touched = new Response("touched");
  void touched.body;
  const tc = touched.clone();
  eq(await tc.text(), "touched", "clone after .body was touched (tee)");
  eq(await touched.text(), "touched", "original after tee clone");
}

done();
