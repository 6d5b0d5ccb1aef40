/*
 * test_log_served.c - a tenant's log is data (issue 11). What a tenant
 * prints cannot pass for another tenant's line or the host's request log
 * (every line is escaped and tagged by the host), and a log reader that
 * stops reading cannot stop the server: lines are queued, dropped with a
 * count when the queue is full, and no loop waits for the reader.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "http/http_client.h"
#include "runtime/internal.h"
#include "runtime/server_proc.h"
#include "test.h"

/* GET path with a Host header on a new connection; the status, or 0 when
 * no answer came within timeout_ms. */
static int get_status(int port, const char *host, const char *path, int timeout_ms) {
  test_http_conn_t c;
  if (test_http_conn_open(&c, port) < 0) return 0;
  char raw[512];
  snprintf(raw, sizeof(raw), "GET %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n", path, host);
  test_http_resp_t r = {0};
  int status = 0;
  if (test_http_conn_send_str(&c, raw) == 0 && test_http_conn_read(&c, &r, 0, timeout_ms) == 0) status = r.status;
  test_http_resp_free(&r);
  test_http_conn_close(&c);
  return status;
}

/* How many lines of text are exactly line. */
static int count_lines(const char *text, const char *line) {
  int n = 0;
  size_t len = strlen(line);
  for (const char *p = text; *p;) {
    const char *end = strchr(p, '\n');
    size_t l = end ? (size_t)(end - p) : strlen(p);
    if (l == len && memcmp(p, line, len) == 0) n++;
    if (!end) break;
    p = end + 1;
  }
  return n;
}

/* The first line of text that starts with none of the prefixes (NULL-
 * terminated), as a malloc'd string, or NULL if there is none. */
static char *line_not_starting_with(const char *text, const char *const *prefixes) {
  for (const char *p = text; *p;) {
    const char *end = strchr(p, '\n');
    size_t l = end ? (size_t)(end - p) : strlen(p);
    int ok = 0;
    for (size_t i = 0; prefixes[i] && !ok; i++)
      ok = l >= strlen(prefixes[i]) && memcmp(p, prefixes[i], strlen(prefixes[i])) == 0;
    if (!ok) return strndup(p, l);
    if (!end) break;
    p = end + 1;
  }
  return NULL;
}

