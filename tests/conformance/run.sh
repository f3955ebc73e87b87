#!/bin/sh
# Runs one conformance translation and compares what it prints (stdout and
# stderr together, as the .out files were recorded) with Node's output.
# A program with a NAME.status file beside its .out ends with that exit
# status in Node: its stdout alone is compared (Node's stderr has its own
# fatal-error trace or warning lines with its pid), and the status must match.
# usage: run.sh EXE EXPECTED.out
set -u
exe=$1
expected=$2
tmp=$(mktemp) || exit 99
status_file=${expected%.out}.status
want=0
if [ -f "$status_file" ]; then
  want=$(cat "$status_file")
  "$exe" >"$tmp" 2>/dev/null
else
  "$exe" >"$tmp" 2>&1
fi
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
if [ "$rc" -ne "$want" ]; then
  echo "exit status $rc (Node's: $want)"
  exit 1
fi
exit 0
