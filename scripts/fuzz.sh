#!/usr/bin/env bash
# Fuzzing: builds the libFuzzer harnesses of tests/fuzz/ (one per input clvit parses) with
# clang, AddressSanitizer and UndefinedBehaviorSanitizer into build-fuzz, replays every seed
# and regression input (ctest -L fuzz), then fuzzes each harness in turn, one process each.
# Any crash, leak, timeout or out-of-memory fails the script; the input that did it is left in
# build-fuzz/fuzz-artifacts/<harness>/ (replay it: build-fuzz/tests/fuzz/fuzz_<harness> FILE;
# commit it to tests/fuzz/regressions/<harness>/ with the fix). New inputs that reach new
# code collect in build-fuzz/fuzz-corpus/<harness>/ and are reused by the next run;
# tests/fuzz/<harness>.dict, where there is one, gives libFuzzer the format's keywords.
#
#   bash scripts/fuzz.sh [HARNESS...]        # default: all, 30 s each
#   CLVIT_FUZZ_SECONDS=N   seconds per harness (-max_total_time)
#   CLVIT_FUZZ_RUNS=N      executions per harness (-runs) instead of a time limit
#   CLVIT_FUZZ_JOBS=N      build jobs (default: the number of CPUs)
# The summary gives each harness's executions, coverage (libFuzzer's cov: edges) and result.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v clang >/dev/null 2>&1; then
  echo "fuzz: clang is not installed (apt-get install clang)" >&2
  exit 1
fi
seconds="${CLVIT_FUZZ_SECONDS:-30}"
runs="${CLVIT_FUZZ_RUNS:-}"
all=(safetensors npy idx csv image gemm_tuning gemm_plan program_cache checkpoint cli)
harnesses=("$@")
((${#harnesses[@]})) || harnesses=("${all[@]}")

CC=clang cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCLVIT_FUZZ=ON \
  -DCLVIT_WERROR=ON >/dev/null
cmake --build build-fuzz --target fuzzers -j"${CLVIT_FUZZ_JOBS:-$(nproc)}" >/dev/null
echo "== fuzz: replaying the seed corpora and regression inputs"
mkdir -p build-fuzz/fuzz-logs
if ! ctest --test-dir build-fuzz -L fuzz --output-on-failure -j1 >build-fuzz/fuzz-logs/replay.log; then
  cat build-fuzz/fuzz-logs/replay.log
  exit 1
fi
grep -E 'tests passed' build-fuzz/fuzz-logs/replay.log

if [[ -n "$runs" ]]; then limit=(-runs="$runs"); else limit=(-max_total_time="$seconds"); fi
summary=()
failed=0
for h in "${harnesses[@]}"; do
  bin="build-fuzz/tests/fuzz/fuzz_$h"
  [[ -x "$bin" ]] || { echo "fuzz: no harness '$h'" >&2; exit 2; }
  work="build-fuzz/fuzz-corpus/$h" artifacts="build-fuzz/fuzz-artifacts/$h"
  log="build-fuzz/fuzz-logs/$h.log"
  mkdir -p "$work" "$artifacts" "$(dirname "$log")"
  echo "== fuzz: $h (${limit[*]})"
  dict=()
  [[ -f "tests/fuzz/$h.dict" ]] && dict=(-dict="tests/fuzz/$h.dict")
  start=$SECONDS
  rc=0
  # -close_fd_mask=3: the parsers' own messages are not shown (libFuzzer's and the
  # sanitizers' reports still are); -timeout: one input may take at most 10 s
  "$bin" "${limit[@]}" "${dict[@]}" -timeout=10 -rss_limit_mb=2048 -close_fd_mask=3 -print_final_stats=1 \
    -artifact_prefix="$artifacts/" "$work" "tests/fuzz/corpus/$h" >"$log" 2>&1 || rc=$?
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
  cov=$(grep -oE '(INITED|DONE|NEW|REDUCE|pulse|RELOAD) +cov: [0-9]+' "$log" | tail -n 1 |
    grep -oE '[0-9]+$' || true)
  if ((rc)); then
    failed=1
    result="FAILED (exit $rc): $(ls "$artifacts" | head -n 3 | tr '\n' ' ')"
    grep -E 'ERROR|SUMMARY|invariant broken|runtime error' "$log" | head -n 5 >&2 || true
  else
    result="ok"
  fi
  summary+=("$(printf '%-14s %10s executions  cov %5s  %4ss  %s' "$h" "${execs:-?}" "${cov:-?}" \
    $((SECONDS - start)) "$result")")
done
echo "== fuzz: summary (logs in build-fuzz/fuzz-logs/)"
printf '%s\n' "${summary[@]}"
exit $failed
