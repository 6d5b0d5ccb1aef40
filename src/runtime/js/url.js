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
import { defineGlobal } from "./domexception.js";
import { customInspect } from "./console.js";

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

export { URL, URLSearchParams };

// esbuild may rename the classes in the bundle (URL2); give them back their names.
Object.defineProperty(URL, "name", { value: "URL", configurable: true });
Object.defineProperty(URLSearchParams, "name", { value: "URLSearchParams", configurable: true });
defineGlobal("URL", URL);
defineGlobal("URLSearchParams", URLSearchParams);
