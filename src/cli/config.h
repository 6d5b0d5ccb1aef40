// config.h - `isolde serve --config isolde.json`: the server's config file.
//
// (Line comments in this header: route patterns contain a slash-star.)
//
// A JSON object; worker fields are named as in wrangler.json:
//
//   {
//     "listen": { "host": "127.0.0.1", "port": 8787 },
//     "threads": 2,
//     "memory_budget_mb": 512,
//     "http": { "max_body_mb": 100, "max_header_kb": 32, "header_timeout_ms": 10000,
//               "body_timeout_ms": 10000, "idle_timeout_ms": 60000, "max_connections": 10000 },
//     "workers": [
//       { "name": "api", "main": "api/worker.js",
//         "routes": ["api.example.com/*", {"pattern": "example.com/api/*"}],
//         "vars": { "GREETING": "hello", "LIMIT": 10, "OBJ": {"a": 1} },
//         "secrets": { "TOKEN": "s3cret" },
//         "limits": { "cpu_ms": 50, "memory_mb": 128 } }
//     ]
//   }
//
// Only "workers" (at least one) is required; each worker needs "name" and
// "main". Ranges, and the default when a key is absent:
//
//   listen.host              a non-empty string, not resolved here   127.0.0.1
//   listen.port              0..65535 (0: any free port)            8787
//   threads                  0..256 (0: one per CPU)                0
//   memory_budget_mb         1..1048576                             1024
//   http.max_body_mb         0..4096        (0 in any http field: the server's default)
//   http.max_header_kb       0..1024
//   http.header_timeout_ms   0..3600000
//   http.body_timeout_ms     0..3600000
//   http.idle_timeout_ms     0..86400000
//   http.max_connections     0..1000000
//   http.max_queued_responses 0..65536  answers a connection may have waiting to
//                            be written before it is read no further (16)
//   http.max_queued_kb       0..1048576 bytes of them, in KiB (1024); a streamed
//                            response waits while its connection holds this much
//   http.max_tenant_queued_mb 0..65536 response bytes, in MiB, the host may hold
//                            queued for one tenant's clients, over all its
//                            connections; at this many its writes wait (32)
//   name                     [A-Za-z0-9_-]{1,63}, unique
//   main                     the script, relative to the config file's folder
//                            (its existence is not checked here). Its folder is
//                            the worker's module root: import() reaches files
//                            there and below, nothing else. No two workers'
//                            roots may be the same or one inside the other,
//                            unless both name the same script
//                            (isl_cli_config_check_roots)
//   routes                   Workers route patterns (see runtime/router.h), as
//                            strings or {"pattern": ...}; "zone_name" and
//                            "zone_id" are accepted and ignored, and
//                            "custom_domain": true takes a bare hostname and
//                            routes all of it (as the pattern "host/*");
//                            "origin": "http://host:port" names the origin the
//                            worker's fetch(request) passes requests to.
//                            A pattern may be used once in the whole file.
//   allow_origins            origins fetch() may reach although they are
//                            private (loopback, private ranges): ["http://127.0.0.1:9000"]
//   vars                     any JSON values; names are JS identifiers
//   secrets                  string values; names are JS identifiers, and a
//                            name may not be both a var and a secret
//   limits.cpu_ms            0..300000 CPU ms per request (0: the isolate default, 50)
//   limits.startup_ms        0..300000 CPU ms for the script's top-level code
//                            when it loads (0: 400)
//   limits.memory_mb         0..2048 (0: the isolate default)
//   limits.subrequests       0..10000 fetch() calls per request (0: 50)
//   cache_mb                 0..1048576, the Cache API's cap (0: default)
//   routes (top level)       [{"pattern": ..., "origin": ...}]: passed
//                            straight to the origin, no worker
//
// Numbers must be integers. Unknown keys, and keys given twice, are
// refused, so typos do not pass silently. Every error is ISL_EINVAL with a
// message naming the file and the field, e.g.
//   isolde.json: workers[1].routes[0]: expected a string or an object with "pattern"
//   isolde.json: line 4: invalid JSON
#ifndef ISL_CLI_CONFIG_H
#define ISL_CLI_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

