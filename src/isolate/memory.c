/*
 * memory.c - linear memories of isolates.
 *
 * Each memory is an 8 GiB PROT_NONE reservation (every address a wasm32
 * access can form falls inside it, so out-of-bounds accesses fault instead
 * of being checked in code) whose first `pages` are read-write. Growing
 * only changes protection. Freeing unmaps the whole reservation, which
 * Debian's wasm_rt_free_memory does not do.
 *
 * A full snapshot copies a memory into a sealed memfd, writing only the
 * pages that are resident and not zero, so the file stays sparse. A clone
 * maps it MAP_PRIVATE over the start of a fresh reservation: pages are
 * shared with the snapshot until the clone writes them.
 *
 * A layered snapshot (of a clone) stores only the pages the clone changed,
 * in runs, each at its own offset of a sparse memfd. Its clones map the
 * parent's image first (recursively down to a full snapshot), make the
 * part the parent did not have read-write zeros, and then map each run of
 * each layer over it with MAP_FIXED, all MAP_PRIVATE: nothing is copied,
 * and every page is shared with whichever snapshot holds it.
 *
 * Finding the changed pages: a page the clone wrote is an anonymous
 * copy-on-write page in a file mapping, and /proc/self/pagemap tells it
 * apart (bit 61 "file page" clear) without reading 16 MiB; its flags are
 * readable without privileges. Every non-present page, and every file page,
 * still holds the parent's bytes. Written pages are then compared with the
 * parent's (a scratch mapping of its image), since the engine's GC writes
 * most of the heap without changing it; beyond the parent's size, and where
 * the parent's page was zero, with zeros. A page the clone zeroed where the
 * parent had data is changed and lands in a run; being zero it is a hole in
 * the memfd, which reads as zeros: recorded for free. Without pagemap (no
 * /proc), every page is compared, which faults the template's whole memory
 * in, but only at snapshot time.
 *
 * Each run costs one mmap per clone (about 3.5 us on the 2-core VM this was
 * measured on, against 12 us for a whole clone of a full snapshot) and two
 * VMAs while the clone lives; internal.h says how runs are bounded.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "isolate/internal.h"

int isl_mem__reserve(wasm_rt_memory_t *mem, uint32_t pages, uint32_t max_pages) {
  void *p = mmap(NULL, ISL_MEM_RESERVATION, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (p == MAP_FAILED) return -errno;
  if (pages && mprotect(p, (size_t)pages * ISL_WASM_PAGE, PROT_READ | PROT_WRITE) != 0) {
    int e = -errno;
    munmap(p, ISL_MEM_RESERVATION);
    return e;
  }
  mem->data = p;
  mem->pages = pages;
  mem->max_pages = max_pages;
  mem->size = pages * ISL_WASM_PAGE;
  return 0;
}

int isl_mem__map_snapshot(wasm_rt_memory_t *mem, const isl_iso_snapshot_t *s) {
  /* chain[0] is s, chain[n - 1] the full snapshot at the bottom; depth is
   * bounded when layers are made (snapshot.c). */
  const isl_iso_snapshot_t *chain[ISL_SNAP_MAX_DEPTH + 1] = {s};
  int n = 1;
  for (const isl_iso_snapshot_t *p = s->parent; p && n <= ISL_SNAP_MAX_DEPTH; p = p->parent) chain[n++] = p;
  const isl_iso_snapshot_t *root = chain[n - 1];
  const size_t os_page = (size_t)sysconf(_SC_PAGESIZE);
  int rc = isl_mem__reserve(mem, 0, s->max_pages);
  if (rc < 0) return rc;
  size_t root_size = (size_t)root->pages * ISL_WASM_PAGE, size = (size_t)s->pages * ISL_WASM_PAGE;
  if (mmap(mem->data, root_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_FIXED, root->fd, root->fd_off) == MAP_FAILED)
    goto fail;
  /* What the layers grew beyond the bottom: zeros except for their runs. */
  if (size > root_size && mprotect(mem->data + root_size, size - root_size, PROT_READ | PROT_WRITE) != 0) goto fail;
  for (int k = n - 2; k >= 0; k--) {
    const isl_iso_snapshot_t *l = chain[k];
    for (uint32_t r = 0; r < l->n_runs; r++) {
      size_t off = (size_t)l->runs[r].first * os_page;
      if (mmap(mem->data + off, (size_t)l->runs[r].count * os_page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_FIXED,
               l->fd, (off_t)off) == MAP_FAILED)
        goto fail;
    }
  }
  mem->pages = s->pages;
  mem->size = s->pages * ISL_WASM_PAGE;
  return 0;
