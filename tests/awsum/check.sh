#!/usr/bin/env bash
# awsum -c MANIFEST...: the same stdout, stderr (but for the program name) and exit
# status as sha256sum -c on the same manifest: all good, a corrupted file, a missing
# file, malformed lines with and without --strict, --quiet, --status, several
# manifests, a manifest on stdin ('-'), lines in the manifest's order, escaped
# names, and the other line forms sha256sum accepts.
. "$(dirname "$0")/lib.sh"

"$MKSAMPLE" "$T/tree" --awkward --files 120 >/dev/null || { fail "awsum-mksample failed"; finish; }
cd "$T" || exit 1

# compare_with_sha256sum WHAT ARGS...: runs `sha256sum ARGS` and `awsum ARGS`,
# asserts the same stdout, the same stderr but for the program name, the same
# exit status.
compare_with_sha256sum() {
  local what=$1
  shift
  ref sha256sum "$@"
  aw "$@"
  compare_outputs "$what"
}
compare_stdin_with_sha256sum() {
  local what=$1 in=$2
  shift 2
  ref_in "$in" sha256sum "$@"
  aw_in "$in" "$@"
  compare_outputs "$what"
}
compare_outputs() {
  same "$T/ref.out" "$T/out" "$1: stdout as sha256sum's"
  unprog "$T/ref.err" >"$T/ref.err.n"
  unprog "$T/err" >"$T/err.n"
  same "$T/ref.err.n" "$T/err.n" "$1: stderr as sha256sum's (program name aside)"
  if [ "$rc" -eq "$ref_rc" ]; then pass "$1: exit status $rc as sha256sum"; else fail "$1: exit status $rc, sha256sum's is $ref_rc"; fi
}

# A good manifest, every awkward name included; lines in reverse path order so
# that "report in manifest order" is visible.
manifest tree | tac >"$T/good.sha256"
grep -q '^\\' "$T/good.sha256" || fail "the manifest has no escaped line"
compare_with_sha256sum "-c good manifest" -c "$T/good.sha256"
[ "$rc" -eq 0 ] || fail "-c good manifest: exit $rc"
[ "$(wc -l <"$T/out")" -eq "$(wc -l <"$T/good.sha256")" ] && pass "-c: one line per manifest line" || fail "-c: line count differs from the manifest's"
compare_with_sha256sum "--check (long option)" --check "$T/good.sha256"

# A manifest written by awsum itself checks clean.
aw tree
cp "$T/out" "$T/self.sha256"
aw -c "$T/self.sha256"
expect_rc 0 "awsum -c on awsum's own manifest"

# A manifest on stdin.
compare_stdin_with_sha256sum "-c - (stdin)" "$T/good.sha256" -c -

# Corrupt one file (a plain name, so that no quoting is involved) and remove another.
victim=$(grep -v '^\\' "$T/good.sha256" | grep -v ' tree/odd' | awk 'NR == 20 {print substr($0, 67)}')
gone=$(grep -v '^\\' "$T/good.sha256" | grep -v ' tree/odd' | awk 'NR == 40 {print substr($0, 67)}')
[ -f "$victim" ] && [ -f "$gone" ] || fail "could not pick files to corrupt ($victim, $gone)"
printf 'X' >>"$victim"
compare_with_sha256sum "-c with a corrupted file" -c "$T/good.sha256"
has_line "$T/out" "^$victim: FAILED\$" "-c: the corrupted file is 'FAILED'"
expect_rc 1 "-c with a corrupted file"
rm -f -- "$gone"
compare_with_sha256sum "-c with a corrupted and a missing file" -c "$T/good.sha256"
has_line "$T/out" "^$gone: FAILED open or read\$" "-c: the missing file is 'FAILED open or read'"
has_line "$T/err" "$gone: No such file or directory" "-c: the missing file's error on stderr"
has_line "$T/err" "WARNING: 1 computed checksum did NOT match" "-c: the mismatch summary"
has_line "$T/err" "WARNING: 1 listed file could not be read" "-c: the unreadable summary"
expect_rc 1 "-c with a missing file"

compare_with_sha256sum "-c --quiet" -c --quiet "$T/good.sha256"
lacks_line "$T/out" ': OK$' "--quiet: no OK lines"
compare_with_sha256sum "-c --status" -c --status "$T/good.sha256"
empty "$T/out" "--status: nothing on stdout"
expect_rc 1 "--status with failures"

# Plural summaries: two mismatches, two unreadable files.
victim2=$(grep -v '^\\' "$T/good.sha256" | grep -v ' tree/odd' | awk 'NR == 60 {print substr($0, 67)}')
gone2=$(grep -v '^\\' "$T/good.sha256" | grep -v ' tree/odd' | awk 'NR == 70 {print substr($0, 67)}')
printf 'Y' >>"$victim2"
rm -f -- "$gone2"
compare_with_sha256sum "-c with two of each" -c "$T/good.sha256"

