// A stand-in origin for the edge examples: run it with
//   isolde dev examples/edge/origin.js --port 9001
//   isolde dev examples/edge/origin.js --port 9002 --var NAME=v2
// It answers a few JSON APIs and echoes what it was asked.
export default {
  async fetch(request, env) {
    const url = new URL(request.url);
    const json = (data, init) => Response.json({ ...data, path: url.pathname }, init);
    switch (url.pathname) {
      case "/api/user":
        return json({ name: "Ada", id: 1 }, { headers: { "cache-control": "max-age=60" } });
      case "/api/orders":
        return json({ orders: [1, 2, 3] });
      case "/api/weather":
        return json({ sky: "clear", celsius: 21 });
      default:
        return json({ origin: env.NAME ?? "v1", method: request.method, query: url.search });
    }
  },
};
