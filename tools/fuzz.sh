#!/usr/bin/env bash
# Builds the libFuzzer harnesses (clang, ASan + UBSan, host only) and runs each for SECONDS
# (default 60) from its committed corpus plus the test fixtures, merging new interesting inputs
# back into tests/fuzz/corpus/<target>. Any crash, leak or timeout fails the script.
#   tools/fuzz.sh [SECONDS] [TARGET...]      targets: npy safetensors spec
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-60}
shift || true
targets=("$@")
[ ${#targets[@]} -eq 0 ] && targets=(npy safetensors spec)
build=${FUZZ_BUILD:-build-fuzz}
if [ ! -d "$build/meson-private" ]; then
  CC=clang meson setup "$build" -Dfuzz=true -Dtests=false -Dtools=false -Dopencl=disabled \
    -Db_sanitize=address,undefined -Db_lundef=false -Dc_args="-fsanitize=fuzzer-no-link -fno-sanitize-recover=all"
fi
meson compile -C "$build"
export ASAN_OPTIONS=allocator_may_return_null=1:detect_leaks=1
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
for t in "${targets[@]}"; do
  corpus=tests/fuzz/corpus/$t
  mkdir -p "$corpus"
  seeds=()
  case $t in
    npy) seeds=(tests/fixtures/npy/good tests/fixtures/npy/bad) ;;
    safetensors) seeds=(tests/fixtures/safetensors tests/fixtures/safetensors/bad) ;;
    spec) seeds=() ;;
  esac
  work=$(mktemp -d)
  echo "fuzz_$t: $secs s"
  "$build/tests/fuzz/fuzz_$t" -max_total_time="$secs" -max_len=4096 -rss_limit_mb=2048 -timeout=10 \
    -print_final_stats=1 "$work" "$corpus" "${seeds[@]}" 2>&1 | tail -n 25
  # keep the inputs that add coverage
  "$build/tests/fuzz/fuzz_$t" -merge=1 "$corpus" "$work" > /dev/null 2>&1
  rm -rf "$work"
done
