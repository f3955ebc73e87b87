#!/usr/bin/env bash
# Usage: --help exits 0 and documents every option; a usage error (unknown
# option, a bad or missing value for --chunk, --jobs, --max-inflight) exits 2
# with a message on stderr and nothing on stdout; no PATH either reads standard
# input as sha256sum does or is a usage error, whichever --help documents.
. "$(dirname "$0")/lib.sh"
cd "$T" || exit 1
echo hello >f

aw --help
expect_rc 0 "--help"
empty "$T/err" "--help: nothing on stderr"
cp "$T/out" "$T/help"
for o in -c --check --quiet --status --strict --dupes --json --unordered --chunk --max-inflight \
  --jobs --progress --no-progress -L --verbose --help; do
  if grep -qE -- "(^|[^a-z-])$o([^a-z-]|\$)" "$T/help"; then pass "--help mentions $o"; else fail "--help does not mention $o"; fi
done

usage_error() {
  aw "$@"
  if [ "$rc" -eq 2 ]; then pass "awsum $*: exit 2"; else fail "awsum $*: exit $rc, expected 2 (usage error)"; fi
  [ -s "$T/err" ] && pass "awsum $*: a message on stderr" || fail "awsum $*: no message on stderr"
  empty "$T/out" "awsum $*: nothing on stdout"
  has_line "$T/err" '^([^ :]*/)?awsum: ' "awsum $*: the message starts with 'awsum: '"
}
usage_error --no-such-option f
usage_error -Z f
usage_error --chunk abc f
usage_error --chunk 0 f
usage_error --chunk -4096 f
usage_error --chunk '' f
usage_error --chunk 12potatoes f
usage_error --chunk 99999999999999999999999 f
usage_error --jobs abc f
usage_error --jobs -1 f
usage_error --max-inflight abc f
usage_error --max-inflight 0 f
usage_error f --chunk
usage_error f --jobs
usage_error f --max-inflight

# No PATH: as --help says.
if grep -qiE 'standard input|stdin' "$T/help"; then
  echo "--help documents standard input: awsum with no PATH (and awsum -) must read it as sha256sum does"
  sha256sum <f >"$T/expect.stdin"
  aw_in f
  expect_rc 0 "awsum < f"
  same "$T/expect.stdin" "$T/out" "awsum < f: sha256sum's line for '-'"
  aw_in f -
  same "$T/expect.stdin" "$T/out" "awsum - < f: sha256sum's line for '-'"
  sha256sum f >"$T/m.sha256"
  ref_in "$T/m.sha256" sha256sum -c
  aw_in "$T/m.sha256" -c
  same "$T/ref.out" "$T/out" "awsum -c < manifest: as sha256sum -c"
  expect_rc "$ref_rc" "awsum -c < manifest"
else
  echo "--help does not document standard input: awsum with no PATH is a usage error"
  usage_error
fi
finish
