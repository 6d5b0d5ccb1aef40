/*
 * lib/assert.js - the assertion helpers of the JS test files in
 * tests/runtime/js (webapi_*.js, fetch_*.js), which the C tests run through
 * `isolde run`.
 *
 * The contract with the C side (tests/runtime/test_webapi.c and
 * test_fetch_api.c): every passing check prints "ok K - what" (K counts
 * from 1), group() prints "NAME: K checks" after its checks, done() prints
 * the exact line "ok N" where N is the number of checks that ran, and the
 * first failing check throws an Error "FAIL: what", which leaves the module
 * uncaught and makes `isolde run` exit non-zero. The C tests compare N with
 * the count they expect, so a check that silently stops running (an early
 * return, a promise that never settles) fails too. Every helper below counts
 * exactly one check per call.
 */

let count = 0;
/* Taken now: webapi_globals.js overwrites globalThis.console for a moment. */
const print = console.log;

/* A value for a failure message: strings quoted, the rest as String(). */
export const show = (v) => (typeof v === "string" ? JSON.stringify(v) : String(v));

export function check(cond, what) {
  if (!cond) throw new Error(`FAIL: ${what}`);
  count++;
  print(`ok ${count} - ${what}`);
}

/* Same value, as Object.is has it (NaN equals NaN, -0 differs from 0). */
export function eq(got, want, what) {
  check(Object.is(got, want), `${what} (got ${show(got)}, want ${show(want)})`);
}

/* throws(fn, Type, what) or throws(fn, Type, name, what): fn() must throw
 * an instance of Type and, when name is given and not null, one whose
 * .name is name (DOMException's "DataCloneError" and the like). Returns
 * what was thrown. */
export function throws(fn, Type, ...nameAndWhat) {
  const [name, what] = errorSpec(nameAndWhat);
  let err = null;
  try {
    fn();
  } catch (e) {
    err = e;
  }
  check(isError(err, Type, name), `${what} throws ${Type.name}${name ? ` ${name}` : ""} (got ${err})`);
  return err;
}

/* rejects(promise, Type, what) or rejects(promise, Type, name, what): the
 * promise must reject as throws() above describes. Returns the reason. */
export async function rejects(promise, Type, ...nameAndWhat) {
  const [name, what] = errorSpec(nameAndWhat);
  let err = null;
  try {
    await promise;
  } catch (e) {
    err = e;
  }
  check(isError(err, Type, name), `${what} rejects with ${Type.name}${name ? ` ${name}` : ""} (got ${err})`);
  return err;
}

function errorSpec(nameAndWhat) {
  if (nameAndWhat.length === 1) return [null, nameAndWhat[0]];
  if (nameAndWhat.length === 2) return nameAndWhat;
  throw new Error(`FAIL: bad arguments to throws/rejects: ${nameAndWhat.map(show).join(", ")}`);
}

function isError(err, Type, name) {
  return err instanceof Type && (name === null || err.name === name);
}

/* Runs fn (sync or async) and prints how many checks it made. */
export async function group(name, fn) {
  const before = count;
  await fn();
  print(`${name}: ${count - before} checks`);
}

/* The last line of every test file: "ok N". */
export function done() {
  print(`ok ${count}`);
}
