/*
 * curl_lazy.c - libcurl, loaded on first use with dlopen() instead of at
 * process start by the dynamic linker.
 *
 * Why: libcurl is only needed for subrequests (fetch()) and for routes
 * proxied to an origin, never to start a server or answer its first
 * request, yet linking it made every process start map ~30 more shared
 * libraries (gnutls, krb5, ldap, ssh2, ...) and relocate them. Measured on
 * Debian 12, 2 cores, perf stat -r 30 -e task-clock, same objects linked
 * both ways: `isolde --help` 4.2-5.0 ms of CPU with -lcurl, 1.6-1.8 ms
 * without; `isolde run` of a one-line console.log 5.9-7.3 ms, 2.1-2.9 ms.
 * The cost moves to the first fetch of the process: dlopen ~2.9 ms plus
 * curl_global_init ~0.6 ms, so that isl_fetch_start takes ~3.5 ms (median)
 * instead of ~60 us, once, unless a server called isl_fetch_preload on a
 * background thread after it started listening. A process that fetches
 * pays about what it paid before (`isolde run` with one fetch: 7.0-7.5 ms
 * before, 6.7-8.3 ms after).
 *
 * How: this file defines the libcurl functions that fetch.c and policy.c
 * call, under libcurl's own names, so those files read as plain libcurl
 * code (and keep curl.h's compile-time type checks of setopt/getinfo).
 * Each forwards to the function dlsym() found in ISL_FETCH_LIBCURL. The
 * library is loaded once per process (pthread_once) by isl_fetch__curl_load,
 * which every entry point that needs curl calls first; a forwarder called
 * before a successful load returns curl's own failure value (NULL,
 * CURLE_FAILED_INIT, ...) instead of jumping through a NULL pointer. The
 * library is never unloaded.
 *
 * The variadic three (curl_easy_setopt, curl_multi_setopt, curl_easy_getinfo)
 * cannot forward a va_list, so they read their single argument by the type
 * the option number encodes: below CURLOPTTYPE_OBJECTPOINT a long, then
 * an object pointer, a function pointer, a curl_off_t, and a blob pointer
 * (CURLMOPT_* use the same ranges); getinfo always takes a pointer. This is
 * exactly how libcurl reads them itself.
 *
 * The executable exports none of these names, so libcurl's own internal
 * calls never come back here; if it did export them (-rdynamic) they would
 * still end in libcurl, since dlsym on the handle searches libcurl first.
 */
#define CURL_DISABLE_TYPECHECK /* plain prototypes: we define the functions */

#include <dlfcn.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>

#include <curl/curl.h>

#include "fetch/fetch.h"
#include "fetch/internal.h"

/* ---- the functions we use ------------------------------------------------------------ */

/* name, return type, parameters, arguments, what it returns while libcurl is
 * not loaded. Checked against curl.h: a definition below that does not match
 * its prototype there is a compile error. */
// clang-format off
#define ISL_CURL_FUNCS(X) \
  X(curl_easy_init, CURL *, (void), (), NULL) \
  X(curl_easy_pause, CURLcode, (CURL *h, int mask), (h, mask), CURLE_FAILED_INIT) \
  X(curl_easy_strerror, const char *, (CURLcode rc), (rc), "libcurl is not loaded") \
  X(curl_multi_init, CURLM *, (void), (), NULL) \
  X(curl_multi_add_handle, CURLMcode, (CURLM *m, CURL *h), (m, h), CURLM_INTERNAL_ERROR) \
  X(curl_multi_remove_handle, CURLMcode, (CURLM *m, CURL *h), (m, h), CURLM_INTERNAL_ERROR) \
  X(curl_multi_assign, CURLMcode, (CURLM *m, curl_socket_t fd, void *p), (m, fd, p), CURLM_INTERNAL_ERROR) \
  X(curl_multi_socket_action, CURLMcode, (CURLM *m, curl_socket_t fd, int ev, int *running), (m, fd, ev, running), \
    CURLM_INTERNAL_ERROR) \
  X(curl_multi_info_read, CURLMsg *, (CURLM *m, int *left), (m, left), NULL) \
  X(curl_multi_cleanup, CURLMcode, (CURLM *m), (m), CURLM_INTERNAL_ERROR) \
  X(curl_slist_append, struct curl_slist *, (struct curl_slist *l, const char *s), (l, s), NULL) \
  X(curl_url, CURLU *, (void), (), NULL) \
  X(curl_url_set, CURLUcode, (CURLU *u, CURLUPart what, const char *part, unsigned int flags), (u, what, part, flags), \
    CURLUE_BAD_HANDLE) \
  X(curl_url_get, CURLUcode, (CURLU *u, CURLUPart what, char **part, unsigned int flags), (u, what, part, flags), \
    CURLUE_BAD_HANDLE)

/* The same for functions returning nothing: while not loaded they do nothing
 * (nothing of curl's can exist to be freed then). */
#define ISL_CURL_VOID_FUNCS(X) \
  X(curl_easy_cleanup, (CURL *h), (h)) \
  X(curl_slist_free_all, (struct curl_slist *l), (l)) \
  X(curl_url_cleanup, (CURLU *u), (u)) \
  X(curl_free, (void *p), (p))
// clang-format on

/* Resolved but not forwarded: called only here (global_init) or variadic. */
#define ISL_CURL_OTHER_FUNCS(X) \
  X(curl_global_init)           \
  X(curl_easy_setopt)           \
  X(curl_easy_getinfo)          \
  X(curl_multi_setopt)

/* ---- loading ------------------------------------------------------------------------- */

