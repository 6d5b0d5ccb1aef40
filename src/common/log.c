/*
 * log.c - the process's one log writer. Loop threads must never wait for
 * a log reader (a full pipe, a stopped terminal, a slow disk): a line is
 * copied into the bounded queue of its destination and the writer thread
 * writes it with blocking writes, queue by queue, lines in the order they
 * came. A full queue drops the line and counts it; once the writer has
 * caught up with that queue it writes "log event=dropped lines=N" in the
 * gap's place (before the first line accepted after it).
 *
 * Destinations are stdout, stderr and the log_fd of workers that have one.
 * A worker's log_fd belongs to its caller, who may close it once the
 * worker is gone (prelude.c does, right after a synthetic request): the
 * writer writes through its own dup, made when the queue is made and
 * closed once it is empty, so a closed and reused fd number never receives
 * a stale line. A queue is keyed by fd number and file identity.
 *
 * Raw mode (`isolde run`): lines are written at once by the caller, as
 * node writes a script's console output, so that they interleave with the
 * runner's own messages in order.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"

typedef struct line_s {
  struct line_s *next;
  size_t len;
  char text[];
} line_t;

typedef struct {
  int used;  /* the slot holds a destination */
  int key;   /* the caller's fd number */
  int fd;    /* what the writer writes to */
  int owned; /* fd is the writer's dup, closed once the queue is empty */
  dev_t dev; /* identity of the caller's fd (owned queues) */
  ino_t ino;
  line_t *head, *tail;
  size_t bytes;     /* queued, plus being written */
  uint64_t dropped; /* since the last "dropped" line */
  int busy;         /* the writer is writing a batch taken from here */
} queue_t;

/* stdout, stderr, and up to 16 workers' own log_fd with lines pending. */
#define N_QUEUES 18
#define BATCH_IOV 64

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t work_cv = PTHREAD_COND_INITIALIZER; /* the writer waits for lines */
static pthread_cond_t idle_cv;                            /* flushers wait for the writer (CLOCK_MONOTONIC) */
static queue_t queues[N_QUEUES] = {{.used = 1, .key = 1, .fd = 1}, {.used = 1, .key = 2, .fd = 2}};
static atomic_int state;    /* 0 not started, 1 running, -1 could not start (set under mu) */
static atomic_int raw_mode; /* `isolde run`: write at once, unescaped */
static unsigned next_queue; /* round robin over the queues */
static int registered;      /* atexit and atfork handlers are in */
static int writer_asleep;   /* the writer waits on work_cv: a line must wake it (under mu) */
/* After a quiet spell, the writer lets this long's lines gather before it
 * writes: one wake-up per batch, not per line. */
#define LOG_BATCH_MS 5

static void write_all(int fd, const char *p, size_t n) {
  while (n > 0) {
    ssize_t k = write(fd, p, n);
    if (k < 0 && errno == EINTR) continue;
    if (k < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      struct pollfd pfd = {.fd = fd, .events = POLLOUT};
      if (poll(&pfd, 1, -1) < 0 && errno != EINTR) return;
      continue;
    }
    if (k <= 0) return;
    p += k;
    n -= (size_t)k;
  }
}

/* ---- queues (under mu) ------------------------------------------------------- */

static void append(queue_t *q, line_t *l) {
  l->next = NULL;
  if (q->tail) {
    q->tail->next = l;
  } else {
    q->head = l;
  }
  q->tail = l;
  q->bytes += l->len;
}

/* Queues the "dropped" line in the gap's place; it may pass the bound by its own length. */
static void append_dropped(queue_t *q) {
  char text[64];
  int n = snprintf(text, sizeof(text), "log event=dropped lines=%llu\n", (unsigned long long)q->dropped);
  line_t *l = malloc(sizeof(*l) + (size_t)n);
  if (!l) return; /* counted on: told with the next one */
  memcpy(l->text, text, (size_t)n);
  l->len = (size_t)n;
  q->dropped = 0;
  append(q, l);
}

