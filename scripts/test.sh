#!/usr/bin/env bash
# The test command: installs dependencies, builds with warnings as errors, checks formatting
# and cppcheck (scripts/lint.sh), runs every test
# (kernels, PyTorch parity, training, file formats, CLI, bench) on the default OpenCL device
# (PoCL when there is no GPU), the device tests again on Mesa rusticl and the kernel and model
# tests under Oclgrind, then builds the host-side code (file parsers, datasets,
# images, CLI argument handling) with AddressSanitizer + UndefinedBehaviorSanitizer and
# runs those tests again, then the whole library under both on the device (model, training,
# injected device faults; tests/lsan.supp names the drivers' own leaks), then, when
# clang is there, fuzzes every parser for a bounded time (scripts/fuzz.sh, CLVIT_FUZZ_SECONDS
# per harness, 30 by default here).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
# program caches of this run stay inside the build tree
export CLVIT_CACHE_DIR="$PWD/build/cache"
bash scripts/build.sh
bash scripts/lint.sh build
ctest --test-dir build --output-on-failure -j1

# Two more OpenCL implementations (scripts/setup.sh installs both): the device tests again on
# Mesa's rusticl (llvmpipe, a CPU device of another compiler stack), then the kernel and model
# tests on the Oclgrind simulator, which fails on any data race, uninitialised value,
# out-of-bounds access or API error it reports (scripts/oclgrind.sh, docs/oclgrind.md).
# Every device test runs on rusticl too. Its llvmpipe computes about 100 times slower than
# PoCL here (0.27 GFLOP/s SGEMM), so four tests take their smaller form there: test_faults
# injects a sample of its faults (CLVIT_TEST_FAULT_EVERY: the first, the last and two of every
# 24 of each kind; PoCL above injects every one), test_limits checks DeiT-tiny in 4 MiB
# buffers instead of ViT-B/16 in 64 MiB (CLVIT_TEST_SMALL), kill_resume trains on 80 images
# with 10 kills instead of 1000 and 30, none required during a checkpoint write (the host's
# writer; PoCL's run requires one), and mpi_dist makes its checks on 8 steps instead of
# 20 (CLVIT_TEST_SMALL). docs/oclgrind.md has the details.
echo "== device tests on Mesa rusticl (llvmpipe)"
RUSTICL_ENABLE=llvmpipe CLVIT_DEVICE=llvmpipe \
  ctest --test-dir build -L device -E '^test_(faults|limits)$|^kill_resume$|^mpi_dist$' --output-on-failure -j1
RUSTICL_ENABLE=llvmpipe CLVIT_DEVICE=llvmpipe CLVIT_TEST_FAULT_EVERY=24 CLVIT_TEST_SMALL=1 \
  KILLS=10 KR_IMAGES=80 KR_WRITE_KILLS=0 ctest --test-dir build -L device \
  -R '^test_(faults|limits)$|^kill_resume$|^mpi_dist$' --output-on-failure -j1
echo "== kernel and model tests under Oclgrind (--data-races --uninitialized --check-api)"
bash scripts/oclgrind.sh build
CLVIT_TEST_FILTER=test_gemm_ln bash scripts/oclgrind.sh build test_gemm

echo "== host-side tests under AddressSanitizer + UndefinedBehaviorSanitizer"
cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DCLVIT_HOST_ONLY=ON -DCLVIT_SANITIZE=ON \
  -DCLVIT_WERROR=ON >/dev/null
cmake --build build-asan -j"$(nproc)"
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
  ctest --test-dir build-asan --output-on-failure -j1

echo "== the library on the device under AddressSanitizer + UndefinedBehaviorSanitizer"
cmake -S . -B build-asan-device -DCMAKE_BUILD_TYPE=Debug -DCLVIT_SANITIZE=ON -DCLVIT_WERROR=ON \
  >/dev/null
cmake --build build-asan-device -j"$(nproc)" --target test_model test_train test_faults
# full stacks through the drivers (no frame pointers there), so that tests/lsan.supp can name
# PoCL's leak when it compiles a kernel its cache lacks (GEMM timing may pick new variants)
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:fast_unwind_on_malloc=0 \
  LSAN_OPTIONS=suppressions="$PWD/tests/lsan.supp" UBSAN_OPTIONS=print_stacktrace=1 \
  ctest --test-dir build-asan-device --output-on-failure -j1 -R '^test_(model|train)$'
# test_faults runs fixed kernels (no GEMM timing), all in PoCL's cache since its run above, so
# the fast unwinder is enough there (the slow one would triple its 1 min)
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 LSAN_OPTIONS=suppressions="$PWD/tests/lsan.supp" \
  UBSAN_OPTIONS=print_stacktrace=1 \
  ctest --test-dir build-asan-device --output-on-failure -j1 -R '^test_faults$'

if command -v clang >/dev/null 2>&1; then
  echo "== fuzzing: each harness of tests/fuzz/ for ${CLVIT_FUZZ_SECONDS:-30} s (scripts/fuzz.sh)"
  CLVIT_FUZZ_SECONDS="${CLVIT_FUZZ_SECONDS:-30}" bash scripts/fuzz.sh
else
  echo "== fuzzing skipped: clang is not installed (scripts/setup.sh installs it)"
fi
