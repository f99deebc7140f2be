#!/bin/sh
# libclt loads the OpenCL ICD loader and CLBlast at run time (lib/cl/loader.c), so an
# application linked with it starts where they are missing: neither may be a NEEDED entry.
# usage: test_needed.sh READELF LIBCLT
set -eu
readelf=$1 lib=$2
needed=$("$readelf" -d "$lib" | grep '(NEEDED)') || { echo "no NEEDED entries in $lib?"; exit 1; }
echo "$needed"
if echo "$needed" | grep -i -E 'opencl|clblast'; then
  echo "FAIL: $lib imports the libraries above; clt must load them at run time"
  exit 1
fi
# the control: the check sees the libraries the library does import
echo "$needed" | grep -q 'libc\.so' || { echo "FAIL: no libc among the NEEDED entries: is this the right file?"; exit 1; }
echo "ok: $lib imports neither libOpenCL nor libclblast"
