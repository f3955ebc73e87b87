#!/usr/bin/env bash
# Standard descriptors the caller closed or pointed at something that fails,
# as coreutils 9.1 sha256sum handles them: stdout closed (>&-), full
# (>/dev/full) or open read-only (1</dev/null) is "write error" (with ": Bad
# file descriptor" for a closed one) and exit status 1, unless nothing was
# written; stdin closed makes "-" a "Bad file descriptor" and is never a file
# awsum opened; stderr closed changes nothing else. Compared with sha256sum's
# stderr (the program name aside) and exit status, for hashing, -c, --help and
# --version, a small output and one bigger than awsum's stdout buffer.
. "$(dirname "$0")/lib.sh"
cd "$T" || exit 1

echo hello >f
mkdir many
for i in $(seq 1 1500); do echo "$i" >"many/file-$i"; done # 1500 lines: > 64 KiB of output
sha256sum f >f.sum
manifest many >many.sum

# runs HOW PROG ARGS...: PROG with stdout as HOW says; stderr in $T/run.err,
# the exit status in $run_rc.
runs() {
  local how=$1
  shift
  run_rc=0
  case $how in
  closed) timeout -k 5 "$AW_TIMEOUT" "$@" >&- 2>"$T/run.err" </dev/null || run_rc=$? ;;
  full) timeout -k 5 "$AW_TIMEOUT" "$@" >/dev/full 2>"$T/run.err" </dev/null || run_rc=$? ;;
  rdonly) timeout -k 5 "$AW_TIMEOUT" "$@" 1</dev/null 2>"$T/run.err" </dev/null || run_rc=$? ;;
  esac
}

# compare LABEL HOW ARGS...: awsum ARGS and sha256sum ARGS with stdout as HOW says.
compare() {
  local what="stdout $2: $1" how=$2
  shift 2
  runs "$how" sha256sum "$@"
  ref_rc=$run_rc
  unprog "$T/run.err" >"$T/ref.err.n"
  runs "$how" "$AWSUM" "$@"
  rc=$run_rc
  cp "$T/run.err" "$T/err"
  check_run "awsum $*"
  unprog "$T/err" >"$T/err.n"
  same "$T/ref.err.n" "$T/err.n" "$what: stderr as sha256sum's (program name aside)"
  if [ "$rc" -eq "$ref_rc" ]; then pass "$what: exit status $rc as sha256sum"; else fail "$what: exit status $rc, sha256sum's is $ref_rc"; fi
}

hows="closed rdonly"
[ -c /dev/full ] && hows="$hows full" || skip "no /dev/full"
for how in $hows; do
  compare "one file" "$how" f
  compare "1500 files" "$how" many/*
  compare "a file, a missing one" "$how" f missing
  compare "-c, one file" "$how" -c f.sum
  compare "-c, 1500 files" "$how" -c many.sum
  compare "-c --quiet" "$how" -c --quiet f.sum   # writes nothing: no error
  compare "-c --status" "$how" -c --status f.sum # likewise
  compare "--help" "$how" --help
  compare "--version" "$how" --version
done
# Nothing printed but a message: a closed stdout is no error then.
runs closed "$AWSUM" missing
[ "$run_rc" -eq 1 ] && pass "stdout closed, only a missing file: exit status 1" || fail "stdout closed, only a missing file: exit status $run_rc"
lacks_line "$T/run.err" 'write error' "stdout closed, nothing written: no write error"

# The modes sha256sum does not have: the same write error.
for args in "--unordered many" "--json f" "--dupes many f f.copy"; do
  cp f f.copy
  # shellcheck disable=SC2086 # the words of $args are the arguments
  runs closed "$AWSUM" $args
  [ "$run_rc" -eq 1 ] && pass "stdout closed: awsum $args: exit status 1" || fail "stdout closed: awsum $args: exit status $run_rc, expected 1"
  has_line "$T/run.err" '^([^ :]*/)?awsum: write error: Bad file descriptor$' "stdout closed: awsum $args: the write error reported"
done

# stdin closed: "-" is a bad descriptor, and never one of the files awsum opens.
rc=0
"$AWSUM" f - many/file-1 >"$T/out" 2>"$T/err" <&- || rc=$?
check_run "awsum f - many/file-1 <&-"
ref_rc=0
sha256sum f - many/file-1 >"$T/ref.out" 2>"$T/ref.err" <&- || ref_rc=$?
same "$T/ref.out" "$T/out" "stdin closed: stdout as sha256sum's"
unprog "$T/ref.err" >"$T/ref.err.n"
unprog "$T/err" >"$T/err.n"
same "$T/ref.err.n" "$T/err.n" "stdin closed: stderr as sha256sum's (program name aside)"
[ "$rc" -eq "$ref_rc" ] && pass "stdin closed: exit status $rc as sha256sum" || fail "stdin closed: exit status $rc, sha256sum's is $ref_rc"
rc=0
"$AWSUM" -c - many.sum >"$T/out" 2>"$T/err" <&- || rc=$?
check_run "awsum -c - many.sum <&-"
ref_rc=0
sha256sum -c - many.sum >"$T/ref.out" 2>"$T/ref.err" <&- || ref_rc=$?
same "$T/ref.out" "$T/out" "stdin closed, -c -: stdout as sha256sum's"
unprog "$T/ref.err" >"$T/ref.err.n"
unprog "$T/err" >"$T/err.n"
same "$T/ref.err.n" "$T/err.n" "stdin closed, -c -: stderr as sha256sum's (program name aside)"
[ "$rc" -eq "$ref_rc" ] && pass "stdin closed, -c -: exit status $rc as sha256sum" || fail "stdin closed, -c -: exit status $rc, sha256sum's is $ref_rc"

# stderr closed: the output and the exit status are unchanged.
rc=0
"$AWSUM" many missing >"$T/out" 2>&- </dev/null || rc=$?
manifest many >"$T/expect"
same "$T/expect" "$T/out" "stderr closed: every line on stdout"
[ "$rc" -eq 1 ] && pass "stderr closed, a missing file: exit status 1" || fail "stderr closed, a missing file: exit status $rc"

finish
