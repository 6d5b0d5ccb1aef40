/*
 * snapfile.c - snapshots written to a file at build time and mapped at run
 * time.
 *
 * The runtime's base snapshot (the JS prelude evaluated in a fresh isolate)
 * used to be made by every process at start: 80-100 ms of CPU, which ran
 * into the CPU limit whenever the machine was busy. It is now made once by
 * the build and saved here; a process maps the file MAP_PRIVATE, so its
 * pages come from the page cache, are shared by every clone and every
 * process, and are copied only when an isolate writes them. Opening costs
 * a few system calls and one scratch instantiation (to learn this
 * process's function pointers), no engine code.
 *
 * The layout, all in the byte order and page size of the machine that
 * built it (the file is a build product, never shipped elsewhere):
 *
 *   header      magic, format version, build id, engine state (stack
 *               pointer, runtime and context addresses, ...), sizes, and a
 *               checksum of everything up to the image
 *   nonzero     which OS pages of the image are not zero (a bit each)
 *   keys        the host functions' keys, NUL-terminated, in id order
 *   meta        the caller's bytes (the runtime's entry handles)
 *   hot         the snapshot's hot set (runs of OS pages), if it has one
 *   image       at a 64 KiB boundary: the linear memory, page for page,
 *               sparse (zero pages are holes)
 *
 * What is not in it: the function table and the host functions'
 * addresses, which differ from process to process (ASLR). The table is
 * checked at save to be the one instantiation makes, and at open it is
 * taken from a scratch instantiation; host functions are found again by
 * key in the caller's table. A file whose build id differs (another engine
 * or prelude) is refused, never mapped: the C side and the JS in the image
 * must agree.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "isolate/internal.h"

#define SNAPFILE_MAGIC "ISLSNAP\n"
/* Bump when the layout or the meaning of a field changes. */
#define SNAPFILE_VERSION 2u
#define SNAPFILE_ALIGN ((uint64_t)ISL_WASM_PAGE)

typedef struct {
  char magic[8];
  uint32_t version;
  uint32_t os_page;
  char build_id[72];
  uint64_t image_off; /* multiple of SNAPFILE_ALIGN */
  uint64_t file_size; /* image_off + pages * 64 KiB */
  uint64_t bytes;     /* non-zero bytes of the image */
  uint32_t pages, max_pages;
  uint32_t rt, ctx, scratch, g0, undefined;
  uint32_t table_size, table_max;
  uint32_t n_fns, keys_len, meta_len, nz_words;
  uint32_t memory_max_mb, cpu_ms, hard_stop_ms;
  uint32_t hot_runs; /* runs of the hot set after meta; 0: none */
  uint64_t checksum; /* FNV-1a of the header (this field 0) and the parts up to the image */
} snapfile_header_t;

static uint64_t fnv1a(uint64_t h, const void *p, size_t n) {
  const uint8_t *b = p;
  for (size_t i = 0; i < n; i++) h = (h ^ b[i]) * 0x100000001b3ull;
  return h;
}

/* ---- the function table of a fresh instance ------------------------------ */

static pthread_once_t table_once = PTHREAD_ONCE_INIT;
static wasm_rt_funcref_table_t pristine;

/* Instantiates the engine against a scratch memory and keeps its table:
 * the function pointers and types this process's instances start with. */
static void make_pristine(void) {
  isl_iso_t *iso;
  if (isl_iso__alloc(NULL, &iso, NULL) < 0) return;
  if (isl_mem__reserve(&iso->mem, ISL_ENGINE_INITIAL_PAGES, iso->max_pages) == 0) {
    int trap;
    ISL_SBX_RUN(iso, trap, {
      Z_qjs_instantiate(&iso->inst, (struct Z_a_instance_t *)(void *)iso);
      iso->instantiated = 1;
    });
    const wasm_rt_funcref_table_t *t = &iso->inst.w2c_T0;
    wasm_rt_funcref_t *data = malloc((t->size ? t->size : 1) * sizeof(*data));
    if (!trap && iso->instantiated && data) {
      memcpy(data, t->data, t->size * sizeof(*data));
      pristine = *t;
      pristine.data = data;
    } else {
      free(data);
    }
  }
  isl_iso_free(iso);
}

