/*
 * fetch_streams.js - ReadableStream, WritableStream, TransformStream and
 * the text and byte transform streams, run by tests/runtime/test_fetch_api.c
 * through `isolde run`. Prints one line per check and "ok N" at the end;
 * the first failing check throws, which makes `isolde run` exit non-zero.
 */
import { check, eq, throws, rejects, done } from "./lib/assert.js";

async function collect(stream) {
  const out = [];
  for await (const chunk of stream) out.push(chunk);
  return out;
}
const enc = (s) => new TextEncoder().encode(s);

for (const name of [
  "ReadableStream", "WritableStream", "TransformStream", "ReadableStreamDefaultReader",
  "ReadableStreamBYOBReader", "WritableStreamDefaultWriter", "ByteLengthQueuingStrategy",
  "CountQueuingStrategy", "TextEncoderStream", "TextDecoderStream", "IdentityTransformStream",
  "FixedLengthStream",
]) {
  eq(typeof globalThis[name], "function", `${name} is a global`);
}

/* pull is called on demand, enqueue and close deliver in order */
{
  let pulls = 0;
  const rs = new ReadableStream({
    pull(c) {
      pulls++;
      if (pulls <= 3) c.enqueue(`chunk${pulls}`);
      else c.close();
    },
  }, new CountQueuingStrategy({ highWaterMark: 0 }));
  eq(pulls, 0, "no pull before a read with highWaterMark 0");
  const reader = rs.getReader();
  check(reader instanceof ReadableStreamDefaultReader, "getReader() gives a default reader");
  eq(rs.locked, true, "a stream with a reader is locked");
  const r1 = await reader.read();
  eq(r1.value, "chunk1", "first read gets the first pulled chunk");
  eq(r1.done, false, "first read is not done");
  eq((await reader.read()).value, "chunk2", "second read");
  eq((await reader.read()).value, "chunk3", "third read");
  const end = await reader.read();
  eq(end.done, true, "read after close is done");
  eq(end.value, undefined, "done read has no value");
  eq(pulls, 4, "pull ran once per read");
  await reader.closed;
  reader.releaseLock();
  eq(rs.locked, false, "releaseLock unlocks");
}

/* start may enqueue and close at once */
{
  const rs = new ReadableStream({
    start(c) {
      c.enqueue(1);
      c.enqueue(2);
      c.close();
    },
  });
  const got = await collect(rs);
  eq(got.join(","), "1,2", "enqueue in start, async iteration collects all chunks");
}

/* error rejects pending and later reads */
{
  let ctrl;
  const rs = new ReadableStream({
    start(c) {
      ctrl = c;
    },
  });
  const reader = rs.getReader();
  const pending = reader.read();
  ctrl.error(new RangeError("boom"));
  const e = await rejects(pending, RangeError, "a pending read of an errored stream");
  eq(e.message, "boom", "the read rejects with the stream's error");
  await rejects(reader.read(), RangeError, "a later read");
  await rejects(reader.closed, RangeError, "reader.closed");
}

/* a second reader on a locked stream is a TypeError */
{
  const rs = new ReadableStream();
  rs.getReader();
  throws(() => rs.getReader(), TypeError, "getReader() on a locked stream");
  await rejects(rs.cancel(), TypeError, "cancel() on a locked stream");
}

/* cancel reaches the source */
{
  let reason = null;
  const rs = new ReadableStream({
    cancel(r) {
      reason = r;
    },
  });
  await rs.cancel("enough");
  eq(reason, "enough", "cancel(reason) calls the source's cancel with the reason");
}

/* async iteration can stop early and cancels the stream */
{
  let cancelled = false;
  let i = 0;
  const rs = new ReadableStream({
    pull(c) {
      c.enqueue(++i);
    },
    cancel() {
      cancelled = true;
    },
  });
  const seen = [];
  for await (const v of rs) {
    seen.push(v);
    if (v === 3) break;
  }
  eq(seen.join(","), "1,2,3", "for await sees chunks until break");
  eq(cancelled, true, "break in for await cancels the stream");
}

