/*
 * url_fast.js - whatwg-url's url-state-machine.js with a fast path in front
 * of basicURLParse. tools/bundle_prelude.mjs points whatwg-url's own
 * `require("./url-state-machine")` (URL-impl.js, index.js) here, so URL,
 * URL.parse, URL.canParse, the href setter and Request all go through it;
 * node_modules stays untouched.
 *
 * Why: the state machine is correct but slow under QuickJS. It calls
 * this["parse " + state] for every code point and percent-encodes every
 * path and fragment character with TextEncoder.encode of a one-character
 * string (a Uint8Array each), and the host went through tr46's IDNA
 * processing (plain ASCII hosts no longer do: url_idna.js): ~150 us for
 * "http://localhost/", ~2.5 us per character after that, and every
 * request parses its URL at least twice.
 *
 * What is done here, in order of the savings:
 *
 * 1. fastParse builds the URL record directly for the inputs nearly every
 *    worker sees: an absolute http/https/ws/wss/ftp URL with a plain ASCII
 *    host, or a path ("/x?y") against such a base. It accepts only input
 *    on which the state machine provably takes its simplest route, and
 *    returns undefined (use the full parser) for anything else:
 *    - every character is printable ASCII (0x21-0x7E): nothing to trim,
 *      no tab/newline to strip, nothing to UTF-8 encode;
 *    - "scheme://" with a special scheme other than file (file hosts and
 *      drive letters have their own states), and no backslash before the
 *      query (special URLs treat it as "/");
 *    - no userinfo; a host of [A-Za-z0-9-] labels joined by single dots.
 *      For such a host tr46 only lowercases, unless a label starts with
 *      "xn--" (punycode: refused here). A host whose last label starts
 *      with a digit may be an IPv4 address in one of its many spellings;
 *      only the canonical a.b.c.d (each 0-255, no leading zero) is taken,
 *      as the number the parser stores;
 *    - a port of digits only, at most 65535; the scheme's default port
 *      becomes null, leading zeros are dropped (it is a number);
 *    - path, query and fragment characters that are not in the path,
 *      special-query and fragment percent-encode sets (so the record holds
 *      them verbatim; "^" is refused in paths because url_compat.js
 *      changes whether it is encoded there), and no "." or ".." segment in
 *      any spelling ("%2e", ".%2E", ...), which would pop segments;
 *    - an empty path is [""], as for every special URL.
 *    The differential test (tests/runtime/js/url_fast.js) checks every
 *    record the fast path makes against the state machine's.
 *
 * 2. The last input parsed without a base is kept with (a copy of) its
 *    record, so parsing it again is a copy: a worker's new URL(request.url)
 *    when its requests go to the same URL.
 *    A bounded cache for the rest: the last CACHE_SIZE inputs parsed
 *    without a base by the full parser (e.g. "http://[::1]:8787/x", a
 *    request URL and then the worker's new URL(request.url)), mapped to
 *    their records. Records are mutable (URL setters change them in
 *    place), so the cache keeps its own copy and hands out copies. It
 *    lives in the isolate, so tenants never share it.
 *
 * 3. The full parser percent-encodes ASCII without TextEncoder: the
 *    encoders in percent-encoding.js are replaced with ones that encode
 *    ASCII directly and hand anything else to the originals. The state
 *    machine copies them out of percent-encoding.js's exports when it
 *    loads, so they are replaced before it is required below, which is
 *    why that is a require() after the patch and not an import (imports
 *    run before the module's body). urlencoded.js, which copies
 *    utf8PercentEncodeString for URLSearchParams' serializer, likewise:
 *    this module is the first to load either (whatwg-url's URL.js loads
 *    URL-impl.js, which loads this, before URLSearchParams.js).
 *
 * 4. Every new URL also parses its query for searchParams, which
 *    whatwg-url does on a UTF-8 copy of the string: TextEncoder, a
 *    Uint8Array per name and value, TextDecoder for each. A query of
 *    ASCII without "%" decodes to itself, so it is split as a string;
 *    anything else goes to the original. (URL-impl.js and
 *    URLSearchParams-impl.js look parseUrlencodedString up on
 *    urlencoded.js's exports at each call, so replacing it there is
 *    enough.)
 */
