// Test tenant (module format): routes for the runtime's server tests.
import { counter, bump } from "./lib/counter.js";

let pending = null; // a request parked by /wait, released by /release
let background = null; // finishes the work /background left running

export default {
  async fetch(request, env, ctx) {
    const url = new URL(request.url);
    // Also routed as shop.test/api/*: the same paths under /api.
    switch (url.pathname.replace(/^\/api(?=\/)/, "")) {
      case "/hello":
        return new Response(`hello ${env.GREETING}`);
      case "/count":
        bump();
        return new Response(String(counter()));
      case "/globals":
        globalThis.leak = env.SECRET;
        return Response.json({ leak: globalThis.leak, keys: Object.keys(env).sort() });
      case "/echo":
        return new Response(await request.text(), { headers: { "x-method": request.method } });
      case "/length": {
        const buf = await request.arrayBuffer();
        return new Response(String(buf.byteLength));
      }
      case "/stream": {
        const enc = new TextEncoder();
        let i = 0;
        const body = new ReadableStream({
          async pull(c) {
            await new Promise((r) => setTimeout(r, 5));
            if (i === 3) return c.close();
            c.enqueue(enc.encode(`chunk${i++};`));
          },
        });
        return new Response(body, { headers: { "content-type": "text/plain" } });
      }
      case "/big": {
        // 64 MiB in 64 KiB chunks, made as the client reads them.
        const chunk = new Uint8Array(64 << 10).fill(120);
        let left = 1024;
        const body = new ReadableStream({
          pull(c) {
            if (left-- === 0) return c.close();
            c.enqueue(chunk.slice());
          },
        });
        return new Response(body);
      }
      case "/throw":
        throw new TypeError("thrown by the handler in /throw");
      case "/reject":
        return Promise.reject(new RangeError("rejected in /reject"));
      case "/notresponse":
        return "just a string";
      case "/spin":
        for (;;) {}
      case "/bomb": {
        const keep = [];
        for (;;) keep.push(new Array(1 << 16).fill(keep.length));
      }
      case "/time": {
        const a = Date.now(), p = performance.now();
        let x = 0;
        const t0 = Date.now();
        for (let i = 0; i < 3e5; i++) x += Math.sqrt(i);
        const b = Date.now(), q = performance.now();
        await new Promise((r) => setTimeout(r, 20));
        const c = Date.now();
        return Response.json({ frozen: a === b && p === q && t0 === a, advanced: c - a, x: x > 0 });
      }
      case "/wait": {
        // Parked until /release; the timer keeps the request alive (with
        // nothing pending at all, the runtime cancels a hung promise).
        const v = await new Promise((r) => {
          pending = r;
          setTimeout(() => r("timeout"), 5000);
        });
        return new Response(`released by ${v}`);
      }
      case "/hang":
        return new Promise(() => {});
      case "/hang-after-timer":
        await new Promise((r) => setTimeout(r, 10));
        return new Promise(() => {});
      case "/release": {
        if (!pending) return new Response("nothing waiting", { status: 409 });
        pending("release");
        pending = null;
        return new Response("released");
      }
      case "/slow": {
        console.log("slow: waiting"); // the test may act once the request is in flight
        await new Promise((r) => setTimeout(r, Number(url.searchParams.get("ms") ?? 300)));
        return new Response("slow done");
      }
      case "/background":
        // The work after the response waits for /background-done (or 30 s):
        // the test looks before it is done, however slow the machine.
        ctx.waitUntil(
          new Promise((r) => {
            background = r;
            setTimeout(r, 30000);
          }).then(() => console.log("background work done")),
        );
        return new Response("answered first");
      case "/background-done": {
        if (!background) return new Response("nothing in the background", { status: 409 });
        background();
        background = null;
        return new Response("done");
      }
      case "/bytes": {
        // Header values are byte strings: 0xE9 in, 0xE9 out.
        const v = request.headers.get("x-latin1");
        return new Response(`${v.length}:${v.charCodeAt(v.length - 1)}`, { headers: { "x-back": v } });
      }
      case "/escape": {
        // Everything a tenant might try to reach beyond its own isolate.
        const tries = {};
        for (const spec of [
          "../../../../../../etc/passwd",
          "/etc/passwd",
          "./lib/../../../test_serve.c",
          "../site/site.js",
          "./lib/counter.js",
        ]) {
          try {
            await import(spec);
            tries[spec] = "imported";
          } catch (e) {
            tries[spec] = e.name;
          }
        }
        tries.host = typeof globalThis.__isolde_host;
        tries.entry = typeof globalThis.__isolde;
        tries.std = typeof globalThis.std + typeof globalThis.os + typeof globalThis.require + typeof globalThis.process;
        return Response.json(tries);
      }
      case "/ip":
        return new Response(request.headers.get("cf-connecting-ip"));
      case "/log":
        console.log("log line", { a: 1 });
        console.error("error line");
        return new Response("logged");
      default:
        return new Response("not found", { status: 404 });
    }
  },
};
