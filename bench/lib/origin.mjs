// origin.mjs - the local origin behind the proxy worker (scenario 3): a
// plain node:http server answering every GET with the same 1 KiB body.
//   node origin.mjs PORT
import http from "node:http";
const body = Buffer.from("x".repeat(1023) + "\n");
http
  .createServer((req, res) => res.writeHead(200, { "content-type": "text/plain", "content-length": body.length }).end(body))
  .listen(Number(process.argv[2]), "127.0.0.1");
