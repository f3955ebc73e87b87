#!/usr/bin/env bash
# The progress line: never when stderr is not a terminal (unless --progress
# forces it), never on stdout, shown by default when stderr is a terminal,
# silenced by --no-progress, and erased at the end so that nothing of it stays
# on the screen. The terminal cases run under util-linux `script` (a pty) and
# are skipped without it.
. "$(dirname "$0")/lib.sh"
cd "$T" || exit 1

# Enough work for the line (redrawn every 100 ms) to be drawn several times: 1 GiB of sparse zeros.
mkdir -p tree
"$MKSAMPLE" tree/sample --files 100 >/dev/null || { fail "awsum-mksample failed"; finish; }
truncate -s 512M tree/zeros-a tree/zeros-b
h=$(sha256sum tree/zeros-a | cut -c1-64)
{ manifest tree/sample; echo "$h  tree/zeros-a"; echo "$h  tree/zeros-b"; } | sort -k2 >"$T/expect"
AW_TIMEOUT=120

aw tree
expect_rc 0 "awsum tree, stderr a file"
same "$T/expect" "$T/out" "stdout is the manifest"
empty "$T/err" "stderr not a terminal: no progress output"

aw --progress tree
expect_rc 0 "awsum --progress tree, stderr a file"
same "$T/expect" "$T/out" "--progress: stdout is still exactly the manifest"
[ -s "$T/err" ] && pass "--progress forces the progress line on a non-terminal" || fail "--progress: nothing on stderr"

aw --no-progress tree
empty "$T/err" "--no-progress: nothing on stderr"

aw --progress --no-progress tree
empty "$T/err" "--progress --no-progress: the last one wins"

aw --dupes tree
empty "$T/err" "--dupes, stderr a file: no progress output"
aw -c "$T/expect"
empty "$T/err" "-c, stderr a file: no progress output"

if ! command -v script >/dev/null; then
  skip "util-linux script is not installed: the terminal cases are not run"
  finish
fi
# in_pty LOG CMD...: runs CMD with a pty as its terminal; what it writes there goes
# to LOG (stdin comes from /dev/null).
in_pty() {
  local log=$1 cmd
  shift
  printf -v cmd '%q ' "$@"
  rc=0
  timeout -k 5 "$AW_TIMEOUT" script -q -e -c "$cmd" /dev/null </dev/null >"$log" 2>&1 || rc=$?
}

# stderr a terminal, stdout a file: the line is drawn, then erased.
in_pty "$T/tty.log" bash -c '"$1" tree >"$2" 2>/dev/tty' _ "$AWSUM" "$T/out.pty"
expect_rc 0 "awsum tree with stderr on a terminal"
same "$T/expect" "$T/out.pty" "stderr a terminal: stdout is still exactly the manifest"
if [ -s "$T/tty.log" ]; then
  pass "stderr a terminal: the progress line is drawn by default"
else
  fail "stderr a terminal: no progress line by default"
fi
if command -v python3 >/dev/null; then
  python3 "$HERE/termlast.py" <"$T/tty.log" >"$T/screen"
  if ! grep -q '[^[:space:]]' "$T/screen"; then
    pass "stderr a terminal: the progress line is erased at the end (nothing left on screen)"
  else
    fail "stderr a terminal: left on the screen at the end:"
    show "$T/screen"
  fi
else
  skip "python3 not installed: the final screen is not replayed"
fi

in_pty "$T/tty.log" bash -c '"$1" --no-progress tree >"$2" 2>/dev/tty' _ "$AWSUM" "$T/out.pty"
expect_rc 0 "awsum --no-progress with stderr on a terminal"
empty "$T/tty.log" "--no-progress on a terminal: nothing drawn"

# stdout a terminal, stderr a file: no progress anywhere.
in_pty "$T/tty.log" bash -c '"$1" tree 2>"$2"' _ "$AWSUM" "$T/err.pty"
expect_rc 0 "awsum tree with stdout on a terminal"
empty "$T/err.pty" "stdout a terminal, stderr a file: no progress on stderr"
tr -d '\r' <"$T/tty.log" >"$T/tty.out"
same "$T/expect" "$T/tty.out" "stdout a terminal: only the manifest on it"
finish
