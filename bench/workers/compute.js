// Scenario 8: /fib computes fib(27); /jsonrt stringifies and parses a
// 1,000-record array 10 times. The client times the round trip (workerd,
// like Workers, does not advance the clock while JS runs, so the handler
// cannot time itself there); / is the baseline round trip.
function fib(n) {
  return n < 2 ? n : fib(n - 1) + fib(n - 2);
}
const records = Array.from({ length: 1000 }, (_, i) => ({ id: i, name: "item" + i, price: i * 1.5, tags: ["x", "y"], ok: i % 2 === 0 }));
export function jsonRoundTrip() {
  let n = 0;
  for (let k = 0; k < 10; k++) n += JSON.parse(JSON.stringify(records)).length;
  return n;
}
export default {
  fetch(request) {
    const path = new URL(request.url).pathname;
    let out = "ok";
    if (path === "/fib") out = String(fib(27));
    else if (path === "/jsonrt") out = String(jsonRoundTrip());
    return new Response(out + "\n", { headers: { "content-type": "text/plain" } });
  },
};
export { fib };
