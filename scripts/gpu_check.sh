#!/usr/bin/env bash
# gpu_check.sh - builds, tests and benchmarks clvit on a machine with an NVIDIA or AMD GPU
# that has no package registry and no internet. Two halves:
#
#   scripts/gpu_check.sh --fetch-debs    on a Debian 12 machine that reaches Debian's
#       packages: `apt-get download` of clvit's build and run dependencies and of the
#       libraries they need, into .debs/ (ignored by git), then a check that every shared
#       library in the bundle finds what it links against inside it or in glibc/libstdc++.
#
#   scripts/gpu_check.sh                 on the GPU machine, with .debs/ copied along:
#       deps     unpack the .debs with `dpkg -x` into build-gpu/deps (no root, nothing
#                installed); expose only the libraries the machine lacks (and always the
#                ICD loader) through LD_LIBRARY_PATH; pkg-config and CMake files rewritten
#                to point into the folder
#       icd      find the vendor's OpenCL driver (NVIDIA libnvidia-opencl.so.1, AMD
#                libamdocl64.so) and register it through an .icd file in a folder of its
#                own, named by OCL_ICD_VENDORS
#       build    CMake Release build into build-gpu/ against the unpacked prefix
#       devices  `clvit devices`, and a check that --device (default gpu) selects a device
#                that works (clvit-bench's checked copy kernel on it)
#       tests    ctest with CLVIT_DEVICE set to that device
#       bench    clvit-bench on the device (JSON)
#       torch    bench/baseline_torch.py --device cuda, when PyTorch sees a CUDA GPU (JSON)
#       compare  clvit-bench --compare of the two
#   Results go to one folder (default gpu-results/, or $OUT when set): gpu_check.log (every
#   step's output), summary.json, devices.txt, bench_clvit.json, bench_torch.json,
#   compare.txt. A failed step does not stop the independent steps after it; the exit
#   status is 1 when any step failed or could not run, 2 for a usage error.
#
# Run `scripts/gpu_check.sh --help` for the options.
# The step_* functions run through `bash gpu_check.sh --internal-step NAME` (each under its
# own time limit), which shellcheck cannot follow:
# shellcheck disable=SC2317
set -euo pipefail

GC_SELF="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/$(basename "${BASH_SOURCE[0]}")"
GC_ROOT="$(cd "$(dirname "$GC_SELF")/.." && pwd)"
DEFAULT_MODELS="vit_mnist,deit_tiny_patch16_224,vit_base_patch16_224"
DEFAULT_BATCH="1,8,32"

