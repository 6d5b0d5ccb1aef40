/*
 * server_proc.h - runs the isolde binary (ISOLDE_BIN) as a real server
 * process for the runtime's tests: started with --port 0, found by the
 * "listening on" line it prints, stopped with SIGTERM. Its stdout and
 * stderr go to temporary files the test can read (request log, tenant log).
 */
#ifndef ISL_TESTS_SERVER_PROC_H
#define ISL_TESTS_SERVER_PROC_H

#include <sys/types.h>

typedef struct {
  pid_t pid;
  int port;
  char out_path[256]; /* stdout */
  char err_path[256]; /* stderr */
  char dir[64];       /* a temporary folder for scripts and configs */
} test_server_t;

/* Makes s->dir and writes `content` to s->dir/name; returns the path (static buffer). */
int test_server_dir(test_server_t *s);
const char *test_server_write(test_server_t *s, const char *name, const char *content);

/* Starts `isolde <args...>` (NULL-terminated); waits up to 20 s for it to
 * listen. Returns 0, or -1 after printing why (and the process's output). */
int test_server_start(test_server_t *s, const char *const *args);
/* Runs `isolde <args...>` to completion; returns its exit status and fills
 * *output (malloc'd stdout+stderr) when output is not NULL. */
int test_isolde_run(const char *const *args, char **output);
/* SIGTERM and wait (up to 30 s, then SIGKILL); returns the exit status, or
 * 128+signal. Removes the temporary files unless keep is set. */
int test_server_stop(test_server_t *s);
/* What the server printed so far on stdout and stderr (malloc'd). */
char *test_server_output(const test_server_t *s);
/* Waits up to ms for `needle` to appear in the output; 1 if it did. */
int test_server_wait_output(const test_server_t *s, const char *needle, int ms);

#endif
