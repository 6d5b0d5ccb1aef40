// Scenario 1 (and 4, 5, 6, 7): the smallest useful worker.
export default {
  fetch() {
    return new Response("Hello, world!\n", { headers: { "content-type": "text/plain" } });
  },
};
