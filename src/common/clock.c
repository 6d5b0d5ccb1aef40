/*
 * clock.c - see clock.h.
 */
#include "common/clock.h"

#include <time.h>

static uint64_t ns_of(clockid_t id) {
  struct timespec ts;
  clock_gettime(id, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

uint64_t isl_clock_mono_ns(void) {
  return ns_of(CLOCK_MONOTONIC);
}

uint64_t isl_clock_thread_cpu_ns(void) {
  return ns_of(CLOCK_THREAD_CPUTIME_ID);
}

double isl_clock_wall_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (double)ts.tv_sec * 1e3 + (double)(ts.tv_nsec / 1000000);
}
