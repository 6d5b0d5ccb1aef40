/*
 * test_url_fast.c - the fast path of URL parsing (src/runtime/js/url_fast.js)
 * against whatwg-url's full parser, by tests/runtime/js/url_fast.js run
 * through `isolde run` (the binary in ISOLDE_BIN).
 *
 * The JS file needs the WPT inputs as a constant: we read
 * urltestdata.json from ISOLDE_WPT_DIR (default ../shared/wpt, relative to
 * the repository root, where the tests run) and write a temporary script
 * that starts with `const DATA = <the file>;`. Without the data the
 * generated URLs still run, with `const DATA = null;`, and the log says
 * the WPT part was skipped.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "runtime/server_proc.h"
#include "test.h"

#define URL_FAST_JS "tests/runtime/js/url_fast.js"
/* The "ok N" the file ends with: its checks, two of them on the WPT data. */
#define URL_FAST_CHECKS 9
#define URL_FAST_WPT_CHECKS 2

/* The whole file as a string (malloc'd), or NULL. */
static char *read_file(const char *path) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  size_t cap = 1 << 16, len = 0;
  char *buf = malloc(cap);
  for (;;) {
    if (!buf) abort();
    len += fread(buf + len, 1, cap - len - 1, f);
    if (len < cap - 1) break;
    char *bigger = realloc(buf, cap *= 2);
    if (!bigger) abort();
    buf = bigger;
  }
  fclose(f);
  buf[len] = 0;
  return buf;
}

/* Writes the parts, in order, to a new temporary .js file; returns its path (owned) or NULL. */
static char *write_script(const char *const *parts, size_t n) {
  char *path = strdup("/tmp/isolde-url-fast-XXXXXX.js");
  int fd = path ? mkstemps(path, 3) : -1;
  if (fd < 0) {
    free(path);
    return NULL;
  }
  int ok = 1;
  for (size_t i = 0; ok && i < n; i++) {
    size_t len = strlen(parts[i]), off = 0;
    while (ok && off < len) {
      ssize_t k = write(fd, parts[i] + off, len - off);
      if (k <= 0) {
        ok = 0;
        break;
      }
      off += (size_t)k;
    }
  }
  close(fd);
  if (!ok) {
    unlink(path);
    free(path);
    return NULL;
  }
  return path;
}

/* Prints the lines of out that start with one of the prefixes (the counts). */
static void print_counts(const char *out) {
  static const char *const prefixes[] = {"urltestdata.json:", "generated:", "total:"};
  for (const char *p = out; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
    for (size_t i = 0; i < sizeof(prefixes) / sizeof(prefixes[0]); i++) {
      if (strncmp(p, prefixes[i], strlen(prefixes[i])) == 0) {
        const char *nl = strchr(p, '\n');
        printf("  %.*s\n", nl ? (int)(nl - p) : (int)strlen(p), p);
      }
    }
  }
}

TEST(url_fast_matches_full_parser) {
  const char *dir = getenv("ISOLDE_WPT_DIR");
  if (!dir || !*dir) dir = "../shared/wpt";
  char data_path[1024];
  snprintf(data_path, sizeof(data_path), "%s/urltestdata.json", dir);
  char *data = read_file(data_path);
  int checks = URL_FAST_CHECKS + (data ? URL_FAST_WPT_CHECKS : 0);
  if (!data) printf("  skipped: WPT URL data not found at %s (generated URLs only)\n", dir);
  char *harness = read_file(URL_FAST_JS);
  CHECK_MSG(harness != NULL, "cannot read " URL_FAST_JS);
  const char *parts[] = {"const DATA = ", data ? data : "null", ";\n", harness};
  char *path = write_script(parts, sizeof(parts) / sizeof(parts[0]));
  free(data);
  free(harness);
  CHECK_MSG(path != NULL, "cannot write a temporary script");

  const char *args[] = {"run", path, NULL};
  char *out = NULL;
  int status = test_isolde_run(args, &out);
  unlink(path);
  print_counts(out);
  if (status != 0) printf("  `isolde run %s` exited with %d:\n%s\n", URL_FAST_JS, status, out ? out : "");
  char want[32];
  snprintf(want, sizeof(want), "\nok %d\n", checks);
  int have_ok = out && strstr(out, want) != NULL;
  free(out);
  free(path);
  CHECK_EQ_INT(status, 0);
  CHECK_MSG(have_ok, URL_FAST_JS " did not print \"ok %d\" (a check was skipped or added: update the count)", checks);
}