static int pending(void) {
  for (int i = 0; i < N_QUEUES; i++)
    if (queues[i].used && (queues[i].head || queues[i].busy || queues[i].dropped)) return 1;
  return 0;
}

/* The queue of fd (whose identity is st for a worker's own fd), made if
 * needed; NULL when every slot is taken or fd cannot be dup'd. */
static queue_t *queue_of(int fd, const struct stat *st) {
  if (fd == 1) return &queues[0];
  if (fd == 2) return &queues[1];
  queue_t *free_slot = NULL;
  for (int i = 2; i < N_QUEUES; i++) {
    queue_t *q = &queues[i];
    if (!q->used) {
      if (!free_slot) free_slot = q;
    } else if (q->key == fd && q->dev == st->st_dev && q->ino == st->st_ino) {
      return q;
    }
  }
  if (!free_slot) return NULL;
  int own = fcntl(fd, F_DUPFD_CLOEXEC, 3);
  if (own < 0) return NULL;
  *free_slot = (queue_t){.used = 1, .key = fd, .fd = own, .owned = 1, .dev = st->st_dev, .ino = st->st_ino};
  return free_slot;
}

static queue_t *next_ready(void) {
  for (unsigned k = 0; k < N_QUEUES; k++) {
    queue_t *q = &queues[(next_queue + k) % N_QUEUES];
    if (q->used && q->head) {
      next_queue = (next_queue + k + 1) % N_QUEUES;
      return q;
    }
  }
  return NULL;
}

/* ---- the writer thread ----------------------------------------------------------- */

/* Writes a batch in order and frees it; returns the bytes it accounted for.
 * A destination that fails (closed pipe, bad fd) loses the rest. */
static size_t write_batch(int fd, line_t *batch) {
  size_t total = 0;
  int failed = 0;
  while (batch) {
    struct iovec iov[BATCH_IOV];
    line_t *ls[BATCH_IOV];
    int n = 0;
    for (line_t *l = batch; l && n < BATCH_IOV; l = l->next, n++) {
      iov[n] = (struct iovec){l->text, l->len};
      ls[n] = l;
    }
    batch = ls[n - 1]->next;
    struct iovec *v = iov;
    int left = n;
    while (!failed && left > 0) {
      ssize_t k = writev(fd, v, left);
      if (k < 0 && errno == EINTR) continue;
      if (k < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) { /* someone made the fd non-blocking */
        struct pollfd pfd = {.fd = fd, .events = POLLOUT};
        if (poll(&pfd, 1, -1) < 0 && errno != EINTR) failed = 1;
        continue;
      }
      if (k <= 0) {
        failed = 1;
        break;
      }
      size_t done = (size_t)k;
      while (left > 0 && done >= v->iov_len) {
        done -= v->iov_len;
        v++;
        left--;
      }
      if (left > 0) {
        v->iov_base = (char *)v->iov_base + done;
        v->iov_len -= done;
      }
    }
    for (int i = 0; i < n; i++) {
      total += ls[i]->len;
      free(ls[i]);
    }
  }
  return total;
}

static void *writer_main(void *arg) {
  (void)arg;
  pthread_mutex_lock(&mu);
  for (;;) {
    queue_t *q = next_ready();
    if (!q) {
      pthread_cond_broadcast(&idle_cv);
      writer_asleep = 1;
      pthread_cond_wait(&work_cv, &mu);
      writer_asleep = 0;
      /* Woken by a line after a quiet spell: let the lines of the next
       * few milliseconds join it, so a busy server wakes this thread a
       * few hundred times a second, not once per request. */
      pthread_mutex_unlock(&mu);
      struct timespec batch = {0, LOG_BATCH_MS * 1000000L};
      nanosleep(&batch, NULL);
      pthread_mutex_lock(&mu);
      continue;
    }
    line_t *batch = q->head;
    q->head = q->tail = NULL;
    q->busy = 1;
    int fd = q->fd;
    pthread_mutex_unlock(&mu);
    size_t done = write_batch(fd, batch);
    pthread_mutex_lock(&mu);
    q->bytes -= done;
    q->busy = 0;
    if (!q->head && q->dropped) append_dropped(q);
    if (q->owned && !q->head && !q->dropped) {
      close(q->fd);
      *q = (queue_t){0};
    }
    pthread_cond_broadcast(&idle_cv);
  }
  return NULL;
}

