/*
 * fiber.c - stacks on which isolate calls can pause, so that one tenant's
 * long computation does not hold its thread.
 *
 * The runtime runs each turn (an event's call and its promise jobs) on a
 * fiber. The engine polls its interrupt check every few tens of
 * microseconds; once the turn has used ISL_ISO_SLICE_US of CPU since it
 * was last started, the check (imports.c) calls isl_fib__pause, which
 * switches back to the host code that started or resumed the fiber. That
 * code goes back to its event loop, serves whatever else is ready, and
 * resumes the fiber later. Nothing is preempted at an arbitrary point:
 * the engine is only ever paused inside its own interrupt check, the
 * point where it already expects host code to run.
 *
 * The sandbox's per-thread state (trap frames, "in wasm", hard deadline,
 * stack bounds for overflow detection) belongs to the stack that runs, so
 * every switch saves one side's and installs the other's. A paused turn's
 * hard deadline is kept as CPU time left, so a turn is never charged for
 * what ran while it was paused.
 *
 * Switching: a fiber's stack is entered once with ucontext (makecontext,
 * swapcontext), and its trampoline then loops, one fn per start; every
 * later switch, both ways, is _setjmp/_longjmp, which save no signal mask:
 * swapcontext makes an rt_sigprocmask system call on every switch, two
 * per turn. Nothing changes the signal mask on either side (the sandbox's
 * trap handler restores its own with siglongjmp within one stack), so
 * there is nothing to carry over. AddressSanitizer is told of every
 * switch when it is on.
 */
#include <setjmp.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <ucontext.h>

#include "isolate/internal.h"

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/common_interface_defs.h>
#define START_SWITCH(fake, bottom, size) __sanitizer_start_switch_fiber((fake), (bottom), (size))
#define FINISH_SWITCH(fake, bottom, size) __sanitizer_finish_switch_fiber((fake), (bottom), (size))
#else
#define START_SWITCH(fake, bottom, size) ((void)(fake), (void)(bottom), (void)(size))
#define FINISH_SWITCH(fake, bottom, size) ((void)(fake), (void)(bottom), (void)(size))
#endif

#define FIBER_STACK (8u << 20)
#define FIBER_GUARD (64u << 10)

/* The sandbox state of the side that is not running. */
typedef struct {
  isl_sbx_frame_t *top;
  sig_atomic_t in_wasm;
  uint64_t hard_left_ns; /* CPU left before the hard stop; 0 = not started */
  uintptr_t stack_lo, stack_hi;
  struct isl_iso_fiber_s *fiber;
} side_t;

struct isl_iso_fiber_s {
  ucontext_t ctx, first; /* the fiber's first entry only */
  jmp_buf self_jb, caller_jb;
  void *map;
  uintptr_t lo, hi; /* the usable stack */
  void (*fn)(void *);
  void *arg;
  int started; /* the trampoline runs (it loops, one fn per start) */
  int entered; /* its stack was entered once (ucontext); later switches are jumps */
  int busy;    /* running or paused in fn */
  int paused;
  isl_iso_t *paused_iso;
  uint64_t slice_start_ns;
  side_t saved_caller, saved_self;
  void *fake_self, *fake_caller; /* ASan's fake stacks */
  const void *caller_bottom;
  size_t caller_size;
};

/* The clock is read only when a hard deadline runs: a short turn switches
 * without a system call. */
static void save(side_t *s) {
  isl_sbx_thread_t *t = &isl_sbx__tls;
  s->top = t->top;
  s->in_wasm = t->in_wasm;
  s->hard_left_ns = 0;
  if (t->hard_deadline_ns) {
    uint64_t now = isl_sbx__thread_cpu_ns();
    s->hard_left_ns = t->hard_deadline_ns > now ? t->hard_deadline_ns - now : 1;
  }
  s->stack_lo = t->stack_lo;
  s->stack_hi = t->stack_hi;
  s->fiber = t->fiber;
}

static void install(const side_t *s) {
  isl_sbx_thread_t *t = &isl_sbx__tls;
  t->in_wasm = 0;
  t->top = s->top;
  t->hard_deadline_ns = s->hard_left_ns ? isl_sbx__thread_cpu_ns() + s->hard_left_ns : 0;
  t->stack_lo = s->stack_lo;
  t->stack_hi = s->stack_hi;
  t->fiber = s->fiber;
  t->in_wasm = s->in_wasm;
}

static __thread isl_iso_fiber_t *starting;

