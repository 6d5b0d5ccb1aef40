/*
 * lazy_tr46.js - the entry of the tr46 chunk: not part of the prelude.
 * tools/bundle_prelude.mjs bundles it on its own into
 * build/gen/lazy_tr46.js, one expression whose value is this module's
 * exports, with tr46's two data files re-encoded so that they cost little
 * to load (tools/tr46_compact.mjs); the binary embeds it and url_idna.js
 * evaluates it in an isolate the first time a host needs IDNA processing.
 */
export { toASCII, toUnicode } from "tr46";
