#!/usr/bin/env bash
# Installs everything clt needs to build, test and run on Debian 12 / Ubuntu 22.04 or newer:
# compiler, meson, the OpenCL ICD loader and headers, PoCL (the CPU OpenCL device), CLBlast,
# OpenBLAS, Jansson, Check and valgrind. Uses sudo when not run as root.
set -euo pipefail
packages=(
  build-essential pkg-config meson ninja-build python3
  ocl-icd-opencl-dev opencl-c-headers pocl-opencl-icd clinfo
  libclblast-dev libopenblas-dev libjansson-dev
  check valgrind
)
run() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }
export DEBIAN_FRONTEND=noninteractive
run apt-get update -q
run env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${packages[@]}"
