#!/usr/bin/env bash
# awsum-mksample: the same arguments give the same tree byte for byte; the tree
# has what the other tests rely on (edge sizes, duplicate groups, near-duplicates,
# awkward names); bad arguments exit 2, an impossible DIR exits 1.
. "$(dirname "$0")/lib.sh"

# A listing that pins down the whole tree: type, size, path and content hash of
# every entry, NUL-separated so that any name survives.
listing() {
  (cd "$1" && find . -mindepth 1 -printf '%y %s %P\0' | sort -z | tr '\0' '\n' | sed 's/^d [0-9]* /d - /'
    find . -type f -print0 | sort -z | xargs -0r sha256sum --)
}

run_mk() {
  mk_rc=0
  "$MKSAMPLE" "$@" >"$T/mk.out" 2>"$T/mk.err" || mk_rc=$?
}

run_mk "$T/a" --awkward
[ "$mk_rc" -eq 0 ] && pass "mksample --awkward exits 0" || fail "mksample --awkward: exit $mk_rc: $(cat "$T/mk.err")"
cp "$T/mk.out" "$T/a.out"
run_mk "$T/b" --awkward
[ "$mk_rc" -eq 0 ] && pass "second run exits 0" || fail "second run: exit $mk_rc"
listing "$T/a" >"$T/a.list"
listing "$T/b" >"$T/b.list"
same "$T/a.list" "$T/b.list" "two runs with the same arguments give the same tree"
if diff -r "$T/a" "$T/b" >/dev/null 2>&1; then pass "diff -r finds no difference"; else fail "diff -r finds differences"; fi
sed "s#$T/b#$T/a#" "$T/mk.out" >"$T/b.out"
same "$T/a.out" "$T/b.out" "the summary line is the same"

# Running again over an existing tree rewrites it to the same state.
echo scribble >"$T/b/data.txt"
run_mk "$T/b" --awkward
listing "$T/b" >"$T/b2.list"
same "$T/a.list" "$T/b2.list" "a rerun over an existing tree restores it"

run_mk "$T/c" --awkward --seed 2
listing "$T/c" >"$T/c.list"
if ! cmp -s "$T/a.list" "$T/c.list"; then pass "another seed gives another tree"; else fail "--seed 2 gave the same tree as the default seed"; fi
run_mk "$T/d" --seed 1 --awkward
listing "$T/d" >"$T/d.list"
same "$T/a.list" "$T/d.list" "--seed 1 is the default"

# What the default tree holds.
run_mk "$T/plain"
nf=$(find "$T/plain" -type f -printf x | wc -c)
[ "$nf" -eq 300 ] && pass "default: 300 files" || fail "default: $nf files, expected 300"
total=$(find "$T/plain" -type f -printf '%s\n' | awk '{t += $1} END {print t + 0}')
[ "$total" -le $((30 * 1024 * 1024)) ] && [ "$total" -ge $((5 * 1024 * 1024)) ] &&
  pass "default: total $total bytes, between 5 and 30 MiB" || fail "default: total $total bytes"
nd=$(find "$T/plain" -mindepth 1 -type d | wc -l)
[ "$nd" -ge 10 ] && pass "default: $nd directories" || fail "default: only $nd directories"
depth=$(find "$T/plain" -type f -printf '%d\n' | sort -n | tail -n 1)
[ "$depth" -ge 4 ] && pass "default: nested $depth deep" || fail "default: only $depth deep"
for s in 0 1 64 4096 1048576; do
  if [ -n "$(find "$T/plain" -type f -size ${s}c -print -quit)" ]; then pass "default: has a file of $s bytes"; else fail "default: no file of $s bytes"; fi
