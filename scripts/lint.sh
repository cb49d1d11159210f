#!/usr/bin/env bash
# Style and static analysis, as CI runs them: every tracked C file formatted as .clang-format
# says (clang-format --dry-run --Werror), and cppcheck (warning, style, performance,
# portability) clean over lib/, apps/ and bench/; inline suppressions only, each with its reason
# beside it. Exits non-zero on the first finding.
#   bash scripts/lint.sh [BUILD_DIR]     # BUILD_DIR: where the generated headers are (build)
set -euo pipefail
cd "$(dirname "$0")/.."
build="${1:-build}"
mapfile -t files < <(git ls-files '*.c' '*.h')
echo "== lint: clang-format on ${#files[@]} files"
clang-format --dry-run --Werror "${files[@]}"
echo "== lint: cppcheck on lib/ apps/ bench/"
cppcheck -q --enable=warning,style,performance,portability --inline-suppr --std=c11 \
  --error-exitcode=1 -j"$(nproc)" -I include -I lib -I lib/host -I apps -I bench -I "$build" \
  lib apps bench
echo "lint: clean"
