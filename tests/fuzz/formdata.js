/*
 * formdata.js - the JS half of tests/fuzz/formdata.c: one input, read two
 * ways, through the public API (Response.formData() and new Response(fd),
 * which call formdata.js's parseFormBody and serializeFormData).
 *
 * A. As a request: the first line is the Content-Type, the rest the body.
 *    formData() either gives a FormData or throws a TypeError (any other
 *    error, or none where the body has no parts at all, is a finding).
 *    A FormData it gives is serialised again and must parse back to the
 *    same entries, up to what the multipart/form-data encoding does by
 *    specification (HTML's encoding algorithm, Fetch's parser): newlines in
 *    names and string values become CRLF, and %0A, %0D, %22 in a name or
 *    filename read back as LF, CR, '"'.
 * B. As entries: the input (UTF-8) split on U+0001 into entries, each
 *    split on U+0002 into name and value; every other entry a File whose
 *    filename is its name. The FormData of those entries, serialised and
 *    parsed, must give them back by the same rules.
 *
 * A difference throws "FUZZ: ...". Returns "ok" and the facts that steer
 * the fuzzer.
 */
"use strict";
(() => {
  const decoder = new TextDecoder();

  function latin1(b) {
    let s = "";
    for (let i = 0; i < b.length; i++) s += String.fromCharCode(b[i]);
    return s;
  }

  /* What the encoding does to a name (HTML: newlines normalised, then LF,
   * CR and '"' escaped; Fetch: %0A, %0D, %22 decoded). */
  function wireName(s) {
    return unescape3(escape3(s.toWellFormed().replace(/\r\n|\r|\n/g, "\r\n")));
  }
  function wireFilename(s) {
    return unescape3(escape3(s.toWellFormed()));
  }
  function escape3(s) {
    return s.replace(/\n/g, "%0A").replace(/\r/g, "%0D").replace(/"/g, "%22");
  }
  function unescape3(s) {
    return s.replace(/%22/g, '"').replace(/%0D/gi, "\r").replace(/%0A/gi, "\n");
  }
  function wireValue(s) {
    return s.toWellFormed().replace(/\r\n|\r|\n/g, "\r\n");
  }
  /* File's type: lower-cased when every character is 0x20-0x7E, else "". */
  function fileType(t) {
    return /^[\x20-\x7e]*$/.test(t) ? t.toLowerCase() : "";
  }

  async function entriesOf(fd) {
    const out = [];
    for (const [name, value] of fd) {
      if (typeof value === "string") {
        out.push({ name, value });
      } else {
        out.push({ name, filename: value.name, type: value.type, bytes: new Uint8Array(await value.arrayBuffer()) });
      }
    }
    return out;
  }

  function show(x) {
    return JSON.stringify(x, (k, v) => (v instanceof Uint8Array ? latin1(v) : v));
  }

  function sameBytes(a, b) {
    return a.length === b.length && a.every((x, i) => x === b[i]);
  }

  /* want: entries as they should come back; got: as they did. */
  function compare(what, want, got) {
    if (want.length !== got.length) throw new Error(`FUZZ: ${what}: ${got.length} entries came back, not ${want.length}: ${show(want)} vs ${show(got)}`);
    for (let i = 0; i < want.length; i++) {
      const w = want[i], g = got[i];
      const ok =
        w.name === g.name &&
        ("value" in w
          ? w.value === g.value
          : "filename" in g && w.filename === g.filename && w.type === g.type && sameBytes(w.bytes, g.bytes));
      if (!ok) throw new Error(`FUZZ: ${what}: entry ${i} came back as ${show(g)}, not ${show(w)}`);
    }
  }

  async function roundTrip(what, fd, facts) {
    const res = new Response(fd);
    let back;
    try {
      back = await res.formData();
    } catch (e) {
      throw new Error(`FUZZ: ${what}: the serialised form does not parse: ${e && e.name}: ${e && e.message}`);
    }
    const before = await entriesOf(fd);
    const want = before.map((e) =>
      "value" in e
        ? { name: wireName(e.name), value: wireValue(e.value) }
        : { name: wireName(e.name), filename: wireFilename(e.filename), type: e.type || "application/octet-stream", bytes: e.bytes },
    );
    compare(what, want, await entriesOf(back));
    facts.push(`${what}:entries:${Math.min(before.length, 8)}`);
    if (before.some((e) => "filename" in e)) facts.push(`${what}:files`);
  }

  function errorClass(msg) {
    return String(msg).replace(/[^a-z]+/gi, "-").slice(0, 40);
  }

  async function asRequest(bytes, facts) {
    const nl = bytes.indexOf(10);
    let type = "multipart/form-data; boundary=B";
    let body = bytes;
    if (nl >= 0) {
      type = latin1(bytes.subarray(0, nl)).replace(/[\0\r\n]/g, " ");
      body = bytes.subarray(nl + 1);
    }
    let fd;
    try {
      fd = await new Response(body, { headers: { "content-type": type } }).formData();
    } catch (e) {
      if (!(e instanceof TypeError)) throw new Error(`FUZZ: formData() threw ${e && e.name}: ${e && e.message}`);
      facts.push(`a:err:${errorClass(e.message)}`);
      return;
    }
    facts.push("a:parsed");
    await roundTrip("a", fd, facts);
  }

  async function asEntries(bytes, facts) {
    const fd = new FormData();
    const text = decoder.decode(bytes);
    const parts = text.split("\u0001");
    for (let i = 0; i < parts.length && i < 16; i++) {
      const j = parts[i].indexOf("\u0002");
      const name = j < 0 ? parts[i] : parts[i].slice(0, j);
      const value = j < 0 ? "" : parts[i].slice(j + 1);
      if (i % 2 === 1) {
        const k = value.indexOf("\u0003");
        const type = k < 0 ? "" : fileType(value.slice(0, k));
        fd.append(name, new File([k < 0 ? value : value.slice(k + 1)], name, { type }));
      } else {
        fd.append(name, value);
      }
    }
    await roundTrip("b", fd, facts);
  }

  globalThis.__fuzz = async function (buf) {
    const bytes = new Uint8Array(buf);
    const facts = [];
    await asRequest(bytes, facts);
    await asEntries(bytes, facts);
    return `ok ${facts.join(" ")}`;
  };
})();
