#!/usr/bin/env bash
# Runs clt's kernels under Oclgrind, the OpenCL simulator that checks every memory access, with
# --data-races --uninitialized --check-api, and fails on any report in its log (Oclgrind itself
# exits 0 whatever it finds):
#   - the elementwise suite (tests/test_ew: every op, dtype and view kind, casts, special values);
#   - tests/kernel_cases (reductions over every dim set and view kind, softmax, argmax, and the
#     gradients of cross entropy, softmax, matmul, var and logsumexp, each against the host),
#     once with each kernel variant (CLT_KERNEL_VARIANT: the CPU-shaped kernels PoCL runs, and
#     the GPU-shaped ones, work-group reductions through local memory and tiled copies, whose
#     barriers --data-races checks). Oclgrind reports itself as a GPU (and a CPU, and an
#     accelerator), so the elementwise suite runs the GPU variant's walks and copies.
# CLT_NO_MEMORY_CACHING=hold gives every tensor a buffer of its exact size that is never reused,
# so reads past a tensor's end or of bytes it never wrote are reported rather than hidden by a
# recycled buffer's old contents; "hold" rather than 1 because Oclgrind 21.10 gives a buffer
# created where a smaller one was released only the old one's extent of initialized bytes.
# Kernels build with -cl-opt-disable: Oclgrind 21.10 cannot interpret LLVM's freeze instruction,
# which the optimizer emits.
#   tools/oclgrind.sh [BUILD_DIR]     (default build-check; it must hold a configured build)
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build-check}
command -v oclgrind >/dev/null || { echo "oclgrind.sh: oclgrind is not installed" >&2; exit 1; }
meson compile -C "$build" tests/test_ew tests/kernel_cases >/dev/null
logs=$(mktemp -d)
trap 'rm -rf "$logs"' EXIT
export CLT_BINARY_CACHE=0 CK_FORK=no CLT_FIXTURES=$PWD/tests/fixtures CLT_KERNEL_SOURCES=$PWD
export CLT_CACHE_DIR=$logs/cache CLT_NO_MEMORY_CACHING=hold
# Oclgrind checks memory accesses, not rounding: the float sweeps (exp over 2M values, tanh and
# gelu over 200k) take every 64th of their values, which cut this run from 35 minutes to a few.
export CLT_TEST_SWEEP_SCALE=64
status=0
run() { # name, oclgrind checks..., -- command...
  local name=$1
  shift
  local checks=()
  while [ "$1" != -- ]; do checks+=("$1"); shift; done
  shift
  if ! oclgrind "${checks[@]}" --build-options -cl-opt-disable --log "$logs/$name.log" "$@" > "$logs/$name.out" 2>&1; then
    echo "oclgrind.sh: $name failed under Oclgrind:"; tail -20 "$logs/$name.out"; status=1
  fi
  if [ -s "$logs/$name.log" ]; then
    echo "oclgrind.sh: $name: Oclgrind reported $(grep -c 'Kernel:' "$logs/$name.log") problems; the first:"
    head -30 "$logs/$name.log"; status=1
  else
    echo "oclgrind.sh: $name: clean (${checks[*]})"
  fi
}
run elementwise --data-races --uninitialized --check-api -- "$build/tests/test_ew"
for variant in cpu gpu; do
  run reductions-and-gradients-$variant-kernels --data-races --uninitialized --check-api -- \
    env CLT_KERNEL_VARIANT=$variant "$build/tests/kernel_cases"
done
exit $status
