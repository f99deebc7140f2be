#!/bin/sh
# Training on several processes, under mpirun (tests/meson.build, suite dist):
#   test_dist.sh unit MPIRUN NP TEST_DIST
#       tests/test_dist.c on NP ranks (under valgrind's setup, each rank under valgrind)
#   test_dist.sh train MPIRUN NP CLT_TRAIN ST_COMPARE
#       clt-train --distributed on NP and 2 * NP ranks ends where one process does (final loss and
#       weights within 1e-5), and bit for bit where another run with as many ranks does
#   test_dist.sh failure MPIRUN NP CLT_TRAIN ST_COMPARE
#       a rank killed mid-training stops the others within seconds; a stopped one makes them
#       time out with a clear error; the checkpoint written before resumes the run exactly
# Each mpirun has a time limit (--timeout), so a hang fails instead of stalling. As root (CI
# containers) Open MPI must be told it may run; --oversubscribe lets ranks outnumber cores.
set -eu
part=$1
mpirun=$2
np=$3
shift 3
here=$(cd "$(dirname "$0")" && pwd)
# The valgrind setup leaves suite tools out, but `meson test --setup valgrind --suite dist` runs
# these parts too: valgrind would then watch this shell (and fail on dash's own leaks), not
# clt-train, which tools/check.sh runs under valgrind itself. So they skip there.
if [ "${CLT_TEST_VALGRIND:-0}" = 1 ] && [ "$part" != unit ]; then
  echo "test_dist.sh $part: not under valgrind (it would watch the shell; tools/check.sh runs clt-train under valgrind)"
  exit 77
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
# One BLAS thread per rank: the ranks share the cores. No single-copy (CMA) transfers between
# ranks: containers often forbid the ptrace-class calls they need, and correctness does not
# depend on them (docs/DISTRIBUTED.md).
export OPENBLAS_NUM_THREADS="${OPENBLAS_NUM_THREADS:-1}"
export OMPI_MCA_btl_vader_single_copy_mechanism="${OMPI_MCA_btl_vader_single_copy_mechanism:-none}"
valgrind_mode=${CLT_TEST_VALGRIND:-0}

# Under the asan setup: LeakSanitizer also hears about Open MPI's own allocations, kept until
# exit (tests/lsan-mpi.supp), next to the suppressions it was given. test_dist checks for leaks
# before MPI_Finalize, which unloads Open MPI's components: after it LeakSanitizer can neither
# name nor suppress what they kept. So clt-train's runs here check no leaks (check.sh runs it
# under valgrind; the library's distributed code is held to no leaks by test_dist).
case "${LSAN_OPTIONS:-}" in
*suppressions=*)
  given=$(echo "$LSAN_OPTIONS" | sed 's/.*suppressions=\([^:]*\).*/\1/')
  cat "$given" "$here/lsan-mpi.supp" > "$tmp/lsan.supp"
  export LSAN_OPTIONS="$(echo "$LSAN_OPTIONS" | sed "s|suppressions=[^:]*|suppressions=$tmp/lsan.supp|")"
  # whole stacks: an allocation of a component unloaded early is then named by its caller in
  # libopen-pal.so
  if [ "$part" = unit ]; then export ASAN_OPTIONS="${ASAN_OPTIONS:-}:fast_unwind_on_malloc=0"
  else export ASAN_OPTIONS="${ASAN_OPTIONS:-}:detect_leaks=0"; fi
  ;;
esac

mpi() { # ranks, seconds, command...
  n=$1
  limit=$2
  shift 2
  "$mpirun" --oversubscribe --timeout "$limit" -np "$n" "$@"
}

# The last value of a numeric JSON field; a missing one fails.
field() {
  v=$(sed -n "s/.*\"$2\": \([-0-9.e+]*\).*/\1/p" "$1" | tail -n 1)
  [ -n "$v" ] || fail "no numeric field $2 in $1: $(cat "$1")"
  echo "$v"
}

close() { # a b rtol what: |a - b| <= rtol |a|
  awk "BEGIN { d = $1 - $2; if (d < 0) d = -d; a = $1 < 0 ? -$1 : $1; exit !(d <= $3 * a) }" ||
    fail "$4: $2, one process $1 (more than $3 apart, relative)"
}

now() { date +%s.%N; }
elapsed() { awk "BEGIN { printf \"%.2f\", $(now) - $1 }"; }

# The ranks mpirun (pid $1) started: its children.
ranks_of() {
  grep -l "^PPid:[[:space:]]*$1\$" /proc/[0-9]*/status 2> /dev/null | sed 's|/proc/\([0-9]*\)/status|\1|' | sort -n
}

