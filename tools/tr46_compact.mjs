/*
 * tr46_compact.mjs - re-encodes tr46's two data files for the lazily
 * loaded tr46 chunk (src/runtime/js/lazy_tr46.js), so that the first
 * non-ASCII host in an isolate costs ~17M instructions (~1.5 ms; loading
 * the chunk is 11M of them) instead of the ~60 ms that tr46's files took
 * to compile. Used by tools/bundle_prelude.mjs, which gives esbuild these
 * modules in place of node_modules/tr46/lib/mappingTable.json and
 * regexes.js; tr46's own code runs unchanged against them. Each generated
 * module is checked here against the original before it is used: a
 * mismatch fails the build.
 *
 * The data is not JS source. QuickJS's parser spends ~90 instructions on
 * each character of a string literal (more on escapes), and lexes a
 * literal again for every parenthesis or object literal around it (to
 * tell arrow functions and destructuring apart): with its data in string
 * literals, this chunk took ~100M instructions to load. Instead the chunk
 * is code (minified: it compiles in ~6M), a marker line, and data text
 * (ChunkData below); the code is a function of the data, and the modules
 * here take their strings out of it by offset (a copy, in C).
 *
 * mappingTable.json (9,262 entries [codePoint or [first, last], status,
 * mapping?], sorted and contiguous over U+0000..U+10FFFF): as a literal,
 * QuickJS compiles it into code that builds ~9,000 arrays (~220M
 * instructions, ~20 ms), and JSON.parse of it still takes ~75M and builds
 * the same arrays in the isolate's heap. tr46 only ever binary-searches
 * it (length and [i]), so the module exports an array-like Proxy over one
 * string of fixed-width records (first code point, status, where the
 * mapping is), which makes entry i, the same array the JSON has, when it
 * is first read, and keeps it. About 15 of the 9,262 entries are read per
 * code point looked up; a read through the Proxy costs ~4,000
 * instructions against ~400 for an array, which adds ~20% to parsing a
 * URL whose host needs tr46.
 *
 * regexes.js (12 Unicode regular expressions): QuickJS compiles a regex
 * literal when its script is parsed, and builds a character class by
 * merging each range into the whole set so far, which is quadratic: the
 * 12 cost ~300M instructions (~28 ms), the bidi ones (tested only for
 * right-to-left domains) most of it. The module compiles each regex with
 * new RegExp when tr46 first reads it, and writes every class of more
 * than CLASS_CHUNK ranges as an alternation of classes of at most
 * CLASS_CHUNK ranges each: the same code points (the ranges are sorted
 * and disjoint, so no character can match two alternatives and
 * backtracking does not grow), in linear time (bidiS6: 78M instructions
 * as it was, ~7M split). The classes are parsed here from the regex
 * source, strictly (anything unexpected stops the build), and the result
 * is compared with the original in V8 at every range boundary and at
 * every 61st code point.
 */

/* ---- the chunk's data ------------------------------------------------------------- */

/* The name under which the chunk's code sees its data text. */
export const DATA = "__isolde_data";

/* The data text of a chunk, built up by the modules that use it. */
export class ChunkData {
  constructor() {
    this.parts = [];
    this.length = 0;
  }

  /* Appends text; returns a JS expression that yields it from DATA. The
   * text is ASCII, so the host makes the chunk an 8-bit string, a copy
   * (UTF-8 decoding costs several times more). */
  add(text) {
    if (/[^\x01-\x7f]/.test(text)) fail("chunk data must be ASCII (and hold no NUL)");
    const start = this.length;
    this.parts.push(text);
    this.length += text.length;
    return `${DATA}.slice(${start}, ${this.length})`;
  }

  text() {
    return this.parts.join("");
  }
}

/* Runs a generated CommonJS module against the data, as the chunk will. */
function run(source, data) {
  const mod = { exports: {} };
  new Function("module", "exports", DATA, source)(mod, mod.exports, data.text());
  return mod.exports;
}

/* ---- mappingTable.json ------------------------------------------------------------ */

const LAST_CODE_POINT = 0x10ffff;
/* A record per entry, in base-36 digits: its first code point, its
 * status, and where its mapping's text is in MAPPINGS (offset, and length
 * + 1, or 0 when the entry has no mapping). */
const START_DIGITS = 4; /* 36^4 > 0x10FFFF */
const OFFSET_DIGITS = 3;
const LENGTH_DIGITS = 2;
const RECORD = START_DIGITS + 1 + OFFSET_DIGITS + LENGTH_DIGITS;