static void flush_at_exit(void) {
  isl_log_flush(ISL_LOG_EXIT_WAIT_MS);
}

/* fork: the parent's writer is not in the child, nor are its lines for it. */
static void before_fork(void) {
  pthread_mutex_lock(&mu);
}
static void after_fork_parent(void) {
  pthread_mutex_unlock(&mu);
}
static void after_fork_child(void) {
  for (int i = 0; i < N_QUEUES; i++) {
    queue_t *q = &queues[i];
    for (line_t *l = q->head, *next; l; l = next) {
      next = l->next;
      free(l);
    }
    if (q->owned) close(q->fd);
    *q = i < 2 ? (queue_t){.used = 1, .key = i + 1, .fd = i + 1} : (queue_t){0};
  }
  atomic_store(&state, 0);
  pthread_mutex_unlock(&mu);
}

int isl_log_start(void) {
  int now = atomic_load(&state);
  if (now) return now > 0 ? 0 : -1;
  pthread_mutex_lock(&mu);
  if (!registered) {
    registered = 1;
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&idle_cv, &ca);
    pthread_condattr_destroy(&ca);
    atexit(flush_at_exit);
    pthread_atfork(before_fork, after_fork_parent, after_fork_child);
  }
  if (atomic_load(&state) == 0) {
    /* The writer takes no signal: SIGTERM and SIGINT stay with the
     * server's threads, and a closed pipe is an EPIPE, not a SIGPIPE. */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_t t;
    atomic_store(&state, pthread_create(&t, &attr, writer_main, NULL) == 0 ? 1 : -1);
    pthread_attr_destroy(&attr);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
  }
  int rc = atomic_load(&state) > 0 ? 0 : -1;
  pthread_mutex_unlock(&mu);
  return rc;
}

/* ---- callers' side --------------------------------------------------------------- */

/* Under mu: a futex wake only when the writer sleeps; a writer that is
 * awake finds the line by itself. */
static void wake_writer(void) {
  if (!writer_asleep) return;
  writer_asleep = 0;
  pthread_cond_signal(&work_cv);
}

void isl_log_write(int fd, const char *text, size_t len) {
  if (fd < 0 || len == 0) return;
  if (atomic_load(&raw_mode) || isl_log_start() < 0) {
    write_all(fd, text, len);
    return;
  }
  struct stat st = {0};
  if (fd > 2 && fstat(fd, &st) < 0) return; /* closed: nowhere to write */
  line_t *l = malloc(sizeof(*l) + len);
  pthread_mutex_lock(&mu);
  queue_t *q = queue_of(fd, &st);
  if (!q || !l || q->bytes + len > ISL_LOG_QUEUE_BYTES) {
    if (q) {
      q->dropped++;
      /* Nothing queued to write before it: say so now. */
      if (!q->head && !q->busy) append_dropped(q);
      if (q->head) wake_writer();
    }
    pthread_mutex_unlock(&mu);
    free(l);
    return;
  }
  if (q->dropped) append_dropped(q);
  memcpy(l->text, text, len);
  l->len = len;
  append(q, l);
  wake_writer();
  pthread_mutex_unlock(&mu);
}

