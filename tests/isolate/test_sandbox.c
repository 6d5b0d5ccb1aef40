/* tests/isolate/test_sandbox.c - the sandbox must not hide host crashes,
 * and creating and freeing isolates must not leak address space or memory. */
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "isolate/isolate.h"
#include "test.h"

static long status_kb(const char *key) {
  FILE *f = fopen("/proc/self/status", "r");
  char line[256];
  long v = -1;
  size_t n = strlen(key);
  while (f && fgets(line, sizeof(line), f))
    if (strncmp(line, key, n) == 0) v = atol(line + n + 1);
  if (f) fclose(f);
  return v;
}

static int crash_in_host(isl_iso_t *iso, void *data, int argc, const isl_val_t *argv, isl_val_t *ret) {
  (void)iso, (void)data, (void)argc, (void)argv, (void)ret;
  volatile int *p = NULL;
  // cppcheck-suppress nullPointer ; the point of this test
  return *p; /* a host bug: must crash the process, not become a JS error */
}

TEST(sbx_host_segfault_still_crashes) {
  if (test_under_sanitizer()) return; /* ASan reports and aborts instead */
  pid_t pid = fork();
  CHECK(pid >= 0);
  if (pid == 0) {
    isl_iso_t *iso;
    if (isl_iso_new(NULL, &iso, NULL) != 0) _exit(3);
    isl_iso_define_function(iso, 0, "crash", crash_in_host, NULL);
    const char *src = "try { crash() } catch (e) { 'swallowed' }";
    isl_iso_eval(iso, src, strlen(src), "c.js", ISL_ISO_EVAL_SCRIPT, NULL);
    _exit(0); /* reaching here means the fault was hidden */
  }
  int st;
  CHECK(waitpid(pid, &st, 0) == pid);
  CHECK_MSG(WIFSIGNALED(st) && WTERMSIG(st) == SIGSEGV, "child status %d: host fault was not a crash", st);
}

TEST(sbx_create_destroy_cycles_stay_flat) {
  int cycles = test_under_sanitizer() ? 20000 : 100000;
  isl_iso_t *tpl, *iso;
  isl_iso_snapshot_t *snap;
  CHECK(isl_iso_new(NULL, &tpl, NULL) == 0);
  CHECK(isl_iso_snapshot_new(tpl, &snap, NULL) == 0);
  for (int i = 0; i < 1000; i++) { /* warm up allocator caches */
    CHECK(isl_iso_new_from_snapshot(snap, &iso, NULL) == 0);
    isl_iso_free(iso);
  }
  long vm0 = status_kb("VmSize:"), rss0 = status_kb("VmRSS:");
  for (int i = 0; i < cycles; i++) {
    CHECK(isl_iso_new_from_snapshot(snap, &iso, NULL) == 0);
    if (i % 1000 == 0) {
      isl_val_t v;
      CHECK(isl_iso_eval(iso, "Math.random()", 13, "x.js", ISL_ISO_EVAL_SCRIPT, &v) == 0);
      isl_iso_release(iso, v);
    }
    isl_iso_free(iso);
  }
  long vm1 = status_kb("VmSize:"), rss1 = status_kb("VmRSS:");
  isl_iso_snapshot_free(snap);
  isl_iso_free(tpl);
  /* one 8 GiB reservation leaked per cycle would add terabytes */
  CHECK_MSG(vm1 - vm0 < 64 * 1024, "address space grew by %ld KB over %d cycles", vm1 - vm0, cycles);
  /* ASan's quarantine keeps freed blocks resident on purpose; LSan checks leaks there. */
  if (!test_under_sanitizer())
    CHECK_MSG(rss1 - rss0 < 16 * 1024, "RSS grew by %ld KB over %d cycles", rss1 - rss0, cycles);
}
