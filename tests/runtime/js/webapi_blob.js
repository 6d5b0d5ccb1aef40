/*
 * webapi_blob.js - Blob, File and FormData, and the multipart and
 * urlencoded codecs behind Request/Response bodies. Run by
 * tests/runtime/test_webapi.c through `isolde run`: one line per check and
 * per group, "ok N" last; the first failing check throws.
 */
import { check, eq, throws, rejects, group, done } from "./lib/assert.js";

const enc = (s) => new TextEncoder().encode(s);
const dec = (b) => new TextDecoder().decode(b);

await group("Blob", async () => {
  const b = new Blob(["ab", enc("cd"), new Uint16Array([0x6665]).buffer, new Blob(["g"]), new DataView(enc("xhx").buffer, 1, 1)], {
    type: "Text/Plain;Charset=UTF-8",
  });
  eq(b.size, 8, "size of mixed parts");
  eq(b.type, "text/plain;charset=utf-8", "type lower-cased");
  eq(await b.text(), "abcdefgh", "text()");
  eq(dec(await b.arrayBuffer()), "abcdefgh", "arrayBuffer()");
  const bytes = await b.bytes();
  check(bytes instanceof Uint8Array && bytes.length === 8, "bytes()");
  bytes[0] = 0;
  eq(await b.text(), "abcdefgh", "bytes() is a copy");
  eq(await b.slice(2, 4).text(), "cd", "slice");
  eq(await b.slice(-3).text(), "fgh", "slice from the end");
  eq(await b.slice(-3, -1).text(), "fg", "negative start and end");
  eq(await b.slice(5, 2).text(), "", "end before start");
  eq(b.slice(0, 1, "X/Y").type, "x/y", "slice with a type");
  eq(b.slice().type, "", "slice without a type");
  eq(new Blob([], { type: "a\u0001b" }).type, "", "a type with a control character is dropped");
  eq(new Blob().size, 0, "empty Blob");
  eq(await new Blob(["\uD800"]).text(), "\uFFFD", "lone surrogates become U+FFFD");
  eq(await new Blob(["a\r\nb\rc"], { endings: "native" }).text(), "a\nb\nc", "endings native");
  eq(await new Blob([1, null]).text(), "1null", "other values as strings");
  throws(() => new Blob("abc"), TypeError, "a string instead of a sequence");
  throws(() => new Blob([], { endings: "crlf" }), TypeError, "bad endings");
  const src = new Uint8Array([1, 2]);
  const copied = new Blob([src]);
  src[0] = 9;
  eq((await copied.bytes())[0], 1, "parts are copied at construction");
  eq(Object.prototype.toString.call(b), "[object Blob]", "toStringTag");
});

await group("Blob.stream", async () => {
  const big = new Uint8Array(150000).map((_, i) => i & 0xff);
  const reader = new Blob([big]).stream().getReader();
  let total = 0;
  let ok = true;
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    for (let i = 0; i < value.length; i++) if (value[i] !== ((total + i) & 0xff)) ok = false;
    total += value.length;
  }
  eq(total, 150000, "stream delivers every byte");
  check(ok, "in order");
  const text = await new Response(new Blob(["streamed"]).stream()).text();
  eq(text, "streamed", "a Blob stream as a Response body");
});

await group("File", async () => {
  const f = new File(["data"], "name.txt", { type: "text/plain", lastModified: 42 });
  eq(f.name, "name.txt", "name");
  eq(f.lastModified, 42, "lastModified");
  eq(f.type, "text/plain", "type");
  eq(await f.text(), "data", "contents");
  check(f instanceof Blob, "a File is a Blob");
  const now = Date.now();
  check(Math.abs(new File([], "x").lastModified - now) < 1000, "lastModified defaults to now");
  throws(() => new File(["x"]), TypeError, "File without a name");
  eq(Object.prototype.toString.call(f), "[object File]", "toStringTag");
});

