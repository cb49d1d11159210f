#!/usr/bin/env bash
# The test command: installs dependencies, builds with warnings as errors, runs every test
# (kernels, PyTorch parity, training, file formats, CLI, bench) on the default OpenCL device
# (PoCL when there is no GPU), then builds the host-side code (file parsers, datasets,
# images, CLI argument handling) with AddressSanitizer + UndefinedBehaviorSanitizer and
# runs those tests again.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
# program caches of this run stay inside the build tree
export CLVIT_CACHE_DIR="$PWD/build/cache"
bash scripts/build.sh
ctest --test-dir build --output-on-failure -j1

echo "== host-side tests under AddressSanitizer + UndefinedBehaviorSanitizer"
cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DCLVIT_HOST_ONLY=ON -DCLVIT_SANITIZE=ON \
  -DCLVIT_WERROR=ON >/dev/null
cmake --build build-asan -j"$(nproc)"
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
  ctest --test-dir build-asan --output-on-failure -j1
