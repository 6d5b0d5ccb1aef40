// Test tenant on a route with an origin: throws, with and without
// ctx.passThroughOnException().
export default {
  async fetch(request, env, ctx) {
    const url = new URL(request.url);
    if (url.pathname === "/boom") {
      ctx.passThroughOnException();
      throw new Error("boom, but the origin answers");
    }
    if (url.pathname === "/crash") throw new Error("crash without pass-through");
    return fetch(request);
  },
};