static struct {
#define ISL_CURL_PTR(name, ...) __typeof__(name) *name;
  ISL_CURL_FUNCS(ISL_CURL_PTR)
  ISL_CURL_VOID_FUNCS(ISL_CURL_PTR)
  ISL_CURL_OTHER_FUNCS(ISL_CURL_PTR)
#undef ISL_CURL_PTR
} api;

static pthread_once_t load_once = PTHREAD_ONCE_INIT;
static atomic_int loaded;    /* 1 once api is complete and curl_global_init succeeded */
static char load_error[400]; /* why not, when loaded stays 0 */

static void load(void) {
  /* RTLD_LAZY, as the linker does at start: libcurl's ~30 dependencies
   * bind only the functions they call (RTLD_NOW costs 0.4-0.6 ms more).
   * RTLD_LOCAL: nothing of theirs becomes visible to later lookups. */
  void *h = dlopen(ISL_FETCH_LIBCURL, RTLD_LAZY | RTLD_LOCAL);
  if (!h) {
    const char *why = dlerror();
    /* dlerror names the file: "libcurl.so.4: cannot open shared object file: ..." */
    snprintf(load_error, sizeof load_error, "cannot load libcurl: %s", why ? why : ISL_FETCH_LIBCURL);
    return;
  }
  /* A void * to a function pointer: what dlsym is for (POSIX). */
#define ISL_CURL_SYM(name, ...)                                                                         \
  if (!(api.name = (__typeof__(api.name))dlsym(h, #name))) {                                            \
    snprintf(load_error, sizeof load_error, "cannot load %s: it has no %s (a newer libcurl is needed)", \
             ISL_FETCH_LIBCURL, #name);                                                                 \
    goto fail;                                                                                          \
  }
  ISL_CURL_FUNCS(ISL_CURL_SYM)
  ISL_CURL_VOID_FUNCS(ISL_CURL_SYM)
  ISL_CURL_OTHER_FUNCS(ISL_CURL_SYM)
#undef ISL_CURL_SYM
  CURLcode rc = api.curl_global_init(CURL_GLOBAL_DEFAULT);
  if (rc != CURLE_OK) {
    snprintf(load_error, sizeof load_error, "cannot initialise %s: %s", ISL_FETCH_LIBCURL, api.curl_easy_strerror(rc));
    goto fail;
  }
  atomic_store_explicit(&loaded, 1, memory_order_release);
  return;
fail:
  dlclose(h);
}

int isl_fetch__curl_load(isl_err_t *err) {
  pthread_once(&load_once, load);
  if (atomic_load_explicit(&loaded, memory_order_acquire)) return 0;
  return isl_err_set(err, ISL_ESYS, "fetch: %s", load_error);
}

int isl_fetch_preload(isl_err_t *err) {
  return isl_fetch__curl_load(err);
}

static int ready(void) {
  return atomic_load_explicit(&loaded, memory_order_acquire);
}

/* ---- the forwarders ------------------------------------------------------------------ */

#define ISL_CURL_FORWARD(name, ret, params, args, unloaded) \
  ret name params {                                         \
    if (!ready()) return unloaded;                          \
    return api.name args;                                   \
  }
ISL_CURL_FUNCS(ISL_CURL_FORWARD)
#undef ISL_CURL_FORWARD

#define ISL_CURL_FORWARD_VOID(name, params, args) \
  void name params {                              \
    if (ready()) api.name args;                   \
  }
ISL_CURL_VOID_FUNCS(ISL_CURL_FORWARD_VOID)
#undef ISL_CURL_FORWARD_VOID

/* Reads the one argument after `option` by the type its number encodes
 * (curl.h, CURLOPTTYPE_*) and calls fn with it. A function pointer is read
 * as void (*)(void): all function pointers share one representation on the
 * ABIs glibc runs on, and libcurl reads it back as its own callback type. */
#define ISL_CURL_FORWARD_OPTION(fn, handle, option, ap)                                    \
  ((option) < CURLOPTTYPE_OBJECTPOINT     ? fn(handle, option, va_arg(ap, long))           \
   : (option) < CURLOPTTYPE_FUNCTIONPOINT ? fn(handle, option, va_arg(ap, void *))         \
   : (option) < CURLOPTTYPE_OFF_T         ? fn(handle, option, va_arg(ap, void (*)(void))) \
   : (option) < CURLOPTTYPE_BLOB          ? fn(handle, option, va_arg(ap, curl_off_t))     \
                                          : fn(handle, option, va_arg(ap, void *)))

CURLcode curl_easy_setopt(CURL *h, CURLoption option, ...) {
  va_list ap;
  if (!ready()) return CURLE_FAILED_INIT;
  va_start(ap, option);
  CURLcode rc = ISL_CURL_FORWARD_OPTION(api.curl_easy_setopt, h, option, ap);
  va_end(ap);
  return rc;
}

CURLMcode curl_multi_setopt(CURLM *m, CURLMoption option, ...) {
  va_list ap;
  if (!ready()) return CURLM_INTERNAL_ERROR;
  va_start(ap, option);
  CURLMcode rc = ISL_CURL_FORWARD_OPTION(api.curl_multi_setopt, m, option, ap);
  va_end(ap);
  return rc;
}

/* Every CURLINFO_* takes a pointer to where the answer goes. */
CURLcode curl_easy_getinfo(CURL *h, CURLINFO info, ...) {
  va_list ap;
  if (!ready()) return CURLE_FAILED_INIT;
  va_start(ap, info);
  CURLcode rc = api.curl_easy_getinfo(h, info, va_arg(ap, void *));
  va_end(ap);
  return rc;
}
