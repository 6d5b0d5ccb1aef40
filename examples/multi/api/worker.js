// The "api" tenant of examples/multi/isolde.json: JSON under api.localhost and localhost/api/.
import { greet } from "./greet.js";

export default {
  async fetch(request, env) {
    const url = new URL(request.url);
    return Response.json({ tenant: "api", message: greet(env.GREETING), path: url.pathname });
  },
};
