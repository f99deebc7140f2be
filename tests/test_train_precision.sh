#!/bin/sh
# clt-train --precision: a short run in each of fp32, bf16, fp16 and fp64 trains (the loss falls over
# the epochs, test accuracy well above chance) on the host and on OpenCL; the summary names the
# precision and the loss scaler's state (fp16: a scale, none for the others); a first scale too
# large for float16 makes fp16 skip steps and back off, and the run still trains; unknown
# values fail clearly; fp64 ends where it does on the other device (1e-7 relative, the summary's
# 9 digits: float64's rounding, unlike float32's, does not move 4 epochs apart) and --save writes float64; with MPI, fp16 --distributed on 2 ranks ends where one process does.
# usage: test_train_precision.sh CLT_TRAIN [MPIRUN]
set -eu
train=$1
mpirun=${2:-}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
# The last value of a field (numeric, or a JSON string's text); a missing one fails.
field() {
  v=$(sed -n "s/.*\"$2\": \"*\([-0-9a-z.e+]*\).*/\1/p" "$1" | tail -n 1)
  [ -n "$v" ] || fail "no field $2 in $1: $(cat "$1")"
  echo "$v"
}
check() { # AWK-CONDITION MESSAGE
  awk "BEGIN { exit !($1) }" || fail "$2"
}

devices=host
if "$train" --device cl --epochs 0 --quiet > /dev/null 2>&1; then devices="host cl"
elif [ "${CLT_REQUIRE_DEVICE:-0}" = 1 ]; then fail "no OpenCL device and CLT_REQUIRE_DEVICE=1"
fi

for dev in $devices; do
  for p in fp32 bf16 fp16 fp64; do
    out="$tmp/$dev-$p.json"
    if [ "$p" = fp64 ] && ! "$train" --device "$dev" --precision fp64 --epochs 0 --quiet > /dev/null 2> "$tmp/err"; then
      grep -q "lacks fp64" "$tmp/err" || fail "--precision fp64 on $dev: $(cat "$tmp/err")"
      echo "$dev fp64: skipped, the device has no float64"
      continue
    fi
    "$train" --device "$dev" --precision "$p" --epochs 4 --json > "$out" || fail "--precision $p on $dev"
    [ "$(field "$out" precision)" = "$p" ] || fail "$dev $p: the summary says precision $(field "$out" precision)"
    first=$(sed -n 's/.*"epoch": 1, "loss": \([0-9.e+-]*\).*/\1/p' "$out")
    last=$(field "$out" final_loss)
    acc=$(field "$out" test_acc)
    scale=$(field "$out" loss_scale)
    skipped=$(field "$out" skipped_steps)
    check "$last < 0.7 * $first" "$dev $p: the loss went from $first to $last"
    check "$acc >= 0.8" "$dev $p: test accuracy $acc"
    if [ "$p" = fp16 ]; then
      check "$scale == 65536 && $skipped == 0" "$dev fp16: loss scale $scale, $skipped skipped steps (want 65536, 0)"
    else
      check "$scale == 1 && $skipped == 0" "$dev $p: loss scale $scale, $skipped skipped steps (want no scaler)"
    fi
    echo "$dev $p: loss $first -> $last, test accuracy $acc, loss scale $scale"
  done
  # 2^30 overflows float16 in the backward (gradients of the logits reach it times the scale):
  # those steps are skipped and the scale halves until they fit
  out="$tmp/$dev-big.json"
  "$train" --device "$dev" --precision fp16 --loss-scale 1073741824 --epochs 4 --json --quiet > "$out" ||
    fail "--loss-scale on $dev"
  scale=$(field "$out" loss_scale)
  skipped=$(field "$out" skipped_steps)
  acc=$(field "$out" test_acc)
  check "$skipped >= 5 && $skipped < 40 && $scale == 1073741824 / 2 ^ $skipped" \
    "$dev fp16 from 2^30: $skipped skipped steps, scale $scale"
  check "$acc >= 0.7" "$dev fp16 from 2^30: test accuracy $acc"
  echo "$dev fp16 from scale 2^30: $skipped steps skipped, scale $scale, test accuracy $acc"