# Back to a clean tree for the malformed-line cases.
rm -rf tree
"$MKSAMPLE" "$T/tree" --awkward --files 120 >/dev/null
manifest tree >"$T/clean.sha256"
compare_with_sha256sum "--status on a good manifest" -c --status "$T/clean.sha256"
empty "$T/out" "--status: nothing on stdout"
compare_with_sha256sum "--quiet on a good manifest" -c --quiet "$T/clean.sha256"
empty "$T/out" "--quiet on a good manifest: nothing on stdout"

# Malformed lines among good ones: a warning, exit 0; exit 1 only with --strict.
{
  sed -n '1,5p' "$T/clean.sha256"
  echo "this is not a checksum line"
  sed -n '6,10p' "$T/clean.sha256"
  echo "0123456789abcdef  tree/data.txt" # too short a hash
  echo ""
  sed -n '11,$p' "$T/clean.sha256"
} >"$T/malformed.sha256"
ref sha256sum -c "$T/malformed.sha256"
[ "$ref_rc" -eq 0 ] && pass "(sha256sum itself: malformed lines alone exit 0)" || fail "sha256sum -c on malformed lines: $ref_rc"
compare_with_sha256sum "-c with malformed lines" -c "$T/malformed.sha256"
expect_rc 0 "-c with malformed lines, no --strict"
# (sha256sum skips the empty line: two lines are improperly formatted.)
has_line "$T/err" "WARNING: 2 lines are improperly formatted" "-c: the improperly-formatted summary"
compare_with_sha256sum "-c --strict with malformed lines" -c --strict "$T/malformed.sha256"
expect_rc 1 "-c --strict with malformed lines"
compare_with_sha256sum "-c --status with malformed lines" -c --status "$T/malformed.sha256"
compare_with_sha256sum "-c --status --strict with malformed lines" -c --status --strict "$T/malformed.sha256"
compare_with_sha256sum "-c --quiet with malformed lines" -c --quiet "$T/malformed.sha256"
compare_with_sha256sum "-c --quiet --strict with malformed lines" -c --quiet --strict "$T/malformed.sha256"
compare_stdin_with_sha256sum "-c - with malformed lines" "$T/malformed.sha256" -c -

# Nothing but malformed lines, and an empty manifest: an error, exit 1.
printf 'garbage\nmore garbage\n' >"$T/allbad.sha256"
compare_with_sha256sum "-c on a manifest of garbage" -c "$T/allbad.sha256"
has_line "$T/err" "no properly formatted checksum lines found" "-c garbage: 'no properly formatted checksum lines found'"
: >"$T/empty.sha256"
compare_with_sha256sum "-c on an empty manifest" -c "$T/empty.sha256"
compare_stdin_with_sha256sum "-c - on garbage from stdin" "$T/allbad.sha256" -c -

# A manifest that does not exist.
compare_with_sha256sum "-c on a missing manifest" -c "$T/no-such.sha256"
expect_rc 1 "-c on a missing manifest"

# Several manifests, in order.
sed -n '1,30p' "$T/clean.sha256" >"$T/part1.sha256"
sed -n '31,$p' "$T/clean.sha256" | tac >"$T/part2.sha256"
compare_with_sha256sum "-c on two manifests" -c "$T/part2.sha256" "$T/part1.sha256"
compare_with_sha256sum "-c on a good and a garbage manifest" -c "$T/part1.sha256" "$T/allbad.sha256"

# The other line forms sha256sum -c accepts: upper-case hex, the binary marker
# '*' (sha256sum -b), the BSD tag form (sha256sum --tag).
plain=$(grep -v '^\\' "$T/clean.sha256" | grep ' tree/data/' | awk 'NR == 3 {print substr($0, 67)}')
h=$(sha256sum -- "$plain" | cut -c1-64)
H=$(printf '%s' "$h" | tr 'a-f' 'A-F')
printf '%s  %s\n' "$H" "$plain" >"$T/upper.sha256"
compare_with_sha256sum "-c upper-case hex" -c "$T/upper.sha256"
sha256sum -b -- "$plain" >"$T/binary.sha256"
compare_with_sha256sum "-c binary marker ('hash *name', as sha256sum -b writes)" -c "$T/binary.sha256"
sha256sum --tag -- "$plain" >"$T/tag.sha256"
compare_with_sha256sum "-c BSD tag line ('SHA256 (name) = hash', as sha256sum --tag writes)" -c "$T/tag.sha256"
finish