/* "ü" -> "fc", "ss" -> "73 73": the data stays ASCII. */
const codePointsHex = (s) => Array.from(s, (c) => c.codePointAt(0).toString(16)).join(" ");

function fail(what) {
  throw new Error(`tr46_compact: ${what}`);
}

const digits = (n, width) => {
  const text = n.toString(36);
  if (text.length > width) fail(`${n} does not fit in ${width} base-36 digits`);
  return text.padStart(width, "0");
};

/* JS source (CommonJS) of a module equivalent to the table; its strings
 * go into data. */
export function mappingTableModule(table, data) {
  let mappings = "";
  const offsets = new Map(); /* mapping -> offset of its text in mappings */
  let records = "";
  let next = 0;
  for (const [i, e] of table.entries()) {
    const range = e[0];
    const [first, last] = Array.isArray(range) ? range : [range, range];
    if (Array.isArray(range) && first >= last) fail(`entry ${i}: range [${first}, ${last}]`);
    if (first !== next) fail(`entry ${i} starts at ${first}, not ${next}: the table is not contiguous`);
    next = last + 1;
    const status = e[1];
    if (!Number.isInteger(status) || status < 0 || status > 9) fail(`entry ${i}: status ${status}`);
    let where = digits(0, OFFSET_DIGITS + LENGTH_DIGITS);
    if (e.length === 3) {
      if (typeof e[2] !== "string") fail(`entry ${i}: mapping ${JSON.stringify(e[2])}`);
      const hex = codePointsHex(e[2]);
      if (!offsets.has(e[2])) {
        offsets.set(e[2], mappings.length);
        mappings += hex;
      }
      where = digits(offsets.get(e[2]), OFFSET_DIGITS) + digits(hex.length + 1, LENGTH_DIGITS);
    } else if (e.length !== 2) {
      fail(`entry ${i} has ${e.length} items`);
    }
    records += digits(first, START_DIGITS) + status + where;
  }
  if (next !== LAST_CODE_POINT + 1) fail(`the table ends at ${next - 1}`);

  const source = `"use strict";
/* Generated by tools/tr46_compact.mjs from tr46/lib/mappingTable.json:
 * the same ${table.length} entries, made one by one as they are first read. */
const COUNT = ${table.length};
/* per entry, in base-36 digits: first code point (${START_DIGITS}), status (1),
 * offset of the mapping in MAPPINGS (${OFFSET_DIGITS}), its length + 1 or 0 for none (${LENGTH_DIGITS}) */
const RECORD = ${RECORD};
const RECORDS = ${data.add(records)};
/* the mappings' code points in hex, joined by " " within a mapping */
const MAPPINGS = ${data.add(mappings)};
const made = new Map(); /* property key -> entry, as first made */

/* Entry i as the JSON has it: [codePoint or [first, last], status, mapping?]. */
function entry(i) {
  const at = i * RECORD;
  const first = parseInt(RECORDS.slice(at, at + ${START_DIGITS}), 36);
  const last = i + 1 < COUNT ? parseInt(RECORDS.slice(at + RECORD, at + RECORD + ${START_DIGITS}), 36) - 1 : ${LAST_CODE_POINT};
  const e = [first === last ? first : [first, last], RECORDS.charCodeAt(at + ${START_DIGITS}) - 48];
  const length = parseInt(RECORDS.slice(at + ${START_DIGITS + 1 + OFFSET_DIGITS}, at + RECORD), 36);
  if (length !== 0) {
    const from = parseInt(RECORDS.slice(at + ${START_DIGITS + 1}, at + ${START_DIGITS + 1 + OFFSET_DIGITS}), 36);
    e.push(mapping(MAPPINGS.slice(from, from + length - 1)));
  }
  return e;
}

/* "fc" -> "ü", "73 73" -> "ss", "" -> "". */
function mapping(hex) {
  return hex === "" ? "" : String.fromCodePoint(...hex.split(" ").map((h) => parseInt(h, 16)));
}

/* The entry index a property key names, or -1. */
function index(key) {
  if (typeof key !== "string") return -1;
  const i = Number(key);
  return Number.isInteger(i) && i >= 0 && i < COUNT && String(i) === key ? i : -1;
}

module.exports = new Proxy([], {
  get(target, key, receiver) {
    let e = made.get(key);
    if (e !== undefined) return e;
    if (key === "length") return COUNT;
    const i = index(key);
    if (i < 0) return Reflect.get(target, key, receiver);
    made.set(key, (e = entry(i)));
    return e;
  },
  has(target, key) {
    return index(key) >= 0 || Reflect.has(target, key);
  },
});
`;
  checkMappingTable(run(source, data), table);
  return source;
}

