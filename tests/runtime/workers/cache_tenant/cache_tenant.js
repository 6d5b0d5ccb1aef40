// Test tenant for the Cache API (tests/runtime/test_cache_served.c): the
// same script serves two tenants, which must not see each other's cache.
//   /put?url=U&body=B[&cache=N]  caches.default (or caches.open(N)).put(U, B)
//   /get?url=U[&cache=N]         the cached body, or 404 "miss"
//   /del?url=U                   caches.default.delete(U) -> "true"/"false"
//   /grow                        allocates 32 MiB (the isolate grows by ~24
//                                MiB past the free heap the base leaves), so
//                                that it is evicted over a small budget
// Every answer has X-Isolate-Requests: requests this isolate has served,
// so the test can tell a fresh isolate from a warm one.
let served = 0;
let keep = null;
export default {
  async fetch(request) {
    served++;
    const q = new URL(request.url).searchParams;
    const cache = q.has("cache") ? await caches.open(q.get("cache")) : caches.default;
    const url = q.get("url") ?? "https://shared.test/x";
    const headers = { "x-isolate-requests": String(served) };
    switch (new URL(request.url).pathname) {
      case "/put":
        await cache.put(url, new Response(q.get("body"), { headers: { "cache-control": "max-age=600" } }));
        return new Response("stored", { headers });
      case "/get": {
        const hit = await cache.match(url);
        if (!hit) return new Response("miss", { status: 404, headers });
        return new Response(await hit.text(), { headers });
      }
      case "/del":
        return new Response(String(await cache.delete(url)), { headers });
      case "/grow":
        if (!keep) {
          keep = new Uint8Array(32 << 20);
          for (let i = 0; i < keep.length; i += 4096) keep[i] = 1; /* every page, little CPU */
        }
        return new Response("grown", { headers });
      default:
        return new Response("not found", { status: 404, headers });
    }
  },
};
