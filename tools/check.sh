#!/usr/bin/env bash
# Builds clt and runs the whole test suite three ways: plain (then a smoke of clt-bench); under
# valgrind (zero bytes lost in clt code); and built with AddressSanitizer +
# UndefinedBehaviorSanitizer; then the thread suites built with ThreadSanitizer (tools/tsan.sh).
# Then the cross builds run under wine and qemu (tools/cross-check.sh), the kernels under Oclgrind (tools/oclgrind.sh) and each fuzzer for FUZZ_SECONDS (default
# 30; tools/fuzz.sh), each skipped with a note where its tool is missing (tools/setup-debian.sh
# installs both). The last lines give each phase's time and name what ran and what did not. This is the README's test command and what CI runs.
#   BUILD=dir      build directory (default build-check; the sanitizer build goes to dir-asan)
#   WERROR=1       treat warnings as errors (CI)
#   MESON_OPTIONS  more meson setup options, space-separated (CI: -Dclblast=enabled ...)
#   CLT_REQUIRE_DEVICE=1   fail, instead of skipping, when no OpenCL device is found, and when
#                  any part cannot run (CI)
set -euo pipefail
cd "$(dirname "$0")/.."
build=${BUILD:-build-check}
opts=(--buildtype=debugoptimized)
[ "${WERROR:-0}" = 1 ] && opts+=(--werror)
read -ra extra <<< "${MESON_OPTIONS:-}"
base_opts=("${opts[@]}")
opts+=("${extra[@]}")
ran=()
skipped=()
times=()
# the minutes and seconds since the last mark, for the summary (CI must fit in 30 minutes)
last=$SECONDS
mark() { times+=("$1 $(((SECONDS - last) / 60))m$(((SECONDS - last) % 60))s"); last=$SECONDS; }
# what did not run, and why: a failure under CLT_REQUIRE_DEVICE=1
skip() {
  if [ "${CLT_REQUIRE_DEVICE:-0}" = 1 ]; then
    echo "check.sh: $1 not run: $2; CLT_REQUIRE_DEVICE=1 makes that a failure" >&2
    exit 1
  fi
  echo "check.sh: $1 not run: $2"
  skipped+=("$1")
}

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
ran+=(plain)
mark "build and plain tests"
# A smoke of clt-bench on the default device (--quick: about 30 s with PyTorch's column, 1-2
# minutes on a loaded machine): it must run and print every section, the first training step of
# a new process, and PyTorch's column where python3 imports torch; its figures are not judged
# here (shared machines are noisy; docs/PERFORMANCE.md).
timeout 300 "$build/tools/clt-bench" --quick > "$build/clt-bench-quick.txt"
for section in elementwise overhead fusion reduction norm conv attention matmul half transfer training startup; do
  grep -q "^\[$section\]" "$build/clt-bench-quick.txt" || { echo "check.sh: clt-bench printed no $section section"; exit 1; }
done
grep -q "first training step, binaries off: warm" "$build/clt-bench-quick.txt" ||
  { echo "check.sh: clt-bench --quick timed no first training step"; exit 1; }
if python3 -c "import torch" 2>/dev/null; then
  grep -q "clt/torch" "$build/clt-bench-quick.txt" || { echo "check.sh: clt-bench printed no PyTorch column"; exit 1; }
fi
mark "clt-bench smoke"
meson test -C "$build" --setup valgrind --print-errorlogs
# on CBLAS, as the suites' valgrind setup: oneDNN's JIT kernels read 32 bytes past the packing
# buffers they allocate themselves (52 reports in the digits MLP's first products, once clt-train's
# 64 x 128 x 64 products took the measured provider), which valgrind cannot tell from a bug
CLT_CPU_GEMM=cblas valgrind --error-exitcode=1 --leak-check=full --errors-for-leak-kinds=definite,indirect \
  --suppressions=tests/valgrind.supp -q "$build/tools/clt-train" --device host --epochs 2 --quiet
ran+=("under valgrind")
mark valgrind

setup "$build-asan" "${opts[@]}" -Db_sanitize=address,undefined -Db_lundef=false \
  -Dc_args=-fno-sanitize-recover=all
meson compile -C "$build-asan"
meson test -C "$build-asan" --setup asan --print-errorlogs
ran+=("with ASan + UBSan")
mark "ASan + UBSan"

# The thread suites built with ThreadSanitizer (a third build: the library's locks and atomics)
BUILD="$build-tsan" tools/tsan.sh
ran+=("the thread suites under TSan")
mark TSan

# The smallest build a user can make (no OpenCL, MPI or DLPack), warnings as errors in CI: the
# library, tools and host-device suites must build and pass without the optional parts.
setup "$build-min" "${base_opts[@]}" -Dopencl=disabled -Dclblast=disabled -Dmpi=disabled -Ddlpack=disabled -Dfuzz=false
meson compile -C "$build-min"
env -u CLT_REQUIRE_DEVICE meson test -C "$build-min" --no-suite soak --print-errorlogs
ran+=("the build without OpenCL, MPI or DLPack")
mark "build without optional parts"

# The packager's path (tools/package-check.sh): meson dist's tarball built as a release (-O3)
# with warnings as errors and its quick tests, installed under a prefix of its own and run from
# there, clt.pc's cflags, man pages, the docs target, and a configure without Check. meson dist
# needs a git checkout.
if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  tools/package-check.sh "$build"
  ran+=("the packaging check")
  mark packaging
else
  skip "the packaging check" "not a git checkout (meson dist needs one)"
fi

# The cross builds (tools/cross-check.sh): the library and the portable host-device suite for
# Windows (mingw-w64, under wine64), i686, s390x (big-endian) and arm64 built by clang (under
# qemu-user), held to the bits committed from x86-64 (tools/setup-debian.sh --cross installs them).
if command -v qemu-s390x >/dev/null || command -v x86_64-w64-mingw32-gcc-posix >/dev/null; then
  CROSS_BUILD="$build-cross" tools/cross-check.sh
  ran+=("the cross builds under wine and qemu")
  mark "cross builds"
else
  skip "the cross builds" "no cross compiler or qemu-user (tools/setup-debian.sh --cross installs them)"
fi

if command -v oclgrind >/dev/null; then
  tools/oclgrind.sh "$build"
  ran+=("the kernels under Oclgrind")
  mark Oclgrind
else
  skip "the kernels under Oclgrind" "oclgrind is not installed"
fi
if command -v clang >/dev/null; then
  FUZZ_BUILD="$build-fuzz" tools/fuzz.sh "${FUZZ_SECONDS:-30}"
  ran+=("the fuzzers")
  mark fuzzers
else
  skip "the fuzzers" "clang is not installed"
fi
summary=$(printf '%s, ' "${times[@]}")
echo "check.sh: phase times: ${summary%, } (total $((SECONDS / 60))m$((SECONDS % 60))s)"
summary=$(printf '%s, ' "${ran[@]}")
echo "check.sh: passed: ${summary%, }"
if [ ${#skipped[@]} -gt 0 ]; then
  summary=$(printf '%s, ' "${skipped[@]}")
  echo "check.sh: NOT run: ${summary%, }"
fi
