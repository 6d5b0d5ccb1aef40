// Scenario 2: parse the URL, build a 20-field object, stringify, 3 headers.
export default {
  fetch(request) {
    const url = new URL(request.url);
    const q = url.searchParams;
    const o = {
      path: url.pathname, host: url.hostname, method: request.method, id: Number(q.get("id") ?? 42),
      name: q.get("name") ?? "isolde", active: true, score: 98.5, tags: ["a", "b", "c"],
      nested: { x: 1, y: 2 }, empty: null, f10: "ten", f11: 11, f12: [1, 2, 3], f13: { deep: { deeper: true } },
      f14: "fourteen", f15: 15.5, f16: false, f17: "seventeen", f18: [], f19: "nineteen",
    };
    return new Response(JSON.stringify(o), {
      headers: { "content-type": "application/json", "cache-control": "no-store", "x-bench": "json" },
    });
  },
};
