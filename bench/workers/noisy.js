// Scenario 7: the noisy neighbour; a CPU-bound loop (fib(25)) on every request.
function fib(n) {
  return n < 2 ? n : fib(n - 1) + fib(n - 2);
}
export default {
  fetch() {
    return new Response(String(fib(25)) + "\n", { headers: { "content-type": "text/plain" } });
  },
};
