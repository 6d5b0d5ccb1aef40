/*
 * assert_fails.js - a deliberately failing check through lib/assert.js,
 * reached after an await. tests/runtime/test_webapi.c runs it to show the
 * shared helpers can fail: `isolde run` must exit non-zero with
 * "FAIL: deliberately wrong" on stderr, and never print the "ok N" line.
 */
import { check, eq, done } from "./lib/assert.js";

check(true, "a passing check first");
await null;
eq(new TextDecoder().decode(new Uint8Array([0x61])), "b", "deliberately wrong");
done();
