// Test origin for the fetch() tests, served by its own isolde dev.
let waiting = 0; // /slow requests waiting for their answer now
let peak = 0; // the most that ever waited at once (x-peak on /slow answers)
export default {
  async fetch(request) {
    const url = new URL(request.url);
    const q = url.searchParams;
    switch (url.pathname) {
      case "/slow":
        peak = Math.max(peak, ++waiting);
        await new Promise((r) => setTimeout(r, Number(q.get("ms") ?? 200)));
        waiting--;
        return new Response("slow", { headers: { "x-peak": String(peak) } });
      case "/echo":
        return Response.json({
          method: request.method,
          body: await request.text(),
          type: request.headers.get("content-type"),
          x: request.headers.get("x-test"),
        });
      case "/redirect":
        return Response.redirect(new URL(q.get("to") ?? "/echo", url), 302);
      case "/cookies": {
        const h = new Headers();
        h.append("set-cookie", "a=1");
        h.append("set-cookie", "b=2");
        return new Response("c", { headers: h });
      }
      case "/big": {
        const mb = Number(q.get("mb") ?? 1);
        const chunk = new Uint8Array(64 << 10).fill(97);
        let left = mb * 16;
        return new Response(
          new ReadableStream({
            pull(c) {
              if (left-- <= 0) return c.close();
              c.enqueue(chunk.slice());
            },
          }),
        );
      }
      default:
        return new Response("origin " + url.pathname, { status: q.get("status") ? Number(q.get("status")) : 200 });
    }
  },
};