int isl_log_flush(int timeout_ms) {
  pthread_mutex_lock(&mu);
  if (atomic_load(&state) <= 0) {
    pthread_mutex_unlock(&mu);
    return 0;
  }
  struct timespec until;
  clock_gettime(CLOCK_MONOTONIC, &until);
  until.tv_sec += timeout_ms / 1000;
  until.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
  if (until.tv_nsec >= 1000000000L) {
    until.tv_sec++;
    until.tv_nsec -= 1000000000L;
  }
  int timed_out = 0;
  while (pending() && !timed_out) timed_out = pthread_cond_timedwait(&idle_cv, &mu, &until) == ETIMEDOUT;
  int left = pending();
  pthread_mutex_unlock(&mu);
  return left ? -1 : 0;
}

int isl_log_set_raw(int raw) {
  if (raw) isl_log_flush(ISL_LOG_EXIT_WAIT_MS);
  return atomic_exchange(&raw_mode, raw ? 1 : 0);
}

int isl_log_is_raw(void) {
  return atomic_load(&raw_mode);
}

/* ---- escaping --------------------------------------------------------------------- */

/* The length of the well-formed UTF-8 sequence at s (at most n bytes), with
 * its code point in *cp; 0 if it is not one (overlong, surrogate, past
 * U+10FFFF, cut short). */
static size_t utf8_seq(const unsigned char *s, size_t n, unsigned *cp) {
  unsigned c = s[0];
  size_t need;
  unsigned lo = 0x80, hi = 0xBF;
  if (c >= 0xC2 && c <= 0xDF) {
    need = 1;
    *cp = c & 0x1F;
  } else if (c >= 0xE0 && c <= 0xEF) {
    need = 2;
    *cp = c & 0x0F;
    if (c == 0xE0) lo = 0xA0;
    if (c == 0xED) hi = 0x9F;
  } else if (c >= 0xF0 && c <= 0xF4) {
    need = 3;
    *cp = c & 0x07;
    if (c == 0xF0) lo = 0x90;
    if (c == 0xF4) hi = 0x8F;
  } else {
    return 0;
  }
  if (n < need + 1) return 0;
  for (size_t i = 1; i <= need; i++) {
    unsigned b = s[i];
    if (b < (i == 1 ? lo : 0x80) || b > (i == 1 ? hi : 0xBF)) return 0;
    *cp = (*cp << 6) | (b & 0x3F);
  }
  return need + 1;
}

/* Code points that move or break lines, or reorder what follows: C1
 * controls (NEL), line and paragraph separators, bidi controls, BOM. */
static int invisible(unsigned cp) {
  return cp <= 0x9F || cp == 0x061C || cp == 0x200E || cp == 0x200F || (cp >= 0x2028 && cp <= 0x202E) ||
         (cp >= 0x2066 && cp <= 0x2069) || cp == 0xFEFF;
}

size_t isl_log_escape(char *out, size_t out_cap, const char *text, size_t len, size_t *used) {
  const unsigned char *s = (const unsigned char *)text;
  size_t o = 0, i = 0;
  while (i < len) {
    char esc[8];
    const char *put = esc;
    size_t n, adv = 1;
    unsigned c = s[i], cp = 0;
    if (c == '\n') {
      put = "\\n", n = 2;
    } else if (c == '\r') {
      put = "\\r", n = 2;
    } else if (c == '\t') {
      put = "\\t", n = 2;
    } else if (c == '\\') {
      put = "\\\\", n = 2;
    } else if (c < 0x20 || c == 0x7F) {
      n = (size_t)snprintf(esc, sizeof(esc), "\\x%02x", c);
    } else if (c < 0x80) {
      put = (const char *)s + i, n = 1;
    } else if (!(adv = utf8_seq(s + i, len - i, &cp))) {
      adv = 1;
      n = (size_t)snprintf(esc, sizeof(esc), "\\x%02x", c);
    } else if (invisible(cp)) {
      n = (size_t)snprintf(esc, sizeof(esc), "\\u%04x", cp);
    } else {
      put = (const char *)s + i, n = adv;
    }
    if (o + n > out_cap) break;
    memcpy(out + o, put, n);
    o += n;
    i += adv;
  }
  *used = i;
  return o;
}
