// Test tenant whose requests make subrequests to env.ORIGIN.
export default {
  async fetch(request, env) {
    const url = new URL(request.url);
    const o = env.ORIGIN;
    const q = url.searchParams;
    const what = async (p) => {
      try {
        await p;
        return "ok";
      } catch (e) {
        return `${e.name}: ${e.message}`;
      }
    };
    switch (url.pathname) {
      case "/fanout": {
        const n = Number(q.get("n") ?? 5);
        const ms = Number(q.get("ms") ?? 200); // how long each waits at the origin
        const t0 = Date.now();
        const answers = await Promise.all(
          Array.from({ length: n }, () =>
            fetch(`${o}/slow?ms=${ms}`).then(async (r) => ({ body: await r.text(), peak: Number(r.headers.get("x-peak")) })),
          ),
        );
        return Response.json({
          n: answers.filter((a) => a.body === "slow").length,
          peak: Math.max(...answers.map((a) => a.peak)), // how many waited at the origin at once
          ms: Date.now() - t0,
        });
      }
      case "/post": {
        const r = await fetch(`${o}/echo`, {
          method: "POST",
          body: new URLSearchParams({ a: "1", b: "two" }),
          headers: { "x-test": "yes" },
        });
        return new Response(await r.text(), { status: r.status });
      }
      case "/bodies": {
        // Every body type fetch() takes, as the origin receives it.
        const form = new FormData();
        form.append("f", "v");
        const stream = new ReadableStream({
          start(c) {
            c.enqueue(new TextEncoder().encode("stre"));
            c.enqueue(new TextEncoder().encode("amed"));
            c.close();
          },
        });
        const bodies = ["text", new TextEncoder().encode("bytes").buffer, new Uint8Array([104, 105]), form, stream];
        const out = [];
        for (const body of bodies) {
          const r = await fetch(`${o}/echo`, { method: "PUT", body, duplex: "half" });
          const j = await r.json();
          out.push(j.body.includes("name=\"f\"") ? "form" : j.body);
        }
        return Response.json(out);
      }
      case "/limit": {
        const results = [];
        for (let i = 0; i < 51; i++) results.push(await what(fetch(`${o}/x`).then((r) => r.text())));
        return Response.json({ ok: results.filter((r) => r === "ok").length, last: results[50] });
      }
      case "/errors":
        return Response.json({
          dns: await what(fetch("http://nosuch.invalid/")),
          tls: await what(fetch(o.replace("http://", "https://") + "/x")),
          blocked: await what(fetch("http://10.0.0.1/")),
          loopback: await what(fetch(q.get("private"))),
          timeout: await what(fetch(`${o}/slow?ms=2000`, { signal: AbortSignal.timeout(100) })),
          scheme: await what(fetch("file:///etc/passwd")),
        });
      case "/redirects": {
        const follow = await fetch(`${o}/redirect?to=/echo`);
        const manual = await fetch(`${o}/redirect?to=/echo`, { redirect: "manual" });
        return Response.json({
          follow: [follow.status, follow.redirected, new URL(follow.url).pathname],
          manual: [manual.status, manual.headers.get("location")],
          error: await what(fetch(`${o}/redirect?to=/echo`, { redirect: "error" })),
        });
      }
      case "/cookies": {
        const r = await fetch(`${o}/cookies`);
        return Response.json(r.headers.getSetCookie());
      }
      case "/status":
        return fetch(`${o}/x?status=404`);
      case "/big":
        return fetch(`${o}/big?mb=${q.get("mb") ?? 100}`);
      case "/abort": {
        const c = new AbortController();
        const p = fetch(`${o}/slow?ms=1000`, { signal: c.signal });
        setTimeout(() => c.abort(new Error("stopped by the test")), 50);
        return new Response(await what(p));
      }
      default:
        return new Response("fetcher", { status: 404 });
    }
  },
};
