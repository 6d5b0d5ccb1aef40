/*
 * internal.h - private to src/http: the server, loop, connection and
 * request structs shared by server.c (listeners, threads, stop) and
 * conn.c (parsing, requests, responses). Nothing outside src/http may
 * include it.
 */
#ifndef ISL_HTTP_INTERNAL_H
#define ISL_HTTP_INTERNAL_H

#include <llhttp.h>
#include <stdatomic.h>

#include "http/http.h"

typedef struct isl_http_conn_s isl_http_conn_t;
typedef struct isl_http_loopi_s isl_http_loopi_t;
typedef struct isl_http_reqi_s isl_http_reqi_t;
typedef struct isl_http_account_s isl_http_account_t;

/* ---- server.c ------------------------------------------------------------------ */
struct isl_http_server_s {
  isl_http_config_t cfg; /* defaults filled in; cfg.host points at host */
  char host[64];
  isl_http_handler_t h;
  unsigned n_loops;
  isl_http_loopi_t *loops;
  int port;
  int ran;             /* run was called */
  atomic_int stopping; /* stop was called */
  atomic_uint n_conns; /* open connections over all loops (not counting 503 rejects) */
  /* Output accounts (isl_http_req_set_account): an open-addressing table
   * keyed by owner, shared by the loops under acct_lock; each account is
   * its own allocation, so pointers to it stay valid as the table grows. */
  uv_mutex_t acct_lock;
  int acct_lock_ok;
  isl_http_account_t **accts;
  size_t n_accts, cap_accts;
};

/* An output account: response bytes of its requests queued in libuv
 * (conn.c adds in conn_send, subtracts in on_write). */
struct isl_http_account_s {
  const void *owner;
  atomic_size_t bytes;
};

/* The account of owner, made on first use; NULL only if out of memory. */
isl_http_account_t *isl_http__account(isl_http_server_t *s, const void *owner);

struct isl_http_loopi_s {
  isl_http_loop_t pub; /* first: isl_http_loop_t * <-> isl_http_loopi_t * */
  isl_http_server_t *srv;
  unsigned index;
  uv_loop_t uv;
  int uv_ok; /* uv loop initialised */
  uv_tcp_t listener;
  int listener_open; /* handle initialised and not closed yet */
  uv_async_t stop_async;
  int async_open;
  uv_timer_t drain_timer;
  int drain_open;
  uv_thread_t thread;
  int stopping;           /* this loop has begun to stop */
  int stopped;            /* on_loop_stop called, handles closing */
  isl_http_conn_t *conns; /* every open connection (doubly linked) */
  size_t n_conns;
  isl_http_reqi_t *reqs; /* every request not freed yet (doubly linked) */
  /* Flow control (isl_http_req_on_drain, conn.c): requests waiting for
   * their drain callback (drain_wait), those due in the current wake_timer
   * run (drain_fire), and how many waiters the last scan found blocked on
   * their account (another loop's writes may drain it, so while any is,
   * wake_timer rechecks every ISL_HTTP_ACCOUNT_RECHECK_MS). wake_timer is
   * unref'd: it never keeps the loop alive. */
  uv_timer_t wake_timer;
  int wake_open;   /* initialised and not closed: on_drain may register */
  int wake_kicked; /* started for a run at once (a waiter is ready) */
  isl_http_reqi_t *drain_wait, *drain_fire;
  size_t acct_blocked;
  /* A connection that cannot be allocated at accept is accepted into
   * `spare` and closed at once (libuv stops watching a listener whose
   * connection was not accepted); while that close is under way, another
   * waits in the listener (accept_waiting) until on_spare_closed. */
  uv_tcp_t spare;
  int spare_busy;
  int accept_waiting;
  char rbuf[64 << 10]; /* read buffer shared by the loop's connections */
  char date[96];       /* "Date: ...\r\n" for date_sec */
  int64_t date_sec;
};

/* The loop has one connection fewer; finishes a stop once none is left. */
void isl_http__loop_conn_gone(isl_http_loopi_t *l);

/* How often a loop with waiters blocked on their account rechecks it. */
#ifndef ISL_HTTP_ACCOUNT_RECHECK_MS
#define ISL_HTTP_ACCOUNT_RECHECK_MS 5u
#endif

/* ---- conn.c --------------------------------------------------------------------- */
enum {
  ISL_HTTP_CONN_IDLE,    /* keep-alive, waiting for a request's first byte */
  ISL_HTTP_CONN_HEADERS, /* reading request line and headers */
  ISL_HTTP_CONN_BODY,    /* reading the body */
  ISL_HTTP_CONN_HANDLER, /* request read; waiting for the response to end */
  ISL_HTTP_CONN_LINGER,  /* last bytes written; discarding input until EOF */
  ISL_HTTP_CONN_CLOSED,  /* uv_close called */
};

enum {
  ISL_HTTP_SCAN_HEAD,     /* a request's head (and the empty lines before it) */
  ISL_HTTP_SCAN_BODY,     /* body and chunk framing: left to the parser */
  ISL_HTTP_SCAN_TRAILERS, /* after the last chunk, up to the empty line */
};

