// Test tenant that reads the whole request body before it answers, so that
// a malformed body is seen by the HTTP layer before any response starts.
let requests = 0;
export default {
  async fetch(request) {
    const body = await request.arrayBuffer();
    return new Response(`${++requests} ${request.method} ${body.byteLength}`);
  },
};
