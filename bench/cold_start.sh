#!/bin/sh
# bench/cold_start.sh - what a tenant's first request costs.
#
# Starts `isolde serve` with N tenants of one worker (each its own worker
# snapshot, routed by Host t<i>.localhost), then sends ROUNDS rounds of
# GET PATH to every tenant over one keep-alive connection
# (bench/cold_client.c). Round 1 is each tenant's first request: a clone
# of its snapshot plus the copy-on-write faults the request takes. Later
# rounds hit the live instance with caches as cold as N - 1 other tenants
# leave them. Per round it prints the client's round trip and the
# server's minor faults per request, and the p50 / p90 of cpu_us and
# wall_us from the request log (which starts after the clone).
#
#   bench/cold_start.sh [N=50] [ROUNDS=3] [REPS=3] [PATH=/json]
#   ISOLDE_BIN=build/release/isolde WORKER=examples/hello/worker.js
set -eu
cd "$(dirname "$0")/.."
N=${1:-50}
ROUNDS=${2:-3}
REPS=${3:-3}
REQ_PATH=${4:-/json}
BIN=${ISOLDE_BIN:-build/release/isolde}
WORKER=$(realpath "${WORKER:-examples/hello/worker.js}")
OUT=build/bench
mkdir -p "$OUT"
${CC:-cc} -std=c11 -D_GNU_SOURCE -O2 -Wall -Wextra -Werror -o "$OUT/cold_client" bench/cold_client.c

PORT=$((20000 + $$ % 20000))
CFG=$OUT/cold_start.json
{
  printf '{ "listen": { "host": "127.0.0.1", "port": %d }, "threads": 1,\n' "$PORT"
  printf '  "memory_budget_mb": 4096, "workers": [\n'
  i=0
  while [ "$i" -lt "$N" ]; do
    [ "$i" -gt 0 ] && printf ',\n'
    printf '    { "name": "t%d", "main": "%s", "routes": ["t%d.localhost/*"] }' "$i" "$WORKER" "$i"
    i=$((i + 1))
  done
  printf '\n  ] }\n'
} >"$CFG"

# p50 and p90 of field KEY=.. over lines FIRST..LAST of the request log.
pct() {
  grep '^request tenant=t' "$1" | sed -n "$2,$3p" | sed "s/.* $4=\([0-9]*\).*/\1/" | sort -n |
    awk '{ v[NR] = $1 } END { printf "%s_p50=%d %s_p90=%d", k, v[int(NR / 2) + 1], k, v[int(NR * 9 / 10) + 1] }' k="$4"
}

rep=1
while [ "$rep" -le "$REPS" ]; do
  LOG=$OUT/cold_start.$rep.log
  "$BIN" serve --config "$CFG" >"$LOG.out" 2>"$LOG" &
  PID=$!
  tries=0
  until grep -q listening "$LOG" "$LOG.out" 2>/dev/null; do
    tries=$((tries + 1))
    if [ "$tries" -gt 300 ] || ! kill -0 "$PID" 2>/dev/null; then
      echo "isolde serve did not start:" >&2
      cat "$LOG" >&2
      kill "$PID" 2>/dev/null || true
      exit 1
    fi
    sleep 0.1
  done
  "$OUT/cold_client" "$PORT" "$N" "$ROUNDS" "$REQ_PATH" "$PID" >"$OUT/cold_start.client" || {
    kill "$PID"
    exit 1
  }
  kill "$PID"
  wait "$PID" || true
  r=1
  while read -r line; do
    first=$(((r - 1) * N + 1))
    echo "rep=$rep $line $(pct "$LOG" "$first" $((r * N)) cpu_us) $(pct "$LOG" "$first" $((r * N)) wall_us)"
    r=$((r + 1))
  done <"$OUT/cold_start.client"
  rep=$((rep + 1))
done
