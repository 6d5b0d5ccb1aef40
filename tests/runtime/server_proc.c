/*
 * server_proc.c - see server_proc.h.
 */
#include "runtime/server_proc.h"

#include <fcntl.h>
#include <signal.h>
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

static char *slurp(const char *path) {
  FILE *f = fopen(path, "rb");
  if (!f) return strdup("");
  size_t cap = 4096, len = 0;
  char *buf = malloc(cap);
  size_t k;
  while (buf && (k = fread(buf + len, 1, cap - len - 1, f)) > 0) {
    len += k;
    if (cap - len < 2) {
      char *nb = realloc(buf, cap *= 2);
      if (!nb) {
        free(buf);
        buf = NULL;
        break;
      }
      buf = nb;
    }
  }
  fclose(f);
  if (buf) buf[len] = 0;
  return buf;
}

char *test_server_output(const test_server_t *s) {
  char *out = slurp(s->out_path), *err = slurp(s->err_path);
  size_t n = strlen(out) + strlen(err) + 2;
  char *all = malloc(n);
  snprintf(all, n, "%s%s", out, err);
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

static pid_t spawn(const char *const *args, const char *out_path, const char *err_path) {
  pid_t pid = fork();
  if (pid != 0) return pid;
  int o = open(out_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
  int e = open(err_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
  if (o < 0 || e < 0) _exit(127);
  dup2(o, 1);
  dup2(e, 2);
  int n = 0;
  while (args[n]) n++;
  const char **argv = calloc((size_t)n + 2, sizeof(char *));
  argv[0] = isolde_bin();
  for (int i = 0; i < n; i++) argv[i + 1] = args[i];
  execv(argv[0], (char *const *)argv);
  _exit(127);
}

int test_server_start(test_server_t *s, const char *const *args) {
  s->port = 0;
  if (test_server_dir(s) < 0) return -1;
  snprintf(s->out_path, sizeof(s->out_path), "%s/.stdout", s->dir);
  snprintf(s->err_path, sizeof(s->err_path), "%s/.stderr", s->dir);
  s->pid = spawn(args, s->out_path, s->err_path);
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

static void cleanup(test_server_t *s) {
  if (!s->dir[0]) return;
  char cmd[128];
  snprintf(cmd, sizeof(cmd), "rm -rf '%s'", s->dir);
  if (system(cmd) != 0) fprintf(stderr, "cannot remove %s\n", s->dir);
  s->dir[0] = 0;
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
    status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
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

int test_isolde_run(const char *const *args, char **output) {
  test_server_t s = {0};
  if (test_server_dir(&s) < 0) return -1;
  snprintf(s.out_path, sizeof(s.out_path), "%s/.stdout", s.dir);
  snprintf(s.err_path, sizeof(s.err_path), "%s/.stderr", s.dir);
  pid_t pid = spawn(args, s.out_path, s.err_path);
  int st = 0;
  if (pid < 0 || waitpid(pid, &st, 0) != pid) {
    cleanup(&s);
    return -1;
  }
  if (output) *output = test_server_output(&s);
  cleanup(&s);
  return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}
