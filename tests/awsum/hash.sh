#!/usr/bin/env bash
# awsum PATH...: the same lines as sha256sum, byte for byte, for every regular file
# under the arguments, sorted by path in byte order; names with a backslash, a
# newline or a carriage return escaped as sha256sum does; --unordered gives the
# same lines in any order; --jobs, --chunk, --max-inflight change nothing in the
# output; --json is JSON holding every path and hash.
. "$(dirname "$0")/lib.sh"

"$MKSAMPLE" "$T/tree" --awkward >/dev/null || { fail "awsum-mksample failed"; finish; }
cd "$T" || exit 1

# The whole tree, by a relative argument.
manifest tree >"$T/expect"
[ "$(wc -l <"$T/expect")" -ge 300 ] || fail "reference manifest too short"
grep -q '^\\' "$T/expect" && pass "the reference has escaped lines (awkward names present)" ||
  fail "the reference has no escaped line"
aw tree
expect_rc 0 "awsum tree"
same "$T/expect" "$T/out" "awsum tree = find tree -type f | sort | sha256sum"
empty "$T/err" "awsum tree: nothing on stderr"

# An absolute argument: paths start with it.
manifest "$T/tree" >"$T/expect.abs"
aw "$T/tree"
expect_rc 0 "awsum \$T/tree"
same "$T/expect.abs" "$T/out" "absolute argument: paths printed as reached from it"

# ./tree and tree/ keep the argument's spelling, as find does.
manifest ./tree >"$T/expect.dot"
aw ./tree
same "$T/expect.dot" "$T/out" "argument ./tree: paths start with ./tree/"
manifest tree/ >"$T/expect.slash"
aw tree/
same "$T/expect.slash" "$T/out" "argument tree/ (trailing slash): paths as find prints them (tree/x, no double slash)"
cd tree && manifest . >"$T/expect.cwd" && aw .
cd "$T" || exit 1
same "$T/expect.cwd" "$T/out" "argument . inside the tree: paths start with ./"

# Each file alone, including every awkward name: exactly sha256sum's line.
nfile=0
bad=0
while IFS= read -r -d '' f; do
  nfile=$((nfile + 1))
  sha256sum -- "$f" >"$T/one.expect"
  aw -- "$f"
  if [ "$rc" -ne 0 ] || ! cmp -s "$T/one.expect" "$T/out"; then
    bad=$((bad + 1))
    [ "$bad" -le 5 ] && fail "single file $(printf '%q' "$f"): exit $rc, got $(cat -A "$T/out"), expected $(cat -A "$T/one.expect")"
  fi
done < <(find "tree/odd names" -type f -print0 | sort -z)
[ "$bad" -eq 0 ] && pass "each of $nfile awkward files alone: sha256sum's line, byte for byte"
# A name with a leading dash, given after --.
cd "tree/odd names" && sha256sum -- -leading-dash >"$T/dash.expect" && aw -- -leading-dash
cd "$T" || exit 1
same "$T/dash.expect" "$T/out" "awsum -- -leading-dash"
# The empty file and a 1 MiB edge file.
zero=$(find tree -type f -size 0 -print | head -n 1)
sha256sum -- "$zero" >"$T/zero.expect"
aw "$zero"
same "$T/zero.expect" "$T/out" "an empty file: the hash of nothing"

# A directory with no file in it: nothing printed, nothing wrong.
aw tree/empty
expect_rc 0 "awsum on an empty directory"
empty "$T/out" "an empty directory: nothing on stdout"
empty "$T/err" "an empty directory: nothing on stderr"

# Several arguments, given out of order, files and directories mixed: one list
# sorted by path.
args=("tree/odd names" tree/data.txt tree/data "tree/data-old" tree/.hidden)
printf '%s\0' "${args[@]}" | xargs -0 -I{} find {} -type f -print0 | sort -z | xargs -0r sha256sum -- >"$T/expect.several"
aw "${args[@]}"
expect_rc 0 "several arguments"
same "$T/expect.several" "$T/out" "several arguments out of order: one list sorted by path in byte order"

# --unordered: the same lines, in any order.
aw --unordered tree
expect_rc 0 "--unordered"
sort "$T/expect" >"$T/expect.sorted"
sort "$T/out" >"$T/out.sorted"
same "$T/expect.sorted" "$T/out.sorted" "--unordered: the same lines once sorted"

# Tuning options do not change the output.
for opts in "--jobs 1" "--jobs 3" "--chunk 4096" "--chunk 65536 --max-inflight 1" \
  "--max-inflight 2" "--chunk 1048576 --max-inflight 64 --jobs 2" "--chunk 64K --max-inflight 1M" \
  "--no-progress"; do
  # shellcheck disable=SC2086
  aw $opts tree
  expect_rc 0 "awsum $opts tree"
  same "$T/expect" "$T/out" "awsum $opts tree: same output"
done

# --json parses and holds every path and hash.
aw --json tree
expect_rc 0 "--json"
if command -v python3 >/dev/null; then
  if python3 "$HERE/json_strings.py" <"$T/out" >"$T/json.strings" 2>"$T/json.err"; then
    pass "--json output parses as JSON"
    missing=0
    while IFS= read -r line; do
      h=${line#\\}
      h=${h:0:64}
      if ! nul_has "$T/json.strings" "$h"; then
        missing=$((missing + 1))
        [ "$missing" -le 3 ] && fail "--json: hash $h missing"
      fi
    done <"$T/expect"
    # Every path that is UTF-8 (how JSON spells other bytes is awsum's choice).
    while IFS= read -r -d '' p; do
      if printf '%s' "$p" | iconv -f UTF-8 -t UTF-8 >/dev/null 2>&1 && ! nul_has "$T/json.strings" "$p"; then
        missing=$((missing + 1))
        [ "$missing" -le 3 ] && fail "--json: path $(printf '%q' "$p") missing"
      fi
    done < <(find tree -type f -print0)
    [ "$missing" -eq 0 ] && pass "--json: every hash and every UTF-8 path is a string in it"
    # Names with a newline: JSON escapes them, so the decoded string is the name.
    nl=$'\n'
    if nul_has "$T/json.strings" "tree/odd names/new${nl}line.txt"; then
      pass "--json: a name with a newline decodes to the name"
    else
      fail "--json: 'tree/odd names/new\\nline.txt' is not a string in the JSON"
    fi
  else
    fail "--json output does not parse as one JSON document: $(head -c 300 "$T/json.err")"
    python3 -c 'import json, sys; [json.loads(l) for l in sys.stdin if l.strip()]' <"$T/out" 2>/dev/null &&
      echo "  (note: it parses as JSON Lines, one document per line)"
    show "$T/out"
  fi
else
  skip "--json: python3 not installed, the JSON is not parsed"
fi
finish
