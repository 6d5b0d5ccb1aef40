/*
 * url_fast.js - the JS half of tests/fuzz/url_fast.c: one input, compared
 * the way tests/runtime/js/url_fast.js compares its generated URLs.
 *
 * The input's bytes are UTF-8 (invalid sequences become U+FFFD): the URL,
 * then optionally a NUL and a base URL. Through the isolde.urlFast hook
 * (src/runtime/js/url_fast.js), whatwg-url's state machine gives the truth;
 * the fast path, where it takes the input, must give the identical record;
 * the wrapped basicURLParse (fast path or cache) must too, three calls in a
 * row, each record handed out then changed as URL setters would, which
 * must never reach a later call; the query's form-urlencoded parse and the
 * ASCII percent-encoders must match the originals. A difference throws
 * "FUZZ: ...". Returns "ok" and the facts that steer the fuzzer.
 */
"use strict";
(() => {
  const key = Object.getOwnPropertySymbols(globalThis).find((s) => s.description === "isolde.urlFast");
  if (!key) throw new Error("no isolde.urlFast hook (is url_fast.js in the prelude?)");
  const hook = globalThis[key];
  const decoder = new TextDecoder();
  const FIELDS = ["scheme", "username", "password", "host", "port", "path", "query", "fragment"];

  function same(a, b) {
    if (Array.isArray(a) || Array.isArray(b)) {
      return Array.isArray(a) && Array.isArray(b) && a.length === b.length && a.every((x, i) => x === b[i]);
    }
    return a === b;
  }

  function diff(a, b) {
    if (a === null || b === null) return a === b ? "" : `${JSON.stringify(a)} vs ${JSON.stringify(b)}`;
    const ka = Object.keys(a).sort().join();
    const kb = Object.keys(b).sort().join();
    if (ka !== kb) return `keys ${ka} vs ${kb}`;
    for (const f of FIELDS) if (!same(a[f], b[f])) return `${f}: ${JSON.stringify(a[f])} vs ${JSON.stringify(b[f])}`;
    return "";
  }

  function fail(what, input, base) {
    throw new Error(`FUZZ: ${what} for ${JSON.stringify(input)}${base !== null ? ` against ${JSON.stringify(base)}` : ""}`);
  }

  function hostKind(h) {
    if (h === null) return "null";
    if (typeof h === "number") return "ipv4";
    if (Array.isArray(h)) return "ipv6";
    if (h === "") return "empty";
    return /[^\x00-\x7f]|xn--/.test(h) ? "idna" : "domain";
  }

  globalThis.__fuzz = function (buf) {
    const bytes = new Uint8Array(buf);
    const nul = bytes.indexOf(0);
    const input = decoder.decode(nul < 0 ? bytes : bytes.subarray(0, nul));
    const baseText = nul < 0 ? null : decoder.decode(bytes.subarray(nul + 1));
    const facts = [];
    const baseURL = baseText === null ? null : hook.full(baseText);
    if (baseText !== null && baseURL === null) facts.push("base:invalid");
    const base = baseURL === null ? null : baseText;
    const truth = hook.full(input, { baseURL });
    facts.push(truth === null ? "truth:failure" : `scheme:${truth.scheme.length > 6 ? "other" : truth.scheme}`);
    if (truth !== null) {
      facts.push(`host:${hostKind(truth.host)}`, `port:${truth.port === null ? "null" : "set"}`);
      facts.push(`path:${Array.isArray(truth.path) ? Math.min(truth.path.length, 5) : "opaque"}`);
      facts.push(`query:${truth.query === null ? "null" : "set"}`, `fragment:${truth.fragment === null ? "null" : "set"}`);
    }

    const fast = hook.fast(input, baseURL);
    if (fast !== undefined) {
      facts.push(`fast:${base === null ? "absolute" : "relative"}`);
      const d = diff(fast, truth);
      if (d !== "") fail(`the fast path differs: ${d}`, input, base);
    } else {
      facts.push("fast:declined");
    }

    for (let round = 1; round <= 3; round++) {
      const url = hook.parse(input, { baseURL });
      const d = diff(url, truth);
      if (d !== "") fail(`basicURLParse differs on call ${round}: ${d}`, input, base);
      if (url !== null) {
        if (Array.isArray(url.path)) url.path.push("changed");
        else url.path += "changed";
        if (Array.isArray(url.host)) url.host[0] = 0xbad;
        url.query = "changed";
      }
    }
    if (base === null) {
      const d = diff(hook.parse(input), truth);
      if (d !== "") fail(`basicURLParse without options differs: ${d}`, input, base);
    }

    /* the form-urlencoded shortcut, on the query and on the input itself */
    for (const q of truth !== null && truth.query !== null ? [truth.query, input] : [input]) {
      const want = JSON.stringify(hook.urlencodedFull(q));
      const got = JSON.stringify(hook.urlencoded(q));
      if (got !== want) fail(`urlencoded differs: ${got} vs ${want}`, q, null);
    }

    /* the ASCII percent-encoders, with every encode set, on the input */
    for (const set of hook.encodeSets) {
      for (const plus of [false, true]) {
        const got = hook.encode.string(input, set, plus);
        const want = hook.encodeFull.string(input, set, plus);
        if (got !== want) fail(`percent-encoding with ${set.name} differs: ${got} vs ${want}`, input, null);
      }
    }
    const cp = input.codePointAt(0);
    if (cp !== undefined) {
      for (const set of hook.encodeSets) {
        if (hook.encode.codePoint(cp, set) !== hook.encodeFull.codePoint(cp, set)) fail(`percent-encoding U+${cp.toString(16)} with ${set.name} differs`, input, null);
      }
    }
    return `ok ${facts.join(" ")}`;
  };
})();
