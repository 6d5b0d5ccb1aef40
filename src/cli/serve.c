/*
 * serve.c - `isolde dev` and `isolde serve`: load workers, start the HTTP
 * server, stop gracefully on SIGTERM or SIGINT.
 *
 *   isolde dev worker.js [--port 8787] [--host 127.0.0.1] [--threads N] [--var KEY=VALUE]...
 *                        [--allow-origin URL]... [--origin URL] [--cpu-ms N] [--memory-mb N]
 *   isolde serve --config isolde.json
 *
 * dev serves one worker for every request, like `wrangler dev`; a script
 * that does not load is an error. serve routes by the config's patterns;
 * a tenant whose script does not load is reported and answers 503 while
 * the others serve.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/config.h"
#include "http/http.h"
#include "runtime/runtime.h"

static isl_http_server_t *running;

static void on_signal(int sig) {
  (void)sig;
  if (running) isl_http_server_stop(running);
}

/* Runs the server until a signal stops it; returns the exit status. */
static int serve(isl_rt_t *rt, const isl_http_config_t *hc) {
  isl_http_handler_t h;
  isl_rt_http_handler(rt, &h);
  isl_http_server_t *srv = NULL;
  isl_err_t err = {0};
  int rc = isl_http_server_new(hc, &h, &srv, &err);
  if (rc < 0) {
    fprintf(stderr, "isolde: cannot listen: %s\n", err.msg[0] ? err.msg : isl_strerror(rc));
    return 1;
  }
  struct sigaction sa;
  memset(&sa, 0, sizeof(sa));
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  running = srv;
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGINT, &sa, NULL);
  signal(SIGPIPE, SIG_IGN);
  printf("isolde: listening on http://%s:%d\n", hc->host ? hc->host : "127.0.0.1", isl_http_server_port(srv));
  fflush(stdout);
  isl_rt_preload(rt);
  rc = isl_http_server_run(srv);
  running = NULL;
  signal(SIGTERM, SIG_DFL);
  signal(SIGINT, SIG_DFL);
  isl_http_server_free(srv);
  printf("isolde: stopped\n");
  fflush(stdout);
  return rc < 0 ? 1 : 0;
}

static const char *base_name(const char *path, char *buf, size_t cap) {
  const char *b = strrchr(path, '/');
  b = b ? b + 1 : path;
  snprintf(buf, cap, "%s", b);
  char *dot = strrchr(buf, '.');
  if (dot && dot != buf) *dot = 0;
  return buf;
}

static int parse_uint(const char *flag, const char *s, unsigned long max, unsigned long *out) {
  char *end;
  unsigned long v = s ? strtoul(s, &end, 10) : 0;
  if (!s || !*s || *end || v > max) {
    fprintf(stderr, "isolde: %s needs a number from 0 to %lu\n", flag, max);
    return -1;
  }
  *out = v;
  return 0;
}

/* Maps the base snapshot before anything loads: a server that could not
 * serve a single request must say why and exit, never listen. */
static int open_base(void) {
  isl_err_t err = {0};
  int rc = isl_rt_base_open(&err);
  if (rc < 0) fprintf(stderr, "isolde: cannot start: %s\n", err.msg[0] ? err.msg : isl_strerror(rc));
  return rc;
}