static const wasm_rt_funcref_table_t *pristine_table(void) {
  pthread_once(&table_once, make_pristine);
  return pristine.data ? &pristine : NULL;
}

/* ---- save ------------------------------------------------------------------ */

static int write_all(int fd, const void *p, size_t n, off_t off) {
  for (size_t done = 0; done < n;) {
    ssize_t k = pwrite(fd, (const uint8_t *)p + done, n - done, off + (off_t)done);
    if (k <= 0) return k < 0 ? -errno : ISL_ESYS;
    done += (size_t)k;
  }
  return 0;
}

static int read_all(int fd, void *p, size_t n, off_t off) {
  for (size_t done = 0; done < n;) {
    ssize_t k = pread(fd, (uint8_t *)p + done, n - done, off + (off_t)done);
    if (k <= 0) return k < 0 ? -errno : ISL_ESYS;
    done += (size_t)k;
  }
  return 0;
}

/* Copies the non-zero pages of s's memfd into fd at image_off, one read
 * and one write per run of them. */
static int copy_image(const isl_iso_snapshot_t *s, int fd, uint64_t image_off, size_t os_page) {
  size_t n = (size_t)s->pages * ISL_WASM_PAGE / os_page;
  size_t cap = 256 * os_page;
  uint8_t *buf = malloc(cap);
  if (!buf) return ISL_ENOMEM;
  int rc = 0;
  for (size_t i = 0; i < n && rc == 0;) {
    if (!((s->nonzero[i / 64] >> (i % 64)) & 1)) {
      i++;
      continue;
    }
    size_t j = i + 1;
    while (j < n && j - i < cap / os_page && ((s->nonzero[j / 64] >> (j % 64)) & 1)) j++;
    size_t len = (j - i) * os_page;
    rc = read_all(s->fd, buf, len, (off_t)(i * os_page) + s->fd_off);
    if (rc == 0) rc = write_all(fd, buf, len, (off_t)(image_off + i * os_page));
    i = j;
  }
  free(buf);
  return rc;
}

