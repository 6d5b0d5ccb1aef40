/*
 * host_console.c - host.log: where console.* and the runtime's reports on
 * a tenant end up. Each worker has its own sink (log_fd, else stdout for
 * log/info/debug and stderr for warn/error).
 *
 * A tenant's log is data, never layout: on a server (serve, dev) each call
 * is one line "[name] level: text", the name shown with only A-Z a-z 0-9 _
 * . - (anything else as \xHH) and the text escaped by isl_rt__log_escape
 * (newlines as \n, ESC as \x1b, U+2028 as \u2028, a backslash as \\,
 * invalid UTF-8 bytes as \xHH) and cut at ISL_RT_LOG_TEXT_MAX. A host line
 * (isl_rt__log) starts with a key word ("request tenant=...", "runtime
 * ...", "log event=..."), a tenant line always with '[' and its own name:
 * no text can pass for either. Lines go through the log writer (src/common/log.c),
 * which never blocks the loop.
 *
 * `isolde run` (raw mode) prints a script's console output as it is, like
 * node: only the user's own script runs there, and its output is what the
 * user asked for.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "runtime/internal.h"

#define NAME_MAX_SHOWN 255

/* The raw line of `isolde run`: the text as it is. */
static void raw_line(int fd, const char *name, const char *level, int is_err, const char *text, size_t len) {
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
  if (n > 0) isl_rt__log_write(fd, line, (size_t)n < cap ? (size_t)n : cap - 1);
  free(line);
}

/* Appends name as a tag that cannot close early or hold a space. */
static size_t put_name(char *out, const char *name) {
  size_t o = 0;
  for (size_t i = 0; i < NAME_MAX_SHOWN && name[i]; i++) {
    unsigned char c = (unsigned char)name[i];
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-' ||
        c == '.') {
      out[o++] = (char)c;
    } else {
      o += (size_t)snprintf(out + o, 5, "\\x%02x", c);
    }
  }
  return o;
}

void isl_rt__tenant_log(const isl_rt_worker_t *w, const char *level, const char *text, size_t len) {
  int is_err = strcmp(level, "error") == 0 || strcmp(level, "warn") == 0;
  int fd = w && w->log_fd >= 0 ? w->log_fd : (is_err ? 2 : 1);
  const char *name = w && w->name ? w->name : "";
  if (isl_rt__log_is_raw()) {
    raw_line(fd, name, level, is_err, text, len);
    return;
  }
  /* Escaping makes a byte at most 4 (\xHH; \uHHHH stands for 2 or 3 bytes). */
  size_t text_cap = len > ISL_RT_LOG_TEXT_MAX / 4 ? ISL_RT_LOG_TEXT_MAX : len * 4;
  size_t cap = 1 + NAME_MAX_SHOWN * 4 + 2 + strlen(level) + 2 + text_cap + 48;
  char *line = malloc(cap);
  if (!line) return;
  size_t o = 0;
  line[o++] = '[';
  o += put_name(line + o, name);
  o += (size_t)snprintf(line + o, cap - o, "] %s: ", level);
  size_t used = 0;
  o += isl_rt__log_escape(line + o, text_cap, text, len, &used);
  if (used < len) o += (size_t)snprintf(line + o, cap - o, "...[%zu more bytes]", len - used);
  line[o++] = '\n';
  isl_rt__log_write(fd, line, o);
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
