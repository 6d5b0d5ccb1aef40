/*
 * url_compat.js - brings whatwg-url 15.1.0 (pinned) in line with the URL
 * Standard as the web-platform-tests data in /work/shared/wpt has it:
 * U+005E (^) left the path percent-encode set again (it stays in the
 * userinfo set), and whatwg-url 15.1.0 still encodes it in paths.
 *
 * url-state-machine.js copies isPathPercentEncode out of
 * percent-encoding.js's exports when it first loads, so the replacement
 * has to be in place before that: url.js imports this module before
 * whatwg-url, and esbuild initializes whatwg-url's CommonJS modules
 * lazily, on first import, in that order. (percent-encoding.js's own
 * isUserinfoPercentEncode keeps calling the original, so userinfo still
 * encodes ^.) Drop this file once whatwg-url ships the change.
 */
import percentEncoding from "whatwg-url/lib/percent-encoding.js";

const QUESTION = 0x3f;
const BACKTICK = 0x60;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;

const isQueryPercentEncode = percentEncoding.isQueryPercentEncode;

/* https://url.spec.whatwg.org/#path-percent-encode-set */
percentEncoding.isPathPercentEncode = function isPathPercentEncode(c) {
  return isQueryPercentEncode(c) || c === QUESTION || c === BACKTICK || c === OPEN_BRACE || c === CLOSE_BRACE;
};