await group("FormData", async () => {
  const fd = new FormData();
  fd.append("a", "1");
  fd.append("b", new Blob(["blob"], { type: "text/x" }));
  fd.append("c", new Blob(["c"]), "c.bin");
  fd.append("a", "2");
  eq(fd.get("a"), "1", "get first");
  eq(fd.getAll("a").join(), "1,2", "getAll");
  eq(fd.get("none"), null, "get missing");
  const b = fd.get("b");
  check(b instanceof File && b.name === "blob" && b.type === "text/x", "a Blob value becomes File 'blob'");
  eq(fd.get("c").name, "c.bin", "filename argument");
  const file = new File(["f"], "orig.txt");
  fd.append("f", file);
  eq(fd.get("f"), file, "a File without a filename is kept as it is");
  fd.append("g", file, "renamed.txt");
  eq(fd.get("g").name, "renamed.txt", "a File with a filename is renamed");
  fd.set("a", "3");
  eq(fd.getAll("a").join(), "3", "set replaces all");
  eq([...fd.keys()].join(), "a,b,c,f,g", "set keeps the first position");
  fd.delete("b");
  eq(fd.has("b"), false, "delete");
  eq(fd.has("a"), true, "has");
  fd.append("n", 5);
  eq(fd.get("n"), "5", "values become strings");
  const seen = [];
  fd.forEach((v, k) => seen.push(k));
  eq(seen.join(), "a,c,f,g,n", "forEach");
  eq(JSON.stringify([...new FormData().entries()]), "[]", "empty entries");
  throws(() => fd.append("x", "y", "file.txt"), TypeError, "a filename with a string value");
  throws(() => fd.append("x"), TypeError, "append with one argument");
  eq(Object.prototype.toString.call(fd), "[object FormData]", "toStringTag");
});

await group("multipart", async () => {
  const fd = new FormData();
  fd.append("field", "value\nwith newline");
  fd.append('we"ird\nname', "x");
  fd.append("upload", new File(["file bytes \u00e9"], "a b.txt", { type: "text/plain" }));
  fd.append("bin", new Blob([new Uint8Array([0, 255, 13, 10])]), "raw.bin");
  const res = new Response(fd);
  const ct = res.headers.get("content-type");
  check(/^multipart\/form-data; boundary=[-\w]+$/.test(ct), `Content-Type with a boundary (${ct})`);
  const body = await res.clone().text();
  check(body.includes('Content-Disposition: form-data; name="field"\r\n\r\nvalue\r\nwith newline\r\n'), "string part, newlines as CRLF");
  check(body.includes('name="we%22ird%0D%0Aname"'), "name escaping");
  check(body.includes('filename="a b.txt"\r\nContent-Type: text/plain\r\n'), "file part headers");
  check(body.includes('filename="raw.bin"\r\nContent-Type: application/octet-stream'), "default file type");
  check(body.endsWith("--\r\n"), "closing delimiter");
  const back = await res.formData();
  eq(back.get("field"), "value\r\nwith newline", "string round trip");
  eq(back.get('we"ird\r\nname'), "x", "escaped name round trip");
  const up = back.get("upload");
  check(up instanceof File && up.name === "a b.txt" && up.type === "text/plain", "file round trip");
  eq(await up.text(), "file bytes \u00e9", "file contents");
  eq(Array.from(await back.get("bin").bytes()).join(), "0,255,13,10", "binary contents with CRLF inside");

  const manual =
    "preamble\r\n--XyZ\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\n1\r\n" +
    "--XyZ\r\ncontent-disposition: form-data; name=\"f\"; filename=\"n.txt\"\r\n\r\nfile\r\n--XyZ--\r\nepilogue";
  const parsed = await new Response(manual, { headers: { "content-type": 'multipart/form-data; boundary="XyZ"' } }).formData();
  eq(parsed.get("a"), "1", "hand-written body, quoted boundary, preamble");
  eq(parsed.get("f").type, "text/plain", "a file part without Content-Type is text/plain");
  const bad = (text, what) =>
    rejects(new Response(text, { headers: { "content-type": "multipart/form-data; boundary=B" } }).formData(), TypeError, what);
  await bad("--B\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nno end", "a missing closing delimiter");
  await bad("--B\r\nContent-Type: text/plain\r\n\r\nx\r\n--B--", "a part without a name");
  await bad("nothing here", "no delimiter at all");
  await rejects(new Response("x", { headers: { "content-type": "multipart/form-data" } }).formData(), TypeError, "no boundary");
});

await group("urlencoded", async () => {
  const res = new Response("a=1&b=x+y&c=%C3%A9&a=2", { headers: { "content-type": "application/x-www-form-urlencoded;charset=UTF-8" } });
  const fd = await res.formData();
  eq(fd.getAll("a").join(), "1,2", "repeated names");
  eq(fd.get("b"), "x y", "plus as space");
  eq(fd.get("c"), "é", "percent-decoded UTF-8");
  await rejects(new Response("a=1", { headers: { "content-type": "text/plain" } }).formData(), TypeError, "another content type");
});

done();
