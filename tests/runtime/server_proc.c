/*
 * server_proc.c - see server_proc.h. A run to completion writes to two
 * unlinked temporary files, read back once it has exited; a server writes
 * to two files in its folder, read while it runs.
 */
#include "runtime/server_proc.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static const char *isolde_bin(void) {
  const char *b = getenv("ISOLDE_BIN");
  return b && *b ? b : "build/release/isolde";
}

/* Reads fd from its start to its end; "" if it cannot (never NULL). */
static char *slurp_fd(int fd) {
  size_t cap = 4096, len = 0;
  char *buf = malloc(cap);
  if (!buf) abort();
  if (lseek(fd, 0, SEEK_SET) == 0) {
    for (;;) {
      if (cap - len < 2) {
        buf = realloc(buf, cap *= 2);
        if (!buf) abort();
      }
      ssize_t k = read(fd, buf + len, cap - len - 1);
      if (k <= 0) break;
      len += (size_t)k;
    }
  }
  buf[len] = 0;
  return buf;
}

char *test_read_file(const char *path) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return NULL;
  char *s = slurp_fd(fd);
  close(fd);
  return s;
}

/* A file a server writes to: "" until it is there. */
static char *slurp(const char *path) {
  char *s = test_read_file(path);
  return s ? s : strdup("");
}

static char *concat(const char *a, const char *b) {
  size_t n = strlen(a) + strlen(b) + 1;
  char *all = malloc(n);
  if (!all) abort();
  snprintf(all, n, "%s%s", a, b);
  return all;
}