usage() {
    cat <<EOF
usage: scripts/gpu_check.sh [options]          on the GPU machine (no registry needed)
       scripts/gpu_check.sh --fetch-debs [--debs DIR] [--no-cmake]
                                               beforehand, on a Debian 12 machine with apt

Builds clvit, runs its tests and clvit-bench on an NVIDIA or AMD GPU through OpenCL, and
the PyTorch CUDA baseline when PyTorch sees a GPU, using only .deb files fetched
beforehand. Writes JSON results and a log of every step into one folder.

options:
  --out DIR            results folder (default \$OUT when set, else gpu-results/)
  --debs DIR           where the .deb files are (default .debs/)
  --build-dir DIR      build folder (default build-gpu/); the .debs unpack into DIR/deps
                       and the ICD folder is DIR/opencl-vendors
  --vendor V           auto (default: NVIDIA, else AMD), nvidia, amd, or none (register
                       nothing: use the OpenCL drivers the machine already lists)
  --icd-lib PATH       register this OpenCL driver library instead of searching
  --icd-only           unpack, register the driver, list the OpenCL platforms, stop
  --device SPEC        the OpenCL device for tests and bench (default gpu; see README)
  --jobs N             build jobs (default: every CPU)
  --test-jobs N        ctest jobs (default 4)
  --tests-regex RE     run only the tests matching RE (ctest -R)
  --no-tests           skip the test suite
  --bench KIND         light (default: memory and inference, --models at --batch, 5 runs,
                       at most 5 s per measurement), full (every clvit-bench section:
                       also GEMMs against OpenBLAS, start-up, training, profile; and
                       the PyTorch GEMMs), or none
  --models LIST        presets for the bench (default $DEFAULT_MODELS)
  --batch LIST         batch sizes for the bench (default $DEFAULT_BATCH)
  --tune               run clvit-bench --tune (every GEMM candidate on the models' shapes)
                       before the bench
  --no-torch           skip the PyTorch baseline
  --torch-device D     cuda (default) or cpu
  --python PY          the Python that has PyTorch (default python3)
  --werror             build with warnings as errors
  --budget S           seconds for the whole run (default 540, for a 10-minute limit): a
                       step's time limit is what is left after keeping the shortest useful
                       time of each later step, but never below its own shortest time; a
                       step that cannot get that is not run
  --fetch-debs         download the .debs instead (needs apt-get and Debian's packages)
  --no-cmake           with --fetch-debs: leave CMake and its libraries out (about 25 MB)
  -h, --help           show this help

The device tool of this workplace: run \`bash scripts/gpu_check.sh\` with carry [".debs"];
\$OUT comes back (at most 8 files: this script writes 6).
EOF
}

# ================================================================ small helpers

say() { printf '%s\n' "$*"; [[ -n ${GC_LOG:-} ]] && printf '%s\n' "$*" >>"$GC_LOG"; return 0; }
die_usage() { echo "gpu_check: $*" >&2; echo "(see scripts/gpu_check.sh --help)" >&2; exit 2; }
note() { printf '%s\n' "$*" >"$GC_STATE/$GC_STEP.note"; }   # one line for the summary
now() { date +%s; }
step_left() { echo $((GC_STEP_DEADLINE - $(now))); }
abspath() { case $1 in /*) printf '%s\n' "$1" ;; *) printf '%s\n' "$PWD/$1" ;; esac; }
version_ge() { [[ "$(printf '%s\n%s\n' "$2" "$1" | sort -V | head -1)" == "$2" ]]; }

find_ldconfig() {
    command -v ldconfig 2>/dev/null || { [[ -x /sbin/ldconfig ]] && echo /sbin/ldconfig; } ||
        { [[ -x /usr/sbin/ldconfig ]] && echo /usr/sbin/ldconfig; } || true
}

# Where the ld.so cache puts SONAME (x86-64), or nothing. (awk reads to the end: an early
# exit would kill ldconfig with SIGPIPE, a failure under pipefail.)
find_soname() {
    local ldc
    ldc=$(find_ldconfig)
    [[ -n $ldc ]] || return 0
    "$ldc" -p 2>/dev/null | awk -v n="$1" '$1 == n && /x86-64/ && !p {p = $NF} END {if (p) print p}'
}

# Whether the machine's dynamic loader finds SONAME without our folder: the ld.so cache,
# the LD_LIBRARY_PATH the script started with, and the usual directories.
system_has_soname() {
    local name=$1 d extra=()
    [[ -n $(find_soname "$name") ]] && return 0
    IFS=: read -ra extra <<<"${GC_ORIG_LD_LIBRARY_PATH:-}"
    for d in "${extra[@]}" /lib/x86_64-linux-gnu /usr/lib/x86_64-linux-gnu /lib64 /usr/lib64; do
        [[ -n $d && -e $d/$name ]] && return 0
    done
    return 1
}

# ================================================================ --fetch-debs

# What clvit builds and runs with: scripts/setup.sh's list without the compiler, Python,
# npm and the CPU-side OpenCL implementations the CI runs on (PoCL, rusticl, Oclgrind).
# That is the ICD loader and headers, CLBlast, cJSON, stb, cmocka, zlib, pkg-config,
# OpenBLAS (clvit-bench's baseline; the pthread flavour, not the libopenblas-dev meta
# package that pulls all three) and clinfo.
FETCH_ROOTS=(ocl-icd-libopencl1 ocl-icd-opencl-dev opencl-c-headers opencl-clhpp-headers
             opencl-headers libclblast1 libclblast-dev libcjson1 libcjson-dev libstb0 libstb-dev
             libcmocka0 libcmocka-dev zlib1g zlib1g-dev pkgconf pkgconf-bin libpkgconf3
             libopenblas0-pthread libopenblas-pthread-dev clinfo)
FETCH_CMAKE=(cmake cmake-data)
# Never fetched, nor followed: glibc and the GCC runtime (every machine with a compiler has
# newer ones, and an older copy on LD_LIBRARY_PATH would break its programs) and tools that
# only packaging scripts use.
FETCH_NEVER='^(libc6|libc6-dev|libc-dev-bin|linux-libc-dev|libcrypt1|libcrypt-dev|libnsl2|libnsl-dev|libtirpc[0-9]*|libtirpc-dev|libtirpc-common|rpcsvc-proto|libgcc-s1|libstdc\+\+6|gcc-[0-9]+-base|dpkg|tar|perl|perl-base|perl-modules-.*|procps|init-system-helpers|usrmerge|usr-is-merged|debconf|sensible-utils)$'
# Sonames every target machine has: glibc's and the GCC runtime's.
BASE_SONAMES=" ld-linux-x86-64.so.2 libc.so.6 libm.so.6 libpthread.so.0 libdl.so.2 librt.so.1 libresolv.so.2 libutil.so.1 libanl.so.1 libcrypt.so.1 libgcc_s.so.1 libstdc++.so.6 "

# The direct dependencies of the packages named: per Depends/Pre-Depends group the first
# alternative, a virtual package as its first provider. One apt-cache call for them all
# (each call reads the whole package cache: seconds).
direct_deps() {
    apt-cache depends --no-recommends --no-suggests --no-conflicts --no-breaks --no-replaces \
        --no-enhances "$@" 2>/dev/null | awk '
        function flush() { if (n) { for (i = 1; i <= n; i++) if (pick[i] != "") { print pick[i]; break } } n = 0 }
        /^ [ |](Pre)?Depends: / {
            if (!open_group) flush()
            open_group = ($0 ~ /^ \|/)
            name = $2; sub(/:any$/, "", name)
            n++; virt[n] = (name ~ /^</); pick[n] = virt[n] ? "" : name
            next
        }
        /^    [^ ]/ { if (n && virt[n] && pick[n] == "") { p = $1; sub(/:any$/, "", p); pick[n] = p } next }
        /^[^ ]/ { flush(); open_group = 0 }
        END { flush() }'
}

fetch_debs() {
    if ! command -v apt-get >/dev/null || ! command -v apt-cache >/dev/null; then
        echo "gpu_check: error: --fetch-debs needs apt-get (a Debian machine with its package lists)" >&2
        exit 1
    fi
    local dir=$GC_DEBS roots=("${FETCH_ROOTS[@]}")
    ((GC_FETCH_CMAKE)) && roots+=("${FETCH_CMAKE[@]}")
    if ! apt-cache show --no-all-versions libclblast1 >/dev/null 2>&1; then
        if [[ $(id -u) -eq 0 ]]; then
            echo "gpu_check: no package lists yet: apt-get update"
            apt-get update -qq
        else
            echo "gpu_check: error: apt-cache does not know libclblast1: run 'apt-get update' (as root) first" >&2
            exit 1
        fi
    fi
    echo "== resolving the dependencies of ${#roots[@]} packages (first alternatives, no recommends)"
    apt-cache show --no-all-versions "${roots[@]}" >/dev/null ||
        { echo "gpu_check: error: a package above is not in the package lists" >&2; exit 1; }
    local -A seen=()
    local -a frontier=("${roots[@]}") next pkgs=() skipped=()
    local p d
    for p in "${roots[@]}"; do seen[$p]=1; done
    while ((${#frontier[@]})); do   # breadth first, one apt-cache call per level
        next=()
        for p in "${frontier[@]}"; do
            if [[ $p =~ $FETCH_NEVER ]]; then skipped+=("$p"); else pkgs+=("$p"); next+=("$p"); fi
        done
        frontier=()
        ((${#next[@]})) || break
        while read -r d; do
            [[ -n $d && -z ${seen[$d]:-} ]] || continue
            seen[$d]=1
            frontier+=("$d")
        done < <(direct_deps "${next[@]}")
    done
    mapfile -t pkgs < <(printf '%s\n' "${pkgs[@]}" | sort)
    echo "   ${#pkgs[@]} packages; not fetched (the machine's own): ${skipped[*]:-none}"

    mkdir -p "$dir"
    rm -f "$dir"/*.deb "$dir/MANIFEST"
    echo "== apt-get download into $dir"
    (cd "$dir" && { apt-get download -q "${pkgs[@]}" 2>&1 | grep -v '^Get:' || true; })
    local f n=0
    for p in "${pkgs[@]}"; do
        compgen -G "$dir/${p}_*.deb" >/dev/null || { echo "gpu_check: error: $p was not downloaded" >&2; exit 1; }
        n=$((n + 1))
    done

    echo "== checking the bundle: unpack, then every ELF file's needed libraries"
    local tmp
    tmp=$(mktemp -d)
    trap 'rm -rf "$tmp"' RETURN
    for f in "$dir"/*.deb; do dpkg-deb -x "$f" "$tmp/root"; done
    # one readelf over every file outside usr/share (readelf prints "File: X" headers when
    # given two files or more, hence the first file twice); non-ELF files are skipped
    local first list
    first=$(find "$tmp/root" -path "$tmp/root/usr/share" -prune -o -type f -print -quit)
    list=$(find "$tmp/root" -path "$tmp/root/usr/share" -prune -o -type f -print0 |
        { xargs -0 readelf -d -V --wide "$first" 2>/dev/null || true; } | awk '
            /^File: / { f = substr($0, 7); next }
            /\((NEEDED|SONAME)\)/ { so = $0; sub(/.*\[/, "", so); sub(/\].*/, "", so)
                                    print ($0 ~ /NEEDED/ ? "N" : "S"), so, f; next }
            /Name: GLIBC_[0-9]/ { v = $0; sub(/.*Name: GLIBC_/, "", v); sub(/ .*/, "", v); print "G", v, f }
            /Name: GLIBCXX_[0-9]/ { v = $0; sub(/.*Name: GLIBCXX_/, "", v); sub(/ .*/, "", v); print "X", v, f }')
    local -A have=()
    local missing="" glibc glibcxx kind so file nelf
    while read -r kind so file; do
        if [[ $kind == S ]]; then have[$so]=1; fi
    done <<<"$list"
    while read -r kind so file; do
        [[ $kind == N && -z ${have[$so]:-} && $BASE_SONAMES != *" $so "* ]] || continue
        missing+="   ${file#"$tmp/root"} needs $so"$'\n'
    done <<<"$list"
    nelf=$(awk '$1 == "N" || $1 == "S" {print $3}' <<<"$list" | sort -u | wc -l)
    glibc=$(awk '$1 == "G" {print $2}' <<<"$list" | sort -V | tail -1)
    glibcxx=$(awk '$1 == "X" {print $2}' <<<"$list" | sort -V | tail -1)
    # per shared library: the newest glibc and GLIBCXX versions it needs
    local per_lib
    per_lib=$(awk '
        function newer(a, b,   x, y, i, n) {   # a > b, version strings
            n = split(a, x, "."); split(b, y, ".")
            for (i = 1; i <= n || i in y; i++) if (x[i] + 0 != y[i] + 0) return x[i] + 0 > y[i] + 0
            return 0
        }
        $1 == "S" { so[$3] = $2 }
        $1 == "G" && newer($2, g[$3] == "" ? "0" : g[$3]) { g[$3] = $2 }
        $1 == "X" && newer($2, x[$3] == "" ? "0" : x[$3]) { x[$3] = $2 }
        END { for (f in so) print "lib", so[f], (g[f] == "" ? "-" : g[f]), (x[f] == "" ? "-" : x[f]) }' <<<"$list" | sort -u)
    if [[ -n $missing ]]; then
        printf 'gpu_check: error: libraries needed inside the bundle but not in it:\n%s' "$missing" >&2
        exit 1
    fi
    local bytes v
    bytes=$(du -cb "$dir"/*.deb | tail -1 | cut -f1)
    {
        echo "# clvit gpu_check.sh bundle: dpkg -x each .deb into one folder"
        # shellcheck disable=SC1091 # the system's release file
        echo "# fetched $(date -u +%Y-%m-%dT%H:%M:%SZ) on $(. /etc/os-release && echo "$PRETTY_NAME")"
        echo "arch $(dpkg --print-architecture)"
        echo "glibc_min $glibc"
        echo "glibcxx_min $glibcxx"
        echo "# lib SONAME GLIBC GLIBCXX: the newest versions each library needs"
        echo "$per_lib"
        for f in "$dir"/*.deb; do   # NAME_VERSION_ARCH.deb, ':' written %3a
            f=${f##*/}
            v=${f#*_}
            v=${v%_*}
            echo "deb ${f%%_*} ${v//%3a/:} $f"
        done
    } >"$dir/MANIFEST"
    echo "   $nelf ELF files: every needed library is in the bundle or is glibc/libstdc++/libgcc_s"
    echo "   the newest: glibc $glibc, GLIBCXX $glibcxx (MANIFEST lists each library's; on the GPU"
    echo "   machine only the libraries it lacks are used)"
    echo "== $n packages, $((bytes / 1048576)) MiB in $dir (list: $dir/MANIFEST)"
    if ((bytes > 48 * 1048576)); then
        echo "   note: the device tool carries at most 64 MiB with the working tree; --no-cmake saves about 25 MB"
    fi
    echo "Next, on the GPU machine, with $dir beside the checkout: bash scripts/gpu_check.sh"
}

# ================================================================ the steps (each runs in
# its own process, under `timeout`, with the settings in GC_* variables)

# ---------------------------------------------------------------- deps
unpack_deb() {
    local f=$1 dest=$2 member
    if command -v dpkg-deb >/dev/null; then
        dpkg-deb -x "$f" "$dest"
        return
    fi
    # no dpkg (not Debian/Ubuntu): a .deb is an ar archive holding data.tar.*
    member=$(ar t "$f" | grep '^data\.tar') || { echo "cannot read $f (no dpkg-deb, no ar)"; return 1; }
    case $member in
        *.xz) ar p "$f" "$member" | tar -xJ -C "$dest" ;;
        *.zst) ar p "$f" "$member" | zstd -dc | tar -x -C "$dest" ;;
        *.gz) ar p "$f" "$member" | tar -xz -C "$dest" ;;
        *) ar p "$f" "$member" | tar -x -C "$dest" ;;
    esac
}

step_deps() {
    local P=$GC_PREFIX f n=0 debs=()
    echo "machine: $(uname -srm), $(getconf GNU_LIBC_VERSION 2>/dev/null || echo 'glibc ?'), $(nproc) CPUs"
    for t in cc gcc clang cmake ctest pkg-config pkgconf python3 nvidia-smi rocm-smi clinfo dpkg-deb; do
        printf '  %-11s %s\n' "$t" "$(command -v "$t" || echo -)"
    done
    shopt -s nullglob
    debs=("$GC_DEBS"/*.deb)
    shopt -u nullglob
    if ((${#debs[@]} == 0)); then
        echo "no .deb files in $GC_DEBS: building with the machine's installed packages"
        note "no .debs in ${GC_DEBS#"$GC_ROOT"/}: the machine's own packages"
        : >"$GC_STATE/deps.env"
        return 0
    fi
    local man=$GC_DEBS/MANIFEST want
    if [[ -f $man ]]; then
        want=$(awk '$1 == "arch" {print $2}' "$man")
        if [[ $want == amd64 && $(uname -m) != x86_64 ]]; then
            echo "gpu_check: error: the .debs are for $want, this machine is $(uname -m)"
            note "the .debs are for $want"
            exit 1
        fi
        echo "bundle: $(grep -c '^deb ' "$man") packages ($(sed -n 's/^# fetched //p' "$man"))"
    fi
    local stamp
    stamp=$(cat "$GC_DEBS"/*.deb | cksum | cut -d' ' -f1)
    if [[ -f $P/.stamp && $(cat "$P/.stamp") == "$stamp" ]]; then
        echo "already unpacked in $P"
    else
        rm -rf "$P"
        mkdir -p "$P"
        for f in "${debs[@]}"; do
            unpack_deb "$f" "$P"
            n=$((n + 1))
        done
        echo "unpacked $n .debs into $P"
        # absolute symlinks (libz.so -> /lib/...) point into the folder instead
        local l target
        while IFS= read -r -d '' l; do
            target=$(readlink "$l")
            [[ $target == /* ]] && ln -sfn "$P$target" "$l"
        done < <(find "$P" -type l -print0)
        # the libraries' pkg-config and CMake files name /usr/...: make them name the folder
        # (CMake's own modules in usr/share/cmake-* stay as they are)
        local pesc=${P//\\/\\\\}
        pesc=${pesc//&/\\&}
        pesc=${pesc//#/\\#}
        find "$P/usr/lib" "$P/usr/share/pkgconfig" \( -name '*.pc' -o -name '*.cmake' \) -type f \
            -print0 2>/dev/null |
            xargs -0 -r sed -i -E "s#(^|[^A-Za-z0-9_.~/-]|-I|-L)/usr(/|\"|\$|[[:space:]]|;|\))#\1${pesc}/usr\2#g"
        # Debian picks OpenBLAS's flavour with update-alternatives, which dpkg -x does not run
        local ml
        for ml in "$P"/usr/lib/*-linux-gnu; do
            if [[ -d $ml/openblas-pthread ]]; then
                for f in libopenblas.so.0 libopenblas.so libblas.so.3 libblas.so liblapack.so.3 liblapack.so; do
                    [[ -e $ml/openblas-pthread/$f && ! -e $ml/$f ]] && ln -s "openblas-pthread/$f" "$ml/$f"
                done
                mkdir -p "$ml/pkgconfig"
                [[ -e $ml/pkgconfig/openblas.pc ]] || ln -s ../openblas-pthread/pkgconfig/openblas.pc "$ml/pkgconfig/openblas.pc"
            fi
        done
        echo "$stamp" >"$P/.stamp"
    fi
    # LD_LIBRARY_PATH gets a folder of links to the libraries the machine lacks, and to the
    # ICD loader (ocl-icd, which reads OCL_ICD_VENDORS) always: the machine's own newer
    # copies of everything else stay in use, for its compiler and Python too.
    rm -rf "$P/rtlib"
    mkdir -p "$P/rtlib"
    local exposed=() present=0 name d
    for d in "$P"/usr/lib/*-linux-gnu "$P"/lib/*-linux-gnu; do
        [[ -d $d ]] || continue
        for f in "$d"/lib*.so.[0-9]*; do
            name=${f##*/}
            [[ $name =~ \.so\.[0-9]+$ ]] || continue
            [[ -e $P/rtlib/$name ]] && continue
            if [[ $name != libOpenCL.so.1 ]] && system_has_soname "$name"; then
                present=$((present + 1))
                continue
            fi
            ln -s "$f" "$P/rtlib/$name"
            exposed+=("$name")
        done
    done
    echo "LD_LIBRARY_PATH gets the libraries this machine lacks (${#exposed[@]}): ${exposed[*]}"
    echo "($present more are in the bundle but the machine has its own)"
    # those must run on this machine's glibc and libstdc++ (MANIFEST: what each one needs)
    if [[ -f $man ]]; then
        local have_glibc stdcxx="" g x bad=()
        have_glibc=$(getconf GNU_LIBC_VERSION 2>/dev/null | awk '{print $2}')
        stdcxx=$(find_soname libstdc++.so.6)
        for name in "${exposed[@]}"; do
            read -r g x < <(awk -v n="$name" '$1 == "lib" && $2 == n {print $3, $4; exit}' "$man") || continue
            if [[ -n $have_glibc && $g != - ]] && ! version_ge "$have_glibc" "$g"; then
                bad+=("$name needs glibc $g")
            fi
            if [[ -n $stdcxx && $x != - ]] && ! grep -qa "GLIBCXX_$x" "$stdcxx"; then
                bad+=("$name needs GLIBCXX_$x")
            fi
        done
        if ((${#bad[@]})); then
            echo "gpu_check: error: this machine (glibc ${have_glibc:-?}, $stdcxx) is too old for: ${bad[*]}"
            note "machine too old for the bundle: ${bad[*]}"
            exit 1
        fi
        echo "glibc ${have_glibc:-?} and ${stdcxx:-libstdc++ (not found)} are new enough for them"
    fi
    local ml_dirs="" pc=""
    for d in "$P"/usr/lib/*-linux-gnu "$P"/lib/*-linux-gnu; do
        [[ -d $d ]] && ml_dirs+="${ml_dirs:+:}$d"
        [[ -d $d/pkgconfig ]] && pc+="${pc:+:}$d/pkgconfig"
    done
    [[ -d $P/usr/share/pkgconfig ]] && pc+="${pc:+:}$P/usr/share/pkgconfig"
    {
        printf 'export PATH=%q\n' "$PATH:$P/usr/bin"
        printf 'export PKG_CONFIG_PATH=%q\n' "$pc${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}"
        printf 'export LD_LIBRARY_PATH=%q\n' "$P/rtlib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
        printf 'export GC_PREFIX_LIBDIRS=%q\n' "$ml_dirs"
    } >"$GC_STATE/deps.env"
    note "${#debs[@]} .debs unpacked; on LD_LIBRARY_PATH, libraries the machine lacks: ${#exposed[@]}"
}

# ---------------------------------------------------------------- icd
find_driver() {   # vendor -> the driver library's path on stdout
    local vendor=$1 n d found
    local -a names dirs
    case $vendor in
        nvidia)
            names=(libnvidia-opencl.so.1)
            dirs=(/usr/local/nvidia/lib64 /usr/local/nvidia/lib /usr/lib/x86_64-linux-gnu
                  /usr/lib/x86_64-linux-gnu/nvidia/current /usr/lib64 /usr/lib64/nvidia /usr/lib
                  /lib/x86_64-linux-gnu /lib64 /usr/local/cuda/compat) ;;
        amd)
            names=(libamdocl64.so libamdocl-orca64.so)
            dirs=(/opt/rocm/lib /opt/rocm/opencl/lib /opt/rocm/opencl/lib/x86_64)
            shopt -s nullglob
            dirs+=(/opt/rocm-*/lib /opt/rocm-*/opencl/lib /opt/amdgpu-pro/lib/x86_64-linux-gnu
                   /opt/amdgpu/lib/x86_64-linux-gnu)
            shopt -u nullglob
            dirs+=(/usr/lib/x86_64-linux-gnu /usr/lib64) ;;
    esac
    local extra=()
    IFS=: read -ra extra <<<"${GC_ORIG_LD_LIBRARY_PATH:-}"
    dirs+=("${extra[@]}")
    for n in "${names[@]}"; do
        for d in "${dirs[@]}"; do
            [[ -n $d && -e $d/$n ]] && { echo "$d/$n"; return 0; }
        done
        found=$(find_soname "$n")
        [[ -n $found ]] && { echo "$found"; return 0; }
    done
    echo "  $vendor: no ${names[*]} in ${dirs[*]} nor in the ld.so cache" >&2
    return 1
}

find_clinfo() {
    if [[ -x $GC_PREFIX/usr/bin/clinfo ]]; then echo "$GC_PREFIX/usr/bin/clinfo"; else command -v clinfo || true; fi
}

step_icd() {
    if [[ $GC_VENDOR == none && -z $GC_ICD_LIB ]]; then
        echo "--vendor none: keeping the machine's own OpenCL set-up (OCL_ICD_VENDORS=${OCL_ICD_VENDORS:-unset})"
        note "not registered (--vendor none): the machine's own ICDs"
        : >"$GC_STATE/icd.env"
        exit 3
    fi
    local lib="" vendor=$GC_VENDOR v
    if [[ -n $GC_ICD_LIB ]]; then
        [[ -f $GC_ICD_LIB ]] || { echo "error: --icd-lib $GC_ICD_LIB: no such file"; note "--icd-lib: no such file"; exit 1; }
        lib=$GC_ICD_LIB
        if [[ $vendor == auto || $vendor == none ]]; then
            case ${lib##*/} in *nvidia*) vendor=nvidia ;; *amd*) vendor=amd ;; *) vendor=custom ;; esac
        fi
    else
        echo "looking for the vendor's OpenCL driver (--vendor $GC_VENDOR)"
        for v in nvidia amd; do
            [[ $GC_VENDOR == auto || $GC_VENDOR == "$v" ]] || continue
            if lib=$(find_driver "$v"); then vendor=$v; break; fi
        done
    fi
    if [[ -z $lib ]]; then
        [[ -e /proc/driver/nvidia/version ]] && echo "  (/proc/driver/nvidia/version exists: the kernel driver is loaded, its OpenCL library is not visible here)"
        [[ -e /dev/kfd ]] && echo "  (/dev/kfd exists: an AMD GPU, but no ROCm OpenCL library)"
        echo "gpu_check: error: no NVIDIA (libnvidia-opencl.so.1) or AMD (libamdocl64.so) OpenCL driver found; pass --icd-lib PATH if it is elsewhere"
        note "no vendor OpenCL driver found"
        exit 1
    fi
    lib=$(readlink -f "$lib" 2>/dev/null || echo "$lib")
    echo "found the $vendor OpenCL driver: $lib"
    rm -rf "$GC_ICD_DIR"
    mkdir -p "$GC_ICD_DIR"
    echo "$lib" >"$GC_ICD_DIR/$vendor.icd"
    echo "registered: $GC_ICD_DIR/$vendor.icd -> $lib; OCL_ICD_VENDORS=$GC_ICD_DIR"
    local libdir ldp=${LD_LIBRARY_PATH:-}
    libdir=$(dirname "$lib")
    # the driver's own libraries (libcuda.so.1 beside libnvidia-opencl.so.1) from its folder
    case ":$ldp:" in *":$libdir:"*) ;; *) ldp+="${ldp:+:}$libdir" ;; esac
    {
        printf 'export OCL_ICD_VENDORS=%q\n' "$GC_ICD_DIR"
        printf 'export LD_LIBRARY_PATH=%q\n' "$ldp"
    } >"$GC_STATE/icd.env"
    local clinfo out
    clinfo=$(find_clinfo)
    if [[ -z $clinfo ]]; then
        echo "no clinfo here: the devices step checks the registration"
        note "$vendor: $lib (not checked: no clinfo)"
        return 0
    fi
    out=$(OCL_ICD_VENDORS=$GC_ICD_DIR LD_LIBRARY_PATH=$ldp "$clinfo" -l 2>&1) || true
    echo "$clinfo -l:"
    printf '%s\n' "$out" | sed 's/^/  /'
    if ! grep -q 'Platform #' <<<"$out"; then
        echo "the ICD loader lists no platform; what the driver library links against:"
        { LD_LIBRARY_PATH=$ldp ldd "$lib" 2>&1 || true; } | sed 's/^/  /'
        echo "the loader's debug output (when ocl-icd was built with it):"
        { OCL_ICD_VENDORS=$GC_ICD_DIR LD_LIBRARY_PATH=$ldp OCL_ICD_DEBUG=15 "$clinfo" -l 2>&1 || true; } |
            tail -20 | sed 's/^/  /'
        echo "gpu_check: error: the OpenCL loader could not load $lib"
        note "$lib registered, but the loader lists no platform"
        exit 1
    fi
    note "$vendor: $lib; $(grep -c 'Device #' <<<"$out") device(s)"
}

# ---------------------------------------------------------------- build
pick_cmake() {   # the machine's CMake when >= 3.18, else the unpacked one
    local c v
    for c in "$(command -v cmake || true)" "$GC_PREFIX/usr/bin/cmake"; do
        [[ -n $c && -x $c ]] || continue
        v=$("$c" --version 2>/dev/null | awk 'NR == 1 {print $3}') || continue
        [[ -n $v ]] && version_ge "$v" 3.18 && { echo "$c"; return 0; }
        echo "  $c is CMake ${v:-?}: too old (3.18 needed)" >&2
    done
    return 1
}

step_build() {
    local cc="" c cmake
    for c in "${CC:-}" cc gcc clang; do
        [[ -n $c ]] && command -v "$c" >/dev/null && { cc=$(command -v "$c"); break; }
    done
    [[ -n $cc ]] || { echo "gpu_check: error: no C compiler (cc, gcc or clang) on this machine"; note "no C compiler"; exit 1; }
    cmake=$(pick_cmake) || { echo "gpu_check: error: no CMake >= 3.18 (not on PATH, not in the .debs)"; note "no CMake"; exit 1; }
    echo "compiler: $cc ($("$cc" --version | head -1)); cmake: $cmake ($("$cmake" --version | head -1))"
    local args=(-S "$GC_ROOT" -B "$GC_BUILD" -DCMAKE_BUILD_TYPE=Release -DCMAKE_C_COMPILER="$cc")
    ((GC_WERROR)) && args+=(-DCLVIT_WERROR=ON)
    if [[ -n ${GC_PREFIX_LIBDIRS:-} ]]; then
        local P=$GC_PREFIX ml libs
        ml=${GC_PREFIX_LIBDIRS%%:*}
        libs="$GC_PREFIX_LIBDIRS"
        [[ -d $ml/openblas-pthread ]] && libs+=":$ml/openblas-pthread"
        args+=(-DCMAKE_PREFIX_PATH="$P/usr" -DCMAKE_INCLUDE_PATH="$P/usr/include"
               -DCMAKE_LIBRARY_PATH="${libs//:/;}" "-DCMAKE_EXE_LINKER_FLAGS=-Wl,-rpath-link,$libs")
        [[ -e $ml/libOpenCL.so && -e $P/usr/include/CL/cl.h ]] &&
            args+=(-DOpenCL_INCLUDE_DIR="$P/usr/include" -DOpenCL_LIBRARY="$ml/libOpenCL.so")
        [[ -d $ml/cmake/CLBlast ]] && args+=(-DCLBlast_DIR="$ml/cmake/CLBlast")
        [[ -x $P/usr/bin/pkgconf ]] && ! command -v pkg-config >/dev/null &&
            args+=(-DPKG_CONFIG_EXECUTABLE="$P/usr/bin/pkgconf")
    fi
    echo "+ cmake ${args[*]}"
    "$cmake" "${args[@]}"
    echo "+ cmake --build $GC_BUILD -j$GC_JOBS"
    "$cmake" --build "$GC_BUILD" -j"$GC_JOBS"
    note "Release build: $(basename "$cc"), CMake $("$cmake" --version | awk 'NR == 1 {print $3}') ($cmake)"
}

# ---------------------------------------------------------------- devices
step_devices() {
    local out rc=0 f=$GC_OUT/devices.txt clinfo
    {
        echo "# gpu_check.sh $(date -u +%Y-%m-%dT%H:%M:%SZ) on $(uname -n)"
        if command -v nvidia-smi >/dev/null; then
            echo "## nvidia-smi"
            nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv 2>&1 || true
        fi
        if command -v rocm-smi >/dev/null; then
            echo "## rocm-smi"
            rocm-smi --showproductname 2>&1 || true
        fi
        clinfo=$(find_clinfo)
        if [[ -n $clinfo ]]; then
            echo "## clinfo -l"
            "$clinfo" -l 2>&1 || true
        fi
        echo "## CLVIT_DEVICE=$GC_DEVICE clvit devices"
        CLVIT_DEVICE=$GC_DEVICE "$GC_BUILD/clvit" devices 2>&1 || true
    } >"$f"
    cat "$f"
    # the device --device selects, opened and used: clvit-bench's copy kernel, checked
    echo "+ clvit-bench --device $GC_DEVICE --sections memory --quick --mem-mib 1"
    bench_env
    out=$("$GC_BUILD/clvit-bench" --device "$GC_DEVICE" --sections memory --quick --mem-mib 1 \
        --output "$GC_STATE/probe.json" 2>&1) || rc=$?
    printf '%s\n' "$out" | grep -E '^clvit-bench: |copy_kernel' || true
    local dev
    dev=$(sed -n 's/^clvit-bench: device \[[0-9]*\] //p' <<<"$out" | head -1)
    if ((rc)) || [[ -z $dev ]]; then
        echo "gpu_check: error: no working OpenCL device for --device $GC_DEVICE (clvit-bench exit $rc)"
        note "no working OpenCL device for '$GC_DEVICE'"
        exit 1
    fi
    echo "## selected by --device $GC_DEVICE: $dev" >>"$f"
    note "$dev"
}

# ---------------------------------------------------------------- tests
step_tests() {
    local ctest t
    ctest="$(dirname "$(pick_cmake)")/ctest"
    [[ -x $ctest ]] || ctest=$(command -v ctest)
    t=$(step_left)
    export CLVIT_DEVICE=$GC_DEVICE CLVIT_CACHE_DIR=$GC_BUILD/cache
    if [[ -n ${GC_PREFIX_LIBDIRS:-} ]]; then
        # tests/cli_api_example.sh compiles the README's example with a plain `cc ... -lclblast
        # -lOpenCL ...`: the compiler's own search paths, extended here into the bundle
        export LIBRARY_PATH="$GC_PREFIX_LIBDIRS${LIBRARY_PATH:+:$LIBRARY_PATH}"
        export CPATH="$GC_PREFIX/usr/include${CPATH:+:$CPATH}"
    fi
    local args=(--output-on-failure -j "$GC_TEST_JOBS" --timeout "$t")
    [[ -n $GC_TESTS_REGEX ]] && args+=(-R "$GC_TESTS_REGEX")
    echo "+ cd $GC_BUILD && CLVIT_DEVICE=$GC_DEVICE ctest ${args[*]}"
    local rc=0 log=$GC_STATE/ctest.out
    (cd "$GC_BUILD" && "$ctest" "${args[@]}") 2>&1 | tee "$log" || rc=$?
    local line
    line=$(grep -E '^[0-9]+% tests passed' "$log" | tail -1 || true)
    note "${line:-no ctest summary}"
    return "$rc"
}

# ---------------------------------------------------------------- tune, bench
bench_env() {
    export CLVIT_DEVICE=$GC_DEVICE CLVIT_CACHE_DIR=$GC_BUILD/cache-bench
    unset OPENBLAS_CORETYPE OPENBLAS_L2_SIZE
}

step_tune() {
    bench_env
    echo "+ clvit-bench --device $GC_DEVICE --tune --models $GC_MODELS --batch $GC_BATCH"
    "$GC_BUILD/clvit-bench" --device "$GC_DEVICE" --tune --models "$GC_MODELS" --batch "$GC_BATCH"
    note "GEMM plan tuned for $GC_MODELS"
}

step_bench() {
    bench_env
    local args=(--device "$GC_DEVICE" --models "$GC_MODELS" --batch "$GC_BATCH"
                --output "$GC_OUT/bench_clvit.json")
    if [[ $GC_BENCH == light ]]; then
        args+=(--sections "memory,infer" --reps 5 --max-time 5)
    fi   # full: every section clvit-bench has
    echo "+ clvit-bench ${args[*]}"
    "$GC_BUILD/clvit-bench" "${args[@]}"
    note "bench_clvit.json ($GC_BENCH)"
}

# ---------------------------------------------------------------- torch
step_torch() {
    # PyTorch runs with the machine's own libraries, not the bundle's
    export LD_LIBRARY_PATH=${GC_ORIG_LD_LIBRARY_PATH:-}
    [[ -z $LD_LIBRARY_PATH ]] && unset LD_LIBRARY_PATH
    local py=$GC_PYTHON ver
    if ! command -v "$py" >/dev/null; then
        echo "no $py: PyTorch baseline not run"; note "no $py"; exit 3
    fi
    if ! ver=$("$py" -c 'import torch; print(torch.__version__)' 2>/dev/null); then
        echo "$py has no PyTorch: baseline not run"; note "no PyTorch for $py"; exit 3
    fi
    if [[ $GC_TORCH_DEVICE == cuda ]] &&
        ! "$py" -c 'import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)' 2>/dev/null; then
        echo "PyTorch $ver sees no CUDA device: baseline not run"; note "PyTorch $ver: no CUDA device"; exit 3
    fi
    local args=(--device "$GC_TORCH_DEVICE" --models "$GC_MODELS" --batch "$GC_BATCH"
                -o "$GC_OUT/bench_torch.json")
    if [[ $GC_BENCH == full ]]; then
        args+=(--sections "memory,gemm,infer")
    else
        args+=(--sections "memory,infer" --reps 5 --max-time 5)
    fi
    echo "+ $py bench/baseline_torch.py ${args[*]}"
    PYTHONUNBUFFERED=1 "$py" "$GC_ROOT/bench/baseline_torch.py" "${args[@]}"
    note "bench_torch.json (PyTorch $ver, $GC_TORCH_DEVICE)"
}

# ---------------------------------------------------------------- compare
step_compare() {
    echo "+ clvit-bench --compare bench_torch.json bench_clvit.json (above 1: clvit faster)"
    "$GC_BUILD/clvit-bench" --compare "$GC_OUT/bench_torch.json" "$GC_OUT/bench_clvit.json" |
        tee "$GC_OUT/compare.txt"
    note "compare.txt: speedup of clvit over PyTorch per row"
}

# ================================================================ the driver

GC_VARS=(GC_ROOT GC_SELF GC_DEBS GC_OUT GC_BUILD GC_PREFIX GC_ICD_DIR GC_STATE GC_LOG GC_VENDOR
         GC_ICD_LIB GC_DEVICE GC_JOBS GC_TEST_JOBS GC_TESTS_REGEX GC_BENCH GC_MODELS GC_BATCH
         GC_PYTHON GC_TORCH_DEVICE GC_WERROR GC_ORIG_LD_LIBRARY_PATH GC_STEP GC_STEP_DEADLINE)

declare -A STATUS=() SECONDS_USED=() NOTE=()
STEP_ORDER=()

# name, longest and shortest useful time (s), the steps it needs, what it does
step_meta() {
    case $1 in
        deps) echo "120 30 - unpack the .debs" ;;
        icd) echo "60 10 - register the vendor's OpenCL driver" ;;
        build) echo "420 60 deps build clvit (Release)" ;;
        devices) echo "60 15 build,icd list the OpenCL devices, check --device" ;;
        tests) echo "360 60 devices run the test suite on the device" ;;
        tune) echo "240 30 devices tune the GEMM plan (clvit-bench --tune)" ;;
        bench) [[ $GC_BENCH == full ]] && echo "540 120 devices clvit-bench, every section" ||
            echo "240 40 devices clvit-bench: memory and inference" ;;
        torch) echo "240 40 - PyTorch baseline (bench/baseline_torch.py)" ;;
        compare) echo "30 5 bench,torch clvit-bench --compare" ;;
    esac
}

