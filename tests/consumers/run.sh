#!/usr/bin/env bash
# run.sh - installs clvit from a build tree into a temporary prefix and checks the installed
# tree as a user meets it: the files are there; a shared libclvit exports exactly the
# functions the public headers (include/clvit.h, include/clvit_data.h) declare, their static
# inline ones aside; the installed programs run and load the installed library (RUNPATH
# $ORIGIN/../lib); the CMake consumer (find_package(clvit 1.0)) and the
# pkg-config consumer (plain make) build consumer.c and run it; find_package(clvit 99.0) is
# refused by the version file.
# Usage (ctest runs it): bash tests/consumers/run.sh BUILD_DIR SOURCE_DIR
set -euo pipefail
BUILD=$(cd "${1:?usage: run.sh BUILD_DIR SOURCE_DIR}" && pwd)
SRC=$(cd "${2:?usage: run.sh BUILD_DIR SOURCE_DIR}" && pwd)
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
P=$T/prefix
failures=0
ok() { echo "ok   - $*"; }
bad() {
  echo "FAIL - $1"
  failures=$((failures + 1))
}

cmake --install "$BUILD" --prefix "$P" >"$T/install.log" || {
  cat "$T/install.log"
  echo "FAIL - cmake --install"
  exit 1
}
ok "cmake --install --prefix (temporary)"
shared=0
lib=$(find "$P" -name 'libclvit.so.*.*.*' | head -1)
[[ -n $lib ]] && shared=1 || lib=$(find "$P" -name 'libclvit.a' | head -1)
for f in "$lib" "$P/include/clvit.h" "$P/include/clvit_data.h" "$P/bin/clvit" \
  "$P/bin/clvit-bench" \
  "$(find "$P" -name clvit.pc | head -1)" "$(find "$P" -name clvitConfig.cmake | head -1)" \
  "$(find "$P" -name clvitConfigVersion.cmake | head -1)" \
  "$(find "$P" -name clvitTargets.cmake | head -1)"; do
  if [[ -n $f && -f $f ]]; then ok "installed ${f#"$P"/}"; else bad "a file is missing: $f"; fi
done
libdir=$(dirname "$lib")
version=$(sed -nE 's/^#define CLVIT_VERSION_(MAJOR|MINOR|PATCH) ([0-9]+)$/\2/p' "$SRC/include/clvit.h" |
  paste -sd.)

if [[ $shared == 1 ]]; then
  # every function the public headers declare is exported, and nothing else; their static
  # inline functions (clvit_data.h's generator) are compiled into the caller, not exported
  headers=("$P/include/clvit.h" "$P/include/clvit_data.h")
  sed -nE 's/^static inline [^(]*\b(clvit_[a-z0-9_]+)\(.*/\1/p' "${headers[@]}" | sort -u >"$T/inline"
  grep -ohE '\bclvit_[a-z0-9_]+\(' "${headers[@]}" | tr -d '(' | sort -u |
    comm -23 - "$T/inline" >"$T/declared"
  nm -D --defined-only "$lib" | awk '{print $3}' | sort -u >"$T/exported"
  if diff "$T/declared" "$T/exported" >"$T/symdiff"; then
    ok "libclvit exports exactly the $(wc -l <"$T/declared") functions of clvit.h and" \
      "clvit_data.h ($(wc -l <"$T/inline") static inline ones aside)"
  else
    bad "exports differ from the headers (< declared only, > exported only):"
    sed 's/^/    /' "$T/symdiff" | head -20
  fi
  [[ -L $libdir/libclvit.so.${version%%.*} ]] && ok "soname link libclvit.so.${version%%.*}" ||
    bad "no libclvit.so.${version%%.*}"
  # the installed programs load the installed library, not the build tree's
  for prog in clvit clvit-bench; do
    loaded=$(ldd "$P/bin/$prog" | sed -nE 's/^\s*libclvit\.so[^ ]* => ([^ ]+) .*/\1/p')
    if [[ -n $loaded && $(readlink -f "$loaded") == $(readlink -f "$lib") ]]; then
      ok "installed $prog loads the installed library ($loaded)"
    else
      bad "installed $prog does not load the installed libclvit: '$loaded'"
    fi
  done
fi
out=$("$P/bin/clvit" --version 2>&1) && [[ $out == "clvit $version" ]] &&
  ok "installed clvit --version: $out" || bad "installed clvit --version: '$out', want 'clvit $version'"
"$P/bin/clvit-bench" --help >/dev/null 2>&1 && ok "installed clvit-bench --help" ||
  bad "installed clvit-bench --help"

# the CMake consumer
if cmake -S "$SRC/tests/consumers/cmake" -B "$T/cmake" -DCMAKE_PREFIX_PATH="$P" \
  -DCMAKE_BUILD_TYPE=Release >"$T/cmake.log" 2>&1 &&
  cmake --build "$T/cmake" >>"$T/cmake.log" 2>&1; then
  ok "CMake consumer: find_package(clvit 1.0), clvit::clvit, built"
  if TMPDIR=$T "$T/cmake/consumer" >"$T/run.log" 2>&1 && grep -q "^consumer ok$" "$T/run.log"; then
    ok "CMake consumer runs: $(grep '^clvit ' "$T/run.log"); $(grep '^forward' "$T/run.log")"
  else
    bad "CMake consumer run"
    sed 's/^/    /' "$T/run.log"
  fi
else
  bad "CMake consumer build"
  tail -20 "$T/cmake.log"
fi
if cmake -S "$SRC/tests/consumers/cmake" -B "$T/cmake99" -DCMAKE_PREFIX_PATH="$P" \
  -DCLVIT_WANT_VERSION=99.0 >"$T/cmake99.log" 2>&1; then
  bad "find_package(clvit 99.0) was accepted by version $version"
else
  grep -q 'compatible.*with requested version "99.0"' <(tr -s ' \n' ' ' <"$T/cmake99.log") &&
    ok "find_package(clvit 99.0) refused" ||
    bad "find_package(clvit 99.0) failed for another reason: $(tail -5 "$T/cmake99.log")"
fi

# the pkg-config consumer
pcdir=$(dirname "$(find "$P" -name clvit.pc | head -1)")
mkdir -p "$T/pc"
if PKG_CONFIG_PATH="$pcdir" make -C "$SRC/tests/consumers/pkgconfig" OUT="$T/pc" \
  STATIC=$([[ $shared == 1 ]] || echo 1) >"$T/pc.log" 2>&1; then
  ok "pkg-config consumer: $(PKG_CONFIG_PATH="$pcdir" pkg-config --modversion clvit), built"
  if TMPDIR=$T "$T/pc/consumer" >"$T/run.log" 2>&1 && grep -q "^consumer ok$" "$T/run.log"; then
    ok "pkg-config consumer runs: $(grep '^clvit ' "$T/run.log")"
  else
    bad "pkg-config consumer run"
    sed 's/^/    /' "$T/run.log"
  fi
else
  bad "pkg-config consumer build"
  tail -20 "$T/pc.log"
fi
[[ $(PKG_CONFIG_PATH="$pcdir" pkg-config --modversion clvit) == "$version" ]] &&
  ok "clvit.pc version $version" || bad "clvit.pc version differs from clvit.h's $version"

echo "consumers: $failures failed"
[[ $failures == 0 ]]
