/*
 * run_js.c - see run_js.h. The child's stdout and stderr go to two
 * temporary files rather than pipes, so a chatty test cannot fill a pipe
 * and stall while we wait for it.
 */
#include "runtime/run_js.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static const char *isolde_bin(void) {
  const char *b = getenv("ISOLDE_BIN");
  return b && *b ? b : "build/release/isolde";
}

static char *slurp_fd(int fd) {
  size_t cap = 4096, len = 0;
  char *buf = malloc(cap);
  if (!buf) return NULL;
  if (lseek(fd, 0, SEEK_SET) < 0) {
    buf[0] = 0;
    return buf;
  }
  for (;;) {
    if (cap - len < 2) {
      char *nb = realloc(buf, cap *= 2);
      if (!nb) break;
      buf = nb;
    }
    ssize_t k = read(fd, buf + len, cap - len - 1);
    if (k <= 0) break;
    len += (size_t)k;
  }
  buf[len] = 0;
  return buf;
}

static int temp_fd(void) {
  char path[] = "/tmp/isolde-run-js-XXXXXX";
  int fd = mkstemp(path);
  if (fd >= 0) unlink(path);
  return fd;
}

int test_run_js(const char *js_path, char **stdout_out) {
  if (stdout_out) *stdout_out = NULL;
  int out = temp_fd(), err = temp_fd();
  int status = -1;
  if (out < 0 || err < 0) goto done;
  fflush(stdout);
  pid_t pid = fork();
  if (pid < 0) goto done;
  if (pid == 0) {
    dup2(out, 1);
    dup2(err, 2);
    execl(isolde_bin(), isolde_bin(), "run", js_path, (char *)NULL);
    _exit(127);
  }
  int st = 0;
  if (waitpid(pid, &st, 0) != pid) goto done;
  status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
  if (status != 0) {
    char *e = slurp_fd(err);
    printf("  `%s run %s` exited with %d; stderr:\n%s\n", isolde_bin(), js_path, status, e ? e : "");
    free(e);
  }
  if (stdout_out) *stdout_out = slurp_fd(out);
done:
  if (out >= 0) close(out);
  if (err >= 0) close(err);
  return status;
}

int test_js_ok_count(const char *out, int n) {
  char want[32];
  int len = snprintf(want, sizeof(want), "ok %d", n);
  for (const char *p = out; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
    if (strncmp(p, want, (size_t)len) == 0 && (p[len] == '\n' || p[len] == 0)) return 1;
  }
  return 0;
}
