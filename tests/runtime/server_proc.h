/*
 * server_proc.h - runs the isolde binary (ISOLDE_BIN) as a subprocess for
 * the runtime's tests; the one place that forks it. Either to completion
 * (test_isolde_exec, and test_run_js in run_js.h on top of it), or as a
 * real server process: started with --port 0, found by the "listening on"
 * line it prints, stopped with SIGTERM. The child's stdout and stderr go
 * to files rather than pipes, so a chatty child cannot fill a pipe and
 * stall while we wait for it; the test reads them (request log, tenant
 * log).
 */
#ifndef ISL_TESTS_SERVER_PROC_H
#define ISL_TESTS_SERVER_PROC_H

#include <sys/types.h>

/* ---- runs to completion ---- */

/* What a finished run of isolde left. */
typedef struct {
  int status; /* exit status, 128 + signal, or -1 if it could not run */
  char *out;  /* stdout (owned: test_isolde_result_free) */
  char *err;  /* stderr (owned: test_isolde_result_free) */
} test_isolde_result_t;

/* Runs `isolde <args...>` (NULL-terminated) to completion. Fills *r, whose
 * out and err are always set (empty if it could not run), and returns
 * r->status. */
int test_isolde_exec(const char *const *args, test_isolde_result_t *r);
void test_isolde_result_free(test_isolde_result_t *r);

/* Runs `isolde <args...>` to completion; returns its exit status and fills
 * *output (malloc'd stdout+stderr) when output is not NULL. */
int test_isolde_run(const char *const *args, char **output);

/* The text of the file at path (malloc'd), or NULL if it cannot be read. */
char *test_read_file(const char *path);

/* ---- servers ---- */

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
/* Like test_server_start, but the server's stdout and stderr both go to
 * one pipe: read up to the "listening on" line, then left to the caller
 * (*read_fd), who may stop reading it to stall the server's log, and must
 * close it (before test_server_stop, or the server's exit may wait on a
 * full pipe). test_server_output and test_server_wait_output see nothing. */
int test_server_start_piped(test_server_t *s, const char *const *args, int *read_fd);
/* Writes json to s->dir/isolde.json and starts `isolde serve --config` on it. */
int test_server_serve_config(test_server_t *s, const char *json);
/* The server process's resident memory in KiB, or -1. */
long test_server_rss_kb(const test_server_t *s);
/* SIGTERM and wait (up to 30 s, then SIGKILL); returns the exit status, or
 * 128+signal. Removes the temporary files unless keep is set. */
int test_server_stop(test_server_t *s);
/* Waits up to ms for a server the test already signalled to exit by
 * itself; returns its exit status (128+signal), or -1 if it still runs. A
 * second SIGTERM (test_server_stop's) could come while the server is on
 * its way out, and kill it. test_server_stop then only removes the files. */
int test_server_wait_exit(test_server_t *s, int ms);
/* What the server printed so far on stdout and stderr (malloc'd). */
char *test_server_output(const test_server_t *s);
/* Waits up to ms for `needle` to appear in the output; 1 if it did. */
int test_server_wait_output(const test_server_t *s, const char *needle, int ms);

#endif
