#!/usr/bin/env bash
# Files whose size is not what stat says, and files that change, vanish or
# shrink while awsum reads them. The rule: never a wrong hash printed silently,
# never a crash or a hang; a file that could not be read whole is reported on
# stderr and makes the exit status 1; the other files are still hashed.
#
# Deterministic part: kernel files whose st_size lies. /proc/version says 0
# bytes and holds ~100 (sha256sum hashes what it reads); a sysfs attribute
# says 4096 and holds a few bytes (a file that "shrank" before it was read).
# For each, awsum prints sha256sum's line, or reports the file and exits 1.
#
# Racy part (no FUSE, no ptrace: it cannot be made deterministic): a helper
# truncates, rewrites, deletes and recreates files in churn/ while awsum
# hashes the tree, many times over. Only what holds in every interleaving is
# asserted: exit 0 or 1, the stable files' lines all present and correct, any
# line for a churned file is well formed, 1 comes with a message on stderr.
. "$(dirname "$0")/lib.sh"
cd "$T" || exit 1

mkdir -p stable
echo stable-one >stable/one
head -c 300000 /dev/urandom >stable/two 2>/dev/null || seq 1 50000 >stable/two
manifest stable >"$T/expect.stable"

# lying_size FILE WHAT: awsum FILE stable is sha256sum's lines, or FILE reported
# and exit 1 with no line for it, stable hashed either way.
lying_size() {
  local f=$1 what=$2
  ref sha256sum -- "$f" stable/one stable/two
  aw "$f" stable
  if [ "$rc" -eq 0 ]; then
    sort -k2 "$T/ref.out" >"$T/ref.sorted"
    same "$T/ref.sorted" "$T/out" "$what: read to the end, as sha256sum"
  elif [ "$rc" -eq 1 ]; then
    same "$T/expect.stable" "$T/out" "$what: reported (exit 1), no line for it, the rest hashed"
    has_line "$T/err" "^([^ :]*/)?awsum: .*$f" "$what: the message names $f"
  else
    fail "$what: exit $rc"
  fi
}
if [ -r /proc/version ] && [ -n "$(head -c 1 /proc/version 2>/dev/null)" ]; then
  lying_size /proc/version "/proc/version (stat says 0 bytes, holds more)"
else
  skip "/proc/version is not readable here"
fi
sysf=
for c in /sys/kernel/mm/transparent_hugepage/enabled /sys/kernel/mm/transparent_hugepage/defrag \
  /sys/power/state /sys/kernel/profiling /sys/kernel/uevent_seqnum /sys/devices/system/cpu/online; do
  if [ -r "$c" ] && [ "$(stat -c %s "$c" 2>/dev/null)" = 4096 ] &&
    [ "$(head -c 5000 "$c" 2>/dev/null | wc -c)" -gt 0 ] && [ "$(head -c 5000 "$c" | wc -c)" -lt 4096 ]; then
    sysf=$c
    break
  fi
done
if [ -n "$sysf" ]; then
  lying_size "$sysf" "$sysf (stat says 4096 bytes, holds $(wc -c <"$sysf"))"
else
  skip "no sysfs attribute whose size lies is readable here"
fi

# The racy part: awsum-churn keeps 40 files in churn/ in motion (deleted,
# recreated with up to 1 MiB, truncated in place) while awsum hashes stable/ and
# churn/ again and again, for 8 seconds and at least 5 runs.
mkdir -p churn
"$CHURN" churn 40 12 &
churner_pid=$!
sleep 0.2
runs=0 bad=0 ones=0
end=$((SECONDS + 8))
while [ $SECONDS -lt $end ] || [ $runs -lt 5 ]; do
  runs=$((runs + 1))
  case $((runs % 3)) in
  0) aw --chunk 4096 stable churn ;;
  1) aw stable churn ;;
  2) aw --unordered --jobs 1 stable churn ;;
  esac
  grep -v ' churn/' "$T/out" | sort -k2 >"$T/out.stable"
  if [ "$rc" -ne 0 ] && [ "$rc" -ne 1 ]; then
    bad=$((bad + 1))
    fail "run $runs: exit $rc"
    show "$T/err"
  elif ! cmp -s "$T/expect.stable" "$T/out.stable"; then
    bad=$((bad + 1))
    fail "run $runs: the stable files' lines are not all there and right"
    diff -a "$T/expect.stable" "$T/out.stable" | head -n 10
  elif grep -avqE '^[0-9a-f]{64}  (stable|churn)/[^/]+$' "$T/out"; then
    bad=$((bad + 1))
    fail "run $runs: a malformed line"
    show "$T/out"
  elif [ "$rc" -eq 1 ] && ! grep -aqE '^([^ :]*/)?awsum: .*churn/c[0-9]' "$T/err"; then
    bad=$((bad + 1))
    fail "run $runs: exit 1 with no message naming a churned file"
    show "$T/err"
  elif grep -avqE '^([^ :]*/)?awsum: .*churn/c[0-9]+' "$T/err"; then
    bad=$((bad + 1))
    fail "run $runs: a message that is not about a churned file"
    show "$T/err"
  fi
  if [ "$rc" -eq 1 ]; then
    ones=$((ones + 1))
    [ "$ones" -le 3 ] && sed 's/^/  a problem reported: /' "$T/err" | head -n 3
  fi
  [ $bad -ge 3 ] && break
done
touch churn/stop
wait "$churner_pid" 2>/dev/null
[ $bad -eq 0 ] && pass "$runs runs while files changed, vanished and shrank: no crash or hang, stable files right"
echo "($ones of $runs runs met a file that changed under them and reported it; how many is up to the scheduler)"
finish
