#!/usr/bin/env bash
# Compiles the C API example from README.md exactly as written there and runs it on a
# fixture model, so the README's example cannot rot.
# Usage: cli_api_example.sh CLVIT_BINARY SOURCE_DIR
set -euo pipefail
BUILD=$(cd "$(dirname "$1")" && pwd)
SRC=$2
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
awk '/^```c$/{on=1; next} /^```$/{on=0} on' "$SRC/README.md" >"$T/example.c"
lines=$(wc -l <"$T/example.c")
echo "README example: $lines lines"
[[ $lines -gt 10 ]] || { echo "FAILED: no C example found in README.md"; exit 1; }
# against the built libclvit (shared, or static with -DBUILD_SHARED_LIBS=OFF, which then needs
# its dependencies after it; tests/consumers/ checks the installed tree)
cc -std=c11 -Wall -Wextra -Werror "$T/example.c" -I"$SRC/include" -L"$BUILD" -Wl,-rpath,"$BUILD" \
  -lclvit -lOpenCL -lclblast -lcjson -lstb -lz -lm -o "$T/example"
out=$("$T/example" "$SRC/tests/fixtures/tiny_qkvbias.safetensors")
echo "$out"
[[ $out == "logit[0] = "*" on "* ]] || { echo "FAILED: unexpected output"; exit 1; }
if "$T/example" "$T/missing.safetensors" 2>"$T/err"; then
  echo "FAILED: a missing file should fail"; exit 1
fi
grep -q "I/O error" "$T/err" || { echo "FAILED: missing-file message"; cat "$T/err"; exit 1; }
echo "1 passed, 0 failed"
