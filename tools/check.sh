#!/usr/bin/env bash
# Builds clt and runs the whole test suite three ways: plain; under valgrind (zero bytes lost in
# clt code); and built with AddressSanitizer + UndefinedBehaviorSanitizer. This is the README's
# test command and what CI runs.
#   BUILD=dir      build directory (default build-check; the sanitizer build goes to dir-asan)
#   WERROR=1       treat warnings as errors (CI)
#   CLT_REQUIRE_DEVICE=1   fail, instead of skipping, when no OpenCL device is found (CI)
set -euo pipefail
cd "$(dirname "$0")/.."
build=${BUILD:-build-check}
opts=(--buildtype=debugoptimized)
[ "${WERROR:-0}" = 1 ] && opts+=(--werror)

setup() { # dir, options...
  local dir=$1
  shift
  if [ -d "$dir/meson-private" ]; then
    meson setup --reconfigure "$dir" "$@"
  else
    meson setup "$dir" "$@"
  fi
}

setup "$build" "${opts[@]}"
meson compile -C "$build"
meson test -C "$build" --print-errorlogs
meson test -C "$build" --setup valgrind --print-errorlogs
valgrind --error-exitcode=1 --leak-check=full --errors-for-leak-kinds=definite,indirect \
  --suppressions=tests/valgrind.supp -q "$build/tools/clt-train" --device host --epochs 2 --quiet

setup "$build-asan" "${opts[@]}" -Db_sanitize=address,undefined -Db_lundef=false \
  -Dc_args=-fno-sanitize-recover=all
meson compile -C "$build-asan"
meson test -C "$build-asan" --setup asan --print-errorlogs
echo "check.sh: all tests passed plain, under valgrind, and with ASan + UBSan"
