#!/usr/bin/env bash
# One prepared run on a lent GPU machine (issue 17 item 5), also run on PoCL so that it is tested:
#
#   tools/gpu-check.sh --fetch-debs   on a machine with Debian's registry: the .deb files the run
#                                     needs into .gpu/ (git-ignored; carry it to the GPU machine)
#   tools/gpu-check.sh OUTDIR         from the project root, on the machine to measure
#
# From a clean copy of the tree (no build directory, no .git needed) it unpacks .gpu/*.deb with
# dpkg-deb -x into a scratch prefix (never /) and points PATH, LD_LIBRARY_PATH, CPATH, LIBRARY_PATH
# and pkg-config there; writes an ICD file for NVIDIA's OpenCL when the machine has the driver's
# library but no /etc/OpenCL/vendors entry; then, within a budget of $GPU_CHECK_BUDGET seconds
# (default 480: 8 minutes), each step under its own time limit and in this order:
#   clinfo -l and nvidia-smi                 OUTDIR/clinfo.txt, OUTDIR/nvidia-smi.txt
#   meson setup + compile                    OUTDIR/build.log
#   the test suites, one at a time, the kernel suites first, until the tests' share of the
#   budget is spent                          OUTDIR/tests.json (suite -> ok/fail/not run), tests/*.log
#   clt-bench --json                         OUTDIR/clt-bench.json
#   PyTorch on the same GPU (CUDA when this PyTorch has it, else the CPU), TF32 off:
#                                            OUTDIR/torch.json (tools/bench_torch.py bench --clt-json)
#   CLBlast's Xgemm tuner for one size, then the matmul section again with what it found:
#                                            OUTDIR/clblast-tuning.tsv, OUTDIR/clt-bench-tuned-matmul.json
#   clt-bench's reductions with the CPU-shaped kernels, for the ratio of the two variants:
#                                            OUTDIR/clt-bench-cpu-kernels.json
#   OUTDIR/summary.json: each step's status and seconds, and the headline ratios.
# A step that fails or runs out of time is recorded and the run goes on; the exit status is 0
# when the build and every suite that ran passed.
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
packages=(libclblast1 libclblast-dev clblast-utils check libsubunit0 libsubunit-dev ocl-icd-libopencl1
          ocl-icd-opencl-dev opencl-c-headers opencl-clhpp-headers clinfo libjansson4 libjansson-dev
          pkgconf pkgconf-bin libpkgconf3 pkg-config)

if [ "${1:-}" = --fetch-debs ]; then
  mkdir -p "$root/.gpu" && cd "$root/.gpu" && apt-get download "${packages[@]}"
  exit $?
fi
[ $# -eq 1 ] || { echo "usage: $0 OUTDIR | --fetch-debs" >&2; exit 2; }
mkdir -p "$1" && out=$(cd "$1" && pwd) || exit 2
budget=${GPU_CHECK_BUDGET:-480}
start=$SECONDS
scratch=$(mktemp -d)
[ -n "${GPU_CHECK_KEEP:-}" ] || trap 'rm -rf "$scratch"' EXIT
steps=$out/steps.tsv
printf 'step\tstatus\tseconds\tlimit\n' > "$steps"

left() { echo $((budget - (SECONDS - start))); }
# step NAME LIMIT COMMAND...: runs COMMAND under min(LIMIT, what is left of the budget), its
# output in OUTDIR/NAME.log; records ok, fail (exit status) or timeout.
step() {
  local name=$1 limit=$2 t0=$SECONDS status rc
  shift 2
  [ "$limit" -le "$(left)" ] || limit=$(left)
  if [ "$limit" -lt 5 ]; then
    printf '%s\tnot run (budget spent)\t0\t0\n' "$name" >> "$steps"
    return 124
  fi
  timeout -k 5 "$limit" "$@" > "$out/$name.log" 2>&1
  rc=$?
  case $rc in 0) status=ok ;; 124|137) status=timeout ;; *) status="fail ($rc)" ;; esac
  printf '%s\t%s\t%d\t%d\n' "$name" "$status" $((SECONDS - t0)) "$limit" >> "$steps"
  echo "gpu-check: $name: $status in $((SECONDS - t0)) s" >&2
  return $rc
}