/* pipeThrough a TransformStream */
{
  const upper = new TransformStream({
    transform(chunk, c) {
      c.enqueue(String(chunk).toUpperCase());
    },
    flush(c) {
      c.enqueue("!");
    },
  });
  const rs = new ReadableStream({
    start(c) {
      c.enqueue("hello ");
      c.enqueue("world");
      c.close();
    },
  });
  const out = rs.pipeThrough(upper);
  check(out === upper.readable, "pipeThrough returns the transform's readable side");
  eq((await collect(out)).join(""), "HELLO WORLD!", "transform and flush ran over every chunk");
}

/* a transform that errors errors the readable side */
{
  const ts = new TransformStream({
    transform() {
      throw new SyntaxError("bad chunk");
    },
  });
  const rs = new ReadableStream({
    start(c) {
      c.enqueue("x");
      c.close();
    },
  });
  await rejects(collect(rs.pipeThrough(ts)), SyntaxError, "reading after a throwing transform");
}

/* pipeTo a WritableStream */
{
  const written = [];
  let closed = false;
  const ws = new WritableStream({
    write(chunk) {
      written.push(chunk);
    },
    close() {
      closed = true;
    },
  });
  const rs = new ReadableStream({
    start(c) {
      c.enqueue("a");
      c.enqueue("b");
      c.close();
    },
  });
  await rs.pipeTo(ws);
  eq(written.join(""), "ab", "pipeTo writes every chunk");
  eq(closed, true, "pipeTo closes the destination");
}

/* pipeTo with an aborted signal stops and cancels the source */
{
  const ac = new AbortController();
  ac.abort();
  let cancelled = false;
  const rs = new ReadableStream({
    pull(c) {
      c.enqueue("never ends");
    },
    cancel() {
      cancelled = true;
    },
  });
  const e = await rejects(rs.pipeTo(new WritableStream(), { signal: ac.signal }), DOMException, "pipeTo with an aborted signal");
  eq(e.name, "AbortError", "the pipe rejects with an AbortError");
  eq(cancelled, true, "the aborted pipe cancels the source");
}

/* WritableStream with a writer */
{
  const got = [];
  const ws = new WritableStream({
    write(chunk) {
      got.push(chunk);
    },
  });
  const w = ws.getWriter();
  check(w instanceof WritableStreamDefaultWriter, "getWriter() gives a default writer");
  await w.write(1);
  await w.write(2);
  await w.close();
  eq(got.join(","), "1,2", "writer.write delivers chunks in order");
  throws(() => ws.getWriter(), TypeError, "getWriter() on a locked WritableStream");
}

/* tee gives two independent branches */
{
  const rs = new ReadableStream({
    start(c) {
      c.enqueue("x");
      c.enqueue("y");
      c.close();
    },
  });
  const [a, b] = rs.tee();
  eq(rs.locked, true, "tee locks the original");
  const [ga, gb] = await Promise.all([collect(a), collect(b)]);
  eq(ga.join(""), "xy", "first tee branch sees every chunk");
  eq(gb.join(""), "xy", "second tee branch sees every chunk");
}

/* queuing strategies */
{
  eq(new ByteLengthQueuingStrategy({ highWaterMark: 16 }).size(new Uint8Array(5)), 5, "ByteLengthQueuingStrategy sizes by byteLength");
  eq(new CountQueuingStrategy({ highWaterMark: 4 }).highWaterMark, 4, "CountQueuingStrategy keeps its highWaterMark");
  let ctrl;
  new ReadableStream({ start(c) { ctrl = c; } }, new CountQueuingStrategy({ highWaterMark: 3 }));
  eq(ctrl.desiredSize, 3, "desiredSize starts at the highWaterMark");
  ctrl.enqueue("a");
  eq(ctrl.desiredSize, 2, "enqueue without a reader lowers desiredSize");
}

/* ReadableStream.from */
{
  const got = await collect(ReadableStream.from(["p", "q"]));
  eq(got.join(""), "pq", "ReadableStream.from(iterable)");
}

