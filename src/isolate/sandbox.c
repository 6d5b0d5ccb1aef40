/*
 * sandbox.c - make wasm2c's traps safe in a multi-threaded, multi-tenant
 * process.
 *
 * Debian's wasm-rt-impl, as shipped, longjmps every trap to one global
 * buffer, treats every SIGSEGV in the process as a wasm trap, and gives only
 * one thread an alternate signal stack. Here instead:
 *   - each thread keeps a stack of trap frames (one per host->wasm entry);
 *     wasm_rt_trap (built with WASM_RT_TRAP_HANDLER=isl_sbx__trap) and the
 *     signal handlers jump to the innermost frame of the faulting thread;
 *   - a SIGSEGV/SIGBUS becomes a trap only while that thread is running
 *     wasm code (not a host import) and the address is inside the running
 *     isolate's reservation or the thread's stack guard; anything else goes
 *     to the previous handler (or the default action) and crashes loudly;
 *   - every thread that runs isolates gets its own alternate signal stack,
 *     so a native stack overflow in wasm code can be handled;
 *   - every such thread has a CPU-time timer that ticks every
 *     ISL_SBX_TICK_MS of the thread's CPU time. A tick inside wasm code
 *     starts the hard deadline of the current call, and a later tick past it
 *     traps out: this stops code that never reaches QuickJS's interrupt
 *     check. Ticking instead of arming a timer per call keeps the C->JS
 *     call free of system calls; the price is that the hard stop lands up
 *     to two ticks late.
 * Frames are entered with sigsetjmp(.., 0) (no signal-mask syscall) and the
 * handlers use SA_NODEFER, so jumping out of a handler leaves the mask as
 * it was.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "isolate/internal.h"

#ifndef ISL_SBX_TICK_MS
#define ISL_SBX_TICK_MS 5
#endif
#define ALT_STACK_SIZE (256 * 1024)
/* How far below a thread's stack a fault still counts as its overflow. */
#define STACK_GUARD_SPAN (4u << 20)

__thread isl_sbx_thread_t isl_sbx__tls;

typedef struct {
  void *alt_stack;
  timer_t timer;
  int has_timer;
} thread_res_t;

static pthread_once_t process_once = PTHREAD_ONCE_INIT;
static pthread_key_t thread_key;
static struct sigaction old_segv, old_bus;
static int tick_signo;

_Noreturn void isl_sbx__trap(int code) {
  isl_sbx_thread_t *t = &isl_sbx__tls;
  t->in_wasm = 0;
  if (!t->top) {
    fprintf(stderr, "isolde: wasm trap (%s) outside any isolate call\n", isl_sbx__trap_name(code));
    abort();
  }
  siglongjmp(t->top->jmp, code);
}

const char *isl_sbx__trap_name(int code) {
  switch (code) {
    case ISL_TRAP_TIMEOUT:
      return "CPU time limit (hard stop)";
    case ISL_TRAP_ABORT:
      return "engine aborted";
    case ISL_TRAP_DEAD:
      return "nested call trapped";
    default:
      return wasm_rt_strerror((wasm_rt_trap_t)code);
  }
}

static void chain(struct sigaction *old, int sig, siginfo_t *si, void *uc) {
  if ((old->sa_flags & SA_SIGINFO) && old->sa_sigaction) {
    old->sa_sigaction(sig, si, uc);
  } else if (old->sa_handler != SIG_DFL && old->sa_handler != SIG_IGN) {
    old->sa_handler(sig);
  } else {
    /* Returning re-executes the faulting instruction under the default
     * action: the process dies with the real fault, as it should. */
    signal(sig, SIG_DFL);
  }
}

static void on_fault(int sig, siginfo_t *si, void *uc) {
  isl_sbx_thread_t *t = &isl_sbx__tls;
  if (t->in_wasm && t->top) {
    uintptr_t a = (uintptr_t)si->si_addr;
    uintptr_t base = (uintptr_t)t->top->iso->mem.data;
    if (a >= base && a - base < ISL_MEM_RESERVATION) {
      t->in_wasm = 0;
      siglongjmp(t->top->jmp, WASM_RT_TRAP_OOB);
    }
    if (a < t->stack_lo + 65536 && a + STACK_GUARD_SPAN >= t->stack_lo) {
      t->in_wasm = 0;
      siglongjmp(t->top->jmp, WASM_RT_TRAP_EXHAUSTION);
    }
  }
  chain(sig == SIGSEGV ? &old_segv : &old_bus, sig, si, uc);
}

static void on_cpu_tick(int sig, siginfo_t *si, void *uc) {
  (void)sig, (void)si, (void)uc;
  isl_sbx_thread_t *t = &isl_sbx__tls;
  if (!t->in_wasm || !t->top) return;
  int saved = errno;
  uint64_t now = isl_sbx__thread_cpu_ns();
  errno = saved;
  if (t->hard_deadline_ns == 0) {
    t->hard_deadline_ns = now + isl_sbx__hard_budget_ns(t->top->iso);
    return;
  }
  if (now >= t->hard_deadline_ns) {
    t->in_wasm = 0;
    siglongjmp(t->top->jmp, ISL_TRAP_TIMEOUT);
  }
}

