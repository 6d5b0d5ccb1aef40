/*
 * host_console.c - host.log: where console.* and the runtime's reports on
 * a tenant end up. Each worker has its own sink (log_fd); a line is written
 * with one write(2) so that lines from several loop threads do not mix.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "runtime/internal.h"

void isl_rt__tenant_log(const isl_rt_worker_t *w, const char *level, const char *text, size_t len) {
  int is_err = strcmp(level, "error") == 0 || strcmp(level, "warn") == 0;
  int fd = w && w->log_fd >= 0 ? w->log_fd : (is_err ? 2 : 1);
  const char *name = w ? w->name : "";
  size_t cap = strlen(name) + strlen(level) + len + 16;
  char *line = malloc(cap);
  if (!line) return;
  int n;
  if (!name[0] && !is_err) {
    n = snprintf(line, cap, "%.*s\n", (int)len, text);
  } else if (!name[0]) {
    n = snprintf(line, cap, "%s: %.*s\n", level, (int)len, text);
  } else {
    n = snprintf(line, cap, "[%s] %s: %.*s\n", name, level, (int)len, text);
  }
  for (size_t off = 0; n > 0 && off < (size_t)n;) {
    ssize_t k = write(fd, line + off, (size_t)n - off);
    if (k <= 0) break;
    off += (size_t)k;
  }
  free(line);
}

static int console_log(isl_iso_t *iso, void *data, int argc, const isl_val_t *argv, isl_val_t *ret) {
  (void)data;
  *ret = 0;
  if (argc < 2) return isl_iso_throw(iso, "TypeError", "host.log: expected (level, text)");
  char *level = isl_iso_to_cstring(iso, argv[0]);
  char *text = isl_iso_to_cstring(iso, argv[1]);
  static const char *const levels[] = {"debug", "info", "log", "warn", "error"};
  const char *lv = "log";
  for (size_t i = 0; level && i < sizeof(levels) / sizeof(levels[0]); i++)
    if (strcmp(level, levels[i]) == 0) lv = levels[i];
  isl_rt_inst_t *inst = isl_iso_get_data(iso);
  if (text) isl_rt__tenant_log(inst ? inst->worker : NULL, lv, text, strlen(text));
  free(level);
  free(text);
  return 0;
}

const isl_rt_host_fn_t isl_rt__console_fns[] = {{"log", console_log}, {NULL, NULL}};