/* byte streams and BYOB readers */
{
  const rs = new ReadableStream({
    type: "bytes",
    start(c) {
      c.enqueue(new Uint8Array([1, 2, 3, 4, 5]));
      c.close();
    },
  });
  const reader = rs.getReader({ mode: "byob" });
  check(reader instanceof ReadableStreamBYOBReader, "getReader({mode:'byob'}) gives a BYOB reader");
  const r = await reader.read(new Uint8Array(3));
  eq(Array.from(r.value).join(","), "1,2,3", "BYOB read fills the given view up to its size");
  const r2 = await reader.read(new Uint8Array(8));
  eq(Array.from(r2.value).join(","), "4,5", "the next BYOB read gets the rest");
}

/* TextDecoderStream over UTF-8 split inside characters */
{
  const bytes = enc("héllo 世界 🎉!");
  const chunks = [];
  for (let i = 0; i < bytes.length; i++) chunks.push(bytes.subarray(i, i + 1));
  const rs = new ReadableStream({
    start(c) {
      for (const ch of chunks) c.enqueue(ch);
      c.close();
    },
  });
  const tds = new TextDecoderStream();
  eq(tds.encoding, "utf-8", "TextDecoderStream.encoding");
  const parts = await collect(rs.pipeThrough(tds));
  eq(parts.join(""), "héllo 世界 🎉!", "TextDecoderStream joins characters split across one-byte chunks");
  check(parts.every((p) => typeof p === "string" && p.length > 0), "TextDecoderStream emits only non-empty strings");
}
{
  const rs = new ReadableStream({
    start(c) {
      c.enqueue(new Uint8Array([0x61, 0xe4, 0xb8]));
      c.close();
    },
  });
  const s = (await collect(rs.pipeThrough(new TextDecoderStream()))).join("");
  eq(s, "a\uFFFD", "a truncated character at the end becomes U+FFFD on flush");
}
{
  const rs = new ReadableStream({
    start(c) {
      c.enqueue(new Uint8Array([0xff]));
      c.close();
    },
  });
  const tds = new TextDecoderStream("utf-8", { fatal: true });
  eq(tds.fatal, true, "TextDecoderStream.fatal");
  await rejects(collect(rs.pipeThrough(tds)), TypeError, "a fatal TextDecoderStream on invalid UTF-8");
}

/* TextEncoderStream, including a surrogate pair split across chunks */
{
  const rs = new ReadableStream({
    start(c) {
      c.enqueue("a\uD83C");
      c.enqueue("\uDF89b");
      c.close();
    },
  });
  const tes = new TextEncoderStream();
  eq(tes.encoding, "utf-8", "TextEncoderStream.encoding");
  const parts = await collect(rs.pipeThrough(tes));
  check(parts.every((p) => p instanceof Uint8Array), "TextEncoderStream emits Uint8Arrays");
  const all = [];
  for (const p of parts) all.push(...p);
  eq(all.map((b) => b.toString(16)).join(" "), "61 f0 9f 8e 89 62", "a split surrogate pair encodes as one character");
}

/* IdentityTransformStream and FixedLengthStream */
{
  const { readable, writable } = new IdentityTransformStream();
  const w = writable.getWriter();
  w.write(enc("ab"));
  w.write(new Uint8Array([0x63]).buffer);
  w.close();
  const parts = await collect(readable);
  eq(parts.map((p) => new TextDecoder().decode(p)).join(""), "abc", "IdentityTransformStream passes bytes through");
  const bad = new IdentityTransformStream();
  const badRead = collect(bad.readable);
  await rejects(bad.writable.getWriter().write("text"), TypeError, "IdentityTransformStream with a string chunk");
  await rejects(badRead, TypeError, "its readable side errors too");
}
{
  const fls = new FixedLengthStream(3);
  const w = fls.writable.getWriter();
  const reading = collect(fls.readable);
  await w.write(enc("abc"));
  await w.close();
  eq((await reading).length, 1, "FixedLengthStream passes the expected bytes");
  const over = new FixedLengthStream(2);
  const r2 = collect(over.readable);
  await rejects(over.writable.getWriter().write(enc("abc")), TypeError, "FixedLengthStream with too many bytes");
  await rejects(r2, TypeError, "its readable side errors too");
  const under = new FixedLengthStream(5);
  const uw = under.writable.getWriter();
  collect(under.readable).catch(() => {});
  await uw.write(enc("ab"));
  await rejects(uw.close(), TypeError, "FixedLengthStream closed short of its length");
}

done();