static void thread_release(void *p) {
  thread_res_t *r = p;
  if (r->has_timer) timer_delete(r->timer);
  stack_t ss = {.ss_flags = SS_DISABLE};
  sigaltstack(&ss, NULL);
  munmap(r->alt_stack, ALT_STACK_SIZE);
  free(r);
}

static void process_init(void) {
  struct sigaction sa;
  memset(&sa, 0, sizeof(sa));
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_NODEFER;
  sa.sa_sigaction = on_fault;
  if (sigaction(SIGSEGV, &sa, &old_segv) != 0 || sigaction(SIGBUS, &sa, &old_bus) != 0) {
    perror("isolde: sigaction");
    abort();
  }
  tick_signo = SIGRTMIN;
  sa.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_NODEFER | SA_RESTART;
  sa.sa_sigaction = on_cpu_tick;
  if (sigaction(tick_signo, &sa, NULL) != 0) {
    perror("isolde: sigaction");
    abort();
  }
  if (pthread_key_create(&thread_key, thread_release) != 0) abort();
  isl_iso__engine_init();
}

void isl_sbx__thread_init(void) {
  pthread_once(&process_once, process_init);
  isl_sbx_thread_t *t = &isl_sbx__tls;
  if (t->ready) return;

  thread_res_t *r = calloc(1, sizeof(*r));
  if (!r) abort();
  r->alt_stack = mmap(NULL, ALT_STACK_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (r->alt_stack == MAP_FAILED) {
    perror("isolde: alternate signal stack");
    abort();
  }
  stack_t ss = {.ss_sp = r->alt_stack, .ss_size = ALT_STACK_SIZE, .ss_flags = 0};
  if (sigaltstack(&ss, NULL) != 0) {
    perror("isolde: sigaltstack");
    abort();
  }

  struct sigevent sev;
  memset(&sev, 0, sizeof(sev));
  sev.sigev_notify = SIGEV_THREAD_ID;
  sev.sigev_signo = tick_signo;
  sev._sigev_un._tid = gettid();
  if (timer_create(CLOCK_THREAD_CPUTIME_ID, &sev, &r->timer) == 0) {
    r->has_timer = 1;
    struct itimerspec its = {
        .it_interval = {0, ISL_SBX_TICK_MS * 1000000L},
        .it_value = {0, ISL_SBX_TICK_MS * 1000000L},
    };
    timer_settime(r->timer, 0, &its, NULL);
  } else {
    fprintf(stderr, "isolde: no CPU timer for this thread (%s): hard CPU stops are off\n", strerror(errno));
  }
  pthread_setspecific(thread_key, r);

  pthread_attr_t attr;
  void *lo = NULL;
  size_t size = 0;
  if (pthread_getattr_np(pthread_self(), &attr) == 0) {
    pthread_attr_getstack(&attr, &lo, &size);
    pthread_attr_destroy(&attr);
  }
  t->stack_lo = (uintptr_t)lo;
  t->stack_hi = (uintptr_t)lo + size;
  t->ready = 1;
}

uint64_t isl_sbx__hard_budget_ns(const isl_iso_t *iso) {
  uint64_t grace = (uint64_t)(iso->limits.hard_stop_ms - iso->limits.cpu_ms) * 1000000u;
  return iso->in_turn ? iso->turn_budget_ns + grace : (uint64_t)iso->limits.hard_stop_ms * 1000000u;
}

/* The outermost frame of a call starts its deadlines afresh, unless the
 * call is part of a turn: then they carry on from the turn's previous call
 * (a paused turn's are kept by its fiber; the host's own calls into a
 * paused isolate get a fresh hard stop and leave the soft one alone). */
void isl_sbx__push(isl_sbx_frame_t *f, isl_iso_t *iso) {
  isl_sbx_thread_t *t = &isl_sbx__tls;
  f->prev = t->top;
  f->iso = iso;
  f->prev_in_wasm = t->in_wasm;
  if (!f->prev) {
    t->hard_deadline_ns = iso->in_turn && !iso->paused ? iso->turn_hard_ns : 0;
    if (!iso->in_turn) iso->deadline_ns = 0;
  }
  t->top = f;
}

int isl_sbx__pop(isl_sbx_frame_t *f, int trap) {
  isl_sbx_thread_t *t = &isl_sbx__tls;
  if (!f->prev && f->iso->in_turn && !f->iso->paused) f->iso->turn_hard_ns = t->hard_deadline_ns;
  t->top = f->prev;
  t->in_wasm = f->prev_in_wasm;
  if (trap) {
    f->iso->dead = 1;
    if (!f->iso->trap) f->iso->trap = trap;
  }
  return trap;
}
