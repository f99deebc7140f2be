#!/usr/bin/env bash
# Cross builds of clt, each run where it belongs: the library and the portable host-device suite
# (tests/portable: Philox numbers, arithmetic, reductions, products and gradients against the
# bits committed from x86-64, .npy of both byte orders, byte-identical .npy and safetensors
# files, a UTF-8 file name, the cache directory) for
#   mingw64        Windows x86-64, mingw-w64 (also the tools, and clt-info.exe through the DLL), under wine64
#   i686           32-bit x86 (SSE2 math rather than x87), under qemu-i386
#   s390x          big-endian, under qemu-s390x
#   aarch64-clang  arm64 built by clang (as the Android NDK builds), under qemu-aarch64
#   aarch64        arm64 built by gcc, under qemu-aarch64 (not in the default set)
#   mingw64-cl     mingw64 with the OpenCL backend, linked to an import library of OpenCL.dll made
#                  here; under wine64, whose opencl.dll reaches this machine's OpenCL (PoCL): the
#                  digits MLP on cl:0 must end with the host's loss (not in the default set)
#   x86_64         this machine without CBLAS (what expected.txt was written from; not in the default set)
# The cross files are tools/cross/<target>.ini. Without OpenCL: the host device is what must be
# the same everywhere (the OpenCL backend is the same C, and needs the target's ICD loader).
#
#   tools/cross-check.sh [TARGET...]       (default: mingw64 i686 s390x aarch64-clang)
#   CROSS_BUILD=dir   where the builds go (default build-cross/<target>)
#   CLT_REQUIRE_DEVICE=1   a target whose compiler or emulator is missing fails instead of
#                     being skipped (CI; tools/setup-debian.sh --cross installs them)
# Prints each target's time and what passed and what did not run.
set -euo pipefail
cd "$(dirname "$0")/.."
src=$PWD
root=${CROSS_BUILD:-build-cross}
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(mingw64 i686 s390x aarch64-clang)
# Debian's wine64 package puts wine64 in /usr/lib/wine
[ -d /usr/lib/wine ] && PATH=$PATH:/usr/lib/wine
opts=(-Dopencl=disabled -Dclblast=disabled -Dcblas=disabled -Dmpi=disabled -Ddlpack=disabled -Dfuzz=false
      -Doptimization=2 -Ddebug=false -Dwerror=true)
passed=()
skipped=()
times=()

skip() {
  if [ "${CLT_REQUIRE_DEVICE:-0}" = 1 ]; then
    echo "cross-check.sh: $1 not run: $2; CLT_REQUIRE_DEVICE=1 makes that a failure" >&2
    exit 1
  fi
  echo "cross-check.sh: $1 not run: $2"
  skipped+=("$1 ($2)")
}

# each target's compiler, the emulator that runs its binaries, and the dynamic loader a
# multiarch C library of the target would put in /lib
target_info() {
  case $1 in
    mingw64 | mingw64-cl) echo "x86_64-w64-mingw32-gcc-posix wine64 -" ;;
    i686) echo "i686-linux-gnu-gcc qemu-i386 /lib/ld-linux.so.2" ;;
    s390x) echo "s390x-linux-gnu-gcc qemu-s390x /lib/ld64.so.1" ;;
    aarch64) echo "aarch64-linux-gnu-gcc qemu-aarch64 /lib/ld-linux-aarch64.so.1" ;;
    aarch64-clang) echo "clang qemu-aarch64 /lib/ld-linux-aarch64.so.1" ;;
    x86_64) echo "cc env -" ;;
    *) echo "cross-check.sh: unknown target $1" >&2; exit 2 ;;
  esac
}