struct isl_http_conn_s {
  uv_tcp_t tcp;
  uv_timer_t timer;
  uv_shutdown_t shutdown;
  isl_http_loopi_t *loop;
  isl_http_conn_t *prev, *next;
  llhttp_t parser;
  int state;
  int closes;            /* close callbacks still to come */
  int counted;           /* counted in srv->n_conns */
  int reading;           /* uv_read_start active */
  int read_eof;          /* the client half-closed */
  int in_execute;        /* inside llhttp_execute */
  int paused;            /* parser paused at the end of a message */
  int trailers_next;     /* parser paused at the last chunk (conn_execute resumes it) */
  int last_request;      /* no request after the current one */
  int shut;              /* uv_shutdown issued */
  int doomed;            /* ISL_HTTP_DOOM_*: a write or an allocation failed; close on the next tick */
  int input_lost;        /* read bytes could not be buffered: no further request, input discarded */
  int body_paused;       /* the handler paused cur's body (isl_http_req_pause_body): no parsing, no reading */
  int body_stopped;      /* llhttp paused by on_headers_complete / on_body for body_paused (llhttp_resume due) */
  isl_http_reqi_t *cur;  /* the request being parsed or answered */
  isl_http_reqi_t *reqs; /* requests of this connection not yet freed */
  char *pend;            /* unparsed input (pipelined data while paused) */
  size_t pend_len, pend_cap;
  size_t pending_bytes; /* queued in libuv for writing: not yet taken by the socket */
  /* Output bounds (cfg.max_queued_responses, cfg.max_pending_output): a
   * connection whose queue is full gets no new request and is not read
   * (out_blocked) until its writes drain to half. */
  size_t answers_queued; /* responses ended whose bytes are not all written (reqi.out_queued) */
  int out_blocked;       /* parser paused and reading stopped for the output bound */
  /* The line scanner (conn.c, scan_lines): which section the next bytes
   * belong to, and the current section's lines so far. */
  int scan_mode;        /* ISL_HTTP_SCAN_* */
  int scan_cr;          /* the last byte scanned was a CR */
  size_t scan_lines;    /* non-empty lines of the section so far */
  size_t scan_line_len; /* bytes of the current line */
  size_t head_bytes;    /* request line, headers and trailers so far, on the wire */
  size_t writes;        /* uv_write requests in flight */
  char remote[48];
};

/* Why a connection closes on the next tick (conn.c, conn_doom), weakest
 * first: the stronger of two wins. Allocation failures follow the policy
 * of common/alloc.h. */
enum {
  ISL_HTTP_DOOM_NONE,
  ISL_HTTP_DOOM_CLOSE, /* a write failed: the socket is gone, close */
  ISL_HTTP_DOOM_503,   /* out of memory before any byte of the current response: 503, then close */
  ISL_HTTP_DOOM_RESET, /* out of memory with a response under way: close with a reset (a cut response) */
};

enum {
  ISL_HTTP_RES_NONE,
  ISL_HTTP_RES_STARTED,
  ISL_HTTP_RES_ENDED,
};

struct isl_http_reqi_s {
  isl_http_req_t pub; /* first */
  isl_http_loopi_t *loop;
  isl_http_conn_t *conn;          /* NULL once the connection is closing */
  isl_http_reqi_t *lprev, *lnext; /* loop->reqs */
  isl_http_reqi_t *cprev, *cnext; /* conn->reqs */
  /* parsing: url, names and values stored back to back, NUL-terminated */
  char *hbuf;
  size_t hlen, hcap;
  int last_cb; /* 0 none, 1 url, 2 field, 3 value */
  size_t url_len;
  struct {
    size_t name_off, name_len, value_off, value_len;
  } * offs;
  size_t n_headers, cap_headers;
  isl_http_header_t *headers; /* built at headers_complete */
  const char *method;
  int minor;
  int keep_alive;
  int is_head;
  int has_body;
  int64_t body_length; /* Content-Length, -1 chunked, 0 none */
  int expect_continue;
  uint64_t body_bytes;
  char remote[48];
  /* lifecycle */
  int cb_depth;  /* inside a handler callback for this request */
  int handed;    /* on_request called */
  int parsing;   /* still the parser's current message */
  int body_done; /* message complete */
  int aborted;   /* on_abort called (or the connection went away) */
  int released;  /* isl_http_req_release called */
  int res;       /* ISL_HTTP_RES_* */
  int chunked;   /* response uses chunked encoding */
  int no_body;   /* response body bytes are dropped (HEAD, 204, 304) */
  int close_delimited;
  int64_t res_length; /* declared Content-Length, -1 chunked/close-delimited */
  uint64_t res_written;
  isl_http_account_t *acct; /* charged for this response's queued bytes, or NULL */
  size_t writes;            /* uv_write requests in flight carrying this request's bytes */
  int out_queued;           /* counted in conn->answers_queued: ended, writes still in flight */
  int continue_due;         /* 100 Continue held back while the body is paused */
  /* isl_http_req_on_drain: the pending callback, and which loop list holds
   * r (0 none, 1 loop->drain_wait, 2 loop->drain_fire). */
  void (*drain_cb)(isl_http_req_t *req, void *arg);
  void *drain_arg;
  int drain_list;
  isl_http_reqi_t *dprev, *dnext;
};

/* Accepts one connection from l->listener. */
void isl_http__conn_accept(isl_http_loopi_t *l);
/* Graceful stop: idle connections close, busy ones finish with close. */
void isl_http__conn_stop(isl_http_conn_t *c);
/* Drain timeout: aborts and closes. */
void isl_http__conn_kill(isl_http_conn_t *c);
/* Frees a request the handler never released (loop teardown). */
void isl_http__req_free(isl_http_reqi_t *r);
/* The loop is stopping and has no connection left: closes wake_timer and
 * calls every pending drain callback (state -1); on_drain registers
 * nothing from then on. */
void isl_http__drain_stop(isl_http_loopi_t *l);

#endif