# Waits until mpirun (pid $1) has started $2 ranks; prints the last one's pid.
last_rank() {
  i=0
  while [ "$(ranks_of "$1" | wc -l)" -lt "$2" ]; do
    i=$((i + 1))
    [ $i -le 600 ] || return 1
    sleep 0.05
  done
  ranks_of "$1" | tail -n 1
}

wait_for_file() { # path, seconds
  i=0
  while [ ! -s "$1" ]; do
    i=$((i + 1))
    [ $i -le $(($2 * 20)) ] || return 1
    sleep 0.05
  done
}

case $part in
unit)
  exe=$1
  if [ "$valgrind_mode" = 1 ]; then
    supp=/usr/share/openmpi/openmpi-valgrind.supp
    set -- valgrind --leak-check=full --show-leak-kinds=definite,indirect --errors-for-leak-kinds=definite,indirect \
      --error-exitcode=1 --num-callers=40 --suppressions="$here/valgrind.supp" --suppressions="$here/valgrind-mpi.supp"
    [ -f "$supp" ] && set -- "$@" --suppressions="$supp"
    # exec: valgrind's wrapper of this script then stops watching (the shell's own leaks are not
    # clt's); each rank runs under valgrind instead
    exec "$mpirun" --oversubscribe --timeout 1500 -np "$np" "$@" "$exe"
  else # under the sanitizers (ASan's whole stacks: tens of times slower), a longer limit
    mpi "$np" "$([ -n "${ASAN_OPTIONS:-}" ] && echo 850 || echo 240)" "$exe"
  fi
  ;;

train)
  train=$1
  compare=$2
  epochs=30
  args="--device host --epochs $epochs --json --quiet"
  "$train" $args --save "$tmp/one.st" > "$tmp/one.json" || fail "one process"
  one=$(field "$tmp/one.json" final_loss)
  for n in "$np" $((2 * np)); do
    t0=$(now)
    mpi "$n" 600 "$train" $args --distributed --save "$tmp/d$n.st" > "$tmp/d$n.json" || fail "$n ranks"
    loss=$(field "$tmp/d$n.json" final_loss)
    [ "$(field "$tmp/d$n.json" world_size)" = "$n" ] || fail "rank 0 did not see $n ranks"
    close "$one" "$loss" 1e-5 "final loss on $n ranks after $epochs epochs"
    python3 "$compare" "$tmp/one.st" "$tmp/d$n.st" --rtol 1e-5 > "$tmp/cmp" || fail "weights on $n ranks: $(cat "$tmp/cmp")"
    echo "$n ranks, $epochs epochs, $(elapsed "$t0") s: final loss $loss, one process $one; $(cat "$tmp/cmp")"
  done
  # the same seed and world size give the same weights on every run, whichever thread moves the
  # buckets (this run: a communication thread, which the cores here would not get by default)
  CLT_DDP_COMM_THREAD=1 mpi "$np" 600 "$train" $args --distributed --save "$tmp/again.st" > /dev/null || fail "$np ranks again"
  python3 "$compare" "$tmp/d$np.st" "$tmp/again.st" --exact > "$tmp/cmp" || fail "a second run on $np ranks: $(cat "$tmp/cmp")"
  echo "a second run on $np ranks, with a communication thread: the same weights, bit for bit"
  # on the OpenCL device, whose tensors MPI reads through a map
  if "$train" --device cl --epochs 0 --quiet > /dev/null 2>&1; then
    cl="--device cl --epochs 10 --json --quiet"
    "$train" $cl --save "$tmp/cl1.st" > "$tmp/cl1.json" || fail "one process on OpenCL"
    mpi "$np" 600 "$train" $cl --distributed --save "$tmp/cl$np.st" > "$tmp/cl$np.json" || fail "$np ranks on OpenCL"
    close "$(field "$tmp/cl1.json" final_loss)" "$(field "$tmp/cl$np.json" final_loss)" 1e-5 "final loss on OpenCL"
    python3 "$compare" "$tmp/cl1.st" "$tmp/cl$np.st" --rtol 1e-5 > "$tmp/cmp" || fail "weights on OpenCL: $(cat "$tmp/cmp")"
    echo "OpenCL, $np ranks, 10 epochs: $(cat "$tmp/cmp")"
  elif [ "${CLT_REQUIRE_DEVICE:-0}" = 1 ]; then
    fail "no OpenCL device and CLT_REQUIRE_DEVICE=1"
  fi
  ;;

