# tests/awsum/lib.sh — sourced by every awsum test script.
#
#   bash TEST.sh AWSUM MKSAMPLE MAXRSS MKSOCK CHURN
#
# Gives: $AWSUM $MKSAMPLE $MAXRSS $MKSOCK $CHURN (the programs, absolute paths), a scratch directory $T removed on exit,
# LC_ALL=C (byte order for sort, English messages from coreutils), and:
#   aw ARGS...        runs awsum under `timeout $AW_TIMEOUT` with stdout in $T/out,
#                     stderr in $T/err and the exit status in $rc; a hang, a crash
#                     or a sanitizer report is a failure on the spot
#   expect_rc N WHAT  asserts $rc
#   same A B WHAT     asserts files A and B are byte-identical (shows a diff if not)
#   pass/fail/skip    one line per assertion; `finish` exits 1 if anything failed,
#                     77 (meson's "skipped") if the whole test was skipped
#   manifest PATH...  the sha256sum lines of every regular file under PATH...,
#                     sorted by path in byte order: the reference for awsum's output
set -u
set -o pipefail
export LC_ALL=C
unset LANGUAGE

if [ $# -lt 5 ]; then
  echo "usage: $0 AWSUM MKSAMPLE MAXRSS MKSOCK CHURN" >&2
  exit 2
fi
HERE=$(cd "$(dirname "$0")" && pwd)
abspath() { case $1 in /*) printf '%s\n' "$1" ;; *) printf '%s/%s\n' "$PWD" "$1" ;; esac }
AWSUM=$(abspath "$1")
MKSAMPLE=$(abspath "$2")
MAXRSS=$(abspath "$3")
MKSOCK=$(abspath "$4")
CHURN=$(abspath "$5")
shift 5
AW_TIMEOUT=${AW_TIMEOUT:-60}

T=$(mktemp -d "${TMPDIR:-/tmp}/awsum-test.XXXXXX") || exit 1
cleanup() {
  chmod -R u+rwX "$T" 2>/dev/null
  rm -rf "$T"
}
trap cleanup EXIT

failures=0
passes=0
skips=0
pass() {
  passes=$((passes + 1))
  printf 'ok   %s\n' "$*"
}
fail() {
  failures=$((failures + 1))
  printf 'FAIL %s\n' "$*"
}
skip() {
  skips=$((skips + 1))
  printf 'SKIP %s\n' "$*"
}
finish() {
  printf '%d passed, %d failed, %d skipped\n' "$passes" "$failures" "$skips"
  [ "$failures" -gt 0 ] && exit 1
  [ "$passes" -eq 0 ] && [ "$skips" -gt 0 ] && exit 77
  exit 0
}

# Shows a file with every byte visible, at most 40 lines.
show() { head -c 4000 -- "$1" | cat -A | head -n 40 | sed 's/^/    | /'; }

# aw [ARGS...]: awsum with its output captured; $rc is its exit status. A command
# in the array AW_WRAP, if set, runs awsum (setpriv, to drop capabilities).
AW_WRAP=()
aw() {
  rc=0
  timeout -k 5 "$AW_TIMEOUT" "${AW_WRAP[@]}" "$AWSUM" "$@" >"$T/out" 2>"$T/err" </dev/null || rc=$?
  check_run "awsum $*"
}
# aw_in FILE ARGS...: the same with stdin from FILE.
aw_in() {
  local in=$1
  shift
  rc=0
  timeout -k 5 "$AW_TIMEOUT" "${AW_WRAP[@]}" "$AWSUM" "$@" >"$T/out" 2>"$T/err" <"$in" || rc=$?
  check_run "awsum $* < $in"
}
check_run() {
  if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
    fail "$1: did not finish within ${AW_TIMEOUT}s (hang?)"
  elif [ "$rc" -gt 128 ]; then
    fail "$1: killed by signal $((rc - 128))"
    show "$T/err"
  fi
  if grep -aqE 'ERROR: (Address|Leak)Sanitizer|runtime error:|AddressSanitizer|SUMMARY: UndefinedBehavior' "$T/err"; then
    fail "$1: sanitizer report on stderr"
    show "$T/err"
  fi
}

expect_rc() {
  if [ "$rc" -eq "$1" ]; then
    pass "$2: exit status $1"
  else
    fail "$2: exit status $rc, expected $1"
    echo "  stderr:"
    show "$T/err"
  fi
}

same() {
  if cmp -s -- "$1" "$2"; then
    pass "$3"
  else
    fail "$3: output differs (- expected, + awsum)"
    diff -a -u -- "$1" "$2" | head -n 40 | cat -A | sed 's/^/    /'
  fi
}

# empty FILE WHAT: asserts FILE is empty.
empty() {
  if [ ! -s "$1" ]; then
    pass "$2"
  else
    fail "$2: not empty:"
    show "$1"
  fi
}

# has_line FILE ERE WHAT: asserts some line of FILE matches the extended regex.
has_line() {
  if grep -aqE -- "$2" "$1"; then
    pass "$3"
  else
    fail "$3: no line matching /$2/ in:"
    show "$1"
  fi
}
# has_line_both FILE ERE1 ERE2 WHAT: some line matches both regexes, in any order.
has_line_both() {
  if grep -aE -- "$2" "$1" | grep -aqE -- "$3"; then
    pass "$4"
  else
    fail "$4: no line matching both /$2/ and /$3/ in:"
    show "$1"
  fi
}
lacks_line() {
  if ! grep -aqE -- "$2" "$1"; then
    pass "$3"
  else
    fail "$3: unexpected line matching /$2/:"
    grep -aE -- "$2" "$1" | head -n 5 | cat -A | sed 's/^/    | /'
  fi
}

# Every stderr line is a message from awsum ("awsum: ..."), whatever path the
# binary was started by.
stderr_lines_are_awsum() {
  if ! grep -avE '^([^ :]*/)?awsum: ' "$T/err" | grep -aq .; then
    pass "$1"
  else
    fail "$1: stderr lines not prefixed by 'awsum: ':"
    show "$T/err"
  fi
}

# Replaces the program name at the start of each line by PROG, to compare
# awsum's messages with sha256sum's.
unprog() { sed -E 's#^([^ :]*/)?(awsum|sha256sum): #PROG: #' "$1"; }

# nul_has FILE STRING: is STRING one of the NUL-terminated records of FILE?
nul_has() { S=$2 awk 'BEGIN {RS = "\0"} $0 == ENVIRON["S"] {f = 1; exit} END {exit !f}' "$1"; }

manifest() {
  find "$@" -type f -print0 | sort -z | xargs -0r sha256sum --
}

# A reference run of sha256sum (or anything): stdout in $T/ref.out, stderr in
# $T/ref.err, status in $ref_rc.
ref() {
  ref_rc=0
  "$@" >"$T/ref.out" 2>"$T/ref.err" </dev/null || ref_rc=$?
}
ref_in() {
  local in=$1
  shift
  ref_rc=0
  "$@" >"$T/ref.out" 2>"$T/ref.err" <"$in" || ref_rc=$?
}

# Is awsum built with AddressSanitizer? (RSS bounds do not hold under it.)
awsum_has_asan() {
  if command -v readelf >/dev/null; then
    readelf -d "$AWSUM" 2>/dev/null | grep -q 'libasan' && return 0
    readelf -s "$AWSUM" 2>/dev/null | grep -q '__asan_init' && return 0
    return 1
  fi
  grep -aq '__asan_init' "$AWSUM"
}
