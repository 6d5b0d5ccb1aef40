/*
 * url.js - URL and URLSearchParams from whatwg-url (the WHATWG URL
 * Standard's reference implementation, pinned in package.json), which
 * passes the web-platform-tests URL data (tests/runtime/js/wpt_url.js).
 *
 * whatwg-url's encoding helpers construct a TextEncoder and TextDecoder
 * when its CommonJS modules first run, which esbuild places here, after
 * encoding.js (imported earlier by index.js) has installed the globals.
 *
 * Both classes format themselves for console.log as Node does.
 */
import "./url_compat.js"; // before whatwg-url: see there
import { URL, URLSearchParams } from "whatwg-url";
import utils from "whatwg-url/lib/utils.js";
import urlImpl from "whatwg-url/lib/URL-impl.js";
import searchParamsImpl from "whatwg-url/lib/URLSearchParams-impl.js";
import { defineGlobal } from "./domexception.js";
import { customInspect } from "./console.js";
import { basicURLParse, serializeURL } from "./url_fast.js";

Object.defineProperty(URL.prototype, customInspect, {
  value: function inspectURL(depth, options, inspect) {
    const obj = {};
    for (const key of ["href", "origin", "protocol", "username", "password", "host", "hostname", "port", "pathname", "search", "searchParams", "hash"]) {
      obj[key] = this[key];
    }
    if (depth !== null && depth < 0) return "[URL]";
    return `URL ${inspect(obj, options)}`;
  },
  configurable: true,
  writable: true,
});

Object.defineProperty(URLSearchParams.prototype, customInspect, {
  value: function inspectURLSearchParams(depth, options, inspect) {
    if (depth !== null && depth < 0) return "[URLSearchParams]";
    const parts = [];
    for (const [k, v] of this) parts.push(`${inspect(k)} => ${inspect(v)}`);
    return parts.length === 0 ? "URLSearchParams {}" : `URLSearchParams { ${parts.join(", ")} }`;
  },
  configurable: true,
  writable: true,
});

/*
 * Shortcuts for the members nearly every worker calls (url.pathname,
 * url.hostname, params.get(name)): whatwg-url's generated bindings check
 * `this`, convert each argument with an options object, gather the
 * arguments in an array and spread them into the implementation, which
 * costs the engine ~20-30k instructions a call. Each shortcut takes only a
 * receiver that is a real instance (the implementation as an own property,
 * as the binding's own check), a string argument and the common record
 * shape, and hands everything else (errors included) to the original,
 * which therefore stays the one place that defines the behaviour. They
 * keep the originals' names and lengths.
 */
const implSymbol = utils.implSymbol;
const hasOwn = Object.hasOwn;

/* this's implementation when it is an instance of Impl, else undefined. */
function implOf(self, Impl) {
  if (self === null || typeof self !== "object" || !hasOwn(self, implSymbol)) return undefined;
  const impl = self[implSymbol];
  return impl instanceof Impl.implementation ? impl : undefined;
}

function replaceGetter(proto, name, fast) {
  const desc = Object.getOwnPropertyDescriptor(proto, name);
  const original = desc.get;
  desc.get = fast(original);
  Object.defineProperty(proto, name, desc);
}

replaceGetter(URL.prototype, "pathname", (original) => {
  return Object.getOwnPropertyDescriptor(
    {
      get pathname() {
        const impl = implOf(this, urlImpl);
        if (impl !== undefined) {
          /* a path of one segment (not an opaque path: a string) */
          const path = impl._url.path;
          if (typeof path !== "string" && path.length === 1) return "/" + path[0];
        }
        return original.call(this);
      },
    },
    "pathname",
  ).get;
});

replaceGetter(URL.prototype, "hostname", (original) => {
  return Object.getOwnPropertyDescriptor(
    {
      get hostname() {
        const impl = implOf(this, urlImpl);
        if (impl !== undefined) {
          /* a domain serializes as itself (an IPv4 host is a number, IPv6 an array) */
          const host = impl._url.host;
          if (typeof host === "string") return host;
        }
        return original.call(this);
      },
    },
    "hostname",
  ).get;
});

{
  const original = URLSearchParams.prototype.get;
  const fast = {
    get(name) {
      const impl = typeof name === "string" ? implOf(this, searchParamsImpl) : undefined;
      if (impl === undefined) return original.apply(this, arguments);
      name = name.toWellFormed();
      const list = impl._list;
      for (let i = 0; i < list.length; i++) if (list[i][0] === name) return list[i][1];
      return null;
    },
  }.get;
  const desc = Object.getOwnPropertyDescriptor(URLSearchParams.prototype, "get");
  desc.value = fast;
  Object.defineProperty(URLSearchParams.prototype, "get", desc);
}

/*
 * String(input) as an absolute URL, serialized: what `new URL(input).href`
 * gives (the same parser: input as a USVString, no base), without making
 * the URL object, its search params and the binding's argument handling
 * (~100k instructions in this engine). For Request, Response.redirect and
 * fetch(), which keep only the href. The last input is remembered (a
 * worker builds the same subrequest URL again and again). Throws
 * TypeError "Invalid URL: <input>".
 */
let lastHrefInput = null;
let lastHref = null;
export function urlHref(input) {
  let s = String(input);
  if (s === lastHrefInput) return lastHref;
  if (!s.isWellFormed()) s = s.toWellFormed();
  const rec = basicURLParse(s);
  if (rec === null) throw new TypeError(`Invalid URL: ${String(input)}`);
  const href = serializeURL(rec);
  lastHrefInput = s;
  lastHref = href;
  return href;
}

export { URL, URLSearchParams };

// esbuild may rename the classes in the bundle (URL2); give them back their names.
Object.defineProperty(URL, "name", { value: "URL", configurable: true });
Object.defineProperty(URLSearchParams, "name", { value: "URLSearchParams", configurable: true });
defineGlobal("URL", URL);
defineGlobal("URLSearchParams", URLSearchParams);