done
big=$(find "$T/plain" -type f -size +1048577c | wc -l)
[ "$big" -ge 2 ] && pass "default: $big files over 1 MiB" || fail "default: $big files over 1 MiB"
# Duplicate groups among non-empty files.
find "$T/plain" -type f -size +0 -print0 | xargs -0r sha256sum -- | sort >"$T/sums"
groups=$(cut -c1-64 "$T/sums" | uniq -d | wc -l)
big_groups=$(cut -c1-64 "$T/sums" | uniq -c | awk '$1 >= 3' | wc -l)
[ "$groups" -ge 4 ] && pass "default: $groups duplicate groups" || fail "default: $groups duplicate groups"
[ "$big_groups" -ge 1 ] && pass "default: $big_groups groups of 3 or more" || fail "default: no group of 3 or more"
cross=$(awk '{h = substr($0, 1, 64); p = substr($0, 67); sub("/[^/]*$", "", p); if (h in d && d[h] != p) x[h] = 1; d[h] = p} END {print length(x)}' "$T/sums")
[ "$cross" -ge 1 ] && pass "default: $cross groups span directories" || fail "default: no group spans directories"
# Near-duplicates: same size, same bytes except the last.
near=0
while IFS= read -r -d '' pair; do
  a=${pair%%|*} b=${pair#*|}
  if [ "$(cmp -l -- "$a" "$b" 2>/dev/null | wc -l)" -eq 1 ] &&
    [ "$(cmp -l -- "$a" "$b" | awk '{print $1}')" -eq "$(stat -c %s -- "$a")" ]; then
    near=$((near + 1))
  fi
done < <(find "$T/plain" -type f -size +1c -printf '%s %p\0' | sort -z -n |
  awk 'BEGIN {RS = "\0"; ORS = "\0"} {s = $1; p = substr($0, length($1) + 2); if (s == ls) print lp "|" p; ls = s; lp = p}')
[ "$near" -ge 2 ] && pass "default: $near same-size pairs that differ only in the last byte" || fail "default: $near near-duplicate pairs"
for n in data data-old data.txt .hidden empty; do
  [ -e "$T/plain/$n" ] && pass "default: has $n" || fail "default: no $n"
done
[ -z "$(ls -A "$T/plain/empty")" ] && pass "default: empty/ is empty" || fail "default: empty/ has files"

run_mk "$T/few" --files 7
nf=$(find "$T/few" -type f -printf x | wc -c)
[ "$nf" -eq 7 ] && pass "--files 7 makes 7 files" || fail "--files 7 made $nf files"

# --awkward names.
nl=$'\n' cr=$'\r'
for n in "odd names/with space.txt" "odd names/new${nl}line.txt" "odd names/carriage${cr}return" \
  'odd names/back\slash' "odd names/both\\and${nl}newline" "odd names/-leading-dash" \
  $'odd names/\xff\xfe not utf8' "odd names/new${nl}line dir/inside"; do
  [ -f "$T/a/$n" ] && pass "--awkward: has $(printf '%q' "$n")" || fail "--awkward: no $(printf '%q' "$n")"
done
extra=$(($(find "$T/a" -type f -printf x | wc -c) - 300))
[ "$extra" -gt 0 ] && pass "--awkward adds $extra files to the 300" || fail "--awkward added no files"

# Bad arguments: exit 2, a message on stderr, nothing created.
for args in "" "--files" "--files x" "--files 0" "--files -3" "--files 1e9" "--seed" "--seed abc" \
  "--bogus $T/x" "$T/x $T/y" "-z $T/x"; do
  # shellcheck disable=SC2086
  run_mk $args
  if [ "$mk_rc" -eq 2 ] && [ -s "$T/mk.err" ]; then pass "bad arguments '$args': exit 2 with a message"; else fail "bad arguments '$args': exit $mk_rc, stderr: $(head -c 200 "$T/mk.err")"; fi
done
[ ! -e "$T/x" ] && [ ! -e "$T/y" ] && pass "bad arguments create nothing" || fail "bad arguments created a directory"
run_mk --help
[ "$mk_rc" -eq 0 ] && grep -q -- '--files' "$T/mk.out" && pass "--help: exit 0, documents --files" || fail "--help: exit $mk_rc"

# Cannot create: exit 1 with the cause.
: >"$T/file"
run_mk "$T/file/sub"
[ "$mk_rc" -eq 1 ] && grep -q 'Not a directory' "$T/mk.err" && pass "DIR under a regular file: exit 1, 'Not a directory'" || fail "DIR under a regular file: exit $mk_rc: $(cat "$T/mk.err")"
mkdir "$T/ro"
chmod 555 "$T/ro"
if [ "$(id -u)" -ne 0 ]; then
  run_mk "$T/ro/sub"
  [ "$mk_rc" -eq 1 ] && grep -q 'Permission denied' "$T/mk.err" && pass "read-only parent: exit 1" || fail "read-only parent: exit $mk_rc"
else
  skip "read-only parent: running as root, which may write anywhere"
fi
finish
