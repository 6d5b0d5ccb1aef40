// The "site" tenant: a service-worker-format script (bindings are globals).
addEventListener("fetch", (event) => {
  event.respondWith(
    new Response(`<h1>${SITE_TITLE}</h1>\n`, { headers: { "content-type": "text/html; charset=utf-8" } }),
  );
});
