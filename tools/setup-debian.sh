#!/usr/bin/env bash
# Installs everything clt needs to build, test and run on Debian 12 / Ubuntu 22.04 or newer:
# compiler, meson, the OpenCL ICD loader and headers, PoCL (the CPU OpenCL device), CLBlast,
# OpenBLAS and oneDNN (the CPU's float32 GEMM: the faster one, measured at run time), Jansson,
# DLPack's header, Check, valgrind, Open MPI (training on several processes, clt/dist.h), NumPy
# and pytest (the Python package's tests), Doxygen (the docs target's API reference);
# and for tools/check.sh's reliability checks, clang with its libFuzzer runtime and Oclgrind. Uses
# sudo when not run as root.
#   tools/setup-debian.sh --cross   also what tools/cross-check.sh needs (as CI runs it): mingw-w64
#                                   and wine64, the i686, s390x and arm64 cross compilers,
#                                   qemu-user, and (on Debian, through multiarch) the i386 and
#                                   s390x Jansson and C library the emulated tests load
set -euo pipefail
packages=(
  build-essential pkg-config meson ninja-build python3
  ocl-icd-opencl-dev opencl-c-headers pocl-opencl-icd clinfo
  libclblast-dev libopenblas-dev libdnnl-dev libjansson-dev libdlpack-dev
  python3-numpy python3-pytest
  check valgrind doxygen
  libopenmpi-dev openmpi-bin
  clang oclgrind
)
run() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }
export DEBIAN_FRONTEND=noninteractive
# A mirror caught mid-sync fails `apt-get update` for one index (seen in CI: "File has unexpected
# size ... Mirror sync in progress?"), often one of a foreign architecture clt does not use. Try
# again a few times (30 s of waiting in all: CI runs this twice and must fit in 30 minutes); then go on with the indexes that did arrive, and let the install say whether
# what clt needs is missing.
update() {
  for try in 1 2 3; do
    if run apt-get update -q; then break; fi
    if [ "$try" -eq 3 ]; then echo "setup-debian.sh: apt-get update failed 3 times; installing from the indexes it has" >&2; break; fi
    sleep $((try * 10))
  done
}
update
run env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${packages[@]}"
# libFuzzer's runtime ships in the libclang-rt package of the installed clang's version (Debian
# 12 and Ubuntu 22.04: 14); older releases carry it in libclang-common-N-dev, installed with clang.
ver=$(clang --version | sed -n 's/.*clang version \([0-9]*\).*/\1/p' | head -1)
if [ -n "$ver" ] && apt-cache show "libclang-rt-$ver-dev" >/dev/null 2>&1; then
  run env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "libclang-rt-$ver-dev"
fi
if [ "${1:-}" = --cross ]; then
  cross=(gcc-mingw-w64-x86-64-posix wine64 gcc-i686-linux-gnu gcc-s390x-linux-gnu gcc-aarch64-linux-gnu qemu-user)
  # Ubuntu keeps s390x in another archive (ports): there the emulated tests use the cross
  # compilers' own C library (tools/cross-check.sh sets QEMU_LD_PREFIX) and build without Jansson
  if grep -qx 'ID=debian' /etc/os-release 2>/dev/null; then
    run dpkg --add-architecture i386
    run dpkg --add-architecture s390x
    update
    cross+=(libjansson-dev:i386 libjansson-dev:s390x)
  fi
  run env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${cross[@]}"
fi
