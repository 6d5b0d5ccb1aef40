// Test tenant whose script throws while loading.
export default { fetch: () => new Response("never") };
throw new Error("broken at load time");