import percentEncoding from "whatwg-url/lib/percent-encoding.js";

/* ---- percent-encoding of ASCII without TextEncoder ------------------------------ */

const PERCENT = [];
for (let c = 0; c < 0x80; c++) PERCENT.push(`%${c.toString(16).toUpperCase().padStart(2, "0")}`);

const encodeCodePointUTF8 = percentEncoding.utf8PercentEncodeCodePoint;
const encodeStringUTF8 = percentEncoding.utf8PercentEncodeString;

/* An ASCII code point is its own single UTF-8 byte. */
percentEncoding.utf8PercentEncodeCodePoint = function utf8PercentEncodeCodePoint(codePoint, percentEncodePredicate) {
  if (codePoint < 0x80) return percentEncodePredicate(codePoint) ? PERCENT[codePoint] : String.fromCharCode(codePoint);
  return encodeCodePointUTF8(codePoint, percentEncodePredicate);
};

/* The ASCII prefix directly; from the first non-ASCII unit on (always the
 * start of a code point, as everything before it is ASCII) the original. */
percentEncoding.utf8PercentEncodeString = function utf8PercentEncodeString(input, percentEncodePredicate, spaceAsPlus = false) {
  let output = "";
  for (let i = 0; i < input.length; i++) {
    const c = input.charCodeAt(i);
    if (c >= 0x80) return output + encodeStringUTF8(input.slice(i), percentEncodePredicate, spaceAsPlus);
    if (spaceAsPlus && c === 0x20) output += "+";
    else output += percentEncodePredicate(c) ? PERCENT[c] : input[i];
  }
  return output;
};

/* After the patch, so both copy the fast encoders (see point 3 above);
 * esbuild bundles these require()s like whatwg-url's own. */
// eslint-disable-next-line no-undef
const usm = require("whatwg-url/lib/url-state-machine.js");
// eslint-disable-next-line no-undef
const urlencoded = require("whatwg-url/lib/urlencoded.js");

/* ---- application/x-www-form-urlencoded parsing of ASCII ------------------------- */

const parseUrlencodedStringUTF8 = urlencoded.parseUrlencodedString;

/* The list of [name, value] the original returns: split on "&", empty
 * pieces skipped, name and value split at the first "=", "+" read as a
 * space. Only for ASCII without "%", where percent-decoding and UTF-8
 * decoding change nothing. */
function parseUrlencodedString(input) {
  for (let i = 0; i < input.length; i++) {
    const c = input.charCodeAt(i);
    if (c >= 0x80 || c === 0x25) return parseUrlencodedStringUTF8(input);
  }
  const output = [];
  if (input === "") return output;
  const plus = input.includes("+");
  for (const piece of input.split("&")) {
    if (piece === "") continue;
    const eq = piece.indexOf("=");
    let name = eq >= 0 ? piece.slice(0, eq) : piece;
    let value = eq >= 0 ? piece.slice(eq + 1) : "";
    if (plus) {
      name = name.replaceAll("+", " ");
      value = value.replaceAll("+", " ");
    }
    output.push([name, value]);
  }
  return output;
}
urlencoded.parseUrlencodedString = parseUrlencodedString;

/* ---- the fast path ---------------------------------------------------------------- */

/* The shapes the fast path takes, as regular expressions: QuickJS runs
 * them in C, where a character costs a few nanoseconds, against ~0.1 us
 * per character for a loop in interpreted JS.
 *
 * PATH_CHARS, QUERY_CHARS and FRAGMENT_CHARS are printable ASCII less the
 * characters of the path, special-query and fragment percent-encode sets
 * (and less "\", which a special URL reads as "/", and "^", which
 * url_compat.js moves out of the path set). PATH_CHARS includes "/", so
 * a path matches as one string. */
