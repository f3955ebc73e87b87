#!/usr/bin/env bash
# A low descriptor limit (ulimit -n 12, 16, 24; hard and soft, so awsum cannot
# raise it): every file of a tree of a few thousand files in a few hundred
# directories is hashed, checked (-c) and compared (--dupes), with the same
# output as without the limit (sha256sum's for hashing and -c) and nothing on
# stderr. awsum's budget must count the descriptors already open and the
# walk's directories, and an open that fails with EMFILE must wait for one of
# awsum's own descriptors to close.
#
# Then the limit is lowered under a running awsum -c (prlimit, while it waits
# for its manifest on a FIFO), so that the budget it computed at the start is
# far too big: every open past the limit fails with EMFILE and must wait and
# retry. Lowered below what is open already, nothing can be opened: each file
# is reported (Too many open files), and awsum still ends.
. "$(dirname "$0")/lib.sh"
cd "$T" || exit 1

"$MKSAMPLE" tree --files 3000 >/dev/null || { fail "awsum-mksample failed"; finish; }
mkdir dup
cp -r tree/.config dup/ 2>/dev/null || cp -r "$(find tree -mindepth 1 -maxdepth 1 -type d | head -n 1)" dup/
manifest tree >"$T/expect"
[ "$(wc -l <"$T/expect")" -ge 3000 ] || fail "the tree has fewer than 3000 files"
ref sha256sum -c "$T/expect"
cp "$T/ref.out" "$T/expect.check"
aw --dupes tree dup
cp "$T/out" "$T/expect.dupes"
[ -s "$T/expect.dupes" ] || fail "--dupes found no group to compare with"

# The descriptors this shell passes on count against the limit: close them
# (all but 0-2) in the subshells that lower it.
close_extra_fds() {
  local fd
  for fd in /proc/self/fd/*; do
    fd=${fd##*/}
    [ "$fd" -gt 2 ] 2>/dev/null && eval "exec $fd>&-" 2>/dev/null
  done
}
# limited N ARGS...: aw ARGS under ulimit -n N.
limited() {
  local n=$1
  shift
  rc=0
  (
    close_extra_fds
    ulimit -n "$n" || exit 125
    exec timeout -k 5 "$AW_TIMEOUT" "$AWSUM" "$@"
  ) >"$T/out" 2>"$T/err" </dev/null || rc=$?
  check_run "ulimit -n $n; awsum $*"
}

for n in 12 16 24; do
  limited "$n" tree
  if [ "$rc" -eq 125 ]; then
    skip "ulimit -n $n refused"
    continue
  fi
  expect_rc 0 "ulimit -n $n: awsum tree"
  same "$T/expect" "$T/out" "ulimit -n $n: every file hashed, as sha256sum"
  empty "$T/err" "ulimit -n $n: nothing on stderr"

  limited "$n" -c "$T/expect"
  expect_rc 0 "ulimit -n $n: awsum -c"
  same "$T/expect.check" "$T/out" "ulimit -n $n: every file checked, as sha256sum -c"
  empty "$T/err" "ulimit -n $n, -c: nothing on stderr"

  limited "$n" --dupes tree dup
  expect_rc 0 "ulimit -n $n: awsum --dupes"
  same "$T/expect.dupes" "$T/out" "ulimit -n $n: --dupes as without the limit"
  empty "$T/err" "ulimit -n $n, --dupes: nothing on stderr"
done

# dropped N MANIFEST: awsum -c - reading MANIFEST from a FIFO; once awsum waits
# in its loop (its budget computed), its limit is lowered to N, then the
# manifest written.
dropped() {
  local n=$1 manifest=$2 pid i
  rm -f "$T/fifo"
  mkfifo "$T/fifo" || return 1
  exec 3<>"$T/fifo"
  rc=0
  timeout -k 5 "$AW_TIMEOUT" "$AWSUM" -c - <"$T/fifo" >"$T/out" 2>"$T/err" 3>&- &
  pid=$!
  # timeout's child: awsum, waiting in io_uring_enter for its manifest
  local waiting=false
  for i in $(seq 1 400); do
    for p in $(pgrep -P "$pid" 2>/dev/null) "$pid"; do
      if grep -q io_cqring_wait "/proc/$p/wchan" 2>/dev/null; then
        prlimit --pid "$p" --nofile="$n:$n" && waiting=true
        break 2
      fi
    done
    sleep 0.05
  done
  cat "$manifest" >&3
  exec 3>&-
  wait "$pid" || rc=$?
  check_run "awsum -c - (limit lowered to $n)"
  $waiting
}

if ! command -v prlimit >/dev/null; then
  skip "no prlimit: the lowered limit is not tried"
elif ! dropped 12 "$T/expect"; then
  skip "could not see awsum waiting in io_uring (/proc/PID/wchan): the lowered limit is not tried"
else
  expect_rc 0 "limit lowered to 12 under awsum -c"
  same "$T/expect.check" "$T/out" "limit lowered to 12: every file checked (EMFILE waited for)"
  empty "$T/err" "limit lowered to 12: nothing on stderr"

  head -n 200 "$T/expect" >"$T/expect.200"
  if dropped 3 "$T/expect.200"; then
    expect_rc 1 "limit lowered to 3 (nothing can be opened)"
    [ "$(grep -c ': FAILED open or read$' "$T/out")" -eq 200 ] && pass "limit lowered to 3: every file FAILED open or read" ||
      fail "limit lowered to 3: not every file failed: $(grep -vc ': FAILED open or read$' "$T/out") other lines"
    [ "$(grep -c ': Too many open files$' "$T/err")" -eq 200 ] && pass "limit lowered to 3: each reported as Too many open files" ||
      fail "limit lowered to 3: $(grep -c ': Too many open files$' "$T/err") of 200 reported as Too many open files"
  fi
fi

finish
