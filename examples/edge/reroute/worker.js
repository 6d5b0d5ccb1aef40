// (b) Rewrites /v2/... to /... and sends it to a second origin (env.V2_ORIGIN);
// everything else goes to the route's own origin.
export default {
  async fetch(request, env) {
    const url = new URL(request.url);
    if (url.pathname.startsWith("/v2/")) {
      const target = new URL(url.pathname.slice(3) + url.search, env.V2_ORIGIN);
      return fetch(new Request(target, request));
    }
    return fetch(request);
  },
};
