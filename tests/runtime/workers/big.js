// Test tenant that grows its isolate by about 24 MiB on each fresh start.
let n = 0;
let keep = null;
export default {
  fetch() {
    if (!keep) keep = new Uint8Array(24 << 20).fill(1);
    return new Response(String(++n));
  },
};
