#!/bin/sh
# A tool's man page against the tool: every option its --help lists is on the page, and the page
# formats without a warning where groff is installed.
#   test_man.sh TOOL PAGE
set -eu
tool=$1 page=$2
missing=0
# the page spells - as \- in roff
text=$(sed 's/\\-/-/g' "$page")
for opt in $("$tool" --help 2>&1 | grep -o -- '--[a-z][a-z0-9-]*' | sort -u); do
  case "$text" in
    *"$opt"*) ;;
    *) echo "$page: no $opt, which $(basename "$tool") --help lists"; missing=1 ;;
  esac
done
if command -v groff >/dev/null; then
  warnings=$(groff -man -ww -z "$page" 2>&1)
  [ -z "$warnings" ] || { echo "$warnings"; missing=1; }
fi
exit $missing
