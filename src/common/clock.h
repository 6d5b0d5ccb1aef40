/*
 * clock.h - the process's clocks, one owner for each: monotonic time (how
 * long things take, timeouts), a thread's CPU time (what tenants are
 * charged, CPU deadlines) and the wall clock (what Date.now() shows).
 */
#ifndef ISL_COMMON_CLOCK_H
#define ISL_COMMON_CLOCK_H

#include <stdint.h>

/* Monotonic nanoseconds (CLOCK_MONOTONIC). */
uint64_t isl_clock_mono_ns(void);
/* The calling thread's CPU time in nanoseconds (CLOCK_THREAD_CPUTIME_ID):
 * a system call; async-signal-safe. */
uint64_t isl_clock_thread_cpu_ns(void);
/* Milliseconds since the epoch, whole (CLOCK_REALTIME). */
double isl_clock_wall_ms(void);

#endif
