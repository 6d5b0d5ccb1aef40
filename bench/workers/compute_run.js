// Scenario 8 in-process: `isolde run` / `node` print fib(27) and JSON
// round-trip times measured with performance.now() (one JSON line).
import { fib, jsonRoundTrip } from "./compute.js";
const out = {};
for (const [name, f] of [["fib27_ms", () => fib(27)], ["jsonrt_ms", jsonRoundTrip]]) {
  const t0 = performance.now();
  f();
  out[name] = performance.now() - t0;
}
console.log(JSON.stringify(out));