TEST(log_tenant_cannot_forge_host_or_neighbour_lines_with_control_characters) {
  test_server_t s = {0};
  CHECK(test_server_dir(&s) == 0);
  /* Each line of the JS is one console call; the C escapes put JS escapes
   * (\n, \x1b, \u2028) into the script. */
  char mallory[PATH_MAX], victim[PATH_MAX];
  snprintf(mallory, sizeof(mallory), "%s",
           test_server_write(&s, "mallory/w.js",
                             "export default { fetch() {\n"
                             "  console.log('x\\nrequest tenant=victim method=GET path=/ status=200');\n"
                             "  console.log('\\x1b[2J');\n"
                             "  console.log('\\r');\n"
                             "  console.error('[victim] error: forged\\n[victim] log: forged too\\r\\n');\n"
                             "  console.log('sep\\u2028arator \\u202e bidi \\\\ backslash \\x85 nel \\ud800 lone');\n"
                             "  return new Response('logged');\n"
                             "} };\n"));
  snprintf(victim, sizeof(victim), "%s",
           test_server_write(&s, "victim/w.js", "export default { fetch() { return new Response('victim'); } };\n"));
  char cfg[2 * PATH_MAX + 1024];
  snprintf(cfg, sizeof(cfg),
           "{ \"listen\": {\"port\": 0}, \"threads\": 1,\n"
           "  \"workers\": [\n"
           "    {\"name\": \"mallory\", \"main\": \"%s\", \"routes\": [\"mallory.test/*\"]},\n"
           "    {\"name\": \"victim\", \"main\": \"%s\", \"routes\": [\"victim.test/*\"]}\n"
           "  ] }\n",
           mallory, victim);
  CHECK(test_server_serve_config(&s, cfg) == 0);
  CHECK_EQ_INT(get_status(s.port, "mallory.test", "/", 20000), 200);
  /* Every call is one line, tagged with the tenant's own name. */
  static const char *const want[] = {
      "[mallory] log: x\\nrequest tenant=victim method=GET path=/ status=200",
      "[mallory] log: \\x1b[2J",
      "[mallory] log: \\r",
      "[mallory] error: [victim] error: forged\\n[victim] log: forged too\\r\\n",
      "[mallory] log: sep\\u2028arator \\u202e bidi \\\\ backslash \\u0085 nel \\xed\\xa0\\x80 lone",
  };
  CHECK(test_server_wait_output(&s, want[4], 10000));
  CHECK(test_server_wait_output(&s, want[3], 10000));
  CHECK(test_server_wait_output(&s, "request tenant=mallory method=GET path=/ status=200", 10000));
  char *out = test_server_output(&s);
  for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
    CHECK_MSG(count_lines(out, want[i]) == 1, "want exactly one line %s in:\n%s", want[i], out);
  /* Nothing raw that a terminal or a log reader would take for layout. */
  for (const unsigned char *p = (const unsigned char *)out; *p; p++)
    CHECK_MSG(*p == '\n' || (*p >= 0x20 && *p < 0x7f), "raw byte 0x%02x at %ld in:\n%s", *p,
              (long)(p - (const unsigned char *)out), out);
  /* No line but the tenant's own lines and the host's: nothing starts
   * like the victim's lines or a request line of the victim (which had no
   * request). ASan's own warnings start with "==". */
  const char *const allowed[] = {"[mallory] ",
                                 "request tenant=mallory ",
                                 "runtime tenant=mallory ",
                                 "isolde: ",
                                 test_under_sanitizer() ? "==" : "[mallory] ",
                                 NULL};
  char *bad = line_not_starting_with(out, allowed);
  CHECK_MSG(!bad, "line \"%s\" in:\n%s", bad ? bad : "", out);
  free(out);
  CHECK_EQ_INT(test_server_stop(&s), 0);
}

TEST(log_tenant_name_from_a_file_name_cannot_close_its_tag) {
  test_server_t s = {0};
  CHECK(test_server_dir(&s) == 0);
  /* `isolde dev` names the tenant after its file. */
  char path[PATH_MAX];
  snprintf(path, sizeof(path), "%s",
           test_server_write(&s, "v] log: x.js",
                             "export default { fetch() { console.log('hi'); return new Response('ok'); } };\n"));
  const char *args[] = {"dev", path, "--port", "0", "--threads", "1", NULL};
  CHECK(test_server_start(&s, args) == 0);
  CHECK_EQ_INT(get_status(s.port, "x", "/", 20000), 200);
  CHECK(test_server_wait_output(&s, "[v\\x5d\\x20log\\x3a\\x20x] log: hi\n", 10000));
  char *out = test_server_output(&s);
  int forged = strstr(out, "\n[v]") != NULL || strstr(out, "] log: x] log") != NULL;
  CHECK_MSG(!forged, "output:\n%s", out);
  free(out);
  CHECK_EQ_INT(test_server_stop(&s), 0);
}

static uint64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Reads fd until needle has come (1) or ms have passed (0); what follows
 * the needle, up to the end of its line, goes to after. */