static void trampoline(void) {
  isl_iso_fiber_t *f = starting;
  FINISH_SWITCH(NULL, &f->caller_bottom, &f->caller_size);
  for (;;) {
    f->fn(f->arg);
    f->busy = 0;
    START_SWITCH(&f->fake_self, f->caller_bottom, f->caller_size);
    if (!_setjmp(f->self_jb)) _longjmp(f->caller_jb, 1);
    FINISH_SWITCH(f->fake_self, &f->caller_bottom, &f->caller_size);
  }
}

int isl_iso_fiber_new(isl_iso_fiber_t **out) {
  if (!isl_sbx__tls.ready) isl_sbx__thread_init();
  isl_iso_fiber_t *f = calloc(1, sizeof(*f));
  if (!f) return ISL_ENOMEM;
  f->map =
      mmap(NULL, FIBER_STACK + FIBER_GUARD, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (f->map == MAP_FAILED) {
    free(f);
    return ISL_ENOMEM;
  }
  mprotect(f->map, FIBER_GUARD, PROT_NONE);
  f->lo = (uintptr_t)f->map + FIBER_GUARD;
  f->hi = f->lo + FIBER_STACK;
  f->saved_self.stack_lo = f->lo;
  f->saved_self.stack_hi = f->hi;
  f->saved_self.fiber = f;
  *out = f;
  return 0;
}

void isl_iso_fiber_free(isl_iso_fiber_t *f) {
  if (!f) return;
  munmap(f->map, FIBER_STACK + FIBER_GUARD);
  free(f);
}

/* From the caller's stack into the fiber, until it pauses or finishes. */
static int enter(isl_iso_fiber_t *f) {
  save(&f->saved_caller);
  install(&f->saved_self);
  f->slice_start_ns = 0; /* at the turn's first interrupt check */
  f->paused = 0;
  START_SWITCH(&f->fake_caller, (const void *)f->lo, FIBER_STACK);
  if (!_setjmp(f->caller_jb)) {
    if (f->entered) _longjmp(f->self_jb, 1);
    f->entered = 1;
    swapcontext(&f->first, &f->ctx); /* never returns here: the fiber comes back by caller_jb */
  }
  FINISH_SWITCH(f->fake_caller, NULL, NULL);
  /* Back on the caller's stack: the fiber saved its own state if paused. */
  install(&f->saved_caller);
  return f->busy ? 0 : 1;
}

int isl_iso_fiber_start(isl_iso_fiber_t *f, void (*fn)(void *), void *arg) {
  if (f->busy) return ISL_EINVAL;
  f->fn = fn;
  f->arg = arg;
  f->busy = 1;
  f->saved_self.top = NULL;
  f->saved_self.in_wasm = 0;
  f->saved_self.hard_left_ns = 0;
  if (!f->started) {
    if (getcontext(&f->ctx) != 0) return ISL_ESYS;
    f->ctx.uc_stack.ss_sp = (void *)f->lo;
    f->ctx.uc_stack.ss_size = FIBER_STACK;
    f->ctx.uc_link = NULL;
    makecontext(&f->ctx, trampoline, 0);
    f->started = 1;
    starting = f;
  }
  return enter(f);
}

int isl_iso_fiber_resume(isl_iso_fiber_t *f) {
  if (!f->busy || !f->paused) return ISL_EINVAL;
  isl_iso_t *iso = f->paused_iso;
  iso->paused = 0;
  f->paused_iso = NULL;
  return enter(f);
}

uint64_t isl_fib__slice_used(uint64_t now) {
  isl_iso_fiber_t *f = isl_sbx__tls.fiber;
  if (!f) return 0;
  if (!f->slice_start_ns) f->slice_start_ns = now; /* the slice starts at the first check */
  return now > f->slice_start_ns ? now - f->slice_start_ns : 0;
}

void isl_fib__pause(isl_iso_t *iso) {
  isl_iso_fiber_t *f = isl_sbx__tls.fiber;
  if (!f) return;
  save(&f->saved_self);
  f->paused = 1;
  f->paused_iso = iso;
  iso->paused = 1;
  START_SWITCH(&f->fake_self, f->caller_bottom, f->caller_size);
  if (!_setjmp(f->self_jb)) _longjmp(f->caller_jb, 1);
  FINISH_SWITCH(f->fake_self, &f->caller_bottom, &f->caller_size);
  /* Resumed: enter() installed this side's state again. */
}
