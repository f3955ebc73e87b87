#!/bin/sh
# Runs one conformance translation and compares what it prints (stdout and
# stderr together, as the .out files were recorded) with Node's output.
# usage: run.sh EXE EXPECTED.out
set -u
exe=$1
expected=$2
tmp=$(mktemp) || exit 99
"$exe" >"$tmp" 2>&1
rc=$?
if [ "$rc" -eq 77 ]; then # skipped (the program says why)
  cat "$tmp"
  rm -f "$tmp"
  exit 77
fi
if ! cmp -s "$tmp" "$expected"; then
  echo "output differs from $expected (< expected, > got):"
  diff "$expected" "$tmp" | head -60
  rm -f "$tmp"
  exit 1
fi
rm -f "$tmp"
if [ "$rc" -ne 0 ]; then
  echo "exit status $rc"
  exit 1
fi
exit 0
