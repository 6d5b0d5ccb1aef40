/*
 * alloc.h - the host's one policy for running out of memory, and the
 * allocation functions that carry it.
 *
 * The policy: host code never aborts when an allocation fails. One process
 * serves many tenants, so a failed malloc must cost the least that keeps
 * the process serving: the one request, connection or call that needed the
 * memory, and nothing else. Each subsystem turns a failure into its
 * smallest failure and says which in its docs:
 *
 *   - src/http: a request whose response has not started gets a 503 (the
 *     canned answer is built on the stack and written without allocating
 *     when the socket takes it); a response already under way is cut by
 *     closing its connection with a reset, so that no client takes a cut
 *     body for a whole one; a connection that cannot be allocated at
 *     accept is closed at once. isl_http_res_* return ISL_ENOMEM for
 *     the call that could not allocate. Every other connection goes on.
 *   - everywhere else: the function that could not allocate returns
 *     ISL_ENOMEM (or NULL where that is its contract), having undone what
 *     it began, and its caller fails that one operation.
 *
 * abort() stays for what is not an allocation failure and cannot be
 * survived (a broken invariant at start-up, a wasm trap outside any
 * isolate).
 *
 * Host code allocates through the wrappers below, never malloc directly,
 * so that tests can make allocations fail (isl_alloc_fail_after) and show
 * that each path holds. They are thin: size 0 is taken as 1, so that NULL
 * always means out of memory; isl_realloc leaves p as it was when it
 * fails. Memory is freed with free().
 *
 * Failure injection is compiled in always, not behind a define: the tests
 * link the very objects that ship (one set per build flavour, see the
 * Makefile), so a define would need a third flavour and would test code
 * that does not ship; and what it costs is one relaxed atomic load and a
 * branch that is never taken per allocation, next to malloc's own ~20 ns.
 */
#ifndef ISL_COMMON_ALLOC_H
#define ISL_COMMON_ALLOC_H

#include <stddef.h>

void *isl_malloc(size_t size);
void *isl_calloc(size_t n, size_t size);
void *isl_realloc(void *p, size_t size);
char *isl_strdup(const char *s);

/* ---- failure injection (tests) --------------------------------------------------------
 * Process-wide, over every thread: only tests call these, while no other
 * test runs. n > 0: the n-th allocation through the wrappers from now on
 * fails, and so does every one after it, until the next call; n == 0: every
 * allocation from now on fails; n < 0 (-1): injection off, the default. */
void isl_alloc_fail_after(long n);
/* As isl_alloc_fail_after(n) for n > 0, except that only the n-th
 * allocation fails and the ones after it succeed again. */
void isl_alloc_fail_once(long n);
/* Allocations failed by injection since the process started. */
long isl_alloc_injected(void);

#endif
