// Test tenant that grows its isolate on each fresh start by well over the
// 16 MiB after which an idle isolate is recycled (isl_iso_needs_recycle):
// 32 MiB, of which part fits in the free heap the base snapshot leaves
// (about 8 MiB since tr46 left the prelude), so it grows by ~24 MiB. One
// byte per page is written, which dirties every page at little CPU cost.
let n = 0;
let keep = null;
export default {
  fetch() {
    if (!keep) {
      keep = new Uint8Array(32 << 20);
      for (let i = 0; i < keep.length; i += 4096) keep[i] = 1;
    }
    return new Response(String(++n));
  },
};
