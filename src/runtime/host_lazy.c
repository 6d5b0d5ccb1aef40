/*
 * host_lazy.c - host.lazySource(name): the source of a prelude chunk that
 * is not in the base snapshot, for the prelude to evaluate in the isolate
 * the first time it needs it.
 *
 * Some of the prelude's code is large and seldom used: tr46 (IDNA
 * processing for hosts that are not plain ASCII) costs more to compile
 * than the rest of URL parsing, and in the snapshot it would take memory
 * from every clone. tools/bundle_prelude.mjs bundles such code as a
 * separate chunk, tools/embed.c turns it into the array included below,
 * and the prelude module that needs it (src/runtime/js/url_idna.js for
 * tr46) asks for it here and evaluates it once per isolate, on the
 * tenant's CPU time. A chunk only becomes a string: the host evaluates
 * nothing, and the names are fixed, so nothing a tenant writes can end up
 * here (the host object is only reachable from inside the prelude).
 */
#include <stdlib.h>
#include <string.h>

#include "runtime/internal.h"

/* Generated (build/gen, by tools/embed.c): isl_rt__lazy_tr46_chunk and its
 * length, the tr46 chunk (code, a marker line, data text). */
#include "lazy_tr46_chunk.h"

static const struct {
  const char *name;
  const char *source;
} chunks[] = {
    {"tr46", isl_rt__lazy_tr46_chunk},
};

static int lazy_source(isl_iso_t *iso, void *data, int argc, const isl_val_t *argv, isl_val_t *ret) {
  (void)data;
  *ret = 0;
  if (argc < 1) return isl_iso_throw(iso, "TypeError", "host.lazySource: expected (name)");
  char *name = isl_iso_to_cstring(iso, argv[0]);
  if (!name) return isl_iso_throw(iso, "TypeError", "host.lazySource: the name is not a string");
  int rc = 0;
  for (size_t i = 0; i < sizeof(chunks) / sizeof(chunks[0]); i++) {
    if (strcmp(name, chunks[i].name) == 0) {
      rc = isl_iso_new_string(iso, chunks[i].source, ret);
      break;
    }
  }
  free(name);
  return rc; /* an unknown name: undefined */
}

const isl_rt_host_fn_t isl_rt__lazy_fns[] = {{"lazySource", lazy_source}, {NULL, NULL}};
