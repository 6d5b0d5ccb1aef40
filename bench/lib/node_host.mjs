// node_host.mjs - serve Workers-style modules (`export default { fetch }`)
// with node:http, so Node runs the same worker files as Isolde and workerd.
//
//   node node_host.mjs PORT [--var K=V]... NAME=FILE [NAME=FILE]...
//
// One module: it answers every request. Several: routed by Host
// "<NAME>.localhost". Each NAME imports FILE under its own URL
// (FILE?tenant=NAME), so every tenant has its own module instance, as N
// handler modules in one process. All modules load before listening.
import http from "node:http";
import { pathToFileURL } from "node:url";
import path from "node:path";

const args = process.argv.slice(2);
const port = Number(args.shift());
const env = {};
const specs = [];
for (let i = 0; i < args.length; i++) {
  if (args[i] === "--var") {
    const [k, ...v] = args[++i].split("=");
    env[k] = v.join("=");
  } else {
    const [name, file] = args[i].split("=");
    specs.push([name, file]);
  }
}
const tenants = new Map();
for (const [name, file] of specs) {
  const url = pathToFileURL(path.resolve(file)).href + "?tenant=" + encodeURIComponent(name);
  tenants.set(name + ".localhost", (await import(url)).default);
}
const only = specs.length === 1 ? tenants.values().next().value : null;
const ctx = { waitUntil() {}, passThroughOnException() {} };

http
  .createServer(async (req, res) => {
    try {
      const host = req.headers.host ?? "localhost";
      const mod = only ?? tenants.get(host.replace(/:\d+$/, ""));
      if (!mod) {
        res.writeHead(404).end("no tenant\n");
        return;
      }
      const hasBody = req.method !== "GET" && req.method !== "HEAD";
      const request = new Request(`http://${host}${req.url}`, {
        method: req.method,
        headers: req.headers,
        body: hasBody ? req : undefined,
        duplex: hasBody ? "half" : undefined,
      });
      const r = await mod.fetch(request, env, ctx);
      const body = Buffer.from(await r.arrayBuffer());
      const headers = Object.fromEntries(r.headers);
      headers["content-length"] = body.length;
      res.writeHead(r.status, headers).end(body);
    } catch (e) {
      res.writeHead(500).end(String(e) + "\n");
    }
  })
  .listen(port, "127.0.0.1");
