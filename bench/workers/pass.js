// Scenario 3b: pass-through: the request goes on to a local origin
// (env.ORIGIN, same path) and its response comes back as it is, the
// issue's "return fetch(request)" (the URL is rewritten to the origin,
// as a worker in front of an origin on another host does).
export default {
  fetch(request, env) {
    const url = new URL(request.url);
    return fetch(new Request(env.ORIGIN + url.pathname + url.search, request));
  },
};
