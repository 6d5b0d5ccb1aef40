#!/usr/bin/env bash
# The whole test suite: installs what is needed, builds, runs the tests on
# the release build and under AddressSanitizer + UBSan.
#
# ISOLDE_TEST_LOAD=N runs the tests (both flavours) beside N CPU-bound busy
# loops, as CI does (.ci/run), so that a test that only passes on an idle
# machine fails here first. The loops start after the build and are
# stopped however the suite ends; should this script be killed outright,
# they notice within a fraction of a second and stop by themselves.
set -euo pipefail
cd "$(dirname "$0")/.."

load="${ISOLDE_TEST_LOAD:-0}"
if ! [[ $load =~ ^[0-9]+$ ]] || ((load > 64)); then
  echo "test.sh: ISOLDE_TEST_LOAD must be a number of busy loops from 0 to 64, not \"$load\"" >&2
  exit 2
fi

spinners=()
stop_load() {
  if ((${#spinners[@]})); then
    kill "${spinners[@]}" 2>/dev/null || true
    wait "${spinners[@]}" 2>/dev/null || true
    spinners=()
  fi
}
trap stop_load EXIT
trap 'stop_load; exit 130' INT
trap 'stop_load; exit 143' TERM

# One busy loop: pure shell arithmetic (no system calls) in rounds of a few
# tens of milliseconds, each followed by a check that this script still
# runs.
start_load() {
  local i
  for ((i = 0; i < load; i++)); do
    sh -c 'while kill -0 "$1" 2>/dev/null; do n=0; while [ "$n" -lt 20000 ]; do n=$((n + 1)); done; done' \
      isolde-test-load "$$" &
    spinners+=("$!")
  done
}

scripts/setup.sh
build="${BUILD:-build}"
make -j"$(nproc)" "$build/release/isolde" "$build/release/isolde-tests" "$build/asan/isolde" "$build/asan/isolde-tests"
if ((load > 0)); then
  echo "test.sh: running the tests beside $load busy loops (ISOLDE_TEST_LOAD)" >&2
  start_load
fi
start=$SECONDS
status=0
make -j"$(nproc)" test || status=$?
scripts/fuzz.sh --build-dir "$build" || status=$?
echo "test.sh: the tests took $((SECONDS - start)) s (ISOLDE_TEST_LOAD=$load)" >&2
exit "$status"
