/*
 * origin.h - a small origin server for the fetch tests: the project's own
 * isl_http server on a thread, on 127.0.0.1, with these routes:
 *
 *   /echo (and anything else)  "METHOD TARGET\n", "name: value\n" per
 *                        request header, "\n", then the request body
 *   /slow?ms=N           answers "slow" after N ms (default 200); the origin
 *                        counts how many such requests wait at once
 *   /redirect?code=C&to=URL  C (default 302) with Location: URL (to= must
 *                        come last; the rest of the target is the URL)
 *   /loop                302 to /loop, for ever
 *   /status?code=N       N with body "status"
 *   /big?mb=N            N MiB of 'x' with Content-Length, written only
 *                        while less than 1 MiB is queued (back-pressure)
 *   /set-cookie          200 "Fine Thanks", two Set-Cookie headers
 */
#ifndef ISL_TESTS_FETCH_ORIGIN_H
#define ISL_TESTS_FETCH_ORIGIN_H

#include <stdatomic.h>

#include "http/http_client.h"

typedef struct {
  test_http_server_t srv;
  int port;
  atomic_int requests;
  atomic_int released;
  atomic_int aborts;
  atomic_int slow_waiting; /* /slow requests waiting for their answer now */
  atomic_int slow_peak;    /* the most that ever waited at once */
} origin_t;

/* Starts the origin; 0 or the error (printed). */
int origin_start(origin_t *o);
/* Stops it; 0 if every request was released. */
int origin_stop(origin_t *o);

#endif
