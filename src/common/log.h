/*
 * log.h - the contract of src/common/log.c: the process's one log writer
 * (issue 11, "tenant logs are data").
 *
 * Every log line (the runtime's host lines, tenants' console lines) goes
 * through isl_log_write, which never blocks: the line joins a bounded
 * queue of its destination (stdout, stderr, or a worker's log_fd, which the
 * writer dups so that a closed and reused fd number never gets a stale
 * line) and one writer thread drains the queues, in order, with blocking
 * writes. A full queue drops lines and counts them; once the writer catches
 * up it writes "log event=dropped lines=N" to that destination. At exit
 * (atexit) the queues are flushed, waiting at most ISL_LOG_EXIT_WAIT_MS. In
 * raw mode (`isolde run`), lines are written at once, synchronously, and
 * tenant text is not escaped.
 *
 * Threads: every function may be called from any thread.
 */
#ifndef ISL_COMMON_LOG_H
#define ISL_COMMON_LOG_H

#include <stddef.h>

#define ISL_LOG_QUEUE_BYTES ((size_t)1 << 20) /* per destination */
#define ISL_LOG_TEXT_MAX ((size_t)64 << 10)   /* escaped tenant text per line; more is cut */
#define ISL_LOG_EXIT_WAIT_MS 2000

/* Queues (or in raw mode writes) one complete line, '\n' included; copies it. */
void isl_log_write(int fd, const char *line, size_t len);
/* Starts the writer thread now (else the first line starts it). 0 or -1. */
int isl_log_start(void);
/* Waits up to timeout_ms for every queued line to be written: 0, or -1 if some are left. */
int isl_log_flush(int timeout_ms);
/* Sets raw mode (after flushing); returns the previous setting. */
int isl_log_set_raw(int raw);
int isl_log_is_raw(void);
/* Appends text[0..len) to out as one line's worth of visible text: no C0
 * control, DEL, C1 control, line/paragraph separator, bidi control or
 * invalid UTF-8 byte passes raw (\n \r \t \\ \xHH \uHHHH); stops before
 * out_cap would be exceeded. Returns the bytes written; *used gets how
 * many bytes of text they stand for. */
size_t isl_log_escape(char *out, size_t out_cap, const char *text, size_t len, size_t *used);

#endif