const PATH_CHARS = String.raw`[!$-;=@-\[\]_a-z|~]`; /* not " # < > ? \ ^ ` { } */
const QUERY_CHARS = String.raw`[!$-&(-;=?-~]`; /* not " # ' < > */
const FRAGMENT_CHARS = String.raw`[!#-;=?-_a-~]`; /* not " < > ` */
const PATH_QUERY_FRAGMENT = String.raw`(/${PATH_CHARS}*)?(?:\?(${QUERY_CHARS}*))?(?:#(${FRAGMENT_CHARS}*))?$`;
/* scheme, host (labels of letters, digits and "-", none empty), port, path, query, fragment */
const ABSOLUTE = new RegExp(String.raw`^([A-Za-z]+)://([A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*)(?::([0-9]*))?` + PATH_QUERY_FRAGMENT);
/* path (at least the "/"), query, fragment */
const RELATIVE = new RegExp("^(?=/)" + PATH_QUERY_FRAGMENT);
/* "." or ".." as a segment, in every spelling of isSingleDot and isDoubleDot */
const DOT_SEGMENT = /(?:^|\/)(?:\.|%2e){1,2}(?:\/|$)/i;
/* a label tr46 would decode as punycode */
const PUNYCODE_LABEL = /(?:^|\.)xn--/i;
/* canonical dotted-decimal IPv4: each part 0-255 without leading zeros */
const IPV4 = /^(?:(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])\.){3}(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])$/;

const SLASH = 0x2f;

/* The default port of the special schemes the fast path takes, else undefined. */
function fastDefaultPort(scheme) {
  switch (scheme) {
    case "http":
    case "ws":
      return 80;
    case "https":
    case "wss":
      return 443;
    case "ftp":
      return 21;
    default:
      return undefined;
  }
}

/* Sets url's path, query and fragment from the captures of
 * PATH_QUERY_FRAGMENT starting at m[i]; false where the full parser is
 * needed. Without a path the path state still pushes one empty segment. */
function fastPathQueryFragment(m, i, url) {
  const path = m[i];
  if (path === undefined) {
    url.path = [""];
  } else {
    if (DOT_SEGMENT.test(path)) return false;
    url.path = path.length === 1 ? [""] : path.slice(1).split("/");
  }
  if (m[i + 1] !== undefined) url.query = m[i + 1];
  if (m[i + 2] !== undefined) url.fragment = m[i + 2];
  return true;
}

/* An absolute URL with a plain host (see the top of the file). */
function fastAbsolute(input) {
  const m = ABSOLUTE.exec(input);
  if (m === null) return undefined;
  const scheme = m[1].toLowerCase();
  const defaultPort = fastDefaultPort(scheme);
  if (defaultPort === undefined) return undefined;

  let host = m[2].toLowerCase();
  if (PUNYCODE_LABEL.test(host)) return undefined;
  /* a last label starting with a digit may make the host an IPv4 address */
  const last = host.charCodeAt(host.lastIndexOf(".") + 1);
  if (last >= 0x30 && last <= 0x39) {
    if (!IPV4.test(host)) return undefined;
    let n = 0;
    for (const part of host.split(".")) n = n * 256 + Number(part);
    host = n;
  }

  let port = null;
  if (m[3] !== undefined && m[3] !== "") {
    const n = parseInt(m[3], 10);
    if (n > 65535) return undefined;
    if (n !== defaultPort) port = n;
  }

  const url = { scheme, username: "", password: "", host, port, path: null, query: null, fragment: null };
  return fastPathQueryFragment(m, 4, url) ? url : undefined;
}

/* "/path?query#fragment" against a base with a special scheme (not file). */
function fastRelative(input, base) {
  if (input.charCodeAt(1) === SLASH) return undefined; /* "//host": scheme-relative */
  if (fastDefaultPort(base.scheme) === undefined || !Array.isArray(base.path)) return undefined;
  const m = RELATIVE.exec(input);
  if (m === null) return undefined;
  /* the fields the "relative slash" state copies from the base (the host
   * by reference, as it does) */
  const url = {
    scheme: base.scheme,
    username: base.username,
    password: base.password,
    host: base.host,
    port: base.port,
    path: null,
    query: null,
    fragment: null,
  };
  return fastPathQueryFragment(m, 1, url) ? url : undefined;
}

/* The record basicURLParse(input, { baseURL: base }) returns, or undefined
 * when the input needs the full parser. */
