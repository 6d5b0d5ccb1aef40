// (d) Combines three subrequests, made at once, into one JSON response.
export default {
  async fetch(request, env) {
    const base = env.API_ORIGIN;
    const [user, orders, weather] = await Promise.all(
      ["/api/user", "/api/orders", "/api/weather"].map(async (path) => {
        const r = await fetch(new URL(path, base));
        if (!r.ok) throw new Error(`${path}: ${r.status}`);
        return r.json();
      }),
    );
    return Response.json({ user: user.name, orders: orders.orders.length, sky: weather.sky });
  },
};