# ---- the packages, unpacked into a scratch prefix ----------------------------------------
prefix=$scratch/prefix
mkdir -p "$prefix"
debs=("$root"/.gpu/*.deb)
if [ -e "${debs[0]}" ]; then
  for f in "${debs[@]}"; do dpkg-deb -x "$f" "$prefix" || echo "gpu-check: cannot unpack $f" >&2; done
  arch=$(ls "$prefix/usr/lib" | grep -m1 -- '-linux-gnu$' || true)
  lib=$prefix/usr/lib/${arch:-x86_64-linux-gnu}
  # the .pc files name /usr: point them at the prefix
  for pc in "$lib"/pkgconfig/*.pc "$prefix"/usr/share/pkgconfig/*.pc; do
    [ -e "$pc" ] && sed -i "s|=/usr|=$prefix/usr|g" "$pc"
  done
  export PATH="$PATH:$prefix/usr/bin" # the machine's own tools first; ours where it has none
  export LD_LIBRARY_PATH="$lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  export LIBRARY_PATH="$lib${LIBRARY_PATH:+:$LIBRARY_PATH}"
  export CPATH="$prefix/usr/include${CPATH:+:$CPATH}"
  export PKG_CONFIG_PATH="$lib/pkgconfig:$prefix/usr/share/pkgconfig${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}"
  command -v pkg-config > /dev/null || export PKG_CONFIG="$prefix/usr/bin/pkgconf"
  echo "gpu-check: unpacked ${#debs[@]} packages from .gpu/ into $prefix" >&2
else
  echo "gpu-check: no .gpu/*.deb: using the machine's own packages" >&2
fi
# NVIDIA's OpenCL without an ICD entry (the driver's library is there, /etc/OpenCL/vendors not)
if [ -z "${OCL_ICD_VENDORS:-}" ] && ! ls /etc/OpenCL/vendors/*.icd > /dev/null 2>&1 &&
   { ldconfig -p 2> /dev/null | grep -q libnvidia-opencl.so.1; }; then
  mkdir -p "$scratch/vendors"
  echo libnvidia-opencl.so.1 > "$scratch/vendors/nvidia.icd"
  export OCL_ICD_VENDORS=$scratch/vendors
  echo "gpu-check: wrote an ICD entry for libnvidia-opencl.so.1" >&2
fi
export CLT_CACHE_DIR=$scratch/clt-cache POCL_CACHE_DIR=${POCL_CACHE_DIR:-$HOME/.cache/pocl}
clinfo -l > "$out/clinfo.txt" 2>&1
{ command -v nvidia-smi > /dev/null && nvidia-smi; } > "$out/nvidia-smi.txt" 2>&1

# ---- a clean copy, built -------------------------------------------------------------------
src=$scratch/src
mkdir -p "$src"
tar -C "$root" --exclude='./build*' --exclude=./.gpu --exclude=./.git --exclude=__pycache__ -cf - . | tar -C "$src" -xf -
build=$scratch/build
step build 240 sh -c "meson setup '$build' '$src' --buildtype=debugoptimized && meson compile -C '$build' -j $(nproc)"
built=$?
[ $built -eq 0 ] || { echo "gpu-check: the build failed; see $out/build.log" >&2; }

# ---- the suites: those that launch kernels first -------------------------------------------
tests_status=0
if [ $built -eq 0 ]; then
  mkdir -p "$out/tests"
  # test names, and (marked :) meson suites of several tests
  suites=(reduce ew nn index views variant torch_refs matmul autograd :kernels known :gemm core tensor convert device
          npy files surface :lint env :threads faults :tools)
  test_budget=${GPU_CHECK_TEST_BUDGET:-170}
  tests_start=$SECONDS
  echo '{' > "$out/tests.json"
  sep=
  for s in "${suites[@]}"; do
    sel=("$s")
    case $s in :*) s=${s#:}; sel=(--suite "$s") ;; esac
    spent=$((SECONDS - tests_start))
    if [ $spent -ge "$test_budget" ] || [ "$(left)" -lt 200 ]; then
      result='"not run (time)"'
    else
      t0=$SECONDS
      CLT_REQUIRE_DEVICE=1 timeout -k 5 $((test_budget - spent + 30)) \
        meson test -C "$build" --no-rebuild --print-errorlogs "${sel[@]}" > "$out/tests/$s.log" 2>&1
      rc=$?
      case $rc in 0) result='"ok"' ;; 124|137) result='"timeout"'; tests_status=1 ;; *) result='"fail"'; tests_status=1 ;; esac
      echo "gpu-check: suite $s: $result in $((SECONDS - t0)) s" >&2
    fi
    printf '%s\n  "%s": %s' "$sep" "$s" "$result" >> "$out/tests.json"
    sep=,
  done
  printf '\n}\n' >> "$out/tests.json"
  printf 'tests\t%s\t%d\t%d\n' "$([ $tests_status -eq 0 ] && echo ok || echo fail)" $((SECONDS - tests_start)) \
    "$test_budget" >> "$steps"
fi

# ---- benchmarks ------------------------------------------------------------------------------
bench=$build/tools/clt-bench
if [ $built -eq 0 ]; then
  step clt-bench 150 sh -c "'$bench' --device cl --json > '$out/clt-bench.json'"
  [ -s "$out/clt-bench.json" ] &&
    step torch 120 python3 "$src/tools/bench_torch.py" bench --clt-json "$out/clt-bench.json" --torch-device auto --json \
      --threads "$(nproc)" > /dev/null
  [ -s "$out/torch.log" ] && grep -q '^{' "$out/torch.log" && grep '^{' "$out/torch.log" > "$out/torch.json"
  step clblast-tune 100 sh -c "'$src/tools/clblast-tune.sh' -size 1024 -direct-size 0 -fraction \
    ${GPU_CHECK_TUNE_FRACTION:-0.005} -seconds 80 > '$out/clblast-tuning.tsv'"
  grep -q 'Xgemm' "$out/clblast-tuning.tsv" 2> /dev/null &&
    step clt-bench-tuned-matmul 60 sh -c "CLT_CLBLAST_TUNING='$out/clblast-tuning.tsv' CLT_GEMM=clblast '$bench' \
      --device cl --only matmul --json > '$out/clt-bench-tuned-matmul.json'"
  step clt-bench-cpu-kernels 60 sh -c "CLT_KERNEL_VARIANT=cpu '$bench' --device cl --only reduction --json \
    > '$out/clt-bench-cpu-kernels.json'"
fi

# ---- the summary -----------------------------------------------------------------------------
python3 - "$out" $((SECONDS - start)) "$budget" << 'EOF'
import csv, json, os, sys
out, seconds, budget = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
def load(name):
    try:
        with open(os.path.join(out, name)) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None
steps = list(csv.DictReader(open(os.path.join(out, "steps.tsv")), delimiter="\t"))
summary = {"seconds": seconds, "budget": budget, "steps": steps, "tests": load("tests.json")}
try:
    summary["platforms"] = open(os.path.join(out, "clinfo.txt")).read().strip().splitlines()
except OSError:
    pass
bench = load("clt-bench.json")
if bench:
    summary["device"] = bench.get("device_name")
    rows = {(r["section"], r["name"], r["n"]): r for r in bench["results"]}
    peak = next((r["value"] for r in bench["results"] if r["section"] == "peak"), None)
    ratios = {}
    for (sec, name, n), r in sorted(rows.items()):
        if sec in ("reduction", "elementwise") and n == 1e7 and r.get("ratio"):
            ratios["%s, n = 1e7, / copy kernel" % name] = round(r["ratio"], 3)
        if sec == "matmul" and r.get("ratio"):
            ratios["%s / raw CLBlast" % name] = round(r["ratio"], 3)
        if sec == "matmul" and peak and name.startswith("matmul") and "batch" not in name:
            ratios["%s / FMA peak" % name] = round(r["value"] / peak, 3)
    summary["fma_peak_gflops"] = peak
    summary["ratios"] = ratios
torch_res = load("torch.json")
if torch_res:
    summary["torch"] = {"device": torch_res.get("torch_device"), "name": torch_res.get("torch_device_name"),
                        "version": torch_res.get("torch")}
    summary["clt_over_torch"] = {"%s (%s)" % (r["name"], int(r["n"])): round(r["clt_over_torch"], 3)
                                 for r in torch_res["results"] if r.get("clt_over_torch")
                                 and r["section"] in ("training", "matmul", "reduction")}
cpu = load("clt-bench-cpu-kernels.json")
if bench and cpu:
    summary["gpu_over_cpu_kernels"] = {"%s (%d)" % (r["name"], r["n"]): round(rows[(r["section"], r["name"], r["n"])]["value"] / r["value"], 3)
                                       for r in cpu["results"] if (r["section"], r["name"], r["n"]) in rows and r["value"]}
json.dump(summary, open(os.path.join(out, "summary.json"), "w"), indent=1)
print(json.dumps(summary, indent=1))
EOF
echo "gpu-check: $((SECONDS - start)) s; results in $out" >&2
[ $built -eq 0 ] && [ $tests_status -eq 0 ]