static int read_until(int fd, const char *needle, int ms, char *after, size_t after_cap) {
  static char buf[1 << 16];
  size_t len = 0, keep = strlen(needle) + after_cap;
  uint64_t until = now_ms() + (uint64_t)ms;
  for (;;) {
    buf[len] = 0;
    const char *at = strstr(buf, needle);
    const char *end = at ? strchr(at, '\n') : NULL;
    if (end) {
      snprintf(after, after_cap, "%.*s", (int)(end - at - strlen(needle)), at + strlen(needle));
      return 1;
    }
    uint64_t now = now_ms();
    if (now >= until) return 0;
    struct pollfd pfd = {.fd = fd, .events = POLLIN};
    if (poll(&pfd, 1, (int)(until - now)) <= 0) continue;
    if (len + 4096 >= sizeof(buf)) { /* keep the tail, where a needle may have begun */
      memmove(buf, buf + len - keep, keep);
      len = keep;
    }
    ssize_t k = read(fd, buf + len, sizeof(buf) - len - 1);
    if (k <= 0) return 0;
    len += (size_t)k;
  }
}

TEST(log_stalled_reader_drops_lines_with_a_count_and_never_blocks_serving) {
  test_server_t s = {0};
  CHECK(test_server_dir(&s) == 0);
  /* 1 MiB of log per request, in 1 KiB lines: the pipe (64 KiB) is full
   * at once, and the log queue after the first request. */
  char noisy[PATH_MAX], quiet[PATH_MAX];
  snprintf(noisy, sizeof(noisy), "%s",
           test_server_write(&s, "noisy/w.js",
                             "const chunk = 'y'.repeat(1023);\n"
                             "export default { fetch() {\n"
                             "  for (let i = 0; i < 1024; i++) console.log(chunk);\n"
                             "  return new Response('noisy');\n"
                             "} };\n"));
  snprintf(quiet, sizeof(quiet), "%s",
           test_server_write(&s, "quiet/w.js", "export default { fetch() { return new Response('quiet'); } };\n"));
  char cfg[2 * PATH_MAX + 1024];
  /* One loop thread: the tenants share it, as they would on a busy server. */
  snprintf(cfg, sizeof(cfg),
           "{ \"listen\": {\"port\": 0}, \"threads\": 1,\n"
           "  \"workers\": [\n"
           "    {\"name\": \"noisy\", \"main\": \"%s\", \"routes\": [\"noisy.test/*\"],\n"
           "     \"limits\": {\"cpu_ms\": 5000}},\n"
           "    {\"name\": \"quiet\", \"main\": \"%s\", \"routes\": [\"quiet.test/*\"]}\n"
           "  ] }\n",
           noisy, quiet);
  char cfg_path[512];
  snprintf(cfg_path, sizeof(cfg_path), "%s", test_server_write(&s, "isolde.json", cfg));
  const char *args[] = {"serve", "--config", cfg_path, NULL};
  int rfd = -1;
  CHECK(test_server_start_piped(&s, args, &rfd) == 0);
  /* Nobody reads the pipe from here on. Before the log writer, the loop
   * thread blocked in write(2) on the first noisy request, and the quiet
   * tenant never answered again. An idle answer takes about a millisecond;
   * 20 s is for a busy machine. */
  for (int i = 0; i < 8; i++) {
    const char *host = i % 2 ? "quiet.test" : "noisy.test";
    int status = get_status(s.port, host, "/", 20000);
    if (status != 200) close(rfd);
    CHECK_MSG(status == 200, "request %d (%s) got %d with the log reader stalled", i, host, status);
  }
  /* The reader resumes: the writer catches up and says what it dropped. */
  char count[64] = "";
  int told = read_until(rfd, "log event=dropped lines=", 30000, count, sizeof(count));
  close(rfd);
  CHECK_MSG(told, "no dropped-lines count after the reader resumed");
  CHECK_MSG(atol(count) > 0, "dropped lines=%s", count);
  CHECK_EQ_INT(test_server_stop(&s), 0);
}

/* In process: a worker's own log_fd is written through the writer's dup,
 * so an fd the caller closed and whose number now names another file
 * (prelude.c closes its /dev/null sink after a synthetic request) never
 * receives the lines that were queued for the first. */
