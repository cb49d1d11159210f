#!/usr/bin/env bash
# Every kernel file compiles on its own (OpenCL C 1.2, with -I cl for cl/common.cl) under
# clang, as a standalone compiler would see it: no file depends on being built beside another
# except through its #include. Usage: cl_standalone.sh CLANG SOURCE_DIR
set -euo pipefail
clang=$1
src=$2
fail=0
for f in "$src"/cl/*.cl; do
  if ! "$clang" -x cl -cl-std=CL1.2 -Xclang -finclude-default-header -fsyntax-only \
    -I "$src/cl" "$f"; then
    echo "FAIL: $f does not compile alone" >&2
    fail=1
  fi
done
exit $fail
