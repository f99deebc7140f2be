#!/usr/bin/env bash
# Builds clt with ThreadSanitizer and runs the thread suites under it: test_threads (threads on
# their own handles and on one shared handle, host and OpenCL) and cold_open (fresh processes
# opening "cl" from several threads at once), and with MPI the distributed suite on 2 ranks. Any
# report fails the run. No suppressions: the
# OpenCL driver and BLAS are not instrumented, so TSan sees only clt's own accesses, and their
# locks through the pthread calls it intercepts.
#   BUILD=dir      build directory (default build-tsan)
#   WERROR=1       treat warnings as errors
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${BUILD:-build-tsan}
opts=(--buildtype=debugoptimized -Db_sanitize=thread -Db_lundef=false)
[ "${WERROR:-0}" = 1 ] && opts+=(--werror)
if [ -d "$dir/meson-private" ]; then
  meson setup --reconfigure "$dir" "${opts[@]}"
else
  meson setup "$dir" "${opts[@]}"
fi
meson compile -C "$dir"
meson test -C "$dir" --setup tsan --print-errorlogs threads cold_open
# With MPI: the distributed suite on 2 ranks (its data-parallel steps run both with and without
# the communication thread). Only the shared-memory transport: Open MPI's TCP one takes two of
# its own locks in both orders in MPI_Init, which TSan reports as a potential deadlock.
if [ -x "$dir/tests/test_dist" ]; then
  OMPI_MCA_btl=self,vader meson test -C "$dir" --setup tsan --print-errorlogs dist_np2
fi
echo "tsan.sh: the thread suites passed under ThreadSanitizer"
