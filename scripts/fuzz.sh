#!/usr/bin/env bash
# The libFuzzer targets of tests/fuzz (docs/fuzzing.md): builds them with
# clang under ASan + UBSan, then runs each one: it replays its whole corpus
# (tests/fuzz/corpus/NAME: the seeds and every input that once crashed it,
# so each is a regression test) and fuzzes on for N seconds.
#
#   scripts/fuzz.sh [--seconds N] [--build-dir DIR] [--no-build] [--keep] [NAME...]
#
#   --seconds N     fuzzing time per target after the replay (default
#                   $FUZZ_SECONDS, else 4: the test suite's short run)
#   --build-dir D   the build folder ($BUILD, else build); binaries in D/fuzz
#   --no-build      use the binaries as they are (make fuzz builds them first)
#   --keep          keep each target's working corpus (D/fuzz/work/NAME)
#                   from run to run, as long runs want; by default it
#                   starts empty, so a short run costs the same every time
#   NAME...         only these targets (default: every tests/fuzz/*.c)
#
# Inputs in tests/fuzz/pending/NAME reproduce bugs found here whose fix
# belongs to code this suite does not own: they are run and reported as
# "still open", not counted as failures; one that passes is reported as
# fixed (move it into the corpus then).
#
# Exit status 0 when every target ran clean, 1 when one crashed: its log
# is printed and the input is saved as D/fuzz/crashes/NAME-*.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds="${FUZZ_SECONDS:-4}"
build="${BUILD:-build}"
do_build=1
keep=0
targets=()
while (($#)); do
  case "$1" in
    --seconds) seconds="$2"; shift 2 ;;
    --build-dir) build="$2"; shift 2 ;;
    --no-build) do_build=0; shift ;;
    --keep) keep=1; shift ;;
    -h|--help) sed -n '2,27p' "$0"; exit 0 ;;
    -*) echo "fuzz.sh: unknown option $1" >&2; exit 2 ;;
    *) targets+=("$1"); shift ;;
  esac
done
if ! [[ $seconds =~ ^[0-9]+$ ]]; then
  echo "fuzz.sh: --seconds wants a whole number, not \"$seconds\"" >&2
  exit 2
fi
if ((${#targets[@]} == 0)); then
  for f in tests/fuzz/*.c; do targets+=("$(basename "$f" .c)"); done
fi

# clang with libFuzzer's runtime (Debian: clang, libclang-rt-14-dev,
# libfuzzer-14-dev); installed here when missing and we may.
fuzzer_works() {
  command -v clang >/dev/null || return 1
  local t
  t="$(mktemp -d)"
  printf 'int LLVMFuzzerTestOneInput(const unsigned char *d, unsigned long n) { (void)d; (void)n; return 0; }\n' >"$t/t.c"
  clang -fsanitize=fuzzer,address,undefined "$t/t.c" -o "$t/t" >/dev/null 2>&1
  local rc=$?
  rm -rf "$t"
  return $rc
}
if ((do_build)) && ! fuzzer_works; then
  pkgs=(clang libclang-rt-14-dev libfuzzer-14-dev)
  if [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null; then
    echo "fuzz.sh: installing ${pkgs[*]}" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq "${pkgs[@]}" >/dev/null
  fi
  fuzzer_works || { echo "fuzz.sh: clang with libFuzzer is missing (Debian: ${pkgs[*]})" >&2; exit 1; }
fi

if ((do_build)); then
  make -j"$(nproc)" BUILD="$build" ${GEN:+GEN="$GEN"} fuzz-build
fi

# The isolate targets need the sandbox's own SIGSEGV handler (guard pages),
# as the ASan build of the tests does (Makefile: ASAN_ENV).
export ASAN_OPTIONS="allow_user_segv_handler=1:use_sigaltstack=0:detect_leaks=1"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
export ISOLDE_SNAPSHOT="$build/release/isolde.snap"

# Largest input libFuzzer makes for each target.
max_len() {
  case "$1" in
    http_request|http_chunked|router) echo 4096 ;;
    config) echo 8192 ;;
    url_fast|cache_http) echo 1024 ;;
    *) echo 2048 ;;
  esac
}

out="$build/fuzz"
mkdir -p "$out/crashes" "$out/logs"
failed=0
start=$SECONDS
for t in "${targets[@]}"; do
  bin="$out/$t"
  [[ -x $bin ]] || { echo "fuzz.sh: no $bin (build it: make fuzz-build)" >&2; exit 1; }
  work="$out/work/$t"
  ((keep)) || rm -rf "$work"
  mkdir -p "$work" "tests/fuzz/corpus/$t"
  opts=(-max_total_time="$seconds" -timeout=25 -rss_limit_mb=4096 -max_len="$(max_len "$t")"
        -artifact_prefix="$out/crashes/$t-" -print_final_stats=1)
  [[ -f tests/fuzz/$t.dict ]] && opts+=(-dict="tests/fuzz/$t.dict")
  log="$out/logs/$t.log"
  t0=$SECONDS
  if "$bin" "${opts[@]}" "$work" "tests/fuzz/corpus/$t" >"$log" 2>&1; then
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
    cov=$(grep -o 'cov: [0-9]* ft: [0-9]*' "$log" | tail -1)
    echo "fuzz: $t: ok, $((SECONDS - t0)) s, ${runs:-?} inputs, ${cov:-?}, corpus $(find "tests/fuzz/corpus/$t" -type f | wc -l) + $(find "$work" -type f | wc -l) new"
  else
    failed=1
    echo "fuzz: $t: FAILED after $((SECONDS - t0)) s; the log ($log) ends:" >&2
    grep -v -e '^#[0-9]' -e 'Uses: ' "$log" | tail -60 >&2
  fi
  for p in tests/fuzz/pending/"$t"/*; do
    [[ -f $p ]] || continue
    if "$bin" "$p" >/dev/null 2>&1; then
      echo "fuzz: $t: pending input $p passes now: move it to tests/fuzz/corpus/$t"
    else
      echo "fuzz: $t: still open: $p (see docs/fuzzing.md)"
    fi
  done
done
echo "fuzz: ${#targets[@]} targets in $((SECONDS - start)) s ($seconds s of fuzzing each)" >&2
exit "$failed"
