/*
 * cache_http.js - the JS half of tests/fuzz/cache_http.c: one response put
 * into caches.default and matched back, with its Cache-Control (and
 * Expires, Set-Cookie, Vary) and a Range from the input, held against a
 * reference reading written here from RFC 9111 and RFC 9110 and the rules
 * src/runtime/js/cache.js documents.
 *
 * Input (bytes as Latin-1): the status on the first line; response header
 * lines up to an empty line; the request's Range value on the next line;
 * the body after it. An input the Headers or Response constructors refuse
 * is skipped ("ok skip").
 *
 * Checks, with Date.now() pinned to T0 (and moved for the expiry checks):
 *   - put() resolves, or rejects with a TypeError exactly for 206 and for
 *     `Vary: *`: never another error (a lifetime too large for the store,
 *     say);
 *   - stored or not, and for how long: the reference splits Cache-Control
 *     at commas outside quoted strings and reads each element on its own
 *     (a malformed element is skipped, not the rest of the field); where
 *     every element is well-formed, the entry must be there exactly from
 *     T0 to T0 + lifetime, where some element is not, a no-store, a bare
 *     no-cache or a bare private the reference sees must still keep the
 *     response out;
 *   - a hit carries the stored fields (less those private="..." names)
 *     and CF-Cache-Status: HIT, and the body;
 *   - a Range of the strict form bytes=a-b / bytes=a- / bytes=-n gives 206
 *     with the right bytes and Content-Range, 416 with bytes * /n, or the
 *     whole 200 as RFC 9110 14.2 says; any other Range gives one of those
 *     three, consistent with itself.
 * A difference throws "FUZZ: ...".
 */