int isl_iso_snapshot_save(const isl_iso_snapshot_t *s, const char *path, const char *build_id, const void *meta,
                          size_t meta_len, isl_err_t *err) {
  const size_t os_page = (size_t)sysconf(_SC_PAGESIZE);
  if (s->parent) return isl_err_set(err, ISL_EINVAL, "%s: only a full snapshot can be saved", path);
  if (strlen(build_id) >= sizeof(((snapfile_header_t *)0)->build_id) || meta_len > ISL_ISO_SNAPFILE_META_MAX)
    return isl_err_set(err, ISL_EINVAL, "%s: build id or meta too long", path);
  const wasm_rt_funcref_table_t *t = pristine_table();
  if (!t) return isl_err_set(err, ISL_ETRAP, "%s: cannot instantiate the engine", path);
  /* The table is not saved: it must be the one every instance starts with. */
  int same = s->table.size == t->size;
  for (uint32_t i = 0; same && i < t->size; i++)
    same = s->table.data[i].func == t->data[i].func && s->table.data[i].func_type == t->data[i].func_type;
  if (!same) return isl_err_set(err, ISL_EINVAL, "%s: the function table changed after instantiation", path);
  /* Keys: every host function needs one, and one key one function. */
  size_t keys_len = 0;
  for (uint32_t i = 0; i < s->n_fns; i++) {
    if (!s->fns[i].key) return isl_err_set(err, ISL_EINVAL, "%s: host function %u has no key", path, i);
    for (uint32_t k = 0; k < i; k++)
      if (strcmp(s->fns[k].key, s->fns[i].key) == 0)
        return isl_err_set(err, ISL_EINVAL, "%s: two host functions are both called '%s'", path, s->fns[i].key);
    keys_len += strlen(s->fns[i].key) + 1;
  }
  size_t n_pages = (size_t)s->pages * ISL_WASM_PAGE / os_page;
  uint32_t nz_words = (uint32_t)(n_pages / 64 + 1);
  const isl_mem_hot_t *hot = __atomic_load_n(&s->hot, __ATOMIC_ACQUIRE);
  uint32_t hot_runs = hot ? hot->n_runs : 0;
  snapfile_header_t h = {.version = SNAPFILE_VERSION,
                         .hot_runs = hot_runs,
                         .os_page = (uint32_t)os_page,
                         .bytes = s->bytes,
                         .pages = s->pages,
                         .max_pages = s->max_pages,
                         .rt = s->rt,
                         .ctx = s->ctx,
                         .scratch = s->scratch,
                         .g0 = s->g0,
                         .undefined = isl_iso__undefined,
                         .table_size = t->size,
                         .table_max = t->max_size,
                         .n_fns = s->n_fns,
                         .keys_len = (uint32_t)keys_len,
                         .meta_len = (uint32_t)meta_len,
                         .nz_words = nz_words,
                         .memory_max_mb = s->limits.memory_max_mb,
                         .cpu_ms = s->limits.cpu_ms,
                         .hard_stop_ms = s->limits.hard_stop_ms};
  memcpy(h.magic, SNAPFILE_MAGIC, sizeof(h.magic));
  snprintf(h.build_id, sizeof(h.build_id), "%s", build_id);
  size_t head_len = sizeof(h) + nz_words * sizeof(uint64_t) + keys_len + meta_len + hot_runs * sizeof(isl_mem_run_t);
  h.image_off = (head_len + SNAPFILE_ALIGN - 1) / SNAPFILE_ALIGN * SNAPFILE_ALIGN;
  h.file_size = h.image_off + (uint64_t)s->pages * ISL_WASM_PAGE;
  /* Everything before the image, in one buffer. */
  uint8_t *head = calloc(1, head_len);
  if (!head) return isl_err_set(err, ISL_ENOMEM, "out of memory");
  uint8_t *p = head + sizeof(h);
  memcpy(p, s->nonzero, nz_words * sizeof(uint64_t));
  p += nz_words * sizeof(uint64_t);
  for (uint32_t i = 0; i < s->n_fns; i++) {
    size_t n = strlen(s->fns[i].key) + 1;
    memcpy(p, s->fns[i].key, n);
    p += n;
  }
  if (meta_len) memcpy(p, meta, meta_len);
  p += meta_len;
  if (hot_runs) memcpy(p, hot->runs, hot_runs * sizeof(isl_mem_run_t));
  memcpy(head, &h, sizeof(h));
  h.checksum = fnv1a(0xcbf29ce484222325ull, head, head_len);
  memcpy(head, &h, sizeof(h));

  char tmp[4096];
  if (snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp)) {
    free(head);
    return isl_err_set(err, ISL_EINVAL, "%s: path too long", path);
  }
  int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  int rc = fd < 0 ? -errno : 0;
  if (rc == 0) rc = write_all(fd, head, head_len, 0);
  if (rc == 0) rc = copy_image(s, fd, h.image_off, os_page);
  if (rc == 0 && ftruncate(fd, (off_t)h.file_size) != 0) rc = -errno;
  if (fd >= 0 && close(fd) != 0 && rc == 0) rc = -errno;
  if (rc == 0 && rename(tmp, path) != 0) rc = -errno;
  free(head);
  if (rc < 0) {
    unlink(tmp);
    return isl_err_set(err, rc, "%s: cannot write the snapshot: %s", path, isl_strerror(rc));
  }
  return 0;
}

/* ---- open ------------------------------------------------------------------ */