done

# fp64: host and OpenCL end at the same loss; the saved weights are float64
if [ "$devices" = "host cl" ] && [ -f "$tmp/cl-fp64.json" ]; then
  a=$(field "$tmp/host-fp64.json" final_loss)
  b=$(field "$tmp/cl-fp64.json" final_loss)
  check "($a - $b) ^ 2 <= (1e-7 * $a) ^ 2" "fp64: final loss $a on host, $b on OpenCL"
  echo "fp64: final loss $a on host, $b on OpenCL"
fi
"$train" --device host --precision fp64 --epochs 1 --quiet --save "$tmp/w64.safetensors" || fail "fp64 --save"
grep -q '"dtype":"F64"' "$tmp/w64.safetensors" || fail "fp64 --save: the header names no F64 tensor"
grep -q '"dtype":"F32"' "$tmp/w64.safetensors" && fail "fp64 --save: a float32 tensor in the file"

# refused, with the reason
bad() { # EXPECTED-TEXT ARGS...
  want=$1
  shift
  if "$train" --device host --epochs 0 "$@" > "$tmp/out" 2> "$tmp/err"; then fail "accepted: $*"; fi
  grep -q -- "$want" "$tmp/err" || fail "$*: the message should say '$want': $(cat "$tmp/err")"
}
bad "unknown --precision 'fp8': fp32, bf16, fp16 or fp64" --precision fp8
# a checkpoint's precision: fp64's float64 weights do not resume an fp32 run, nor the reverse
"$train" --device host --precision fp64 --epochs 1 --quiet --checkpoint "$tmp/ck64.safetensors" > /dev/null ||
  fail "fp64 --checkpoint"
"$train" --device host --epochs 1 --quiet --checkpoint "$tmp/ck32.safetensors" > /dev/null || fail "fp32 --checkpoint"
bad "holds float64 weights (saved by --precision fp64); this run's are float32" --resume "$tmp/ck64.safetensors"
bad "holds float32 weights (not saved by --precision fp64); this run's are float64" --precision fp64 \
  --resume "$tmp/ck32.safetensors"
bad "bad or missing value for --precision" --precision
bad "--loss-scale goes with --precision fp16" --precision bf16 --loss-scale 1024
bad "--loss-scale goes with --precision fp16" --loss-scale 1024
bad "bad or missing value for --loss-scale" --precision fp16 --loss-scale 0

# --distributed: the masters stay float32, so the gradients' allreduce is float32's; a step with
# inf on one rank is inf on all after it, so the ranks skip together
if [ -n "$mpirun" ] && [ "${CLT_TEST_VALGRIND:-0}" != 1 ]; then
  export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OPENBLAS_NUM_THREADS=1
  export OMPI_MCA_btl_vader_single_copy_mechanism="${OMPI_MCA_btl_vader_single_copy_mechanism:-none}"
  args="--device host --precision fp16 --epochs 3 --json --quiet"
  "$train" $args > "$tmp/one.json" || fail "fp16 in one process"
  # Open MPI keeps allocations until exit (tests/test_dist.sh): no leak checks for the ranks
  ASAN_OPTIONS="${ASAN_OPTIONS:-}:detect_leaks=0" "$mpirun" --oversubscribe --timeout 300 -np 2 "$train" $args \
    --distributed > "$tmp/two.json" || fail "fp16 --distributed on 2 ranks"
  l1=$(field "$tmp/one.json" final_loss)
  l2=$(field "$tmp/two.json" final_loss)
  check "($l1 - $l2) ^ 2 <= (1e-3 * $l1) ^ 2" "fp16 --distributed: final loss $l2, one process $l1"
  [ "$(field "$tmp/two.json" precision)" = fp16 ] || fail "fp16 --distributed: the summary's precision"
  echo "fp16 on 2 ranks: final loss $l2 (one process $l1)"
fi
echo "ok"
