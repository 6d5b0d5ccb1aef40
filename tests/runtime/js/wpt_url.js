/*
 * wpt_url.js - the WHATWG URL conformance data of web-platform-tests
 * (urltestdata.json and setters_tests.json) against the prelude's URL.
 * tests/runtime/test_webapi.c prepends the two files' text as
 *   const URL_TEST_DATA = <urltestdata.json>;
 *   const SETTERS_TEST_DATA = <setters_tests.json>;
 * (JSON is a JavaScript literal) and runs the result with `isolde run`.
 * It prints the pass counts and "ok N" when every case passes, or lists
 * the failing cases and throws (non-zero exit).
 */
const failures = [];
let checks = 0;

function same(got, want, what) {
  checks++;
  if (got !== want) failures.push(`${what}: got ${JSON.stringify(got)}, want ${JSON.stringify(want)}`);
  return got === want;
}

const FIELDS = ["href", "protocol", "username", "password", "host", "hostname", "port", "pathname", "search", "hash", "origin"];

let parsingCases = 0;
let parsingPassed = 0;
for (const t of URL_TEST_DATA) {
  if (typeof t === "string") continue;
  parsingCases++;
  const label = `parse ${JSON.stringify(t.input)} against ${JSON.stringify(t.base)}`;
  const args = t.base === null ? [t.input] : [t.input, t.base];
  const before = failures.length;
  let url = null;
  let error = null;
  try {
    url = new URL(...args);
  } catch (e) {
    error = e;
  }
  if (t.failure) {
    same(error instanceof TypeError, true, `${label} throws TypeError`);
    same(URL.canParse(...args), false, `${label} canParse`);
    same(URL.parse(...args), null, `${label} URL.parse`);
  } else if (!same(error, null, `${label} succeeds`)) {
    // nothing more to compare
  } else {
    for (const f of FIELDS) if (f in t) same(url[f], t[f], `${label} ${f}`);
    if ("searchParams" in t) same(url.searchParams.toString(), t.searchParams, `${label} searchParams`);
    same(URL.canParse(...args), true, `${label} canParse`);
    same(URL.parse(...args)?.href, t.href, `${label} URL.parse`);
  }
  if (failures.length === before) parsingPassed++;
}
console.log(`urltestdata.json: ${parsingPassed}/${parsingCases} cases passed`);

let setterCases = 0;
let settersPassed = 0;
for (const [attr, cases] of Object.entries(SETTERS_TEST_DATA)) {
  if (attr === "comment") continue;
  for (const t of cases) {
    setterCases++;
    const label = `set ${attr} of ${JSON.stringify(t.href)} to ${JSON.stringify(t.new_value)}`;
    const before = failures.length;
    try {
      const url = new URL(t.href);
      url[attr] = t.new_value;
      for (const [k, v] of Object.entries(t.expected)) same(url[k], v, `${label}: ${k}`);
    } catch (e) {
      same(String(e), "no exception", label);
    }
    if (failures.length === before) settersPassed++;
  }
}
console.log(`setters_tests.json: ${settersPassed}/${setterCases} cases passed`);

for (const f of failures.slice(0, 50)) console.log(`FAIL ${f}`);
if (failures.length > 0) throw new Error(`FAIL: ${failures.length} of ${checks} URL checks failed`);
if (parsingCases < 600 || setterCases < 180) throw new Error("FAIL: the WPT URL data looks truncated");
console.log(`ok ${checks}`);
