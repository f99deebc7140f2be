#!/bin/sh
# Kernel sources must be plain OpenCL C 1.2, which some compilers enforce and PoCL's clang does
# not: NVIDIA's compiler rejects variadic macros, so a kernel PoCL builds can fail there. Checks
# what the PoCL-based suite cannot see.
status=0
for f in "$@"; do
  if grep -nE '^[[:space:]]*#[[:space:]]*define[[:space:]]+[A-Za-z_0-9]+\([^)]*\.\.\.' "$f"; then
    echo "$f: variadic macro (not OpenCL C 1.2)"
    status=1
  fi
  if grep -nE '__VA_ARGS__|_Pragma' "$f"; then
    echo "$f: __VA_ARGS__ or _Pragma (not OpenCL C 1.2)"
    status=1
  fi
done
exit $status