fail:
  rc = -errno;
  isl_mem__release(mem);
  return rc;
}

int isl_mem__grow_to(wasm_rt_memory_t *mem, uint32_t pages) {
  if (pages <= mem->pages) return 0;
  if (pages > mem->max_pages) return ISL_EMEMLIMIT;
  size_t old = (size_t)mem->pages * ISL_WASM_PAGE;
  size_t delta = (size_t)(pages - mem->pages) * ISL_WASM_PAGE;
  if (mprotect(mem->data + old, delta, PROT_READ | PROT_WRITE) != 0) return -errno;
  mem->pages = pages;
  mem->size = pages * ISL_WASM_PAGE;
  return 0;
}

void isl_mem__release(wasm_rt_memory_t *mem) {
  if (mem->data) munmap(mem->data, ISL_MEM_RESERVATION);
  mem->data = NULL;
  mem->pages = mem->size = 0;
}

static int page_is_zero(const uint8_t *p, size_t n) {
  const uint64_t *w = (const uint64_t *)p;
  for (size_t i = 0; i < n / 8; i++)
    if (w[i]) return 0;
  return 1;
}

static inline int bit_get(const uint64_t *b, size_t i) {
  return (int)((b[i / 64] >> (i % 64)) & 1);
}
static inline void bit_set(uint64_t *b, size_t i) {
  b[i / 64] |= 1ull << (i % 64);
}

/* A sealed, sparse memfd as large as mem; *out gets everything but runs. */
static int image_start(const wasm_rt_memory_t *mem, size_t os_page, isl_mem_image_t *out) {
  size_t n = mem->size / os_page;
  *out = (isl_mem_image_t){.fd = -1};
  out->nonzero = calloc(n / 64 + 1, sizeof(uint64_t));
  if (!out->nonzero) return ISL_ENOMEM;
  out->fd = memfd_create("isolde-snapshot", MFD_CLOEXEC | MFD_ALLOW_SEALING);
  if (out->fd < 0 || ftruncate(out->fd, mem->size) != 0) return -errno;
  return 0;
}

/* Writes OS pages [first, end) of mem into the image at their own offsets,
 * skipping zero pages (a hole reads as zeros and costs nothing): one
 * pwrite per run of non-zero pages, not one per page (layers are made
 * while a server loads workers, and the kernel's per-call cost dominated). */
static int image_put_run(const wasm_rt_memory_t *mem, size_t os_page, size_t first, size_t end, isl_mem_image_t *out) {
  for (size_t i = first; i < end;) {
    if (page_is_zero(mem->data + i * os_page, os_page)) {
      i++;
      continue;
    }
    size_t j = i + 1;
    while (j < end && !page_is_zero(mem->data + j * os_page, os_page)) j++;
    size_t len = (j - i) * os_page;
    for (size_t done = 0; done < len;) {
      ssize_t k = pwrite(out->fd, mem->data + i * os_page + done, len - done, (off_t)(i * os_page + done));
      if (k <= 0) return k < 0 ? -errno : ISL_ESYS;
      done += (size_t)k;
    }
    out->bytes += len;
    for (size_t p = i; p < j; p++) bit_set(out->nonzero, p);
    i = j;
  }
  return 0;
}

static int image_seal(isl_mem_image_t *out) {
  return fcntl(out->fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL) != 0 ? -errno : 0;
}

void isl_mem__image_free(isl_mem_image_t *img) {
  if (img->fd >= 0) close(img->fd);
  free(img->runs);
  free(img->nonzero);
  *img = (isl_mem_image_t){.fd = -1};
}