run_step() {
    local name=$1 idx=$2 total=$3 cap min needs what left reserve t later dep rc start
    read -r cap min needs what <<<"$(step_meta "$name")"
    # a step that needs one that failed or did not run is not run
    if [[ $needs != - ]]; then
        for dep in ${needs//,/ }; do
            [[ -n ${STATUS[$dep]:-} ]] || continue
            case ${STATUS[$dep]} in
                ok) ;;
                skipped) [[ $dep == icd ]] || { STATUS[$name]=skipped; NOTE[$name]="$dep was skipped"; } ;;
                failed) STATUS[$name]=blocked; NOTE[$name]="needs $dep, which failed" ;;
                *) STATUS[$name]=blocked; NOTE[$name]="needs $dep, which did not run" ;;
            esac
        done
        if [[ -n ${STATUS[$name]:-} ]]; then
            say "== [$idx/$total] $name: not run (${NOTE[$name]})"
            SECONDS_USED[$name]=0
            return
        fi
    fi
    left=$((GC_T0 + GC_BUDGET - $(now)))
    reserve=0
    for later in "${STEP_ORDER[@]:idx}"; do
        read -r _ t _ <<<"$(step_meta "$later")"
        reserve=$((reserve + t))
    done
    # what is left after the later steps' shortest times, at least this step's shortest time
    # (earlier steps first: the later ones need them), at most its longest
    t=$((left - reserve))
    ((t < min)) && t=$min
    ((t > cap)) && t=$cap
    ((t > left)) && t=$left
    if ((left < min)); then
        STATUS[$name]="not run"
        NOTE[$name]="time budget: ${left} s left of --budget $GC_BUDGET, this step needs ${min} s"
        SECONDS_USED[$name]=0
        say "== [$idx/$total] $name: not run (${NOTE[$name]})"
        return
    fi
    say "== [$idx/$total] $name: $what (limit ${t} s)"
    start=$(now)
    GC_STEP=$name
    GC_STEP_DEADLINE=$((start + t))
    export "${GC_VARS[@]}"
    rm -f "$GC_STATE/$name.note"
    set +e
    timeout -k 10 "$t" bash "$GC_SELF" --internal-step "$name" 2>&1 | tee -a "$GC_LOG"
    rc=${PIPESTATUS[0]}
    set -e
    SECONDS_USED[$name]=$(($(now) - start))
    NOTE[$name]=$(cat "$GC_STATE/$name.note" 2>/dev/null || true)
    case $rc in
        0) STATUS[$name]=ok ;;
        3) STATUS[$name]=skipped ;;
        124 | 137) STATUS[$name]=failed; NOTE[$name]="timed out after $t s${NOTE[$name]:+; ${NOTE[$name]}}" ;;
        *) STATUS[$name]=failed; NOTE[$name]="exit $rc${NOTE[$name]:+; ${NOTE[$name]}}" ;;
    esac
    if [[ ${STATUS[$name]} != failed && -s $GC_STATE/$name.env ]]; then
        # shellcheck disable=SC1090 # written by the step above
        source "$GC_STATE/$name.env"
    fi
    say "-- $name: ${STATUS[$name]} in ${SECONDS_USED[$name]} s${NOTE[$name]:+ - ${NOTE[$name]}}"
}

