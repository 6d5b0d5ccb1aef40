/*
 * host_crypto.c - the primitives behind crypto.* (crypto.js): random bytes
 * from the kernel's CSPRNG, digests and HMAC from OpenSSL. The JS side does
 * the WebCrypto bookkeeping (keys, algorithms, promises); the bytes are
 * only ever computed here.
 */
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "runtime/internal.h"

#define RANDOM_MAX 65536

static const EVP_MD *md_named(const char *name) {
  if (!name) return NULL;
  if (strcmp(name, "SHA-1") == 0) return EVP_sha1();
  if (strcmp(name, "SHA-256") == 0) return EVP_sha256();
  if (strcmp(name, "SHA-384") == 0) return EVP_sha384();
  if (strcmp(name, "SHA-512") == 0) return EVP_sha512();
  return NULL;
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
  const EVP_MD *md = md_named(alg);
  free(alg);
  if (!md) return isl_iso_throw(iso, "TypeError", "host.digest: unsupported algorithm");
  uint8_t *in;
  size_t len;
  int rc = bytes_arg(iso, argc, argv, 1, "host.digest: data must be an ArrayBuffer", &in, &len);
  if (rc < 0) return rc;
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int out_len = 0;
  int ok = EVP_Digest(in, len, out, &out_len, md, NULL);
  free(in);
  if (!ok) return isl_iso_throw(iso, "Error", "host.digest: OpenSSL failed");
  return isl_iso_new_array_buffer(iso, out, out_len, ret);
}

static int crypto_hmac(isl_iso_t *iso, void *data, int argc, const isl_val_t *argv, isl_val_t *ret) {
  (void)data;
  char *alg = argc > 0 ? isl_iso_to_cstring(iso, argv[0]) : NULL;
  const EVP_MD *md = md_named(alg);
  free(alg);
  if (!md) return isl_iso_throw(iso, "TypeError", "host.hmac: unsupported algorithm");
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
  const unsigned char *r = HMAC(md, key_len ? key : empty, (int)key_len, in, len, out, &out_len);
  free(key);
  free(in);
  if (!r) return isl_iso_throw(iso, "Error", "host.hmac: OpenSSL failed");
  return isl_iso_new_array_buffer(iso, out, out_len, ret);
}

const isl_rt_host_fn_t isl_rt__crypto_fns[] = {
    {"random", crypto_random}, {"digest", crypto_digest}, {"hmac", crypto_hmac}, {NULL, NULL}};
