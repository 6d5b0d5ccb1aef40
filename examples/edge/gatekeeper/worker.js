// (a) Blocks requests by header or path with 403, passes the rest to the
// route's origin with fetch(request).
const BLOCKED_PATHS = [/^\/admin(\/|$)/, /\.php$/];

export default {
  async fetch(request) {
    const url = new URL(request.url);
    if (request.headers.get("x-block") === "1" || BLOCKED_PATHS.some((re) => re.test(url.pathname))) {
      return new Response("Forbidden\n", { status: 403, headers: { "content-type": "text/plain" } });
    }
    return fetch(request);
  },
};