json_str() {
    local s=$1
    s=${s//\\/\\\\}
    s=${s//\"/\\\"}
    s=${s//$'\t'/ }
    s=${s//$'\n'/ }
    printf '"%s"' "$s"
}

write_summary() {
    local rc=$1 name first=1 commit
    commit=$(git -C "$GC_ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)
    if [[ $commit != unknown && -n $(git -C "$GC_ROOT" status --porcelain --untracked-files=no 2>/dev/null) ]]; then
        commit+="+changes"
    fi
    {
        echo "{"
        echo "  \"schema\": \"clvit-gpu-check/1\","
        echo "  \"timestamp\": $(json_str "$(date -u +%Y-%m-%dT%H:%M:%SZ)"),"
        echo "  \"host\": $(json_str "$(uname -n)"), \"os\": $(json_str "$(uname -srm)"),"
        echo "  \"commit\": $(json_str "$commit"),"
        echo "  \"device\": $(json_str "$GC_DEVICE"), \"vendor\": $(json_str "$GC_VENDOR"),"
        echo "  \"bench\": $(json_str "$GC_BENCH"), \"models\": $(json_str "$GC_MODELS"), \"batch\": $(json_str "$GC_BATCH"),"
        echo "  \"budget_s\": $GC_BUDGET, \"seconds\": $(($(now) - GC_T0)), \"exit_status\": $rc,"
        echo "  \"steps\": ["
        for name in "${STEP_ORDER[@]}"; do
            ((first)) || echo ","
            first=0
            printf '    {"step": %s, "status": %s, "seconds": %s, "note": %s}' "$(json_str "$name")" \
                "$(json_str "${STATUS[$name]:-not run}")" "${SECONDS_USED[$name]:-0}" "$(json_str "${NOTE[$name]:-}")"
        done
        echo
        echo "  ]"
        echo "}"
    } >"$GC_OUT/summary.json"
    say ""
    say "== summary ($(($(now) - GC_T0)) s, results in $GC_OUT)"
    for name in "${STEP_ORDER[@]}"; do
        say "$(printf '  %-8s %-8s %4s s  %s' "$name" "${STATUS[$name]:-not run}" "${SECONDS_USED[$name]:-0}" "${NOTE[$name]:-}")"
    done
}

main() {
    local fetch=0 icd_only=0 tests=1 tune=0 torch=1
    GC_FETCH_CMAKE=1
    GC_DEBS=$GC_ROOT/.debs
    GC_OUT=${OUT:-$GC_ROOT/gpu-results}
    GC_BUILD=$GC_ROOT/build-gpu
    GC_VENDOR=auto GC_ICD_LIB="" GC_DEVICE=gpu GC_JOBS=$(nproc) GC_TEST_JOBS=4 GC_TESTS_REGEX=""
    GC_BENCH=light GC_MODELS=$DEFAULT_MODELS GC_BATCH=$DEFAULT_BATCH GC_PYTHON=python3
    GC_TORCH_DEVICE=cuda GC_WERROR=0 GC_BUDGET=540
    local valued=" --out --debs --build-dir --vendor --icd-lib --device --jobs --test-jobs
                   --tests-regex --bench --models --batch --python --torch-device --budget "
    while (($#)); do
        local opt=$1 val="" has=0
        if [[ $opt == --*=* ]]; then val=${opt#*=}; opt=${opt%%=*}; has=1; fi
        if [[ $valued == *[[:space:]]"$opt"[[:space:]]* ]]; then
            if ((!has)); then
                (($# > 1)) || die_usage "$opt needs a value"
                val=$2
                shift
            fi
        elif ((has)); then
            die_usage "$opt takes no value"
        fi
        case $opt in
            -h | --help) usage; exit 0 ;;
            --fetch-debs) fetch=1 ;;
            --no-cmake) GC_FETCH_CMAKE=0 ;;
            --icd-only) icd_only=1 ;;
            --no-tests) tests=0 ;;
            --tune) tune=1 ;;
            --no-torch) torch=0 ;;
            --werror) GC_WERROR=1 ;;
            --out) GC_OUT=$(abspath "$val") ;;
            --debs) GC_DEBS=$(abspath "$val") ;;
            --build-dir) GC_BUILD=$(abspath "$val") ;;
            --vendor) GC_VENDOR=$val
                [[ $val =~ ^(auto|nvidia|amd|none)$ ]] || die_usage "--vendor: auto, nvidia, amd or none, not '$val'" ;;
            --icd-lib) GC_ICD_LIB=$(abspath "$val") ;;
            --device) GC_DEVICE=$val ;;
            --jobs) GC_JOBS=$val ;;
            --test-jobs) GC_TEST_JOBS=$val ;;
            --tests-regex) GC_TESTS_REGEX=$val ;;
            --bench) GC_BENCH=$val
                [[ $val =~ ^(light|full|none)$ ]] || die_usage "--bench: light, full or none, not '$val'" ;;
            --models) GC_MODELS=$val ;;
            --batch) GC_BATCH=$val ;;
            --python) GC_PYTHON=$val ;;
            --torch-device) GC_TORCH_DEVICE=$val
                [[ $val =~ ^(cuda|cpu)$ ]] || die_usage "--torch-device: cuda or cpu, not '$val'" ;;
            --budget) GC_BUDGET=$val ;;
            *) die_usage "unknown option '$1'" ;;
        esac
        shift
    done
    local v
    for v in GC_JOBS GC_TEST_JOBS GC_BUDGET; do
        local o=${v#GC_}
        o=${o,,}
        [[ ${!v} =~ ^[1-9][0-9]*$ ]] || die_usage "--${o//_/-}: '${!v}' is not a positive integer"
    done
    [[ $GC_OUT == /* ]] || GC_OUT=$(abspath "$GC_OUT")
    if ((fetch)); then
        fetch_debs
        exit 0
    fi

    GC_PREFIX=$GC_BUILD/deps
    GC_ICD_DIR=$GC_BUILD/opencl-vendors
    GC_STATE=$GC_BUILD/gpu_check-state
    GC_ORIG_LD_LIBRARY_PATH=${LD_LIBRARY_PATH:-}
    GC_T0=$(now)
    mkdir -p "$GC_OUT" "$GC_STATE"
    rm -f "$GC_STATE"/*.note "$GC_STATE"/*.env
    GC_LOG=$GC_OUT/gpu_check.log
    : >"$GC_LOG"
    say "gpu_check.sh: clvit on a GPU, $(date -u +%Y-%m-%dT%H:%M:%SZ), $(uname -n)"
    say "  results: $GC_OUT; debs: $GC_DEBS; build: $GC_BUILD; device: $GC_DEVICE; vendor: $GC_VENDOR; budget: $GC_BUDGET s"

    STEP_ORDER=(deps icd)
    if ((!icd_only)); then
        STEP_ORDER+=(build devices)
        ((tests)) && STEP_ORDER+=(tests)
        [[ $GC_BENCH != none ]] && ((tune)) && STEP_ORDER+=(tune)
        [[ $GC_BENCH != none ]] && STEP_ORDER+=(bench)
        [[ $GC_BENCH != none ]] && ((torch)) && STEP_ORDER+=(torch compare)
    fi
    local i=0 name
    for name in "${STEP_ORDER[@]}"; do
        i=$((i + 1))
        run_step "$name" "$i" "${#STEP_ORDER[@]}"
    done

    local failed=() rc=0
    for name in "${STEP_ORDER[@]}"; do
        case ${STATUS[$name]:-not run} in ok | skipped) ;; *) failed+=("$name: ${STATUS[$name]:-not run}") ;; esac
    done
    ((${#failed[@]})) && rc=1
    write_summary "$rc"
    if ((rc)); then
        local list
        list=$(printf '%s, ' "${failed[@]}")
        say "gpu_check: FAILED: ${list%, }"
    else
        say "gpu_check: all steps passed or were skipped"
    fi
    exit "$rc"
}

if [[ ${1:-} == --internal-step ]]; then
    cd "$GC_ROOT"
    "step_$2"
    exit 0
fi
main "$@"
