#!/usr/bin/env bash
# awsum --dupes PATH...: groups of identical files as jdupes prints them: one path
# per line, a blank line between groups, paths sorted within a group, groups
# sorted by their first path; empty files are not duplicates (jdupes -r leaves
# them out unless -z); same-size near-duplicates are not grouped. The expected
# groups are computed independently from sha256sum, and compared with jdupes -r
# when it is installed. --json holds exactly the duplicate paths.
. "$(dirname "$0")/lib.sh"

"$MKSAMPLE" "$T/tree" >/dev/null || { fail "awsum-mksample failed"; finish; }
cd "$T" || exit 1

# expected_groups PATH...: from sha256sum of every non-empty regular file, sorted
# by path; a hash's group is listed where its first path comes, so groups come
# sorted by first path and paths within a group stay sorted.
expected_groups() {
  find "$@" -type f -size +0 -print0 | sort -z | xargs -0r sha256sum -- |
    awk '{h = substr($0, 1, 64); p = substr($0, 67)
          if (!(h in n)) order[++k] = h
          n[h]++; g[h] = g[h] p "\n"}
         END {sep = ""; for (i = 1; i <= k; i++) if (n[order[i]] > 1) {printf "%s%s", sep, g[order[i]]; sep = "\n"}}'
}

# canonical FILE: groups (blank-line separated) sorted within and by first path,
# in awsum's format; for output whose group order is not ours (jdupes sorts
# names "numerically").
canonical() {
  awk 'BEGIN {g = 1} /^$/ {g++; next} {print g "\t" $0}' "$1" | sort -t "$(printf '\t')" -k1,1n -k2 |
    awk -F '\t' '$1 != last {first = $2; last = $1} {print first "\t" $2}' | sort -s -t "$(printf '\t')" -k1,1 |
    awk -F '\t' 'NR > 1 && $1 != last {print ""} {print $2; last = $1}'
}

# same_groups EXPECTED what: awsum's stdout is EXPECTED, allowing one trailing
# blank line (jdupes itself ends with one or not, depending on its file order).
same_groups() {
  if cmp -s "$1" "$T/out"; then
    pass "$2"
  elif { cat "$1"; echo; } | cmp -s - "$T/out"; then
    pass "$2 (with a trailing blank line, as jdupes often prints)"
  else
    same "$1" "$T/out" "$2"
  fi
}

expected_groups tree >"$T/expect"
ngroups=$(grep -c '^$' "$T/expect")
ngroups=$((ngroups + 1))
[ "$ngroups" -ge 4 ] && pass "the sample has $ngroups duplicate groups" || fail "the sample has only $ngroups groups"
# The sample has empty files and near-duplicates, or this test proves less.
nempty=$(find tree -type f -empty | wc -l)
[ "$nempty" -ge 2 ] && pass "the sample has $nempty empty files" || fail "the sample has $nempty empty files"

aw --dupes tree
expect_rc 0 "--dupes tree"
same_groups "$T/expect" "--dupes tree: the expected groups, exactly"
empty "$T/err" "--dupes tree: nothing on stderr"
while IFS= read -r e; do
  if grep -qxF -- "$e" "$T/out"; then fail "--dupes lists the empty file $e"; fi
done < <(find tree -type f -empty)
pass "--dupes lists no empty file"