for t in "${targets[@]}"; do
  start=$SECONDS
  read -r compiler emulator loader <<< "$(target_info "$t")"
  missing=""
  for tool in "$compiler" "$emulator"; do command -v "$tool" >/dev/null || missing+=" $tool"; done
  [ "$t" = aarch64-clang ] && ! command -v aarch64-linux-gnu-ld >/dev/null && missing+=" aarch64-linux-gnu-ld"
  if [ -n "$missing" ]; then
    skip "$t" "missing:$missing"
    continue
  fi
  dir=$root/$t
  # the target's C library: multiarch's where installed (its Jansson needs it), else the cross
  # compiler's (the two together in one process crash)
  unset QEMU_LD_PREFIX
  if [ "$loader" != - ] && [ ! -e "$loader" ]; then
    triplet=$($compiler -dumpmachine 2>/dev/null || echo aarch64-linux-gnu)
    [ "$t" = aarch64-clang ] && triplet=aarch64-linux-gnu
    export QEMU_LD_PREFIX=/usr/$triplet
  fi
  cross=()
  topts=("${opts[@]}")
  [ "$t" = x86_64 ] || cross=(--cross-file "tools/cross/${t%-cl}.ini")
  mkdir -p "$root"
  if [ "$t" = mingw64-cl ]; then
    # OpenCL.dll's import library from the ICD loader's exports, the Khronos headers, and a
    # pkg-config file naming them, in a second cross file
    sdk=$PWD/$root/opencl-sdk
    mkdir -p "$sdk/lib/pkgconfig" "$sdk/include"
    cp -r /usr/include/CL "$sdk/include/"
    { echo "LIBRARY OpenCL.dll"; echo "EXPORTS"
      nm -D --defined-only "$(ldconfig -p | awk '/libOpenCL.so.1 .*x86-64/ {print $NF; exit}')" |
        awk '$2 == "T" && $3 ~ /^cl/ {sub(/@.*/, "", $3); print $3}'; } > "$sdk/OpenCL.def"
    x86_64-w64-mingw32-dlltool -d "$sdk/OpenCL.def" -l "$sdk/lib/libOpenCL.a"
    printf 'Name: OpenCL\nDescription: OpenCL.dll\nVersion: 3.0\nCflags: -I%s/include\nLibs: -L%s/lib -lOpenCL\n' \
      "$sdk" "$sdk" > "$sdk/lib/pkgconfig/OpenCL.pc"
    printf "[properties]\npkg_config_libdir = ['%s/lib/pkgconfig']\n" "$sdk" > "$sdk/opencl.ini"
    cross+=(--cross-file "$sdk/opencl.ini")
    # lib/cl/gemm.c warns of an unused function in a build with OpenCL and without CLBlast
    topts=("${topts[@]/-Dopencl=disabled/-Dopencl=enabled}")
    topts=("${topts[@]/-Dwerror=true/-Dwerror=false}")
  fi
  # the Windows build is the whole build (the tools too); elsewhere the library and the suite
  tools=false
  [ "${t%-cl}" = mingw64 ] && tools=true
  if [ -d "$dir/meson-private" ]; then
    meson setup --reconfigure "$dir" "${cross[@]}" "${topts[@]}" -Dtools=$tools > "$dir.setup.log"
  else
    meson setup "$dir" "${cross[@]}" "${topts[@]}" -Dtools=$tools > "$dir.setup.log"
  fi
  if [ "${t%-cl}" = mingw64 ]; then
    ninja -C "$dir" > "$dir.build.log"
  else
    meson compile -C "$dir" tests/portable/test_portable clt:shared_library > "$dir.build.log"
  fi
  # run from the build directory: the suite writes its temporary files in the current one
  if [ "${t%-cl}" = mingw64 ]; then
    export WINEPREFIX=$PWD/$dir/wineprefix WINEDEBUG=-all WINEDLLOVERRIDES="mscoree,mshtml="
    (cd "$dir" && wine64 tests/portable/test_portable.exe "$src/tests")
    # the tools through libclt-0.dll, beside them as an application ships it
    cp "$dir/libclt-0.dll" "$dir/tools/"
    wine64 "$dir/tools/clt-info.exe" > "$dir/clt-info.txt"
    grep -q "host memory" "$dir/clt-info.txt" || { echo "cross-check.sh: clt-info.exe listed no host device"; exit 1; }
    host_loss=$(wine64 "$dir/tools/clt-train.exe" --device host --epochs 1 --quiet | grep -o 'final loss [0-9.]*')
    if [ "$t" = mingw64-cl ]; then
      grep -q "cl:0" "$dir/clt-info.txt" || { echo "cross-check.sh: clt-info.exe listed no OpenCL device"; exit 1; }
      cl_loss=$(wine64 "$dir/tools/clt-train.exe" --device cl:0 --epochs 1 --quiet | grep -o 'final loss [0-9.]*')
      echo "cross-check.sh: mingw64-cl: host $host_loss, cl:0 $cl_loss"
      [ "$cl_loss" = "$host_loss" ] || { echo "cross-check.sh: the OpenCL device's loss differs"; exit 1; }
    fi
    wineserver -k 2>/dev/null || true
  else
    (cd "$dir" && $emulator tests/portable/test_portable "$src/tests")
  fi
  passed+=("$t")
  times+=("$t $((SECONDS - start))s")
done

summary=$(printf '%s, ' "${times[@]}")
echo "cross-check.sh: times: ${summary%, } (total ${SECONDS}s)"
summary=$(printf '%s, ' "${passed[@]}")
echo "cross-check.sh: passed: ${summary%, }"
if [ ${#skipped[@]} -gt 0 ]; then
  summary=$(printf '%s, ' "${skipped[@]}")
  echo "cross-check.sh: NOT run: ${summary%, }"
fi
