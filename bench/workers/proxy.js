// Scenario 3: fetch from a local origin (env.ORIGIN) and return its body.
export default {
  async fetch(request, env) {
    const url = new URL(request.url);
    const r = await fetch(env.ORIGIN + url.pathname);
    return new Response(await r.text(), { status: r.status, headers: { "content-type": "text/plain" } });
  },
};
