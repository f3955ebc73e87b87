#!/bin/sh
# samples/run.sh AWDIFF DIR: each DIR/NAME.ir must print exactly DIR/NAME.out (what Node
# printed for the same program), with no object left alive after each program (--check-leaks).
awdiff=$1
dir=$2
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
fail=0
n=0
for ir in "$dir"/*.ir; do
  [ -e "$ir" ] || continue
  name=$(basename "$ir" .ir)
  n=$((n + 1))
  if ! "$awdiff" --check-leaks "$ir" > "$tmp/out" 2> "$tmp/err"; then
    echo "FAIL $name: awdiff exited with an error"
    cat "$tmp/err"
    fail=1
  elif ! cmp -s "$tmp/out" "$dir/$name.out"; then
    echo "FAIL $name: the output differs from Node's (- Node, + awdiff)"
    diff -u "$dir/$name.out" "$tmp/out" | head -40
    fail=1
  fi
done
[ "$n" -gt 0 ] || { echo "no samples in $dir"; exit 1; }
[ $fail -eq 0 ] && echo "$n samples match Node"
exit $fail