/* Largest config file read, in bytes. */
#ifndef ISL_CLI_CONFIG_MAX_BYTES
#define ISL_CLI_CONFIG_MAX_BYTES (16u << 20)
#endif

typedef struct {
  char *name;
  char *main; /* the script's path, resolved against the config's folder */
  char **routes;
  size_t n_routes;
  char **route_origins; /* per route: the origin fetch(request) goes to, or NULL (owned) */
  char *env_json;       /* one JSON object merging vars and secrets; "{}" when neither */
  char **secret_names;  /* which env_json keys are secrets: never log their values */
  size_t n_secrets;
  uint32_t cpu_ms, startup_ms, memory_mb; /* 0 = default */
  uint32_t subrequests;                   /* fetch() calls per request; 0 = default (50) */
  char **allow_origins;                   /* private origins fetch() may reach: "http://127.0.0.1:9000" */
  size_t n_allow_origins;
} isl_cli_worker_conf_t;

typedef struct {
  char *host;
  int port;
  unsigned threads;          /* 0 = one per CPU */
  uint32_t memory_budget_mb; /* idle isolates, all threads */
  uint32_t max_body_mb, max_header_kb, header_timeout_ms, body_timeout_ms, idle_timeout_ms,
      max_connections;                          /* 0 = default */
  uint32_t max_queued_responses, max_queued_kb; /* per connection; 0 = default */
  uint32_t max_tenant_queued_mb;                /* per tenant, all its connections; 0 = default */
  isl_cli_worker_conf_t *workers;
  size_t n_workers;
  uint32_t cache_mb;    /* the Cache API's memory cap, all tenants; 0 = default */
  char **pass_patterns; /* top-level "routes": straight to an origin, no worker */
  char **pass_origins;
  size_t n_pass;
} isl_cli_config_t;

/*
 * Reads and parses the file at path (borrowed). Messages name the file as
 * given. out is owned by the caller: isl_cli_config_free, on success only
 * (on failure it is left zeroed). An unreadable file returns a negative
 * errno, a bad one ISL_EINVAL.
 */
int isl_cli_config_load(const char *path, isl_cli_config_t *out, isl_err_t *err);

/*
 * Parses json[0..len) (borrowed). path_for_messages (borrowed; NULL =
 * "config") leads each error message; base_dir (borrowed; NULL or "" =
 * leave relative paths alone) is the folder "main" paths are relative to.
 */
int isl_cli_config_parse(const char *json, size_t len, const char *path_for_messages, const char *base_dir,
                         isl_cli_config_t *out, isl_err_t *err);

/*
 * Refuses (ISL_EINVAL, naming both workers and both folders) a config in
 * which two workers' module roots overlap: the realpaths of the folders of
 * their main scripts are the same, or one is inside the other, so that
 * one tenant could import() the other's files. Two workers whose mains are
 * the very same file (one script under two names) may share a root. A
 * main that does not resolve is skipped: that worker cannot load. Unlike
 * parse and load, this reads the file system (realpath), so it is a step
 * of its own, which `isolde serve` takes right after loading; parse stays
 * a pure function of the text. O(n log n) in the number of workers.
 */
int isl_cli_config_check_roots(const isl_cli_config_t *c, const char *path_for_messages, isl_err_t *err);

/* Frees what parse or load put in c and zeroes it; a zeroed c is allowed. */
void isl_cli_config_free(isl_cli_config_t *c);

/*
 * `isolde dev --var KEY=VALUE`: the JSON object {"KEY": "VALUE", ...} in
 * *json_out (owned: free). kv holds n borrowed strings. Values are
 * strings and may contain '='; a key given again replaces the earlier
 * value. A string without '=' or a KEY that is not a JS identifier returns
 * ISL_EINVAL.
 */
int isl_cli_vars_to_json(char *const *kv, size_t n, char **json_out, isl_err_t *err);

#endif