int isl_cli_dev(int argc, char **argv) {
  const char *script = NULL;
  isl_http_config_t hc = {.host = "127.0.0.1", .port = 8787};
  char **vars = calloc((size_t)argc, sizeof(char *));
  const char **allow = calloc((size_t)argc + 1, sizeof(char *));
  size_t n_vars = 0, n_allow = 0;
  const char *origin = NULL;
  uint32_t cpu_ms = 0, startup_ms = 0, memory_mb = 0;
  unsigned long v;
  int status = 2;
  for (int i = 0; i < argc; i++) {
    const char *a = argv[i];
    const char *next = i + 1 < argc ? argv[i + 1] : NULL;
    if (strcmp(a, "--port") == 0) {
      if (parse_uint("--port", next, 65535, &v) < 0) goto out;
      hc.port = (int)v;
      i++;
    } else if (strcmp(a, "--host") == 0 || strcmp(a, "--ip") == 0) {
      if (!next) goto usage;
      hc.host = next;
      i++;
    } else if (strcmp(a, "--threads") == 0) {
      if (parse_uint("--threads", next, 256, &v) < 0) goto out;
      hc.threads = (unsigned)v;
      i++;
    } else if (strcmp(a, "--var") == 0) {
      if (!next) goto usage;
      vars[n_vars++] = (char *)next;
      i++;
    } else if (strcmp(a, "--cpu-ms") == 0) {
      if (parse_uint("--cpu-ms", next, 300000, &v) < 0) goto out;
      cpu_ms = (uint32_t)v;
      i++;
    } else if (strcmp(a, "--startup-ms") == 0) {
      if (parse_uint("--startup-ms", next, 300000, &v) < 0) goto out;
      startup_ms = (uint32_t)v;
      i++;
    } else if (strcmp(a, "--memory-mb") == 0) {
      if (parse_uint("--memory-mb", next, 2048, &v) < 0) goto out;
      memory_mb = (uint32_t)v;
      i++;
    } else if (strcmp(a, "--allow-origin") == 0) {
      if (!next) goto usage;
      allow[n_allow++] = next;
      i++;
    } else if (strcmp(a, "--origin") == 0) {
      if (!next) goto usage;
      origin = next;
      i++;
    } else if (a[0] == '-' || script) {
      goto usage;
    } else {
      script = a;
    }
  }
  if (!script) goto usage;
  char *env = NULL;
  isl_err_t err = {0};
  if (isl_cli_vars_to_json(vars, n_vars, &env, &err) < 0) {
    fprintf(stderr, "isolde: %s\n", err.msg);
    goto out;
  }
  char name[256];
  isl_rt_worker_config_t wc = {.name = base_name(script, name, sizeof(name)),
                               .main_path = script,
                               .env_json = env,
                               .allow_origins = allow,
                               .n_allow_origins = n_allow,
                               .cpu_ms = cpu_ms,
                               .startup_ms = startup_ms,
                               .memory_mb = memory_mb,
                               .log_fd = -1};
  isl_rt_worker_t *w = NULL;
  if (open_base() < 0) {
    free(env);
    status = 1;
    goto out;
  }
  int rc = isl_rt_worker_load(&wc, &w, &err);
  free(env);
  if (rc < 0) {
    fprintf(stderr, "isolde: %s\n", err.msg);
    status = 1;
    goto out;
  }
  isl_rt_config_t rc_cfg = {0};
  isl_rt_t *rt = NULL;
  isl_rt_route_t everything = {NULL, origin};
  if (isl_rt_new(&rc_cfg, &rt) < 0 || isl_rt_add_worker(rt, w, &everything, 1, &err) < 0) {
    fprintf(stderr, "isolde: cannot start the runtime\n");
    isl_rt_free(rt);
    status = 1;
    goto out;
  }
  status = serve(rt, &hc);
  isl_rt_free(rt);
out:
  free(vars);
  free(allow);
  return status;
usage:
  fprintf(stderr,
          "usage: isolde dev WORKER.js [--port 8787] [--host 127.0.0.1] [--threads N] [--var KEY=VALUE]...\n"
          "                  [--allow-origin URL]... [--origin URL] [--cpu-ms N] [--startup-ms N] [--memory-mb N]\n");
  free(vars);
  free(allow);
  return 2;
}

