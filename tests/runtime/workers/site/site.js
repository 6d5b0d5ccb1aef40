// Test tenant (service-worker format): env bindings are globals.
addEventListener("fetch", (event) => {
  const url = new URL(event.request.url);
  if (url.pathname === "/leak") {
    event.respondWith(new Response(typeof globalThis.leak + " " + typeof SECRET));
    return;
  }
  event.respondWith(new Response(`site ${TITLE} ${event.request.method} ${url.pathname}`));
});
