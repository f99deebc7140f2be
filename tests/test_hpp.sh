#!/bin/sh
# include/clt.hpp, examples/first.cpp and the C headers (tests/test_cxx.cpp) as a C++ user
# compiles them, with each of g++ and clang++ that is installed: standard C++17,
# -pedantic-errors -Wall -Wextra -Werror; then each program linked to the shared library just
# built and run. In a sanitizer build only compiled (the library needs the sanitizer's runtime,
# which clang's and gcc's do not share).
#   test_hpp.sh SOURCE_ROOT LIBDIR SANITIZE [extra flags...]
set -eu
src=$1 libdir=$2 sanitize=$3
shift 3
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
ran=0
for cxx in g++ clang++; do
  command -v "$cxx" >/dev/null || { echo "$cxx: not installed, skipped"; continue; }
  for prog in tests/test_hpp.cpp examples/first.cpp tests/test_cxx.cpp; do
    out="$tmp/$cxx-$(basename "$prog" .cpp)"
    "$cxx" -std=c++17 -pedantic-errors -Wall -Wextra -Werror "$@" -I"$src/include" -c "$src/$prog" -o "$out.o"
    [ "$sanitize" = none ] || continue
    "$cxx" "$out.o" -L"$libdir" -lclt -Wl,-rpath,"$libdir" -o "$out"
    (cd "$tmp" && "$out" > "$out.log" 2>&1) || { cat "$out.log"; echo "$cxx: $prog failed"; exit 1; }
    echo "$cxx: $prog ok"
  done
  ran=$((ran + 1))
done
[ "$ran" -gt 0 ] || { echo "no C++ compiler"; exit 77; }