failure)
  train=$1
  compare=$2
  args="--device host --json --quiet"
  # 1. A rank killed mid-training: mpirun ends the others at once (Open MPI's own behaviour).
  "$mpirun" --oversubscribe --timeout 120 -np "$np" "$train" $args --distributed --epochs 100000 \
    --checkpoint "$tmp/ck.st" > "$tmp/kill.out" 2> "$tmp/kill.err" &
  mp=$!
  victim=$(last_rank "$mp" "$np") || fail "mpirun $mp started no $np ranks in 30 s"
  wait_for_file "$tmp/ck.st" 60 || fail "no checkpoint after 60 s: $(cat "$tmp/kill.err")"
  t0=$(now)
  kill -9 "$victim"
  rc=0
  wait "$mp" || rc=$?
  took=$(elapsed "$t0")
  [ "$rc" -ne 0 ] || fail "mpirun exited with 0 after a rank was killed"
  awk "BEGIN { exit !($took < 30) }" || fail "the other ranks ran on for $took s after one was killed"
  grep -q "signal 9" "$tmp/kill.err" || fail "no message names the killed rank: $(cat "$tmp/kill.err")"
  echo "a rank killed: mpirun ended the job in $took s (exit $rc): $(grep -m1 'signal 9' "$tmp/kill.err")"

  # 2. The checkpoint it left resumes the run: bit for bit what an uninterrupted run gives.
  cp "$tmp/ck.st" "$tmp/resume.st"
  mpi "$np" 300 "$train" $args --distributed --epochs 20 --save "$tmp/ref.st" > /dev/null || fail "the uninterrupted run"
  mpi "$np" 300 "$train" --device host --json --distributed --epochs 20 --resume "$tmp/resume.st" --save "$tmp/res.st" \
    > "$tmp/res.json" || fail "--resume"
  from=$(field "$tmp/res.json" start_epoch)
  [ "$from" -ge 1 ] && [ "$from" -lt 20 ] || fail "resumed after epoch $from: the kill came too late to test --resume"
  python3 "$compare" "$tmp/ref.st" "$tmp/res.st" --exact > "$tmp/cmp" || fail "resumed after epoch $from: $(cat "$tmp/cmp")"
  echo "resumed after epoch $from on $np ranks: the uninterrupted run's weights, bit for bit"
  # one process resumes its own checkpoints exactly too
  "$train" $args --epochs 3 --checkpoint "$tmp/ck1.st" > /dev/null || fail "a checkpoint of one process"
  "$train" $args --epochs 6 --resume "$tmp/ck1.st" --save "$tmp/res1.st" > /dev/null || fail "--resume in one process"
  "$train" $args --epochs 6 --save "$tmp/ref1.st" > /dev/null || fail "6 epochs"
  python3 "$compare" "$tmp/ref1.st" "$tmp/res1.st" --exact > "$tmp/cmp" || fail "one process resumed: $(cat "$tmp/cmp")"
  if "$train" $args --epochs 6 --batch 32 --resume "$tmp/ck1.st" 2> "$tmp/err"; then
    fail "a checkpoint of another batch size was resumed"
  fi
  grep -q "saved by a run with seed 1, batch 64" "$tmp/err" || fail "no clear message for a mismatched --resume: $(cat "$tmp/err")"

  # 3. A rank that stops answering (SIGSTOP): the others fail clearly after --timeout.
  rm -f "$tmp/ck.st"
  # (with a communication thread: the wait that times out is the caller's, after it)
  CLT_DDP_COMM_THREAD=1 "$mpirun" --oversubscribe --timeout 120 -np "$np" "$train" $args --distributed --epochs 100000 --timeout 3 \
    --checkpoint "$tmp/ck.st" > "$tmp/stop.out" 2> "$tmp/stop.err" &
  mp=$!
  victim=$(last_rank "$mp" "$np") || fail "mpirun $mp started no $np ranks in 30 s"
  wait_for_file "$tmp/ck.st" 60 || fail "no checkpoint after 60 s: $(cat "$tmp/stop.err")"
  t0=$(now)
  kill -STOP "$victim"
  rc=0
  wait "$mp" || rc=$?
  took=$(elapsed "$t0")
  kill -9 "$victim" 2> /dev/null || true # mpirun ends it; this is only in case it did not
  [ "$rc" -ne 0 ] || fail "mpirun exited with 0 after a rank stopped"
  awk "BEGIN { exit !($took < 30) }" || fail "the other ranks waited $took s for a stopped rank (timeout 3 s)"
  grep -q "did not complete within 3 s" "$tmp/stop.err" || fail "no timeout message: $(cat "$tmp/stop.err")"
  echo "a rank stopped: the others failed after $took s: $(grep -m1 'did not complete' "$tmp/stop.err")"
  ;;
*)
  fail "unknown part $part"
  ;;
esac