TEST(log_worker_fd_closed_and_reused_never_gets_stale_lines) {
  int p[2];
  CHECK(pipe(p) == 0);
  /* Fill the pipe: the writer blocks on it with "A" queued. */
  int fl = fcntl(p[1], F_GETFL);
  CHECK(fcntl(p[1], F_SETFL, fl | O_NONBLOCK) == 0);
  char fill[4096];
  memset(fill, 'f', sizeof(fill));
  size_t filled = 0;
  for (;;) {
    ssize_t k = write(p[1], fill, sizeof(fill));
    if (k <= 0) break;
    filled += (size_t)k;
  }
  CHECK(fcntl(p[1], F_SETFL, fl) == 0);
  isl_rt__log_write(p[1], "A\n", 2);
  /* The caller closes its fd; the number is reused for a file. */
  char tmpl[] = "/tmp/isolde-log-test-XXXXXX";
  int file = mkstemp(tmpl);
  CHECK(file >= 0);
  unlink(tmpl);
  CHECK(dup2(file, p[1]) == p[1]);
  isl_rt__log_write(p[1], "B\n", 2);
  /* Drain the pipe: the filler, then exactly "A\n". */
  char *got = malloc(filled + 64);
  CHECK(got);
  size_t len = 0;
  uint64_t until = now_ms() + 20000;
  while (len < filled + 2 && now_ms() < until) {
    struct pollfd pfd = {.fd = p[0], .events = POLLIN};
    if (poll(&pfd, 1, 1000) <= 0) continue;
    ssize_t k = read(p[0], got + len, filled + 64 - len);
    if (k <= 0) break;
    len += (size_t)k;
  }
  int pipe_ok = len == filled + 2 && memcmp(got + filled, "A\n", 2) == 0;
  free(got);
  CHECK_MSG(pipe_ok, "the pipe got %zu bytes, want %zu ending in A", len, filled + 2);
  CHECK_EQ_INT(isl_rt__log_flush(20000), 0);
  char text[16] = "";
  ssize_t k = pread(file, text, sizeof(text) - 1, 0);
  close(file);
  close(p[1]);
  close(p[0]);
  CHECK_MSG(k == 2 && memcmp(text, "B\n", 2) == 0, "the file got %zd bytes: %.*s", k, (int)(k > 0 ? k : 0), text);
}

TEST(log_escape_leaves_no_control_separator_or_invalid_utf8_raw) {
  static const struct {
    const char *in, *out;
  } cases[] = {
      {"plain text, é and 日本", "plain text, é and 日本"},
      {"a\nb\rc\td\\e", "a\\nb\\rc\\td\\\\e"},
      {"\x1b[2J\x01\x7f", "\\x1b[2J\\x01\\x7f"},
      {"\xc2\x85|\xe2\x80\xa8|\xe2\x80\xa9|\xe2\x80\xae|\xe2\x81\xa6|\xef\xbb\xbf",
       "\\u0085|\\u2028|\\u2029|\\u202e|\\u2066|\\ufeff"},
      {"\xff\xc0\xaf|\xed\xa0\x80|\xf4\x90\x80\x80|\xe2\x80",
       "\\xff\\xc0\\xaf|\\xed\\xa0\\x80|\\xf4\\x90\\x80\\x80|\\xe2\\x80"},
      {"\xf0\x9f\x98\x80", "\xf0\x9f\x98\x80"},
  };
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    char out[256];
    size_t used = 0;
    size_t n = isl_rt__log_escape(out, sizeof(out) - 1, cases[i].in, strlen(cases[i].in), &used);
    out[n] = 0;
    CHECK_MSG(used == strlen(cases[i].in) && strcmp(out, cases[i].out) == 0, "case %zu: got \"%s\" want \"%s\"", i, out,
              cases[i].out);
  }
  /* Cut at the room given, never inside an escape. */
  char out[8];
  size_t used = 0;
  size_t n = isl_rt__log_escape(out, 6, "abcde\n", 6, &used);
  CHECK_EQ_INT(n, 5);
  CHECK_EQ_INT(used, 5);
}