static int exit_status(int st) {
  return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* Forks `isolde <args...>` with its stdout on out_fd and its stderr on
 * err_fd; returns the child's pid, or -1. */
static pid_t spawn(const char *const *args, int out_fd, int err_fd) {
  fflush(stdout);
  pid_t pid = fork();
  if (pid != 0) return pid;
  /* A test that fails half-way returns without stopping its server: the
   * server must not outlive the test binary. */
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  dup2(out_fd, 1);
  dup2(err_fd, 2);
  int n = 0;
  while (args[n]) n++;
  const char **argv = calloc((size_t)n + 2, sizeof(char *));
  if (!argv) _exit(127);
  argv[0] = isolde_bin();
  for (int i = 0; i < n; i++) argv[i + 1] = args[i];
  execv(argv[0], (char *const *)argv);
  _exit(127);
}

/* ---- runs to completion -------------------------------------------------------- */

/* An unlinked temporary file: nothing to clean up, whatever happens. */
static int temp_fd(void) {
  char path[] = "/tmp/isolde-test-XXXXXX";
  int fd = mkostemp(path, O_CLOEXEC);
  if (fd >= 0) unlink(path);
  return fd;
}

int test_isolde_exec(const char *const *args, test_isolde_result_t *r) {
  int out = temp_fd(), err = temp_fd();
  r->status = -1;
  if (out >= 0 && err >= 0) {
    pid_t pid = spawn(args, out, err);
    int st = 0;
    if (pid > 0 && waitpid(pid, &st, 0) == pid) r->status = exit_status(st);
  }
  r->out = out >= 0 ? slurp_fd(out) : strdup("");
  r->err = err >= 0 ? slurp_fd(err) : strdup("");
  if (out >= 0) close(out);
  if (err >= 0) close(err);
  return r->status;
}

void test_isolde_result_free(test_isolde_result_t *r) {
  free(r->out);
  free(r->err);
  r->out = r->err = NULL;
}

int test_isolde_run(const char *const *args, char **output) {
  test_isolde_result_t r;
  int status = test_isolde_exec(args, &r);
  if (output) *output = concat(r.out, r.err);
  test_isolde_result_free(&r);
  return status;
}

/* ---- servers ------------------------------------------------------------------- */

char *test_server_output(const test_server_t *s) {
  char *out = slurp(s->out_path), *err = slurp(s->err_path);
  char *all = concat(out, err);
  free(out);
  free(err);
  return all;
}

static void sleep_ms(int ms) {
  struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

int test_server_wait_output(const test_server_t *s, const char *needle, int ms) {
  for (int waited = 0;; waited += 10) {
    char *all = test_server_output(s);
    int found = strstr(all, needle) != NULL;
    free(all);
    if (found) return 1;
    if (waited >= ms) return 0;
    sleep_ms(10);
  }
}

int test_server_dir(test_server_t *s) {
  if (s->dir[0]) return 0;
  snprintf(s->dir, sizeof(s->dir), "/tmp/isolde-test-XXXXXX");
  return mkdtemp(s->dir) ? 0 : -1;
}

const char *test_server_write(test_server_t *s, const char *name, const char *content) {
  static char path[512];
  if (test_server_dir(s) < 0) return NULL;
  snprintf(path, sizeof(path), "%s/%s", s->dir, name);
  char *slash = strrchr(path, '/');
  *slash = 0;
  mkdir(path, 0755);
  *slash = '/';
  FILE *f = fopen(path, "w");
  if (!f) return NULL;
  fputs(content, f);
  fclose(f);
  return path;
}

int test_server_start(test_server_t *s, const char *const *args) {
  s->port = 0;
  if (test_server_dir(s) < 0) return -1;
  snprintf(s->out_path, sizeof(s->out_path), "%s/.stdout", s->dir);
  snprintf(s->err_path, sizeof(s->err_path), "%s/.stderr", s->dir);
  int out_fd = open(s->out_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  int err_fd = open(s->err_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  s->pid = out_fd >= 0 && err_fd >= 0 ? spawn(args, out_fd, err_fd) : -1;
  if (out_fd >= 0) close(out_fd);
  if (err_fd >= 0) close(err_fd);
  if (s->pid < 0) return -1;
  for (int waited = 0; waited < 20000; waited += 10) {
    char *out = slurp(s->out_path);
    const char *at = strstr(out, "listening on http://");
    if (at) {
      const char *colon = strchr(at + 20, ':');
      s->port = colon ? atoi(colon + 1) : 0;
    }
    free(out);
    if (s->port) return 0;
    int st;
    if (waitpid(s->pid, &st, WNOHANG) == s->pid) {
      s->pid = 0;
      break;
    }
    sleep_ms(10);
  }
  char *all = test_server_output(s);
  printf("  server did not start; it printed:\n%s\n", all);
  free(all);
  test_server_stop(s);
  return -1;
}

int test_server_start_piped(test_server_t *s, const char *const *args, int *read_fd) {
  s->port = 0;
  *read_fd = -1;
  int p[2];
  if (test_server_dir(s) < 0 || pipe2(p, O_CLOEXEC) < 0) return -1;
  s->out_path[0] = s->err_path[0] = 0;
  s->pid = spawn(args, p[1], p[1]);
  close(p[1]);
  if (s->pid < 0) {
    close(p[0]);
    return -1;
  }
  /* Byte by byte, so that nothing after the line is taken from the caller. */
  char line[1024];
  size_t len = 0;
  for (;;) {
    struct pollfd pfd = {.fd = p[0], .events = POLLIN};
    char c;
    if (poll(&pfd, 1, 20000) <= 0 || read(p[0], &c, 1) != 1) break;
    if (c != '\n') {
      if (len < sizeof(line) - 1) line[len++] = c;
      continue;
    }
    line[len] = 0;
    len = 0;
    const char *at = strstr(line, "listening on http://");
    const char *colon = at ? strchr(at + 20, ':') : NULL;
    if (colon && (s->port = atoi(colon + 1)) > 0) {
      *read_fd = p[0];
      return 0;
    }
  }
  printf("  server did not start (piped output)\n");
  close(p[0]);
  test_server_stop(s);
  return -1;
}

static void cleanup(test_server_t *s) {
  if (!s->dir[0]) return;
  char cmd[128];
  snprintf(cmd, sizeof(cmd), "rm -rf '%s'", s->dir);
  if (system(cmd) != 0) fprintf(stderr, "cannot remove %s\n", s->dir);
  s->dir[0] = 0;
}

int test_server_wait_exit(test_server_t *s, int ms) {
  if (s->pid <= 0) return -1;
  for (int waited = 0;; waited += 10) {
    int st = 0;
    if (waitpid(s->pid, &st, WNOHANG) == s->pid) {
      s->pid = 0;
      return exit_status(st);
    }
    if (waited >= ms) return -1;
    sleep_ms(10);
  }
}

int test_server_stop(test_server_t *s) {
  int status = -1;
  if (s->pid > 0) {
    kill(s->pid, SIGTERM);
    int st = 0;
    for (int waited = 0;; waited += 10) {
      if (waitpid(s->pid, &st, WNOHANG) == s->pid) break;
      if (waited > 30000) {
        kill(s->pid, SIGKILL);
        waitpid(s->pid, &st, 0);
        break;
      }
      sleep_ms(10);
    }
    status = exit_status(st);
    s->pid = 0;
  }
  if (status != 0 && status != -1) {
    char *all = test_server_output(s);
    printf("  server exited with %d; it printed:\n%s\n", status, all);
    free(all);
  }
  cleanup(s);
  return status;
}

int test_server_serve_config(test_server_t *s, const char *json) {
  const char *written = test_server_write(s, "isolde.json", json);
  if (!written) return -1;
  char path[512];
  snprintf(path, sizeof(path), "%s", written);
  const char *args[] = {"serve", "--config", path, NULL};
  return test_server_start(s, args);
}

long test_server_rss_kb(const test_server_t *s) {
  char path[64], line[256];
  snprintf(path, sizeof(path), "/proc/%d/status", (int)s->pid);
  FILE *f = fopen(path, "r");
  long kb = -1;
  while (f && fgets(line, sizeof(line), f))
    if (strncmp(line, "VmRSS:", 6) == 0) kb = atol(line + 6);
  if (f) fclose(f);
  return kb;
}