/* Compares every entry of the module's table with the JSON's. */
function checkMappingTable(got, table) {
  if (got.length !== table.length) fail(`mapping table: length ${got.length}, want ${table.length}`);
  for (let i = 0; i < table.length; i++) {
    if (JSON.stringify(got[i]) !== JSON.stringify(table[i]) || !(i in got)) {
      fail(`mapping table: entry ${i} is ${JSON.stringify(got[i])}, want ${JSON.stringify(table[i])}`);
    }
  }
  if (got[table.length] !== undefined || table.length in got || got["01"] !== undefined) fail("mapping table: keys beyond the entries");
}

/* ---- regexes.js --------------------------------------------------------------------- */

const CLASS_CHUNK = 16;
const SAMPLE_STEP = 61;
const SYNTAX_CHARS = "^$\\.*+?()[]{}|/-";

const hex = (cp) => `\\u{${cp.toString(16).toUpperCase()}}`;

/* The code points of a class body (between "[" and "]") as sorted,
 * disjoint, non-adjacent [first, last] ranges. Only what tr46's generated
 * regexes use is accepted, in u mode: literal code points, \uXXXX (a
 * surrogate pair of them is one code point), \u{X...}, \xXX, \0 and
 * escaped syntax characters, single or as ranges; no negation, no class
 * escapes. */
export function parseClass(body) {
  if (body.startsWith("^")) fail(`negated class [${body.slice(0, 20)}...`);
  let pos = 0;
  const atom = () => {
    if (body[pos] !== "\\") {
      const cp = body.codePointAt(pos);
      pos += cp > 0xffff ? 2 : 1;
      return cp;
    }
    const rest = body.slice(pos);
    let m;
    if ((m = /^\\u\{([0-9A-Fa-f]{1,6})\}/.exec(rest))) {
      pos += m[0].length;
      return parseInt(m[1], 16);
    }
    if ((m = /^\\u([0-9A-Fa-f]{4})(?:\\u([0-9A-Fa-f]{4}))?/.exec(rest))) {
      const hi = parseInt(m[1], 16);
      const lo = m[2] === undefined ? -1 : parseInt(m[2], 16);
      if (hi >= 0xd800 && hi <= 0xdbff && lo >= 0xdc00 && lo <= 0xdfff) {
        pos += m[0].length;
        return 0x10000 + ((hi - 0xd800) << 10) + (lo - 0xdc00);
      }
      pos += 6;
      return hi;
    }
    if ((m = /^\\x([0-9A-Fa-f]{2})/.exec(rest))) {
      pos += m[0].length;
      return parseInt(m[1], 16);
    }
    if (/^\\0(?![0-9])/.test(rest)) {
      pos += 2;
      return 0;
    }
    if (rest.length >= 2 && SYNTAX_CHARS.includes(rest[1])) {
      pos += 2;
      return rest.charCodeAt(1);
    }
    return fail(`unexpected escape ${rest.slice(0, 8)} in a class`);
  };
  const ranges = [];
  while (pos < body.length) {
    const first = atom();
    let last = first;
    if (body[pos] === "-" && pos + 1 < body.length) {
      pos++;
      last = atom();
      if (last < first) fail(`range out of order in a class`);
    }
    ranges.push([first, last]);
  }
  ranges.sort((a, b) => a[0] - b[0]);
  const merged = [];
  for (const r of ranges) {
    const top = merged[merged.length - 1];
    if (top && r[0] <= top[1] + 1) top[1] = Math.max(top[1], r[1]);
    else merged.push([r[0], r[1]]);
  }
  return merged;
}

/* Regex source matching the same single code points as the ranges: a
 * class, or an alternation of classes of at most CLASS_CHUNK ranges. */
function renderClass(ranges) {
  const classes = [];
  for (let i = 0; i < ranges.length; i += CLASS_CHUNK) {
    const part = ranges.slice(i, i + CLASS_CHUNK).map(([a, b]) => (a === b ? hex(a) : `${hex(a)}-${hex(b)}`));
    classes.push(`[${part.join("")}]`);
  }
  return classes.length === 1 ? classes[0] : `(?:${classes.join("|")})`;
}