# Near-duplicates (same size, last byte differs) are never in one group.
near_bad=0
while IFS= read -r line; do
  a=${line%%$'\t'*} b=${line#*$'\t'}
  if cmp -s -- "$a" "$b"; then continue; fi
  ga=$(awk -v p="$a" 'BEGIN {g = 1} /^$/ {g++} $0 == p {print g}' "$T/out")
  gb=$(awk -v p="$b" 'BEGIN {g = 1} /^$/ {g++} $0 == p {print g}' "$T/out")
  if [ -n "$ga" ] && [ "$ga" = "$gb" ]; then
    near_bad=$((near_bad + 1))
    fail "--dupes groups $a and $b, which differ"
  fi
done < <(find tree -type f -size +0 -printf '%s\t%p\n' | sort -n | awk -F '\t' '$1 == ls {print lp "\t" $2} {ls = $1; lp = $2}')
[ "$near_bad" -eq 0 ] && pass "--dupes: same-size files that differ are never grouped"

# jdupes, when installed, finds the same groups.
if command -v jdupes >/dev/null; then
  jdupes -r tree >"$T/jdupes.out" 2>/dev/null
  canonical "$T/jdupes.out" >"$T/jdupes.canon"
  same "$T/expect" "$T/jdupes.canon" "(reference check: jdupes -r finds the expected groups)"
  cp "$T/out" "$T/awsum.out"
  canonical "$T/awsum.out" >"$T/awsum.canon"
  same "$T/jdupes.canon" "$T/awsum.canon" "--dupes tree: the same groups as jdupes -r"
  # A small tree by hand: jdupes's groups, put in awsum's order (jdupes orders
  # groups by its own file list), are awsum's output byte for byte.
  mkdir -p simple/a simple/b
  echo one >simple/a/x
  echo one >simple/b/x
  echo one >simple/c
  echo two >simple/a/y
  echo two >simple/b/z
  echo three >simple/b/w
  : >simple/e1
  : >simple/a/e2
  jdupes -r simple >"$T/jdupes.simple" 2>/dev/null
  canonical "$T/jdupes.simple" >"$T/jdupes.simple.canon"
  printf 'simple/a/x\nsimple/b/x\nsimple/c\n\nsimple/a/y\nsimple/b/z\n' >"$T/expect.simple"
  same "$T/expect.simple" "$T/jdupes.simple.canon" "(reference check: jdupes -r on the small tree)"
  aw --dupes simple
  same_groups "$T/expect.simple" "--dupes on a small tree: jdupes's groups in byte order"
else
  skip "jdupes is not installed: no comparison with jdupes -r"
fi

# Several arguments.
expected_groups tree/data tree/.config tree/data-old >"$T/expect.several"
aw --dupes tree/data-old tree/data tree/.config
expect_rc 0 "--dupes with several arguments"
same_groups "$T/expect.several" "--dupes with several arguments: groups across them"

# No duplicates: nothing on stdout, exit 0. Two empty files are not duplicates.
mkdir -p nodup
echo a >nodup/a
echo b >nodup/b
: >nodup/e1
: >nodup/e2
aw --dupes nodup
expect_rc 0 "--dupes with no duplicates"
empty "$T/out" "--dupes with no duplicates: nothing on stdout"
aw --dupes tree/empty
expect_rc 0 "--dupes on an empty directory"
empty "$T/out" "--dupes on an empty directory: nothing on stdout"

# Awkward names elsewhere in the tree change nothing (their files are unique).
"$MKSAMPLE" "$T/awk" --awkward >/dev/null
expected_groups awk >"$T/expect.awk"
aw --dupes awk
expect_rc 0 "--dupes on the awkward tree"
same_groups "$T/expect.awk" "--dupes on the awkward tree: the same groups"

# --json: parses; its strings include every duplicate path and no other path.
aw --dupes --json tree
expect_rc 0 "--dupes --json"
if command -v python3 >/dev/null; then
  if python3 "$HERE/json_strings.py" <"$T/out" >"$T/json.strings" 2>"$T/json.err"; then
    pass "--dupes --json parses as JSON"
    bad=0
    while IFS= read -r p; do
      [ -z "$p" ] && continue
      nul_has "$T/json.strings" "$p" || { bad=$((bad + 1)); [ "$bad" -le 3 ] && fail "--dupes --json: $p missing"; }
    done <"$T/expect"
    while IFS= read -r -d '' p; do
      if ! grep -qxF -- "$p" "$T/expect" && nul_has "$T/json.strings" "$p"; then
        bad=$((bad + 1))
        [ "$bad" -le 3 ] && fail "--dupes --json: lists $p, which has no duplicate"
      fi
    done < <(find tree -type f -print0)
    [ "$bad" -eq 0 ] && pass "--dupes --json: every duplicate path, and no other path"
  else
    fail "--dupes --json does not parse as one JSON document: $(head -c 300 "$T/json.err")"
    python3 -c 'import json, sys; [json.loads(l) for l in sys.stdin if l.strip()]' <"$T/out" 2>/dev/null &&
      echo "  (note: it parses as JSON Lines, one document per line)"
    show "$T/out"
  fi
else
  skip "--dupes --json: python3 not installed, the JSON is not parsed"
fi
finish