function fastParse(input, base) {
  if (input.charCodeAt(0) === SLASH) return base !== null ? fastRelative(input, base) : undefined;
  return fastAbsolute(input);
}

/* ---- the cache ------------------------------------------------------------------- */

const CACHE_SIZE = 64;
/* Longer inputs (data: URLs, say) are not worth the memory: with this
 * bound the cache holds at most ~64 * 2 KB of strings per isolate. */
const CACHE_MAX_INPUT = 1024;
/* input -> record or null (failure); iteration order is least recent first */
const cache = new Map();

function copyRecord(url) {
  if (url === null) return null;
  return {
    scheme: url.scheme,
    username: url.username,
    password: url.password,
    host: Array.isArray(url.host) ? url.host.slice() : url.host,
    port: url.port,
    path: Array.isArray(url.path) ? url.path.slice() : url.path,
    query: url.query,
    fragment: url.fragment,
  };
}

function cachedParse(input) {
  const hit = cache.get(input);
  if (hit !== undefined) {
    cache.delete(input);
    cache.set(input, hit);
    return copyRecord(hit);
  }
  const url = usm.basicURLParse(input);
  cache.set(input, copyRecord(url));
  if (cache.size > CACHE_SIZE) cache.delete(cache.keys().next().value);
  return url;
}

/* ---- the wrapped module ---------------------------------------------------------- */

/* Only a plain parse (no state override: the setters pass the URL to
 * change and a state) takes the fast path or the cache; an encoding
 * override could only change non-ASCII queries, but is left to the full
 * parser all the same. */
function basicURLParse(input, options) {
  if (typeof input === "string" && (options === undefined || (!options.url && !options.stateOverride && !options.encodingOverride))) {
    const base = (options !== undefined && options.baseURL) || null;
    /* the input parsed last without a base (a worker's new URL(request.url)
     * for each request to the same URL), as a copy */
    if (base === null && input === lastInput) return copyRecord(lastRecord);
    const url = fastParse(input, base);
    if (url !== undefined) {
      if (base === null) remember(input, url);
      return url;
    }
    if (base === null && input.length <= CACHE_MAX_INPUT) return remember(input, cachedParse(input));
  }
  return usm.basicURLParse(input, options);
}

/* The last input parsed without a base, and a copy of its record (null:
 * not a URL). Like the cache, per isolate, and handed out only as copies. */
let lastInput = null;
let lastRecord = null;
function remember(input, url) {
  if (input.length <= CACHE_MAX_INPUT) {
    lastInput = input;
    lastRecord = copyRecord(url);
  }
  return url;
}

/* As the original, but through the basicURLParse above. */
function parseURL(input, options) {
  if (options === undefined) options = {};
  return basicURLParse(input, { baseURL: options.baseURL, encodingOverride: options.encodingOverride });
}

export const {
  serializeURL,
  serializePath,
  serializeURLOrigin,
  setTheUsername,
  setThePassword,
  serializeHost,
  cannotHaveAUsernamePasswordPort,
  hasAnOpaquePath,
  serializeInteger,
} = usm;
export { basicURLParse, parseURL };

/* For tests/runtime/js/url_fast.js only: the fast path and the full parser
 * side by side. A symbol-keyed, non-enumerable global adds no name to a
 * tenant's scope; the functions only parse strings, so reaching it grants
 * nothing. */
Object.defineProperty(globalThis, Symbol("isolde.urlFast"), {
  value: Object.freeze({
    fast: (input, base) => fastParse(input, base === undefined ? null : base),
    full: (input, options) => usm.basicURLParse(input, options),
    urlencoded: parseUrlencodedString,
    urlencodedFull: parseUrlencodedStringUTF8,
    encode: { codePoint: percentEncoding.utf8PercentEncodeCodePoint, string: percentEncoding.utf8PercentEncodeString },
    encodeFull: { codePoint: encodeCodePointUTF8, string: encodeStringUTF8 },
    encodeSets: Object.keys(percentEncoding)
      .filter((k) => /^is.*PercentEncode$/.test(k))
      .map((k) => percentEncoding[k]),
    parse: basicURLParse,
  }),
  enumerable: false,
  writable: false,
  configurable: false,
});