int isl_cli_serve(int argc, char **argv) {
  const char *path = NULL;
  for (int i = 0; i < argc; i++) {
    if (strcmp(argv[i], "--config") == 0 && i + 1 < argc) {
      path = argv[++i];
    } else {
      path = NULL;
      break;
    }
  }
  if (!path) {
    fprintf(stderr, "usage: isolde serve --config isolde.json\n");
    return 2;
  }
  isl_cli_config_t cfg;
  isl_err_t err = {0};
  if (isl_cli_config_load(path, &cfg, &err) < 0) {
    fprintf(stderr, "isolde: %s\n", err.msg);
    return 1;
  }
  if (isl_cli_config_check_roots(&cfg, path, &err) < 0) {
    fprintf(stderr, "isolde: %s\n", err.msg);
    isl_cli_config_free(&cfg);
    return 1;
  }
  if (open_base() < 0) {
    isl_cli_config_free(&cfg);
    return 1;
  }
  /* The budget is the process's: the runtime needs no loop count (the HTTP
   * server alone decides it from cfg.threads). */
  isl_rt_config_t rcfg = {.memory_budget_mb = cfg.memory_budget_mb, .cache_mb = cfg.cache_mb};
  isl_rt_route_t *routes = NULL;
  isl_rt_t *rt = NULL;
  int status = 1;
  if (isl_rt_new(&rcfg, &rt) < 0) goto out;
  size_t loaded = 0;
  for (size_t i = 0; i < cfg.n_workers; i++) {
    const isl_cli_worker_conf_t *wc = &cfg.workers[i];
    isl_rt_worker_config_t c = {.name = wc->name,
                                .main_path = wc->main,
                                .env_json = wc->env_json,
                                .secret_names = (const char *const *)wc->secret_names,
                                .n_secrets = wc->n_secrets,
                                .cpu_ms = wc->cpu_ms,
                                .startup_ms = wc->startup_ms,
                                .memory_mb = wc->memory_mb,
                                .subrequests = wc->subrequests,
                                .allow_origins = (const char *const *)wc->allow_origins,
                                .n_allow_origins = wc->n_allow_origins,
                                .log_fd = -1};
    isl_rt_worker_t *w = NULL;
    free(routes);
    routes = calloc(wc->n_routes ? wc->n_routes : 1, sizeof(*routes));
    if (!routes) goto out;
    for (size_t k = 0; k < wc->n_routes; k++) routes[k] = (isl_rt_route_t){wc->routes[k], wc->route_origins[k]};
    memset(&err, 0, sizeof(err));
    if (isl_rt_worker_load(&c, &w, &err) < 0) {
      fprintf(stderr, "isolde: worker \"%s\" failed to load: %s\n", wc->name, err.msg);
      if (isl_rt_add_broken(rt, wc->name, err.msg, routes, wc->n_routes, &err) < 0) goto fail;
      continue;
    }
    if (isl_rt_add_worker(rt, w, routes, wc->n_routes, &err) < 0) goto fail;
    loaded++;
    printf("isolde: worker \"%s\" loaded (%zu route%s)\n", wc->name, wc->n_routes, wc->n_routes == 1 ? "" : "s");
  }
  for (size_t k = 0; k < cfg.n_pass; k++) {
    isl_rt_route_t r = {cfg.pass_patterns[k], cfg.pass_origins[k]};
    if (isl_rt_add_pass_route(rt, &r, &err) < 0) goto fail;
  }
  isl_http_config_t hc = {.host = cfg.host,
                          .port = cfg.port,
                          .threads = cfg.threads,
                          .max_header_bytes = (size_t)cfg.max_header_kb << 10,
                          .max_body_bytes = (uint64_t)cfg.max_body_mb << 20,
                          .header_timeout_ms = cfg.header_timeout_ms,
                          .body_timeout_ms = cfg.body_timeout_ms,
                          .idle_timeout_ms = cfg.idle_timeout_ms,
                          .max_connections = cfg.max_connections,
                          .max_queued_responses = cfg.max_queued_responses,
                          .max_pending_output = (size_t)cfg.max_queued_kb << 10,
                          .max_account_output = (size_t)cfg.max_tenant_queued_mb << 20};
  printf("isolde: %zu of %zu workers loaded\n", loaded, cfg.n_workers);
  status = serve(rt, &hc);
  goto out;
fail:
  fprintf(stderr, "isolde: %s\n", err.msg);
out:
  free(routes);
  isl_rt_free(rt);
  isl_cli_config_free(&cfg);
  return status;
}
