#!/usr/bin/env bash
# Builds clt and runs the whole test suite, then the same suite under valgrind (zero bytes
# lost in clt code). This is the README's test command and what CI runs.
#   BUILD=dir      build directory (default build-check)
#   WERROR=1       treat warnings as errors (CI)
#   CLT_REQUIRE_DEVICE=1   fail, instead of skipping, when no OpenCL device is found (CI)
set -euo pipefail
cd "$(dirname "$0")/.."
build=${BUILD:-build-check}
opts=(--buildtype=debugoptimized)
[ "${WERROR:-0}" = 1 ] && opts+=(--werror)
if [ -d "$build/meson-private" ]; then
  meson setup --reconfigure "$build" "${opts[@]}"
else
  meson setup "$build" "${opts[@]}"
fi
meson compile -C "$build"
meson test -C "$build" --print-errorlogs
meson test -C "$build" --setup valgrind --print-errorlogs
echo "check.sh: all tests passed, and passed again under valgrind"
