#!/bin/bash
# Tunes CLBlast's single-precision GEMM kernels for one OpenCL device with CLBlast's own tuners
# (Debian: clblast-utils) and prints entries for $CLT_CLBLAST_TUNING (lib/cl/tuning.c): the best
# Xgemm and XgemmDirect parameters found, keyed by the device's name and driver version.
#
#   tools/clblast-tune.sh [-platform P] [-device D] [-fraction F] [-seconds S] [-size N] [-direct-size N] > my-device.tsv
#   CLT_CLBLAST_TUNING=$PWD/my-device.tsv build/tools/clt-bench --only matmul
#
# -fraction is the share of each phase's random search CLBlast tries (0.02 here took ~6 min for
# Xgemm's first phase on PoCL, 2 cores); each tuner runs at most -seconds (default 1500) and
# only phases that finished count. -size is the Xgemm tuner's m = n = k (default 1024),
# -direct-size the XgemmDirect tuner's (default 256; 0 skips it: tools/gpu-check.sh tunes one
# size). Where the direct and indirect kernels cross over is left to measure: GemmRoutine
# XGEMM_MIN_INDIRECT_SIZE (see docs/PERFORMANCE.md).
set -euo pipefail
platform=0 device=0 fraction=0.02 seconds=1500 size=1024 direct_size=256
while [ $# -gt 0 ]; do
  case "$1" in
    -platform) platform=$2; shift 2 ;;
    -device) device=$2; shift 2 ;;
    -fraction) fraction=$2; shift 2 ;;
    -seconds) seconds=$2; shift 2 ;;
    -size) size=$2; shift 2 ;;
    -direct-size) direct_size=$2; shift 2 ;;
    *) echo "usage: $0 [-platform P] [-device D] [-fraction F] [-seconds S] [-size N] [-direct-size N]" >&2; exit 2 ;;
  esac
done
for t in clblast_tuner_xgemm clblast_tuner_xgemm_direct; do
  command -v $t > /dev/null || { echo "$0: $t not found (Debian: apt-get install clblast-utils)" >&2; exit 1; }
done
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
driver='*'
if command -v clinfo > /dev/null; then
  driver=$(clinfo -d "$platform:$device" --raw 2> /dev/null | grep -m1 CL_DRIVER_VERSION |
    sed 's/^\[[^]]*\] *CL_DRIVER_VERSION *//' || true)
  [ -n "$driver" ] || driver='*'
fi
[ "$driver" != '*' ] || echo "$0: no clinfo: the entries match any driver version" >&2
cd "$dir"
echo "tuning Xgemm (${size}^3) ..." >&2
timeout "$seconds" clblast_tuner_xgemm -platform "$platform" -device "$device" -precision 32 -m "$size" -n "$size" \
  -k "$size" -fraction "$fraction" -runs 1 > xgemm.log 2>&1 || true
if [ "$direct_size" != 0 ]; then
  echo "tuning XgemmDirect (${direct_size}^3) ..." >&2
  timeout "$seconds" clblast_tuner_xgemm_direct -platform "$platform" -device "$device" -precision 32 -m "$direct_size" \
    -n "$direct_size" -k "$direct_size" -fraction "$fraction" -runs 2 > direct.log 2>&1 || true
fi
python3 - "$driver" <<'EOF'
import glob, json, sys
driver = sys.argv[1]
best = {}  # database kernel -> (time, gflops, parameters, device, file)
for path in sorted(glob.glob('clblast_xgemm*_32.json')):
    d = json.load(open(path))
    kernel = 'XgemmDirect' if 'direct' in d['kernel_family'] else 'Xgemm'
    for r in d['results']:
        if kernel not in best or r['time'] < best[kernel][0]:
            best[kernel] = (r['time'], d['device'], r['parameters'], path)
if not best:
    sys.exit('no tuner phase finished: raise -seconds or lower -fraction')
print('# device\tdriver\tkernel\tprecision\tparameters (tools/clblast-tune.sh)')
for kernel, (time, device, params, path) in sorted(best.items()):
    values = ' '.join('%s=%d' % (k, v) for k, v in sorted(params.items()) if k != 'PRECISION')
    print('# %s: %.2f ms in %s' % (kernel, time, path))
    print('%s\t%s\t%s\t32\t%s' % (device, driver, kernel, values))
EOF