"use strict";
(() => {
  const URL = "http://fuzz.test/cached";
  const T0 = 1767225600000;
  const DEFAULT_TTL = { 200: 7200, 203: 7200, 300: 7200, 301: 7200, 302: 1200, 303: 1200, 404: 180, 410: 180 };
  const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
  const realNow = Date.now;

  function latin1(b) {
    let s = "";
    for (let i = 0; i < b.length; i++) s += String.fromCharCode(b[i]);
    return s;
  }

  function fail(what) {
    throw new Error(`FUZZ: ${what}`);
  }

  /* ---- the reference ------------------------------------------------------------- */

  /* Cache-Control elements: comma-separated outside quoted strings. */
  function elements(v) {
    const out = [];
    let cur = "", q = false;
    for (let i = 0; i < v.length; i++) {
      const c = v[i];
      if (q && c === "\\" && i + 1 < v.length) {
        cur += c + v[++i];
        continue;
      }
      if (c === '"') q = !q;
      if (c === "," && !q) {
        out.push(cur);
        cur = "";
      } else {
        cur += c;
      }
    }
    out.push(cur);
    return out.map((e) => e.trim()).filter((e) => e !== "");
  }

  /* directive -> value (null when bare), the first of each; wellFormed is
   * false when some element is not token [ "=" ( token / quoted-string ) ]. */
  function cacheControl(v) {
    const map = new Map();
    let wellFormed = true;
    if (v === null) return { map, wellFormed };
    for (const e of elements(v)) {
      const m = /^([^=\s]+)(?:\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^"\s]*)))?$/.exec(e);
      if (!m || !TOKEN.test(m[1]) || (m[3] !== undefined && m[3] !== "" && !TOKEN.test(m[3])) || m[3] === "") {
        wellFormed = false;
        continue;
      }
      const name = m[1].toLowerCase();
      const value = m[2] !== undefined ? m[2].replace(/\\(.)/g, "$1") : m[3] !== undefined ? m[3] : null;
      if (!map.has(name)) map.set(name, value);
    }
    return { map, wellFormed };
  }

  /* delta-seconds: 1*DIGIT, in seconds; null when absent or not one. */
  function delta(v) {
    return v !== null && v !== undefined && /^\d+$/.test(v) ? Number(v) : null;
  }

  /* { stored, ttlMs, exact } for a response put at T0; exact: the lifetime
   * can be checked to the millisecond. */
  function expected(status, headers) {
    const { map, wellFormed } = cacheControl(headers.get("cache-control"));
    const no = { stored: false, wellFormed, map };
    if (map.has("no-store")) return no;
    if (map.has("no-cache") && map.get("no-cache") === null) return no;
    const h = new Headers(headers);
    if (map.has("private")) {
      if (map.get("private") === null) return no;
      for (const f of map.get("private").split(",")) if (TOKEN.test(f.trim())) h.delete(f.trim());
    }
    if (h.has("set-cookie")) return no;
    let s = delta(map.get("s-maxage"));
    if (s === null) s = delta(map.get("max-age"));
    let ttl;
    if (s !== null) ttl = s * 1000;
    else if (h.has("expires")) {
      const t = Date.parse(h.get("expires"));
      ttl = Number.isNaN(t) ? 0 : t - T0;
    } else if (DEFAULT_TTL[status] !== undefined) ttl = DEFAULT_TTL[status] * 1000;
    else return no;
    if (!(ttl > 0)) return no;
    return { stored: true, ttlMs: ttl, exact: ttl <= 2 ** 31 * 1000, wellFormed, map, headers: h };
  }

  /* RFC 9110 14.1.2 and 14.2 for a body of n bytes: "full", "bad" or [a, b). */
  function range(v, n) {
    if (v === null) return { want: "full", strict: true };
    let m = /^bytes=(\d{1,15})-(\d{0,15})$/i.exec(v);
    if (m) {
      const first = Number(m[1]);
      if (m[2] !== "" && Number(m[2]) < first) return { want: "full", strict: true }; /* invalid: ignored */
      if (first >= n) return { want: "bad", strict: true };
      return { want: [first, m[2] === "" ? n : Math.min(n, Number(m[2]) + 1)], strict: true };
    }
    m = /^bytes=-(\d{1,15})$/i.exec(v);
    if (m) {
      const len = Number(m[1]);
      if (n === 0) return { want: "any", strict: false }; /* an empty body: RFC 9110 leaves it open */
      if (len === 0) return { want: "bad", strict: true };
      return { want: [Math.max(0, n - len), n], strict: true };
    }
    if (/^bytes=[\d\s-]*,/i.test(v)) return { want: "full", strict: true }; /* several ranges: served whole */
    return { want: "any", strict: false };
  }

  /* ---- the checks ---------------------------------------------------------------- */

  async function matchAt(t, init) {
    Date.now = () => t;
    try {
      return await caches.default.match(new Request(URL, init));
    } finally {
      Date.now = realNow;
    }
  }

  function sameBytes(a, b) {
    return a.length === b.length && a.every((x, i) => x === b[i]);
  }

  /* The fields as "name: value" lines. Values are compared without
   * surrounding whitespace: a combined value can end in ", " (an empty last
   * value), which the store's text form does not keep. */
  function fields(h, drop) {
    return [...h].filter(([k]) => !drop.includes(k)).map(([k, v]) => `${k}: ${v.replace(/^[\t ]+|[\t ]+$/g, "")}`).join("\n");
  }

  globalThis.__fuzz = async function (buf) {
    const text = latin1(new Uint8Array(buf));
    const facts = [];
    const lines = text.split("\n");
    const status = /^\d{3}$/.test(lines[0]) ? Number(lines[0]) : 200;
    let i = 1;
    const pairs = [];
    for (; i < lines.length && lines[i] !== ""; i++) {
      const c = lines[i].indexOf(":");
      if (c > 0) pairs.push([lines[i].slice(0, c), lines[i].slice(c + 1)]);
    }
    const rangeValue = i + 1 < lines.length && lines[i + 1] !== "" ? lines[i + 1] : null;
    const bodyText = lines.slice(i + 2).join("\n");
    const body = new Uint8Array(bodyText.length);
    for (let k = 0; k < bodyText.length; k++) body[k] = bodyText.charCodeAt(k);

    let headers, res;
    try {
      headers = new Headers(pairs);
      const nullBody = [101, 204, 205, 304].includes(status);
      res = new Response(nullBody ? null : body, { status, headers });
    } catch (e) {
      if (e instanceof TypeError || e instanceof RangeError) return "ok skip";
      throw e;
    }
    facts.push(`status:${status}`);
    Date.now = () => T0;
    try {
      await caches.default.delete(URL);
    } finally {
      Date.now = realNow;
    }

    const vary = headers.get("vary");
    const mustThrow = status === 206 || (vary !== null && vary.split(",").some((v) => v.trim() === "*"));
    Date.now = () => T0;
    try {
      await caches.default.put(URL, res);
      if (mustThrow) fail(`put() accepted a ${status === 206 ? "206" : "Vary: *"} response`);
    } catch (e) {
      if (String(e.message).startsWith("FUZZ:")) throw e;
      if (!(e instanceof TypeError) || !mustThrow) fail(`put() threw ${e && e.name}: ${e && e.message}`);
      facts.push("put:refused");
      return `ok ${facts.join(" ")}`;
    } finally {
      Date.now = realNow;
    }

    const want = expected(status, headers);
    for (const k of want.map.keys()) facts.push(`cc:${k.length > 16 ? "long" : k}`);
    facts.push(want.wellFormed ? "cc:wellformed" : "cc:malformed");
    const hit = await matchAt(T0);
    facts.push(hit === undefined ? "miss" : "hit");
    if (want.wellFormed && !want.stored && hit !== undefined) fail(`stored a response it must not: ${JSON.stringify(headers.get("cache-control"))}`);
    if (!want.wellFormed && !want.stored && (want.map.has("no-store") || want.map.get("no-cache") === null || want.map.get("private") === null) && hit !== undefined)
      fail(`stored a response whose Cache-Control has no-store, no-cache or private: ${JSON.stringify(headers.get("cache-control"))}`);
    if (!want.wellFormed || !want.stored) return `ok ${facts.join(" ")}`;
    if (hit === undefined) fail(`did not store a response it should have (lifetime ${want.ttlMs} ms): ${JSON.stringify(headers.get("cache-control"))}`);

    /* the hit: fields and body */
    if (hit.headers.get("cf-cache-status") !== "HIT") fail("a hit without CF-Cache-Status: HIT");
    const a = fields(hit.headers, ["cf-cache-status"]), b = fields(want.headers, ["cf-cache-status"]);
    if (a !== b) fail(`a hit's fields differ from the stored response's: ${JSON.stringify(a)} vs ${JSON.stringify(b)}`);
    const got = new Uint8Array(await hit.arrayBuffer());
    const nullBody = [101, 204, 205, 304].includes(status);
    if (!nullBody && !sameBytes(got, body)) fail("a hit's body differs from the stored one");

    /* a Range (before the lifetime checks: a match after expiry drops the entry) */
    if (status === 200 && rangeValue !== null) await checkRange(rangeValue, body, facts);
    /* the lifetime, to the millisecond */
    if (want.exact) {
      facts.push("ttl:exact");
      if ((await matchAt(T0 + want.ttlMs - 1)) === undefined) fail(`gone before its lifetime of ${want.ttlMs} ms`);
      if ((await matchAt(T0 + want.ttlMs)) !== undefined) fail(`still there after its lifetime of ${want.ttlMs} ms`);
    }

    return `ok ${facts.join(" ")}`;
  };

  async function checkRange(rangeValue, body, facts) {
    let r;
    try {
      r = await matchAt(T0, { headers: { range: rangeValue } });
    } catch (e) {
      if (e instanceof TypeError) {
        facts.push("range:skip");
        return;
      }
      throw e;
    }
    if (r === undefined) fail("a stored response missed when asked with a Range");
    const norm = new Headers({ range: rangeValue }).get("range");
    const { want: w, strict } = range(norm, body.length);
    const rb = new Uint8Array(await r.arrayBuffer());
    const cr = r.headers.get("content-range");
    facts.push(`range:${r.status}`, strict ? "range:strict" : "range:loose");
    if (r.status === 200) {
      if (!sameBytes(rb, body)) fail("a 200 to a Range without the whole body");
      if (strict && w !== "full") fail(`Range ${JSON.stringify(norm)} gave 200, want ${JSON.stringify(w)}`);
    } else if (r.status === 416) {
      if (cr !== `bytes */${body.length}`) fail(`a 416 with Content-Range ${cr}`);
      if (strict && w !== "bad") fail(`Range ${JSON.stringify(norm)} gave 416, want ${JSON.stringify(w)}`);
    } else if (r.status === 206) {
      const m = /^bytes (\d+)-(\d+)\/(\d+)$/.exec(cr || "");
      if (!m || Number(m[3]) !== body.length || Number(m[1]) > Number(m[2]) || Number(m[2]) >= body.length)
        fail(`a 206 with Content-Range ${cr}`);
      if (!sameBytes(rb, body.slice(Number(m[1]), Number(m[2]) + 1))) fail(`a 206 whose bytes are not those of ${cr}`);
      if (strict && (!Array.isArray(w) || w[0] !== Number(m[1]) || w[1] !== Number(m[2]) + 1))
        fail(`Range ${JSON.stringify(norm)} gave ${cr}, want ${JSON.stringify(w)}`);
    } else {
      fail(`a Range gave status ${r.status}`);
    }
  }
})();
