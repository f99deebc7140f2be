#!/usr/bin/env bash
# Builds the libFuzzer harnesses (clang, ASan + UBSan, host only) and runs each for SECONDS
# (default 60) from its committed corpus plus the test fixtures and the hostile corpus
# (tests/hostile), with its dictionary (tests/fuzz/<format>.dict), merging new interesting inputs
# back into tests/fuzz/corpus/<target>. Any crash, leak or timeout fails the script. Prints the
# executions and the coverage (libFuzzer's cov: edges, ft: features) each harness reached.
#   tools/fuzz.sh [SECONDS] [TARGET...]      targets: npy safetensors safetensors_struct spec
# FUZZ_KEEP_GOING=1: run past crashes (libFuzzer -fork=1 -ignore_crashes=1), each saved as
# $build/crash-*, so that a known bug does not end the search for others; fails at the end if
# any was found.
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-60}
shift || true
targets=("$@")
[ ${#targets[@]} -eq 0 ] && targets=(npy safetensors safetensors_struct spec)
build=${FUZZ_BUILD:-build-fuzz}
if [ ! -d "$build/meson-private" ]; then
  CC=clang meson setup "$build" -Dfuzz=true -Dtests=false -Dtools=false -Dopencl=disabled \
    -Db_sanitize=address,undefined -Db_lundef=false -Dc_args="-fsanitize=fuzzer-no-link -fno-sanitize-recover=all"
fi
meson compile -C "$build"
export ASAN_OPTIONS=allocator_may_return_null=1:detect_leaks=1
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
keep=()
[ "${FUZZ_KEEP_GOING:-0}" = 1 ] && keep=(-fork=1 -ignore_crashes=1)
rm -f "$build"/crash-*
for t in "${targets[@]}"; do
  corpus=tests/fuzz/corpus/$t
  mkdir -p "$corpus"
  seeds=()
  dict=()
  case $t in
    npy) seeds=(tests/fixtures/npy/good tests/fixtures/npy/bad tests/hostile); dict=(-dict=tests/fuzz/npy.dict) ;;
    safetensors) seeds=(tests/fixtures/safetensors tests/fixtures/safetensors/bad tests/hostile)
                 dict=(-dict=tests/fuzz/safetensors.dict) ;;
    safetensors_struct | spec) ;; # the struct harness writes the format itself; specs are short strings
  esac
  work=$(mktemp -d)
  echo "fuzz_$t: $secs s"
  log=$(mktemp)
  set +e
  "$build/tests/fuzz/fuzz_$t" -max_total_time="$secs" -max_len=4096 -rss_limit_mb=2048 -timeout=10 \
    -print_final_stats=1 -artifact_prefix="$build/" "${keep[@]}" "${dict[@]}" "$work" "$corpus" "${seeds[@]}" > "$log" 2>&1
  rc=$?
  set -e
  tail -n 25 "$log"
  # the last status line: executions and coverage reached
  echo "fuzz_$t summary: $(grep -E '^#[0-9]+' "$log" | tail -n 1)"
  grep -E 'SUMMARY: |^stat::number_of_executed_units' "$log" | sort | uniq -c || true
  rm -f "$log"
  [ "$rc" -eq 0 ] || [ ${#keep[@]} -gt 0 ] || { echo "fuzz_$t failed (exit $rc)"; exit "$rc"; }
  # keep the inputs that add coverage
  "$build/tests/fuzz/fuzz_$t" -merge=1 "$corpus" "$work" > /dev/null 2>&1
  rm -rf "$work"
done
crashes=$(find "$build" -maxdepth 1 -name 'crash-*' | wc -l)
[ "$crashes" -eq 0 ] || { echo "fuzz.sh: $crashes crashing inputs in $build/crash-*"; exit 1; }
