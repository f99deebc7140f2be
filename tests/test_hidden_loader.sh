#!/bin/sh
# The OpenCL ICD loader and CLBlast really missing, not only renamed by $CLT_OPENCL_LIBRARY: in a
# private mount namespace (unshare; nothing outside this process tree sees it) both library files
# are covered with an empty file, so every dlopen of them fails, as on a machine without them.
# There clt-info must start and list the host with the reason, test_loader's "hidden" mode checks
# the API, and a host suite passes. The same clt-info built with libOpenCL as a link-time import
# stops before main ("error while loading shared libraries": a test of the old build showed it).
# Skips (77) where user namespaces are not allowed.
# usage: test_hidden_loader.sh CLT_INFO TEST_LOADER TEST_SUITE
set -u
if [ "${1:-}" != inside ]; then
  unshare --mount --map-root-user true 2>/dev/null || { echo "skipped: unshare --mount --map-root-user is not allowed here"; exit 77; }
  exec unshare --mount --map-root-user "$0" inside "$@"
fi
shift
clt_info=$1 test_loader=$2 test_suite=$3
for lib in libOpenCL.so.1 libclblast.so.1; do
  path=$(/sbin/ldconfig -p 2>/dev/null | sed -n "s/^[[:space:]]*$lib (.*) => //p" | head -n 1)
  [ -n "$path" ] || { echo "skipped: ldconfig does not know $lib"; exit 77; }
  mount --bind /dev/null "$(readlink -f "$path")" || { echo "FAIL: cannot cover $path"; exit 1; }
  echo "covered $path"
done
out=$("$clt_info" 2>&1) || { echo "$out"; echo "FAIL: clt-info exited with $? without the loader"; exit 1; }
echo "$out"
echo "$out" | grep -q '^clt .*: 1 device$' || { echo "FAIL: clt-info lists more than the host"; exit 1; }
echo "$out" | grep -q 'backend cl    unavailable: OpenCL: not loaded: .*libOpenCL.so.1: ' ||
  { echo "FAIL: clt-info gives no reason"; exit 1; }
unset CLT_OPENCL_LIBRARY CLT_CLBLAST_LIBRARY
CLT_TEST_LOADER=hidden CLT_REQUIRE_DEVICE=0 "$test_loader" || { echo "FAIL: test_loader (hidden)"; exit 1; }
CLT_REQUIRE_DEVICE=0 "$test_suite" || { echo "FAIL: $test_suite without the loader"; exit 1; }
echo "ok: clt runs on the host without libOpenCL and libclblast"
