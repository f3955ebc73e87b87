#!/usr/bin/env bash
# Bounded memory: awsum with default options on a tree of 1.5 GiB (a 1 GiB sparse
# file, eight 64 MiB sparse files, the 300-file sample) prints sha256sum's lines
# and peaks under 100 MiB of resident memory, measured by awsum-maxrss
# (getrusage of the waited-for child). Under AddressSanitizer the shadow memory
# makes RSS meaningless: the hash is still checked, the bound is not.
. "$(dirname "$0")/lib.sh"
cd "$T" || exit 1
LIMIT_KIB=$((100 * 1024))

mkdir -p big
truncate -s 1G big/one-gib || { fail "truncate failed"; finish; }
for i in 1 2 3 4 5 6 7 8; do truncate -s 64M big/zeros-$i; done
"$MKSAMPLE" big/sample >/dev/null || { fail "awsum-mksample failed"; finish; }

# The reference: sha256sum reads each sparse file once (they are all zeros).
h1g=$(sha256sum big/one-gib | cut -c1-64)
h64=$(sha256sum big/zeros-1 | cut -c1-64)
{
  echo "$h1g  big/one-gib"
  manifest big/sample
  for i in 1 2 3 4 5 6 7 8; do echo "$h64  big/zeros-$i"; done
} | sort -k2 >"$T/expect"

rc=0
timeout -k 5 300 "$MAXRSS" "$T/rss" "$AWSUM" big >"$T/out" 2>"$T/err" </dev/null || rc=$?
check_run "awsum big (under awsum-maxrss)"
expect_rc 0 "awsum on a 1.5 GiB tree"
same "$T/expect" "$T/out" "the 1 GiB sparse file and the rest: sha256sum's lines"
empty "$T/err" "nothing on stderr"

kib=$(sed -n 's/^maxrss_kib=\([0-9]*\) .*/\1/p' "$T/rss" 2>/dev/null)
if [ -z "$kib" ]; then
  fail "awsum-maxrss wrote no report"
elif awsum_has_asan; then
  skip "peak RSS ${kib} KiB not bounded: awsum is built with AddressSanitizer (shadow memory)"
elif [ "$kib" -lt "$LIMIT_KIB" ]; then
  pass "peak RSS ${kib} KiB < ${LIMIT_KIB} KiB (100 MiB)"
else
  fail "peak RSS ${kib} KiB >= ${LIMIT_KIB} KiB (100 MiB)"
fi

# The single 1 GiB file alone, also with --unordered.
for opts in "" "--unordered"; do
  rc=0
  # shellcheck disable=SC2086
  timeout -k 5 300 "$MAXRSS" "$T/rss" "$AWSUM" $opts big/one-gib >"$T/out" 2>"$T/err" </dev/null || rc=$?
  check_run "awsum $opts big/one-gib"
  echo "$h1g  big/one-gib" >"$T/expect.one"
  same "$T/expect.one" "$T/out" "awsum $opts on the 1 GiB file: sha256sum's line"
  kib=$(sed -n 's/^maxrss_kib=\([0-9]*\) .*/\1/p' "$T/rss")
  if awsum_has_asan; then
    skip "awsum $opts one-gib: peak RSS ${kib} KiB not bounded under AddressSanitizer"
  elif [ -n "$kib" ] && [ "$kib" -lt "$LIMIT_KIB" ]; then
    pass "awsum $opts one-gib: peak RSS ${kib} KiB < 100 MiB"
  else
    fail "awsum $opts one-gib: peak RSS ${kib:-?} KiB"
  fi
done
finish
