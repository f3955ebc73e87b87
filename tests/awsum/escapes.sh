#!/usr/bin/env bash
# Names holding every combination of a backslash, a newline and a carriage
# return: the checksum lines, and -c's report (OK, FAILED, FAILED open or read,
# the messages on stderr), byte for byte as coreutils 9.1 sha256sum writes them.
# sha256sum -c escapes a name only when it holds a newline, and then escapes
# the carriage return too ("\r"): a name with both must not come out with a raw CR.
. "$(dirname "$0")/lib.sh"
cd "$T" || exit 1

nl=$'\n'
cr=$'\r'
mkdir names
i=0
for bs in '' '\'; do
  for n in '' "$nl"; do
    for c in '' "$cr"; do
      i=$((i + 1))
      printf 'content %d\n' "$i" >"names/f${i}${bs}a${n}b${c}c"
    done
  done
done
[ "$(find names -type f -printf . | wc -c)" -eq 8 ] || fail "could not make the 8 names"

# compare WHAT ARGS...: awsum and sha256sum with the same ARGS: stdout, stderr (the
# program name aside) and exit status.
compare() {
  local what=$1
  shift
  ref sha256sum "$@"
  aw "$@"
  same "$T/ref.out" "$T/out" "$what: stdout as sha256sum's"
  unprog "$T/ref.err" >"$T/ref.err.n"
  unprog "$T/err" >"$T/err.n"
  same "$T/ref.err.n" "$T/err.n" "$what: stderr as sha256sum's (program name aside)"
  if [ "$rc" -eq "$ref_rc" ]; then pass "$what: exit status $rc as sha256sum"; else fail "$what: exit status $rc, sha256sum's is $ref_rc"; fi
}

manifest names >sums
compare "hashing the names" names/*

compare "-c, every name OK" -c sums
lacks_line "$T/out" "^\\\\.*$cr" "-c: no raw carriage return in an escaped name (one holding a newline)"
compare "-c --quiet" -c --quiet sums

# One file of each name changed (FAILED), and a manifest of names that do not exist
# (FAILED open or read, and a message on stderr for each).
for f in names/*; do printf 'x' >>"$f"; done
compare "-c, every name FAILED" -c sums
sed -E 's#^(\\?[0-9a-f]{64}  )names/#\1gone/#' sums >gone
compare "-c, every name missing" -c gone
compare "-c --ignore-missing" -c --ignore-missing gone

finish