/* The definition of host function `key`: the isolate's own, or the caller's. */
static const isl_iso_host_def_t *find_fn(const char *key, const isl_iso_host_def_t *fns, size_t n) {
  for (size_t i = 0; i < isl_iso__n_own_fns; i++)
    if (strcmp(isl_iso__own_fns[i].name, key) == 0) return &isl_iso__own_fns[i];
  for (size_t i = 0; i < n; i++)
    if (fns[i].name && fns[i].fn && strcmp(fns[i].name, key) == 0) return &fns[i];
  return NULL;
}

int isl_iso_snapshot_open(const char *path, const char *build_id, const isl_iso_host_def_t *fns, size_t n_fns,
                          isl_iso_snapshot_t **out, void **meta, size_t *meta_len, isl_err_t *err) {
  const size_t os_page = (size_t)sysconf(_SC_PAGESIZE);
  uint8_t *head = NULL;
  isl_iso_snapshot_t *s = NULL;
  snapfile_header_t h;
  struct stat st;
  int rc = 0;
  *out = NULL;
  *meta = NULL;
  *meta_len = 0;
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return isl_err_set(err, -errno, "%s: %s", path, strerror(errno));
  if (fstat(fd, &st) != 0 || read_all(fd, &h, sizeof(h), 0) < 0 || memcmp(h.magic, SNAPFILE_MAGIC, 8) != 0) {
    rc = isl_err_set(err, ISL_EINVAL, "%s: not an Isolde snapshot file", path);
    goto fail;
  }
  if (h.version != SNAPFILE_VERSION || h.os_page != os_page) {
    rc = isl_err_set(err, ISL_EINVAL, "%s: snapshot format %u for %u-byte pages; this build reads format %u, %zu", path,
                     h.version, h.os_page, SNAPFILE_VERSION, os_page);
    goto fail;
  }
  h.build_id[sizeof(h.build_id) - 1] = 0;
  if (strcmp(h.build_id, build_id) != 0) {
    rc = isl_err_set(err, ISL_EINVAL,
                     "%s: made by another build (engine and prelude %.12s, this binary %.12s); rebuild it", path,
                     h.build_id, build_id);
    goto fail;
  }
  size_t n_pages = (size_t)h.pages * ISL_WASM_PAGE / os_page;
  size_t head_len = sizeof(h) + (size_t)h.nz_words * sizeof(uint64_t) + h.keys_len + h.meta_len +
                    (size_t)h.hot_runs * sizeof(isl_mem_run_t);
  if (h.nz_words != n_pages / 64 + 1 || h.hot_runs > ISL_MEM_HOT_MAX_PAGES || h.meta_len > ISL_ISO_SNAPFILE_META_MAX ||
      h.pages > h.max_pages || head_len > h.image_off || h.image_off % SNAPFILE_ALIGN ||
      h.file_size != h.image_off + (uint64_t)h.pages * ISL_WASM_PAGE || (uint64_t)st.st_size != h.file_size) {
    rc = isl_err_set(err, ISL_EINVAL, "%s: truncated or damaged snapshot (%lld bytes, header says %llu)", path,
                     (long long)st.st_size, (unsigned long long)h.file_size);
    goto fail;
  }
  if (!(head = malloc(head_len)) || !(s = calloc(1, sizeof(*s)))) {
    rc = isl_err_set(err, ISL_ENOMEM, "out of memory");
    goto fail;
  }
  if ((rc = read_all(fd, head, head_len, 0)) < 0) {
    rc = isl_err_set(err, rc, "%s: %s", path, isl_strerror(rc));
    goto fail;
  }
  uint64_t want = h.checksum;
  memset(head + offsetof(snapfile_header_t, checksum), 0, sizeof(h.checksum));
  if (fnv1a(0xcbf29ce484222325ull, head, head_len) != want) {
    rc = isl_err_set(err, ISL_EINVAL, "%s: damaged snapshot (header checksum)", path);
    goto fail;
  }
  const wasm_rt_funcref_table_t *t = pristine_table();
  if (!t || t->size != h.table_size) {
    rc = isl_err_set(err, ISL_EINVAL, "%s: the engine's function table does not match the snapshot", path);
    goto fail;
  }
  s->refs = 1;
  s->fd = fd;
  s->fd_off = (off_t)h.image_off;
  s->bytes = h.bytes;
  s->pages = h.pages;
  s->max_pages = h.max_pages;
  s->rt = h.rt;
  s->ctx = h.ctx;
  s->scratch = h.scratch;
  s->g0 = h.g0;
  s->limits = (isl_iso_limits_t){h.memory_max_mb, h.cpu_ms, h.hard_stop_ms};
  s->table = *t;
  s->nonzero = malloc((size_t)h.nz_words * sizeof(uint64_t));
  s->table.data = malloc((t->size ? t->size : 1) * sizeof(wasm_rt_funcref_t));
  s->fns = malloc((h.n_fns ? h.n_fns : 1) * sizeof(isl_iso_fn_t));
  if (h.meta_len) *meta = malloc(h.meta_len);
  if (!s->nonzero || !s->table.data || !s->fns || (h.meta_len && !*meta)) {
    rc = isl_err_set(err, ISL_ENOMEM, "out of memory");
    goto fail;
  }
  memcpy(s->nonzero, head + sizeof(h), (size_t)h.nz_words * sizeof(uint64_t));
  memcpy(s->table.data, t->data, t->size * sizeof(wasm_rt_funcref_t));
  const char *key = (const char *)head + sizeof(h) + (size_t)h.nz_words * sizeof(uint64_t);
  const char *keys_end = key + h.keys_len;
  for (uint32_t i = 0; i < h.n_fns; i++) {
    const char *nul = memchr(key, 0, (size_t)(keys_end - key));
    if (!nul) {
      rc = isl_err_set(err, ISL_EINVAL, "%s: damaged snapshot (host function keys)", path);
      goto fail;
    }
    const isl_iso_host_def_t *def = find_fn(key, fns, n_fns);
    if (!def) {
      rc = isl_err_set(err, ISL_EINVAL, "%s: needs host function '%s', which this binary does not have", path, key);
      goto fail;
    }
    /* The key is kept from the definition, which outlives s. */
    s->fns[i] = (isl_iso_fn_t){def->fn, def->data, def->name};
    key = nul + 1;
  }
  s->n_fns = h.n_fns;
  if (h.meta_len) memcpy(*meta, keys_end, h.meta_len);
  *meta_len = h.meta_len;
  if (h.hot_runs) {
    isl_mem_hot_t *hot = malloc(sizeof(*hot) + h.hot_runs * sizeof(isl_mem_run_t));
    if (!hot) {
      rc = isl_err_set(err, ISL_ENOMEM, "out of memory");
      goto fail;
    }
    memcpy(hot->runs, keys_end + h.meta_len, h.hot_runs * sizeof(isl_mem_run_t));
    hot->n_runs = h.hot_runs;
    hot->pages = 0;
    for (uint32_t r = 0; r < h.hot_runs; r++) {
      const isl_mem_run_t *run = &hot->runs[r];
      if ((uint64_t)run->first + run->count > n_pages || hot->pages + run->count > ISL_MEM_HOT_MAX_PAGES) {
        free(hot);
        rc = isl_err_set(err, ISL_EINVAL, "%s: damaged snapshot (hot set)", path);
        goto fail;
      }
      hot->pages += run->count;
    }
    s->hot = hot;
  }
  /* Every instance has the engine's undefined at this address. */
  __atomic_store_n(&isl_iso__undefined, h.undefined, __ATOMIC_RELAXED);
  free(head);
  *out = s;
  return 0;
fail:
  free(head);
  if (s) {
    s->fd = -1;
    s->refs = 1;
    isl_iso_snapshot_free(s);
  }
  free(*meta);
  *meta = NULL;
  close(fd);
  return rc;
}
