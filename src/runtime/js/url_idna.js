/*
 * url_idna.js - what whatwg-url's url-state-machine.js gets for
 * require("tr46") (tools/bundle_prelude.mjs points it here): the host
 * parser's domain to ASCII, with tr46 itself loaded only when a host needs
 * it.
 *
 * Why: tr46 (UTS #46 IDNA processing) carries a 140 KB mapping table and
 * 72 KB of Unicode regular expressions. In the prelude they were two
 * thirds of its build CPU (~50 ms) and 2.3 MB of the 5.3 MB base
 * snapshot, and ran for every host, although only a host that is not
 * plain ASCII, or has a punycode ("xn--") label, needs them.
 *
 * 1. The URL Standard's own shortcut (domain to ASCII, step 1 note): "If
 *    beStrict is false, domain is an ASCII string, and strictly splitting
 *    domain on U+002E (.) does not produce any item that starts with an
 *    ASCII case-insensitive match for "xn--", this step is equivalent to
 *    ASCII lowercasing domain." So every such host, whichever parser path
 *    it comes by (the full state machine, setters, URL.canParse...), is
 *    lowercased here and never reaches tr46. (For ASCII input and the
 *    non-strict options, tr46 maps A-Z to a-z, leaves every other ASCII
 *    code point as it is and validates nothing that can fail; whatwg-url
 *    still checks the result for forbidden code points, as before.)
 *
 * 2. Everything else goes to tr46, which is a separate chunk
 *    (src/runtime/js/lazy_tr46.js, built as build/gen/lazy_tr46.chunk and
 *    embedded in the binary, not in the prelude): the first such host in
 *    an isolate asks the host for the chunk (host.lazySource, in
 *    src/runtime/host_lazy.c), evaluates its code and keeps the module.
 *    A chunk is code, a marker line and data text: the code is one
 *    expression, a function that takes the data text and returns the
 *    module's exports, and defines no global; the data (tr46's tables,
 *    re-encoded by tools/tr46_compact.mjs) never goes through the JS
 *    parser. The first such host costs ~1.5 ms of CPU more than later
 *    ones (~17M instructions: the load and the first regex compiles).
 *
 * Tenants and eval: this prelude leaves eval and Function to tenants (it
 * neither removes nor wraps them). The loader adds no way to evaluate a
 * string: it evaluates only the chunk the host embeds, by a fixed name,
 * with the global eval taken here, while the prelude runs and before any
 * tenant code (so a tenant that replaces globalThis.eval neither sees nor
 * changes what is evaluated, and the loader keeps working if the global
 * eval is later deleted for tenants). The host object stays in this closure;
 * the chunk never sees it. A failed load (the tenant's CPU or memory limit
 * hit midway) leaves nothing behind and is retried on the next such host.
 */
import host from "./host.js";

/* Indirect eval, and the string methods that cut the chunk, taken before
 * tenant code runs (a tenant that patches String.prototype cannot change
 * the code handed to eval): global scope, no access to this module's
 * variables. */
const evaluate = globalThis.eval;
const indexOf = Function.prototype.call.bind(String.prototype.indexOf);
const slice = Function.prototype.call.bind(String.prototype.slice);

/* Between a chunk's code and its data (tools/bundle_prelude.mjs). */
const DATA_MARKER = "\n//@isolde-chunk-data\n";

/* The exports of the chunk `name`, evaluated now. */
function loadChunk(name) {
  if (typeof host.lazySource !== "function") throw new Error("prelude: the host has no lazySource (host_lazy.c)");
  const chunk = host.lazySource(name);
  const cut = typeof chunk === "string" ? indexOf(chunk, DATA_MARKER) : -1;
  if (cut < 0) throw new Error(`prelude: the host has no chunk ${name}`);
  const make = evaluate(slice(chunk, 0, cut));
  return make(slice(chunk, cut + DATA_MARKER.length));
}

let tr46 = null;

/* tr46's exports ({ toASCII, toUnicode }), loaded on first call. */
function loadTr46() {
  if (tr46 === null) {
    const mod = loadChunk("tr46");
    if (mod === null || typeof mod !== "object" || typeof mod.toASCII !== "function") {
      throw new Error("prelude: the tr46 chunk did not yield tr46");
    }
    tr46 = mod;
  }
  return tr46;
}

/* Any code point that is not ASCII, or a label starting with "xn--" in any case. */
const NOT_ASCII = /[^\x00-\x7F]/;
const PUNYCODE_LABEL = /(?:^|\.)xn--/i;

/* tr46.toASCII(domainName, options), taking the shortcut of point 1 when
 * beStrict is false (whatwg-url passes checkHyphens, useSTD3ASCIIRules and
 * verifyDNSLength all equal to beStrict). */
export function toASCII(domainName, options) {
  if (
    typeof domainName === "string" &&
    options !== undefined &&
    !options.checkHyphens &&
    !options.useSTD3ASCIIRules &&
    !options.verifyDNSLength &&
    !NOT_ASCII.test(domainName) &&
    !PUNYCODE_LABEL.test(domainName)
  ) {
    return domainName.toLowerCase();
  }
  return loadTr46().toASCII(domainName, options);
}

export function toUnicode(domainName, options) {
  return loadTr46().toUnicode(domainName, options);
}

/* For tests/runtime/js/webapi_url_idna.js only: whether this isolate has
 * loaded tr46, forgetting it (so that the next host loads the chunk
 * again), and the shortcut beside tr46 itself (which tr46() loads). A
 * symbol-keyed, non-enumerable global adds no name to a tenant's scope;
 * the functions only map strings or cost the caller CPU time, so reaching
 * them grants nothing. */
Object.defineProperty(globalThis, Symbol("isolde.idna"), {
  value: Object.freeze({
    loaded: () => tr46 !== null,
    unload: () => {
      tr46 = null;
    },
    toASCII,
    tr46: loadTr46,
  }),
  enumerable: false,
  writable: false,
  configurable: false,
});
