#!/usr/bin/env bash
# Runs device tests on Oclgrind (Debian's `oclgrind`, an OpenCL device simulator) with
# --data-races --uninitialized --check-api, and fails on any report: a data race, an
# uninitialised value, an out-of-bounds access, an API error, or a test failure.
#
#   bash scripts/oclgrind.sh [BUILD_DIR] [TEST ...]     (default: build, test_kernels test_model)
#
# Oclgrind prints its reports on stderr; each test's stderr is kept apart from its stdout and
# searched for them (the exit status alone does not show reports). scripts/test.sh runs this
# on the kernel and model tests; docs/oclgrind.md has the other tests and the evidence for
# each setting below.
#
# Settings, each the narrowest way around a defect of Oclgrind 21.10 (Debian 12, LLVM 14), not
# of clvit (docs/oclgrind.md):
# - tools/oclgrind_preload.c, loaded before Oclgrind's runtime (which is why this script sets
#   Oclgrind's variables itself instead of running the `oclgrind` launcher, which would load its
#   runtime first): the --uninitialized plugin loses track of buffers written from the host at
#   an offset, filled, copied into, or created in the slot of a released buffer, and then
#   reports reads of data that was written. The library creates buffers from a NaN-filled host
#   copy and turns partial writes, fills and copies into whole-buffer writes (same data).
# - --build-options -cl-opt-disable: kernels are simulated as written (-O0). At Oclgrind's
#   default -Oz, LLVM emits `freeze` instructions (from `i / n` next to `i % n`, as in im2col)
#   that the --uninitialized plugin does not implement: it aborts the kernel with a FATAL
#   ERROR, its output stays unwritten, and every later kernel reports uninitialised reads
#   (the ~1,000 reports once seen in CLBlast's XgemmDirectTT). -Oz also emits shuffles with
#   undefined mask elements, whose shadow the plugin reads out of bounds (crashes, assertion
#   `m_kernelInvocation == NULL`). -O0 emits neither.
# - CLVIT_TEST_SMALL=1: the tests leave out their largest shapes (two ViT-sized attention
#   cases), which take most of an hour under the simulator at -O0.
# - CLVIT_GEMM_TUNE=0: no GEMM timing (each timed candidate runs 4+ times); the plan's
#   default kernel runs each product, test_gemm runs every candidate.
# - CLVIT_CACHE_DIR=off: no disk cache of program binaries for a simulated device.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
shift || true
tests=("$@")
((${#tests[@]})) || tests=(test_kernels test_model)
if ! command -v oclgrind >/dev/null; then
  echo "oclgrind: not installed (scripts/setup.sh installs it)" >&2
  exit 1
fi

runtime="$(dirname "$(readlink -f "$(command -v oclgrind)")")/../lib/oclgrind/liboclgrind-rt.so"
[[ -f "$runtime" ]] || { echo "oclgrind: no runtime library at $runtime" >&2; exit 1; }
logs="$build/oclgrind"
mkdir -p "$logs"
preload="$logs/liboclgrind_preload.so"
if [[ ! -f "$preload" || tools/oclgrind_preload.c -nt "$preload" ]]; then
  cc -shared -fPIC -O1 -Wall -Wextra -Werror -o "$preload" tools/oclgrind_preload.c -ldl
fi

export CLVIT_DEVICE=Oclgrind CLVIT_CACHE_DIR=off CLVIT_GEMM_TUNE=0 CLVIT_TEST_SMALL=1
export CMOCKA_MESSAGE_OUTPUT=stdout
# what `oclgrind --data-races --uninitialized --check-api --build-options -cl-opt-disable`
# sets, with the preload library first
oclgrind_env=(LD_PRELOAD="$preload:$runtime" OCLGRIND_DATA_RACES=1 OCLGRIND_UNINITIALIZED=1
              OCLGRIND_CHECK_API=1 OCLGRIND_BUILD_OPTIONS=-cl-opt-disable)
failed=()
for t in "${tests[@]}"; do
  start=$SECONDS
  rc=0
  env "${oclgrind_env[@]}" "$build/$t" >"$logs/$t.out" 2>"$logs/$t.err" || rc=$?
  # report headers: runtime errors ("Oclgrind - OpenCL runtime error detected"), fatal errors,
  # the error-limit notice, and every kernel report's "Kernel: name" line
  reports=$(grep -cE '^(Oclgrind|OCLGRIND)|^[[:space:]]+Kernel: ' "$logs/$t.err" || true)
  echo "oclgrind: $t: exit status $rc, $reports report lines, $((SECONDS - start)) s"
  if ((rc != 0 || reports != 0)); then
    failed+=("$t")
    echo "---- $t: stderr (first 60 lines; all in $logs/$t.err)"
    head -n 60 "$logs/$t.err"
    echo "---- $t: stdout (last 30 lines)"
    tail -n 30 "$logs/$t.out"
  fi
done
if ((${#failed[@]})); then
  echo "oclgrind: reports or failures in: ${failed[*]}" >&2
  exit 1
fi
