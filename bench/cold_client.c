/*
 * cold_client.c - the client side of bench/cold_start.sh: first requests
 * of many tenants against later ones.
 *
 * One keep-alive connection to 127.0.0.1:PORT sends ROUNDS rounds of one
 * GET PATH to each of N tenants, routed by Host t<i>.localhost. Round 1 is
 * every tenant's first request (the server clones its worker snapshot);
 * later rounds reach an instance that already exists, with caches as cold
 * as N - 1 other tenants in between leave them. For each round it prints
 * the round trip p50 / p90 in us and, when the server's pid is given, its
 * minor page faults per request (from /proc/PID/stat) - the figure that
 * copy-on-write makes expensive on a first request.
 *
 * Responses are read by Content-Length (the server sends one for these
 * small bodies); anything else is an error. Blocking I/O, no dependencies.
 *
 *   cold_client PORT N ROUNDS PATH [SERVER_PID]
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static double now_us(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

/* Minor faults of process pid (field 10 of /proc/PID/stat), or -1. */
static long minflt(int pid) {
  char path[64], buf[1024];
  snprintf(path, sizeof(path), "/proc/%d/stat", pid);
  FILE *f = fopen(path, "r");
  if (!f) return -1;
  size_t n = fread(buf, 1, sizeof(buf) - 1, f);
  fclose(f);
  buf[n] = 0;
  char *p = strrchr(buf, ')'); /* the command name may hold spaces */
  long v = -1;
  if (p && sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %ld", &v) != 1) v = -1;
  return v;
}

/* Reads one response whole; its status, or -1. */
static int read_response(int fd) {
  static char buf[65536];
  size_t len = 0;
  for (;;) {
    ssize_t got = read(fd, buf + len, sizeof(buf) - 1 - len);
    if (got <= 0) return -1;
    len += (size_t)got;
    buf[len] = 0;
    char *end = strstr(buf, "\r\n\r\n");
    if (!end) continue;
    char *cl = strcasestr(buf, "\r\ncontent-length:");
    if (!cl || cl > end) return -1;
    size_t want = (size_t)(end + 4 - buf) + strtoul(cl + 17, NULL, 10);
    while (len < want) {
      got = read(fd, buf + len, sizeof(buf) - 1 - len);
      if (got <= 0) return -1;
      len += (size_t)got;
    }
    return len == want ? atoi(buf + 9) : -1;
  }
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

int main(int argc, char **argv) {
  if (argc < 5) {
    fprintf(stderr, "usage: cold_client PORT N ROUNDS PATH [SERVER_PID]\n");
    return 2;
  }
  int port = atoi(argv[1]), n = atoi(argv[2]), rounds = atoi(argv[3]);
  const char *path = argv[4];
  int pid = argc > 5 ? atoi(argv[5]) : 0;
  if (n < 1 || rounds < 1) return 2;
  int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;
  struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
    perror("connect");
    return 1;
  }
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  double *rtt = malloc((size_t)n * sizeof(double));
  if (!rtt) return 1;
  for (int r = 1; r <= rounds; r++) {
    long f0 = pid ? minflt(pid) : -1;
    for (int i = 0; i < n; i++) {
      char req[512];
      int len = snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: t%d.localhost\r\n\r\n", path, i);
      double t0 = now_us();
      if (write(fd, req, (size_t)len) != len || read_response(fd) != 200) {
        fprintf(stderr, "round %d tenant %d: no 200 response\n", r, i);
        return 1;
      }
      rtt[i] = now_us() - t0;
    }
    long f1 = pid ? minflt(pid) : -1;
    qsort(rtt, (size_t)n, sizeof(double), cmp_double);
    printf("round=%d requests=%d rtt_p50_us=%.0f rtt_p90_us=%.0f", r, n, rtt[n / 2], rtt[n * 9 / 10]);
    if (f0 >= 0 && f1 >= 0) printf(" minflt_per_req=%.1f", (double)(f1 - f0) / n);
    printf("\n");
  }
  free(rtt);
  close(fd);
  return 0;
}
