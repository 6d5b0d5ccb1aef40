/*
 * served_runner.js - a worker that runs one of the JS test files next to
 * it inside a request, so that the Web API tests also run the way tenants'
 * code runs: in a served worker's isolate, with time frozen while JS runs
 * and the request's limits. GET /?file=webapi_encoding.js imports that file;
 * its lines ("ok K - ...", "ok N") go to the tenant log, and a failing
 * check rejects the import, which makes the answer a 500.
 * Used by tests/runtime/test_api_served.c.
 */
export default {
  async fetch(request) {
    const file = new URL(request.url).searchParams.get("file") ?? "";
    if (!/^(webapi|fetch|cache)_[a-z_]+\.js$/.test(file)) return new Response(`not a test file: ${file}`, { status: 400 });
    await import(`./${file}`);
    return new Response(`ran ${file}`);
  },
};
