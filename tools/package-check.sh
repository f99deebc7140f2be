#!/usr/bin/env bash
# What a packager does with clt, checked end to end (tools/check.sh's packaging phase):
#   1. `meson dist` makes the tarball from the committed tree;
#   2. the tarball configures and builds as a release (-O3) with warnings as errors, and its
#      core, C++ and example tests pass;
#   3. `meson install --destdir` stages it under a prefix of its own (/opt/clt), and the staged
#      clt-info runs from there with no LD_LIBRARY_PATH (the install rpath);
#   4. the staged clt.pc gives users no include directory of a library clt uses only inside
#      (OpenBLAS's), and the installed examples/first.cpp builds against the staged tree through
#      it and runs;
#   5. man pages for every installed tool, the examples and the headers are installed;
#   6. the docs target builds the API reference without a warning (where doxygen is installed);
#   7. without Check, the tree configures and says the C suites are left out.
#   package-check.sh BUILD   BUILD: a configured build directory of this tree (for meson dist)
#   MESON_OPTIONS            more meson setup options, space-separated, as tools/check.sh's
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:?usage: package-check.sh BUILD}
read -ra extra <<< "${MESON_OPTIONS:-}"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
say() { echo "package-check: $*"; }
fail() { echo "package-check: FAILED: $*" >&2; exit 1; }

# 1. the tarball (of HEAD: what is not committed is not in it)
meson dist -C "$build" --no-tests --formats gztar --allow-dirty
version=$(meson introspect --projectinfo "$build" | python3 -c 'import json, sys; print(json.load(sys.stdin)["version"])')
tarball="$build/meson-dist/clt-$version.tar.gz"
tar -xzf "$tarball" -C "$work"
src="$work/clt-$version"
say "dist: $(basename "$tarball") ($(du -k "$tarball" | cut -f1) KiB)"

# 2. a release build of it, warnings as errors
meson setup "$work/build" "$src" --buildtype=release --werror --prefix=/opt/clt "${extra[@]}"
meson compile -C "$work/build"
# a few quick tests, the rest being the plain phase's (what matters here is that the tarball
# holds what they need)
meson test -C "$work/build" --print-errorlogs core hpp example_first

# 3. staged, and run from the staging tree
meson install -C "$work/build" --destdir "$work/root" --no-rebuild --quiet
root="$work/root/opt/clt"
env -u LD_LIBRARY_PATH "$root/bin/clt-info" > "$work/clt-info.txt" || fail "the staged clt-info does not run"
grep -q host "$work/clt-info.txt" || fail "the staged clt-info lists no host device"
ldd "$root/bin/clt-info" | grep -q "$root/.*libclt" || fail "the staged clt-info does not load the staged libclt: $(ldd "$root/bin/clt-info" | grep clt)"
say "the staged clt-info runs and loads $(ldd "$root/bin/clt-info" | grep -o "$root/[^ ]*libclt[^ ]*")"

# 4. clt.pc: only what users' code needs
# clt.pc with its prefix moved to the staging tree (--define-variable or a sysroot would move
# the system paths of the modules it requires too)
mkdir "$work/pc"
sed "s|^prefix=.*|prefix=$root|" "$(find "$root" -name clt.pc)" > "$work/pc/clt.pc"
pc() { PKG_CONFIG_PATH="$work/pc" pkg-config "$@" clt; }
cflags=$(pc --cflags)
for inside in openblas jansson clblast; do
  case "$cflags" in *"$inside"*) fail "pkg-config --cflags clt names $inside: $cflags" ;; esac
done
example="$root/share/doc/clt/examples/first.cpp"
[ -f "$example" ] || fail "examples/first.cpp is not installed"
if command -v c++ >/dev/null; then
  # shellcheck disable=SC2046
  c++ -std=c++17 -pedantic-errors -Wall -Wextra -Werror $(pc --cflags) "$example" $(pc --libs) \
    -Wl,-rpath,"$(dirname "$(find "$root" -name 'libclt.so' | head -1)")" -o "$work/first"
  (cd "$work" && env -u LD_LIBRARY_PATH ./first > first.txt) || fail "first.cpp built against the staged clt does not run"
  grep -q "^tensor(" "$work/first.txt" || fail "first.cpp printed no tensor"
  say "first.cpp builds against the staged clt through pkg-config and runs (cflags: $cflags)"
fi

# 5. what is installed
for page in clt-info clt-train clt-bench; do
  [ -f "$root/share/man/man1/$page.1" ] || fail "no man page $page.1"
done
if [ -x "$root/bin/clt-dist-bench" ] && [ ! -f "$root/share/man/man1/clt-dist-bench.1" ]; then fail "no man page clt-dist-bench.1"; fi
[ -f "$root/include/clt.hpp" ] || fail "include/clt.hpp is not installed"

# 6. the API reference
if command -v doxygen >/dev/null; then
  meson compile -C "$work/build" docs
  [ -f "$work/build/docs/html/index.html" ] || fail "the docs target wrote no index.html"
  say "docs: the API reference builds without a warning"
else
  say "docs: doxygen is not installed, not checked"
fi

# 7. without Check: every pkg-config module but check's
mkdir "$work/pc-nocheck"
for dir in $(pkg-config --variable pc_path pkg-config | tr : ' '); do
  [ -d "$dir" ] || continue
  for f in "$dir"/*.pc; do [ "$(basename "$f")" = check.pc ] || ln -sf "$f" "$work/pc-nocheck/"; done
done
PKG_CONFIG_LIBDIR="$work/pc-nocheck" meson setup "$work/build-nocheck" "$src" "${extra[@]}" > "$work/nocheck.txt" ||
  { cat "$work/nocheck.txt"; fail "the tree does not configure without Check"; }
grep -q "Check (Debian: check) was not found" "$work/nocheck.txt" || fail "configuring without Check said nothing"
meson test -C "$work/build-nocheck" --no-rebuild check_missing > /dev/null
say "without Check: configures, and the test check_missing says the C suites are left out"
say "passed"
