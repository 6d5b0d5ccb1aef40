// (c) Serves from the cache, falls back to the origin and caches what the
// origin allows (its Cache-Control), in the background.
export default {
  async fetch(request, env, ctx) {
    if (request.method !== "GET") return fetch(request);
    const cache = caches.default;
    const hit = await cache.match(request);
    if (hit) {
      const response = new Response(hit.body, hit);
      response.headers.set("x-cache", "HIT");
      return response;
    }
    const fresh = await fetch(request);
    const response = new Response(fresh.body, fresh);
    response.headers.set("x-cache", "MISS");
    if (fresh.ok) ctx.waitUntil(cache.put(request, response.clone()));
    return response;
  },
};