int isl_mem__to_memfd(const wasm_rt_memory_t *mem, isl_mem_image_t *out) {
  const size_t os_page = (size_t)sysconf(_SC_PAGESIZE);
  size_t n = mem->size / os_page;
  unsigned char *resident = malloc(n ? n : 1);
  int rc = image_start(mem, os_page, out);
  if (rc == 0 && !resident) rc = ISL_ENOMEM;
  if (rc == 0 && mincore(mem->data, mem->size, resident) != 0) rc = -errno;
  for (size_t i = 0; i < n && rc == 0;) {
    size_t j = i;
    while (j < n && (resident[j] & 1)) j++;
    if (j > i) rc = image_put_run(mem, os_page, i, j, out);
    i = j + 1;
  }
  if (rc == 0) rc = image_seal(out);
  free(resident);
  if (rc < 0) isl_mem__image_free(out);
  return rc;
}

/* ---- layers ---------------------------------------------------------------- */

int isl_mem__no_pagemap;

#define PM_PRESENT (1ull << 63)
#define PM_SWAPPED (1ull << 62)
#define PM_FILE (1ull << 61)
#define PM_CHUNK 4096 /* pagemap entries read at a time (32 KiB) */

/* Page states while a layer is made. */
enum { SAME = 0, CHANGED = 1 };

/* changed[i] = CHANGED for each OS page i of mem that differs from the
 * parent's image (np OS pages of it, mapped at img; zero beyond; pnz says
 * which of its pages are not zero). pagemap names the candidates: pages the
 * clone wrote. Each is then compared with the parent's page (or with zeros
 * where the parent was zero), because written does not mean changed: the
 * engine's cycle collector decrements and restores the reference count of
 * every object it scans, so one GC in the clone dirties most of the heap
 * without changing a byte (the base's 1,300 pages dirtied, 121 changed). */
static int find_changed_pagemap(const wasm_rt_memory_t *mem, const uint8_t *img, size_t os_page, size_t np,
                                const uint64_t *pnz, uint8_t *changed) {
  int fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -errno;
  uint64_t *pm = malloc(PM_CHUNK * sizeof(uint64_t));
  int rc = pm ? 0 : ISL_ENOMEM;
  size_t n = mem->size / os_page, first = (uintptr_t)mem->data / os_page;
  for (size_t i = 0; i < n && rc == 0; i += PM_CHUNK) {
    size_t cnt = n - i < PM_CHUNK ? n - i : PM_CHUNK;
    ssize_t got = pread(fd, pm, cnt * sizeof(uint64_t), (off_t)((first + i) * sizeof(uint64_t)));
    if (got != (ssize_t)(cnt * sizeof(uint64_t))) {
      rc = got < 0 ? -errno : ISL_ESYS;
      break;
    }
    for (size_t k = 0; k < cnt; k++) {
      size_t pg = i + k;
      uint64_t e = pm[k];
      /* Below np a page is the parent's until written (then anonymous);
       * beyond it every page is anonymous and zero until touched. */
      int written = (e & PM_SWAPPED) || ((e & PM_PRESENT) && (pg >= np || !(e & PM_FILE)));
      const uint8_t *p = mem->data + pg * os_page;
      int same = !written ||
                 (pg < np && bit_get(pnz, pg) ? memcmp(p, img + pg * os_page, os_page) == 0 : page_is_zero(p, os_page));
      changed[pg] = same ? SAME : CHANGED;
    }
  }
  free(pm);
  close(fd);
  return rc;
}

/* The fallback without pagemap: every page is a candidate. */
static void find_changed_compare(const wasm_rt_memory_t *mem, const uint8_t *img, size_t os_page, size_t np,
                                 const uint64_t *pnz, uint8_t *changed) {
  size_t n = mem->size / os_page;
  for (size_t i = 0; i < n; i++) {
    const uint8_t *p = mem->data + i * os_page;
    int same = i < np && bit_get(pnz, i) ? memcmp(p, img + i * os_page, os_page) == 0 : page_is_zero(p, os_page);
    changed[i] = same ? SAME : CHANGED;
  }
}

/* The runs of a layer. Start from the runs of changed pages; the gap
 * between two costs the parent's non-zero pages in it (they would be stored
 * again; zero pages are holes, which are free, and the heap grows into
 * zero pages, so many gaps cost nothing). Merge every gap that costs at
 * most ISL_MEM_RUN_GAP pages, then the cheapest gaps until at most
 * ISL_MEM_MAX_RUNS runs are left: gaps are independent, so merging the
 * cheapest first stores the fewest bytes for that many runs. */
