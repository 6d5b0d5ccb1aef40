/*
 * host_crypto.c - the primitives behind crypto.* (crypto.js): random bytes
 * from the kernel's CSPRNG, digests and HMAC from OpenSSL. The JS side does
 * the WebCrypto bookkeeping (keys, algorithms, promises); the bytes are
 * only ever computed here.
 *
 * OpenSSL's libcrypto is loaded on first use (dlopen), not linked: linking
 * it cost every process start ~0.56 ms of CPU (relocations, constructors),
 * a tenth of a server's launch to its first answer, for functions most
 * requests never call.
 */
#include <dlfcn.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "runtime/internal.h"

#define RANDOM_MAX 65536
#ifndef ISL_RT_LIBCRYPTO
#define ISL_RT_LIBCRYPTO "libcrypto.so.3"
#endif

/* The libcrypto functions used here, with the types OpenSSL declares. */
static struct {
  __typeof__(&EVP_sha1) sha1;
  __typeof__(&EVP_sha256) sha256;
  __typeof__(&EVP_sha384) sha384;
  __typeof__(&EVP_sha512) sha512;
  __typeof__(&EVP_Digest) digest;
  __typeof__(&HMAC) hmac;
  char error[256]; /* why they could not be loaded; "" when they were */
} ossl;
static pthread_once_t ossl_once = PTHREAD_ONCE_INIT;

static void ossl_load(void) {
  void *h = dlopen(ISL_RT_LIBCRYPTO, RTLD_LAZY | RTLD_LOCAL);
  if (!h) {
    snprintf(ossl.error, sizeof(ossl.error), "cannot load %s: %s", ISL_RT_LIBCRYPTO, dlerror());
    return;
  }
  /* dlsym gives a void *; POSIX guarantees it converts to a function pointer. */
  *(void **)&ossl.sha1 = dlsym(h, "EVP_sha1");
  *(void **)&ossl.sha256 = dlsym(h, "EVP_sha256");
  *(void **)&ossl.sha384 = dlsym(h, "EVP_sha384");
  *(void **)&ossl.sha512 = dlsym(h, "EVP_sha512");
  *(void **)&ossl.digest = dlsym(h, "EVP_Digest");
  *(void **)&ossl.hmac = dlsym(h, "HMAC");
  if (!ossl.sha1 || !ossl.sha256 || !ossl.sha384 || !ossl.sha512 || !ossl.digest || !ossl.hmac)
    snprintf(ossl.error, sizeof(ossl.error), "%s lacks a function this build needs", ISL_RT_LIBCRYPTO);
}

/* The digest called name, or NULL after throwing (unknown name, or no libcrypto). */
static const EVP_MD *md_named(isl_iso_t *iso, const char *what, const char *name) {
  pthread_once(&ossl_once, ossl_load);
  char msg[320];
  if (ossl.error[0]) {
    snprintf(msg, sizeof(msg), "%s: %s", what, ossl.error);
    isl_iso_throw(iso, "Error", msg);
    return NULL;
  }
  const EVP_MD *md = NULL;
  if (!name)
    md = NULL;
  else if (strcmp(name, "SHA-1") == 0)
    md = ossl.sha1();
  else if (strcmp(name, "SHA-256") == 0)
    md = ossl.sha256();
  else if (strcmp(name, "SHA-384") == 0)
    md = ossl.sha384();
  else if (strcmp(name, "SHA-512") == 0)
    md = ossl.sha512();
  if (!md) {
    snprintf(msg, sizeof(msg), "%s: unsupported algorithm", what);
    isl_iso_throw(iso, "TypeError", msg);
  }
  return md;
}

static int crypto_random(isl_iso_t *iso, void *data, int argc, const isl_val_t *argv, isl_val_t *ret) {
  (void)data;
  if (isl_rt__refuse_in_global_scope(iso)) return ISL_EJS;
  double n = argc > 0 ? isl_iso_to_number(iso, argv[0]) : -1;
  if (!(n >= 0 && n <= RANDOM_MAX)) return isl_iso_throw(iso, "RangeError", "host.random: 0..65536 bytes");
  uint8_t buf[RANDOM_MAX];
  size_t len = (size_t)n;
  for (size_t off = 0; off < len;) {
    ssize_t k = getrandom(buf + off, len - off, 0);
    if (k <= 0) return isl_iso_throw(iso, "Error", "host.random: getrandom failed");
    off += (size_t)k;
  }
  return isl_iso_new_array_buffer(iso, buf, len, ret);
}

/* Reads argv[i] as an ArrayBuffer (copy from malloc) or throws. */
static int bytes_arg(isl_iso_t *iso, int argc, const isl_val_t *argv, int i, const char *what, uint8_t **buf,
                     size_t *len) {
  if (i >= argc || isl_iso_array_buffer_copy(iso, argv[i], buf, len) < 0) return isl_iso_throw(iso, "TypeError", what);
  return 0;
}

static int crypto_digest(isl_iso_t *iso, void *data, int argc, const isl_val_t *argv, isl_val_t *ret) {
  (void)data;
  char *alg = argc > 0 ? isl_iso_to_cstring(iso, argv[0]) : NULL;
  const EVP_MD *md = md_named(iso, "host.digest", alg);
  free(alg);
  if (!md) return ISL_EJS;
  uint8_t *in;
  size_t len;
  int rc = bytes_arg(iso, argc, argv, 1, "host.digest: data must be an ArrayBuffer", &in, &len);
  if (rc < 0) return rc;
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int out_len = 0;
  int ok = ossl.digest(in, len, out, &out_len, md, NULL);
  free(in);
  if (!ok) return isl_iso_throw(iso, "Error", "host.digest: OpenSSL failed");
  return isl_iso_new_array_buffer(iso, out, out_len, ret);
}

static int crypto_hmac(isl_iso_t *iso, void *data, int argc, const isl_val_t *argv, isl_val_t *ret) {
  (void)data;
  char *alg = argc > 0 ? isl_iso_to_cstring(iso, argv[0]) : NULL;
  const EVP_MD *md = md_named(iso, "host.hmac", alg);
  free(alg);
  if (!md) return ISL_EJS;
  uint8_t *key, *in;
  size_t key_len, len;
  int rc = bytes_arg(iso, argc, argv, 1, "host.hmac: key must be an ArrayBuffer", &key, &key_len);
  if (rc < 0) return rc;
  rc = bytes_arg(iso, argc, argv, 2, "host.hmac: data must be an ArrayBuffer", &in, &len);
  if (rc < 0) {
    free(key);
    return rc;
  }
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int out_len = 0;
  /* HMAC() treats a NULL key as "reuse the last one": pass a real pointer. */
  static const unsigned char empty[1];
  const unsigned char *r = ossl.hmac(md, key_len ? key : empty, (int)key_len, in, len, out, &out_len);
  free(key);
  free(in);
  if (!r) return isl_iso_throw(iso, "Error", "host.hmac: OpenSSL failed");
  return isl_iso_new_array_buffer(iso, out, out_len, ret);
}

const isl_rt_host_fn_t isl_rt__crypto_fns[] = {
    {"random", crypto_random}, {"digest", crypto_digest}, {"hmac", crypto_hmac}, {NULL, NULL}};
