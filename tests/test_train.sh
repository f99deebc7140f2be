#!/bin/sh
# clt-train end to end: the default run learns the digits (>= 97% on the host and on PoCL, with
# the same final loss on both), weights round-trip through safetensors, --x/--y data trains,
# bad input fails clearly. usage: test_train.sh CLT_TRAIN FIXTURES_DIR
set -eu
train=$1
fixtures=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
# The last value of a numeric field; a missing or empty one fails (two missing ones compared equal
# before). Assign it (x=$(field ...)) so that the failure stops the script.
field() {
  v=$(sed -n "s/.*\"$2\": \([-0-9.e]*\).*/\1/p" "$1" | tail -n 1)
  [ -n "$v" ] || fail "no numeric field $2 in $1: $(cat "$1")"
  echo "$v"
}

"$train" --device host --json --quiet > "$tmp/host.json" || fail "the default run on the host"
acc=$(field "$tmp/host.json" test_acc)
awk "BEGIN { exit !($acc >= 0.97) }" || fail "host test accuracy $acc < 0.97"
ms=$(field "$tmp/host.json" ms_per_step)
echo "host: test accuracy $acc, $ms ms per step"

if [ "${CLT_TEST_VALGRIND:-0}" != 1 ] && "$train" --device cl --epochs 0 --quiet > /dev/null 2>&1; then
  "$train" --device cl --json --quiet > "$tmp/cl.json" || fail "the default run on OpenCL"
  acc=$(field "$tmp/cl.json" test_acc)
  awk "BEGIN { exit !($acc >= 0.97) }" || fail "OpenCL test accuracy $acc < 0.97"
  l1=$(field "$tmp/host.json" final_loss)
  l2=$(field "$tmp/cl.json" final_loss)
  awk "BEGIN { d = $l1 - $l2; if (d < 0) d = -d; exit !(d <= 1e-3 * $l1) }" || fail "final loss $l2 on OpenCL, $l1 on the host"
  ms=$(field "$tmp/cl.json" ms_per_step)
  echo "OpenCL: test accuracy $acc, final loss $l2 (host $l1), $ms ms per step"
elif [ "${CLT_REQUIRE_DEVICE:-0}" = 1 ] && [ "${CLT_TEST_VALGRIND:-0}" != 1 ]; then
  fail "no OpenCL device and CLT_REQUIRE_DEVICE=1"
fi

"$train" --device host --epochs 3 --save "$tmp/w.safetensors" --log "$tmp/log.csv" --json --quiet > "$tmp/a.json" || fail "--save"
"$train" --device host --epochs 0 --load "$tmp/w.safetensors" --json --quiet > "$tmp/b.json" || fail "--load"
saved=$(field "$tmp/a.json" test_acc)
loaded=$(field "$tmp/b.json" test_acc)
[ "$saved" = "$loaded" ] || fail "loaded weights give accuracy $loaded, the saved ones $saved"
[ "$(wc -l < "$tmp/log.csv")" -eq 4 ] || fail "--log should hold a header and 3 epochs"
head -n 1 "$tmp/log.csv" | grep -q '^epoch,loss,train_acc,test_acc,samples_per_s,seconds$' || fail "--log header"

"$train" --device host --x "$fixtures/npy/blobs_x.npy" --y "$fixtures/npy/blobs_y.npy" --epochs 20 --json --quiet > "$tmp/x.json" ||
  fail "--x/--y"
acc=$(field "$tmp/x.json" test_acc)
awk "BEGIN { exit !($acc >= 0.9) }" || fail "--x/--y test accuracy $acc < 0.9"

if "$train" --device host --x "$fixtures/npy/blobs_x.npy" --y "$fixtures/npy/blobs_y_bad.npy" 2> "$tmp/err"; then
  fail "negative labels were accepted"
fi
grep -q "labels must be integers" "$tmp/err" || fail "no clear message for negative labels: $(cat "$tmp/err")"
if "$train" --device host --x "$fixtures/npy/blobs_x.npy" --y "$fixtures/npy/good/f4le_c.npy" 2> "$tmp/err"; then
  fail "mismatched --x/--y were accepted"
fi
grep -q "must be \[N, F\]" "$tmp/err" || fail "no clear message for mismatched shapes: $(cat "$tmp/err")"
if "$train" --device host --x "$fixtures/../hostile/zero_features_x.npy" --y "$fixtures/npy/blobs_y.npy" 2> "$tmp/err"; then
  fail "data with 0 features was accepted"
fi
grep -q "zero_features_x.npy has 0 features per row" "$tmp/err" || fail "no clear message for 0 features: $(cat "$tmp/err")"
set +e
"$train" --no-such-flag 2> "$tmp/err"
rc=$?
set -e
[ "$rc" -eq 2 ] || fail "an unknown flag exits with $rc, not 2"
"$train" --help | grep -q -- "--normalize" || fail "--help"
echo "clt-train: all checks passed"