typedef struct {
  size_t cost, at;
} gap_t;

static int gap_cmp(const void *a, const void *b) {
  const gap_t *x = a, *y = b;
  return x->cost != y->cost ? (x->cost < y->cost ? -1 : 1) : (x->at < y->at ? -1 : x->at > y->at);
}

static int plan_runs(const uint8_t *changed, size_t n, size_t np, const uint64_t *pnz, size_t max_runs,
                     isl_mem_run_t **out, uint32_t *n_out) {
  size_t nr = 0;
  for (size_t i = 0; i < n; i++) nr += changed[i] == CHANGED && (i == 0 || changed[i - 1] != CHANGED);
  isl_mem_run_t *runs = malloc((nr ? nr : 1) * sizeof(*runs));
  gap_t *gaps = malloc((nr ? nr : 1) * sizeof(*gaps));
  uint8_t *merge = calloc(nr ? nr : 1, 1); /* merge[k]: run k joins run k + 1 */
  int rc = runs && gaps && merge ? 0 : ISL_ENOMEM;
  if (rc < 0) goto done;
  size_t k = 0;
  for (size_t i = 0; i < n; i++)
    if (changed[i] == CHANGED && (i == 0 || changed[i - 1] != CHANGED)) {
      size_t end = i;
      while (end < n && changed[end] == CHANGED) end++;
      runs[k++] = (isl_mem_run_t){(uint32_t)i, (uint32_t)(end - i)};
    }
  size_t left = nr, ng = nr ? nr - 1 : 0;
  for (size_t g = 0; g < ng; g++) {
    gaps[g] = (gap_t){0, g};
    for (size_t i = (size_t)runs[g].first + runs[g].count; i < runs[g + 1].first; i++)
      gaps[g].cost += i < np && bit_get(pnz, i);
  }
  qsort(gaps, ng, sizeof(*gaps), gap_cmp);
  for (size_t g = 0; g < ng && (gaps[g].cost <= ISL_MEM_RUN_GAP || left > max_runs); g++, left--) merge[gaps[g].at] = 1;
  /* Join runs in place. */
  size_t w = 0;
  for (size_t r = 0; r < nr; r++) {
    if (r > 0 && merge[r - 1])
      runs[w - 1].count = runs[r].first + runs[r].count - runs[w - 1].first;
    else
      runs[w++] = runs[r];
  }
  *out = runs;
  *n_out = (uint32_t)w;
  runs = NULL;
done:
  free(runs);
  free(gaps);
  free(merge);
  return rc;
}

int isl_mem__layer_memfd(const wasm_rt_memory_t *mem, const isl_iso_snapshot_t *parent, isl_mem_image_t *out) {
  const size_t os_page = (size_t)sysconf(_SC_PAGESIZE);
  size_t n = mem->size / os_page, np = (size_t)parent->pages * ISL_WASM_PAGE / os_page;
  const uint64_t *pnz = parent->nonzero;
  uint8_t *changed = calloc(n ? n : 1, 1);
  int rc = image_start(mem, os_page, out);
  if (rc == 0 && !changed) rc = ISL_ENOMEM;
  if (rc < 0) goto fail;
  /* The parent's image, to compare with: a scratch clone's memory. Only
   * its non-zero pages are read, so no hole of its memfds is touched. */
  wasm_rt_memory_t img = {0};
  if ((rc = isl_mem__map_snapshot(&img, parent)) < 0) goto fail;
  rc = isl_mem__no_pagemap ? -ENOENT : find_changed_pagemap(mem, img.data, os_page, np, pnz, changed);
  if (rc < 0) find_changed_compare(mem, img.data, os_page, np, pnz, changed);
  isl_mem__release(&img);
  rc = 0;
  for (size_t i = 0; i < n; i++) out->changed += changed[i] == CHANGED;
  if ((rc = plan_runs(changed, n, np, pnz, ISL_MEM_MAX_RUNS, &out->runs, &out->n_runs)) < 0) goto fail;
  /* The image's non-zero pages: the parent's outside the runs, the
   * layer's own inside them. */
  for (size_t i = 0; i < np; i++)
    if (bit_get(pnz, i)) bit_set(out->nonzero, i);
  for (uint32_t r = 0; r < out->n_runs && rc == 0; r++) {
    const isl_mem_run_t *run = &out->runs[r];
    for (size_t i = run->first; i < (size_t)run->first + run->count; i++) out->nonzero[i / 64] &= ~(1ull << (i % 64));
    rc = image_put_run(mem, os_page, run->first, (size_t)run->first + run->count, out);
  }
  if (rc == 0) rc = image_seal(out);
  if (rc < 0) goto fail;
  free(changed);
  return 0;
fail:
  free(changed);
  isl_mem__image_free(out);
  return rc;
}

