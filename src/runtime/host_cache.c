/*
 * host_cache.c - host.cachePut/cacheMatch/cacheDelete: the storage behind
 * caches.default and caches.open() (cache.js), in the process-wide store
 * of src/cache that every isolate and loop thread shares and that outlives
 * any isolate.
 *
 * The tenant part of every key is the calling instance's worker name,
 * taken here and never from JavaScript: whatever a tenant passes as cache
 * name or URL, it can only reach its own entries. HTTP semantics (what may
 * be stored and for how long, conditional requests) are cache.js's; this
 * file moves bytes. Header text is stored as the bytes it stands for
 * (a byte string: U+00E9 is the byte E9; api.h's codec both ways).
 *
 * The Cache API is for requests: at load time (no loop, no request) it
 * throws, as Workers refuses I/O in global scope. During the synthetic
 * request that teaches a new worker's snapshot its hot set (worker.c),
 * match misses and put stores nothing, so loading a worker never fills
 * the cache.
 */
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "cache/cache.h"
#include "common/alloc.h"
#include "runtime/internal.h"

/* The caller's instance, or NULL after throwing. */
static isl_rt_inst_t *caller(isl_iso_t *iso, const char *what) {
  isl_rt_inst_t *inst = isl_iso_get_data(iso);
  if (!inst || !inst->worker) {
    isl_iso_throw(iso, "Error", what);
    return NULL;
  }
  if (isl_rt__refuse_in_global_scope(iso)) return NULL;
  return inst;
}

/* Reads argv[0] (cache name) and argv[1] (URL) into key; 0 or throws. */
static int key_args(isl_iso_t *iso, isl_rt_inst_t *inst, int argc, const isl_val_t *argv, const char *what,
                    isl_cache_key_t *key, char **name, char **url) {
  *name = argc > 1 ? isl_iso_to_cstring(iso, argv[0]) : NULL;
  *url = argc > 1 ? isl_iso_to_cstring(iso, argv[1]) : NULL;
  if (!*name || !*url) {
    free(*name);
    free(*url);
    return isl_iso_throw(iso, "TypeError", what);
  }
  key->tenant = inst->worker->name ? inst->worker->name : "";
  key->name = *name;
  key->url = *url;
  return 0;
}

/* cachePut(cacheName, url, status, headerText, body, expiresAtMs) -> stored */
static int cache_put(isl_iso_t *iso, void *data, int argc, const isl_val_t *argv, isl_val_t *ret) {
  (void)data;
  isl_rt_inst_t *inst = caller(iso, "host.cachePut: no instance");
  if (!inst) return ISL_EJS;
  if (argc < 6) return isl_iso_throw(iso, "TypeError", "host.cachePut: 6 arguments");
  isl_cache_key_t key;
  char *name, *url;
  int rc = key_args(iso, inst, argc, argv, "host.cachePut: bad cache name or URL", &key, &name, &url);
  if (rc < 0) return rc;
  char *headers = isl_iso_to_cstring(iso, argv[3]);
  uint8_t *body = NULL;
  size_t body_len = 0;
  double status = isl_iso_to_number(iso, argv[2]);
  double expires = isl_iso_to_number(iso, argv[5]);
  /* The store keeps header bytes, as they go on the wire (api.h's codec). */
  if (!headers || isl_api_cstring_to_bytes(headers) < 0 ||
      isl_iso_array_buffer_copy(iso, argv[4], &body, &body_len) < 0 || !(status >= 100 && status <= 599) ||
      !(expires > 0 && expires < 9e15)) {
    rc = isl_iso_throw(iso, "TypeError", "host.cachePut: bad status, headers, body or expiry");
    goto done;
  }
  isl_cache_value_t v = {.status = (int)status,
                         .headers = headers,
                         .headers_len = strlen(headers),
                         .body = body,
                         .body_len = body_len,
                         .expires_ms = (int64_t)expires};
  rc = isl_iso_new_number(iso, isl_cache_put(isl_cache_process(), &key, &v) == 0, ret);
done:
  free(body);
  free(headers);
  free(name);
  free(url);
  return rc;
}

/* cacheMatch(cacheName, url, nowMs) -> { status, headers, body } or undefined */
static int cache_match(isl_iso_t *iso, void *data, int argc, const isl_val_t *argv, isl_val_t *ret) {
  (void)data;
  *ret = 0;
  isl_rt_inst_t *inst = caller(iso, "host.cacheMatch: no instance");
  if (!inst) return ISL_EJS;
  isl_cache_key_t key;
  char *name, *url;
  int rc = key_args(iso, inst, argc, argv, "host.cacheMatch: bad cache name or URL", &key, &name, &url);
  if (rc < 0) return rc;
  double now = argc > 2 ? isl_iso_to_number(iso, argv[2]) : 0;
  isl_cache_entry_t *e = NULL;
  if (isl_cache_match(isl_cache_process(), &key, (int64_t)now, &e) == 0) {
    const isl_cache_value_t *v = isl_cache_entry_value(e);
    isl_val_t obj = 0, status = 0, headers = 0, body = 0;
    char *text = isl_malloc(2 * v->headers_len + 1); /* the stored bytes as text (api.h) */
    if (text) text[isl_api_bytes_to_utf8(text, v->headers, v->headers_len)] = 0;
    /* Out of host memory (common/alloc.h): the match fails with an error, the entry stays. */
    if (!text) rc = ISL_ENOMEM;
    if (rc < 0 || (rc = isl_iso_new_object(iso, &obj)) < 0 || (rc = isl_iso_new_number(iso, v->status, &status)) < 0 ||
        (rc = isl_iso_set(iso, obj, "status", status)) < 0 || (rc = isl_iso_new_string(iso, text, &headers)) < 0 ||
        (rc = isl_iso_set(iso, obj, "headers", headers)) < 0 ||
        (rc = isl_iso_new_array_buffer(iso, v->body, v->body_len, &body)) < 0 ||
        (rc = isl_iso_set(iso, obj, "body", body)) < 0) {
      isl_iso_release(iso, obj);
      obj = 0;
    }
    isl_iso_release(iso, status);
    isl_iso_release(iso, headers);
    isl_iso_release(iso, body);
    free(text);
    isl_cache_entry_release(e);
    *ret = obj;
  }
  free(name);
  free(url);
  return rc < 0 ? rc : 0;
}

/* cacheDelete(cacheName, url, nowMs) -> deleted */
static int cache_delete(isl_iso_t *iso, void *data, int argc, const isl_val_t *argv, isl_val_t *ret) {
  (void)data;
  isl_rt_inst_t *inst = caller(iso, "host.cacheDelete: no instance");
  if (!inst) return ISL_EJS;
  isl_cache_key_t key;
  char *name, *url;
  int rc = key_args(iso, inst, argc, argv, "host.cacheDelete: bad cache name or URL", &key, &name, &url);
  if (rc < 0) return rc;
  double now = argc > 2 ? isl_iso_to_number(iso, argv[2]) : 0;
  int deleted = isl_cache_delete(isl_cache_process(), &key, (int64_t)now);
  free(name);
  free(url);
  return isl_iso_new_number(iso, deleted, ret);
}

const isl_rt_host_fn_t isl_rt__cache_fns[] = {
    {"cachePut", cache_put}, {"cacheMatch", cache_match}, {"cacheDelete", cache_delete}, {NULL, NULL}};