/* Splits a regex source into text outside classes and class bodies. */
function splitSource(source) {
  const parts = [];
  let text = "";
  for (let i = 0; i < source.length; ) {
    if (source[i] === "\\") {
      text += source.slice(i, i + 2);
      i += 2;
    } else if (source[i] === "[") {
      let j = i + 1;
      while (j < source.length && source[j] !== "]") j += source[j] === "\\" ? 2 : 1;
      if (j >= source.length) fail("unterminated class");
      parts.push({ text });
      parts.push({ body: source.slice(i + 1, j) });
      text = "";
      i = j + 1;
    } else {
      text += source[i++];
    }
  }
  parts.push({ text });
  return parts;
}

/* Points where a class and its rewrite must agree: both ends of every
 * range, the code points just outside them, and every SAMPLE_STEP-th. */
function probePoints(ranges) {
  const points = new Set();
  for (const [a, b] of ranges) for (const p of [a - 1, a, b, b + 1]) if (p >= 0 && p <= LAST_CODE_POINT) points.add(p);
  for (let p = 0; p <= LAST_CODE_POINT; p += SAMPLE_STEP) points.add(p);
  return [...points];
}

function checkClass(name, body, ranges, rewritten) {
  const original = new RegExp(`^[${body}]$`, "u");
  const rewrite = new RegExp(`^${rewritten}$`, "u");
  const inRanges = (p) => ranges.some(([a, b]) => p >= a && p <= b);
  for (const p of probePoints(ranges)) {
    const s = String.fromCodePoint(p);
    const want = original.test(s);
    if (inRanges(p) !== want || rewrite.test(s) !== want) fail(`${name}: U+${p.toString(16)} parsed or rewritten wrongly`);
  }
}

/* Both regexes must agree on short strings made of boundary code points. */
function checkRegex(name, original, rewritten, points) {
  let seed = 12345;
  const random = (n) => {
    seed = (seed * 1103515245 + 12345) >>> 0;
    return seed % n;
  };
  for (let k = 0; k < 3000; k++) {
    let s = "";
    for (let n = random(6); n > 0; n--) s += String.fromCodePoint(points[random(points.length)]);
    if (original.test(s) !== rewritten.test(s)) fail(`${name}: the rewrite differs on ${JSON.stringify(s)}`);
  }
}

/* JS source (CommonJS) of a module equivalent to regexes.js's exports;
 * the regex sources go into data. */
export function regexesModule(regexes, data) {
  const entries = [];
  for (const [name, re] of Object.entries(regexes)) {
    if (!(re instanceof RegExp)) fail(`${name} is not a RegExp`);
    if (/[gy]/.test(re.flags)) fail(`${name}: flags ${re.flags} (lastIndex state)`);
    if (!re.flags.includes("u")) fail(`${name}: not a Unicode regex`);
    let source = "";
    const points = [0x200c, 0x61];
    for (const part of splitSource(re.source)) {
      if (part.body === undefined) {
        source += part.text;
        continue;
      }
      const ranges = parseClass(part.body);
      const rewritten = renderClass(ranges);
      checkClass(name, part.body, ranges, rewritten);
      for (const [a, b] of ranges) points.push(a, b, Math.min(b + 1, LAST_CODE_POINT), Math.max(a - 1, 0));
      source += rewritten;
    }
    const rewritten = new RegExp(source, re.flags);
    checkRegex(name, re, rewritten, points);
    entries.push(`  ${name}: [${data.add(source)}, ${JSON.stringify(re.flags)}],`);
  }
  const source = `"use strict";
/* Generated by tools/tr46_compact.mjs from tr46/lib/regexes.js: the same
 * regexes, each compiled when first read, with large classes split. */
const SOURCES = {
${entries.join("\n")}
};
const regexes = {};
for (const [name, [source, flags]] of Object.entries(SOURCES)) {
  Object.defineProperty(regexes, name, {
    get() {
      const re = new RegExp(source, flags);
      Object.defineProperty(regexes, name, { value: re, writable: true, enumerable: true, configurable: true });
      return re;
    },
    enumerable: true,
    configurable: true,
  });
}
module.exports = regexes;
`;
  const got = run(source, data);
  for (const [name, re] of Object.entries(regexes)) {
    if (Object.getOwnPropertyDescriptor(got, name).get === undefined) fail(`${name} is compiled before it is read`);
    if (!(got[name] instanceof RegExp) || got[name].flags !== re.flags) fail(`${name} does not load`);
  }
  if (Object.keys(got).join() !== Object.keys(regexes).join()) fail("the regexes' names differ");
  return source;
}
