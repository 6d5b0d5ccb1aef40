/*
 * memory.c - linear memories of isolates.
 *
 * Each memory is an 8 GiB PROT_NONE reservation (every address a wasm32
 * access can form falls inside it, so out-of-bounds accesses fault instead
 * of being checked in code) whose first `pages` are read-write. Growing
 * only changes protection. Freeing unmaps the whole reservation, which
 * Debian's wasm_rt_free_memory does not do.
 *
 * A snapshot copies a memory into a sealed memfd, writing only the pages
 * that are resident and not zero, so the file stays sparse. A clone maps it
 * MAP_PRIVATE over the start of a fresh reservation: pages are shared with
 * the snapshot until the clone writes them.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
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

int isl_mem__map_snapshot(wasm_rt_memory_t *mem, int fd, uint32_t pages, uint32_t max_pages) {
  int rc = isl_mem__reserve(mem, 0, max_pages);
  if (rc < 0) return rc;
  void *p = mmap(mem->data, (size_t)pages * ISL_WASM_PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_FIXED, fd, 0);
  if (p == MAP_FAILED) {
    rc = -errno;
    isl_mem__release(mem);
    return rc;
  }
  mem->pages = pages;
  mem->size = pages * ISL_WASM_PAGE;
  return 0;
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

int isl_mem__to_memfd(const wasm_rt_memory_t *mem) {
  const size_t os_page = (size_t)sysconf(_SC_PAGESIZE);
  int fd = memfd_create("isolde-snapshot", MFD_CLOEXEC | MFD_ALLOW_SEALING);
  if (fd < 0) return -errno;
  size_t n = mem->size / os_page;
  unsigned char *resident = malloc(n ? n : 1);
  int rc = 0;
  if (!resident) {
    rc = ISL_ENOMEM;
    goto fail;
  }
  if (ftruncate(fd, mem->size) != 0 || mincore(mem->data, mem->size, resident) != 0) {
    rc = -errno;
    goto fail;
  }
  for (size_t i = 0; i < n; i++) {
    const uint8_t *p = mem->data + i * os_page;
    if (!(resident[i] & 1) || page_is_zero(p, os_page)) continue;
    if (pwrite(fd, p, os_page, (off_t)(i * os_page)) != (ssize_t)os_page) {
      rc = errno ? -errno : ISL_ESYS;
      goto fail;
    }
  }
  if (fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL) != 0) {
    rc = -errno;
    goto fail;
  }
  free(resident);
  return fd;
fail:
  free(resident);
  close(fd);
  return rc;
}
