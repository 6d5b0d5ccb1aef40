// A first worker: `isolde dev examples/hello/worker.js`, then
// curl http://127.0.0.1:8787/ and curl -X POST -d 'hi' http://127.0.0.1:8787/echo
export default {
  async fetch(request, env, ctx) {
    const url = new URL(request.url);
    if (url.pathname === "/echo" && request.method === "POST") {
      return new Response(await request.text(), { headers: { "content-type": "text/plain" } });
    }
    if (url.pathname === "/json") {
      return Response.json({ method: request.method, path: url.pathname, query: Object.fromEntries(url.searchParams) });
    }
    ctx.waitUntil(Promise.resolve().then(() => console.log(`served ${url.pathname}`)));
    return new Response(`Hello from Isolde, ${env.GREETING ?? "world"}!\n`, {
      headers: { "content-type": "text/plain; charset=utf-8" },
    });
  },
};
