/*
 * probe.c - timing helper for bench/run: launch-to-first-200, readiness of
 * many tenants, and first-vs-second request of one tenant.
 *
 *   probe launch TARGETS -- CMD ARGS...
 *       Fork and exec CMD (its stdout and stderr go to probe's stderr), then for every target
 *       in the file TARGETS (one "PORT HOST" a line) retry GET / every
 *       millisecond until it answers 200 (60 s budget per target). Prints
 *       "pid=P first_ms=F all_ms=A" where F is launch to the first target's
 *       200 and A launch to the last one's. The server keeps running; the
 *       caller stops it by pid. Exit 1 (and kill CMD) on timeout.
 *
 *   probe pair PORT HOST PATH
 *       One connection, two GET PATH requests; prints
 *       "first_ms=F second_ms=S" (round trips, status 200 required).
 *
 *   probe time PORT HOST PATH N
 *       N sequential GET PATH requests on one keep-alive connection;
 *       prints every round trip in ms, space separated.
 *
 *   probe cpu N -- CMD ARGS...
 *       Runs CMD to completion N times (its output discarded) and prints
 *       the CPU time (user + system, from wait4's rusage) of each run in
 *       ms, space separated. Exit 1 if a run fails.
 *
 * Responses are read up to the end of the headers plus Content-Length, or
 * to the end of a chunked body ("0\r\n\r\n"). Blocking sockets, no deps.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int dial(int port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return -1;
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((unsigned short)port)};
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  struct timeval tv = {.tv_sec = 30};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  if (connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
    close(fd);
    return -1;
  }
  return fd;
}

/* Send GET path with Host host on fd; return the status, or -1. */
static int get(int fd, const char *host, const char *path) {
  char req[512], buf[65536];
  int n = snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: probe\r\n\r\n", path, host);
  if (write(fd, req, (size_t)n) != n) return -1;
  size_t len = 0;
  char *body = NULL;
  for (;;) {
    ssize_t r = read(fd, buf + len, sizeof(buf) - 1 - len);
    if (r <= 0) return -1;
    len += (size_t)r;
    buf[len] = 0;
    if (!body && (body = strstr(buf, "\r\n\r\n"))) body += 4;
    if (body) {
      char *cl = strcasestr(buf, "\ncontent-length:");
      if (cl && cl < body) {
        if ((size_t)(body - buf) + strtoul(cl + 16, NULL, 10) <= len) break;
      } else if (strcasestr(buf, "\ntransfer-encoding: chunked") && strstr(body, "0\r\n\r\n")) {
        break;
      } else if (!strcasestr(buf, "\ntransfer-encoding")) {
        break; /* no body framing: assume empty */
      }
    }
    if (len >= sizeof(buf) - 1) len = 0; /* large body: keep reading (framing lost only for huge bodies) */
  }
  int status = -1;
  if (sscanf(buf, "HTTP/1.%*d %d", &status) != 1) return -1;
  return status;
}

static int launch(int argc, char **argv) {
  if (argc < 5 || strcmp(argv[3], "--") != 0) return 2;
  FILE *f = fopen(argv[2], "r");
  if (!f) return perror(argv[2]), 1;
  size_t cap = 1024, n = 0;
  int *ports = malloc(cap * sizeof(int));
  char(*hosts)[128] = malloc(cap * sizeof(*hosts));
  while (fscanf(f, "%d %127s", &ports[n], hosts[n]) == 2) {
    if (++n == cap) {
      cap *= 2;
      ports = realloc(ports, cap * sizeof(int));
      hosts = realloc(hosts, cap * sizeof(*hosts));
    }
  }
  fclose(f);
  double t0 = now_ms();
  pid_t pid = fork();
  if (pid == 0) {
    dup2(2, 1); /* the server's output must not hold the caller's pipe open */
    execvp(argv[4], argv + 4);
    perror(argv[4]);
    _exit(127);
  }
  double first = -1;
  for (size_t i = 0; i < n; i++) {
    double start = now_ms();
    for (;;) {
      int fd = dial(ports[i]);
      int st = fd >= 0 ? get(fd, hosts[i], "/") : -1;
      if (fd >= 0) close(fd);
      if (st == 200) break;
      if (waitpid(pid, NULL, WNOHANG) == pid) {
        fprintf(stderr, "probe: the server exited before %d %s answered\n", ports[i], hosts[i]);
        return 1;
      }
      if (now_ms() - start > 60000) {
        fprintf(stderr, "probe: %d %s not ready after 60 s (last status %d)\n", ports[i], hosts[i], st);
        kill(pid, SIGKILL);
        return 1;
      }
      usleep(1000);
    }
    if (first < 0) first = now_ms() - t0;
  }
  printf("pid=%d first_ms=%.2f all_ms=%.2f\n", (int)pid, first, now_ms() - t0);
  return 0;
}

static int cpu(int argc, char **argv) {
  if (argc < 5 || strcmp(argv[3], "--") != 0) return 2;
  int n = atoi(argv[2]);
  for (int i = 0; i < n; i++) {
    pid_t pid = fork();
    if (pid == 0) {
      int null = open("/dev/null", O_WRONLY);
      dup2(null, 1);
      dup2(null, 2);
      execvp(argv[4], argv + 4);
      _exit(127);
    }
    int st = 0;
    struct rusage ru;
    if (pid < 0 || wait4(pid, &st, 0, &ru) != pid || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
      return fprintf(stderr, "probe: %s failed (status %d)\n", argv[4], st), 1;
    double ms = (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e3 +
                (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e3;
    printf("%s%.3f", i ? " " : "", ms);
  }
  printf("\n");
  return 0;
}

int main(int argc, char **argv) {
  signal(SIGPIPE, SIG_IGN);
  if (argc >= 2 && strcmp(argv[1], "cpu") == 0) return cpu(argc, argv);
  if (argc >= 2 && strcmp(argv[1], "launch") == 0) return launch(argc, argv);
  if (argc == 5 && strcmp(argv[1], "pair") == 0) {
    int fd = dial(atoi(argv[2]));
    if (fd < 0) return perror("connect"), 1;
    double t0 = now_ms();
    int s1 = get(fd, argv[3], argv[4]);
    double t1 = now_ms();
    int s2 = get(fd, argv[3], argv[4]);
    double t2 = now_ms();
    close(fd);
    if (s1 != 200 || s2 != 200) return fprintf(stderr, "probe: status %d, %d\n", s1, s2), 1;
    printf("first_ms=%.3f second_ms=%.3f\n", t1 - t0, t2 - t1);
    return 0;
  }
  if (argc == 6 && strcmp(argv[1], "time") == 0) {
    int fd = dial(atoi(argv[2]));
    if (fd < 0) return perror("connect"), 1;
    int n = atoi(argv[5]);
    for (int i = 0; i < n; i++) {
      double t0 = now_ms();
      int s = get(fd, argv[3], argv[4]);
      if (s != 200) return fprintf(stderr, "probe: status %d\n", s), 1;
      printf("%s%.3f", i ? " " : "", now_ms() - t0);
    }
    printf("\n");
    close(fd);
    return 0;
  }
  fprintf(stderr,
          "usage: probe launch TARGETS -- CMD... | pair PORT HOST PATH | time PORT HOST PATH N | cpu N -- CMD...\n");
  return 2;
}