/* ---- hot sets ---------------------------------------------------------------- */

#define PM_EXCLUSIVE (1ull << 56)
#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23 /* Linux 5.14 */
#endif

int isl_mem__hot_learn(const wasm_rt_memory_t *mem, size_t np, isl_mem_hot_t **out) {
  const size_t os_page = (size_t)sysconf(_SC_PAGESIZE);
  size_t n = mem->size / os_page, first = (uintptr_t)mem->data / os_page;
  if (np > n) np = n;
  *out = NULL;
  int fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -errno;
  uint64_t *pm = malloc(PM_CHUNK * sizeof(uint64_t));
  isl_mem_hot_t *hot = malloc(sizeof(*hot) + ISL_MEM_HOT_MAX_PAGES * sizeof(isl_mem_run_t));
  int rc = pm && hot ? 0 : ISL_ENOMEM;
  if (hot) hot->n_runs = hot->pages = 0;
  for (size_t i = 0; i < np && rc == 0; i += PM_CHUNK) {
    size_t cnt = np - i < PM_CHUNK ? np - i : PM_CHUNK;
    ssize_t got = pread(fd, pm, cnt * sizeof(uint64_t), (off_t)((first + i) * sizeof(uint64_t)));
    if (got != (ssize_t)(cnt * sizeof(uint64_t))) {
      rc = got < 0 ? -errno : ISL_ESYS;
      break;
    }
    for (size_t k = 0; k < cnt && rc == 0; k++) {
      /* Written: a private anonymous copy, mapped by this process only (the
       * shared zero page, mapped by pages only read, is neither). */
      uint64_t e = pm[k];
      if ((e & (PM_PRESENT | PM_FILE | PM_EXCLUSIVE)) != (PM_PRESENT | PM_EXCLUSIVE) && !(e & PM_SWAPPED)) continue;
      uint32_t pg = (uint32_t)(i + k);
      isl_mem_run_t *last = hot->n_runs ? &hot->runs[hot->n_runs - 1] : NULL;
      if (hot->pages == ISL_MEM_HOT_MAX_PAGES)
        rc = ISL_ELIMIT;
      else if (last && last->first + last->count == pg)
        last->count++;
      else
        hot->runs[hot->n_runs++] = (isl_mem_run_t){pg, 1};
      hot->pages += rc == 0;
    }
  }
  free(pm);
  close(fd);
  if (rc < 0) {
    free(hot);
    return rc;
  }
  /* Runs are not merged over gaps: a page copied for nothing costs as much
   * as its fault would have (~2 us), a call far less. */
  isl_mem_hot_t *shrunk = realloc(hot, sizeof(*hot) + (hot->n_runs ? hot->n_runs : 1) * sizeof(isl_mem_run_t));
  *out = shrunk ? shrunk : hot;
  return 0;
}

void isl_mem__hot_prefetch(wasm_rt_memory_t *mem, const isl_mem_hot_t *hot) {
  /* Without MADV_POPULATE_WRITE (EINVAL before Linux 5.14) the pages fault
   * one by one as before; nothing else depends on the prefetch. */
  static int unsupported;
  if (!hot || __atomic_load_n(&unsupported, __ATOMIC_RELAXED)) return;
  const size_t os_page = (size_t)sysconf(_SC_PAGESIZE);
  for (uint32_t r = 0; r < hot->n_runs; r++) {
    const isl_mem_run_t *run = &hot->runs[r];
    if ((size_t)(run->first + run->count) * os_page > mem->size) break;
    if (madvise(mem->data + (size_t)run->first * os_page, (size_t)run->count * os_page, MADV_POPULATE_WRITE) != 0 &&
        errno == EINVAL) {
      __atomic_store_n(&unsupported, 1, __ATOMIC_RELAXED);
      return;
    }
  }
}
