#!/usr/bin/env bash
# tools/bench-backends.sh — libawait's two I/O backends side by side with libuv, in one session.
# Run through `tools/run bench backends` (which builds the release tree first).
#
#   tcp_pingpong c1, c64   awbench on io_uring, awbench with AW_IO=epoll, tools/peers/uv_pingpong
#   file_read_small        the same two awbench runs, uv_fsread chain (uv_fs_open/read/close: three
#                          pool hops per file) and uv_fsread work (one uv_queue_work per file)
#   io_nop                 awbench on both backends (libuv has no equivalent)
#
# Every round runs every program once, in an order that rotates each round (so a drift of the
# machine's speed spreads over all of them); each cell is the median with min-max over the rounds.
# The ratios are of rates (libawait's over libuv's, from the medians): > 1 is faster than libuv.
# Before each run the script waits (up to IDLE_WAIT s; 0: never) until both CPUs are 90 % idle.
#
#   ROUNDS=5 PP_N=200000 (round trips per tcp_pingpong run) NOP_N=4000000 FILES_N=20000
#   SMALL_DIR: FILES_N files f00000.. of 4 KiB. Default: $PEERDATA/small (PEERDATA=/tmp/peerdata)
#   if it is complete (shared/peers/setup.sh makes it), else they are made here in a temporary
#   directory (deterministic content, removed at exit).
#   libuv runs with its default pool (UV_THREADPOOL_SIZE unset: 4 threads) unless you set it.
#   AWBENCH, UV_PINGPONG, UV_FSREAD: the programs (default: build/tools/).
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
ROUNDS=${ROUNDS:-5}
PP_N=${PP_N:-200000}
NOP_N=${NOP_N:-4000000}
FILES_N=${FILES_N:-20000}
IDLE_WAIT=${IDLE_WAIT:-20}
AWBENCH=${AWBENCH:-$ROOT/build/tools/awbench}
UV_PINGPONG=${UV_PINGPONG:-$ROOT/build/tools/uv_pingpong}
UV_FSREAD=${UV_FSREAD:-$ROOT/build/tools/uv_fsread}

say() { printf '%s\n' "$*"; }
die() { printf 'bench-backends: %s\n' "$*" >&2; exit 1; }
for p in "$AWBENCH" "$UV_PINGPONG" "$UV_FSREAD"; do
  [ -x "$p" ] || die "no $p (tools/run build; the libuv peers need libuv1-dev)"
done

WORK=$(mktemp -d "${TMPDIR:-/tmp}/bench-backends.XXXXXX")
trap 'rm -rf "$WORK"' EXIT

# ---- which backend each awbench run gets: checked, not assumed ----------------------------
# AW_IO=uring forces io_uring (a machine without it fails here instead of measuring epoll twice).
caps_backend() { # caps_backend AW_IO-VALUE: the backend awbench caps reports, or "?"
  local out
  out=$(env AW_IO="$1" "$AWBENCH" caps 2>&1) || { printf '?\n'; return; }
  # the first line naming the backend ("backend epoll", "backend: io_uring (...)")
  awk 'tolower($1) ~ /^backend:?$/ { b = tolower($2); sub(/[^a-z_].*/, "", b); print b; found = 1; exit }
       END { if (!found) print "?" }' <<<"$out"
}
b_uring=$(caps_backend uring)
b_epoll=$(caps_backend epoll)
[ "$b_epoll" = epoll ] || die "AW_IO=epoll awbench caps reports backend '$b_epoll', not epoll: this build has no epoll backend"
HAVE_URING=1
if [ "$b_uring" != uring ] && [ "$b_uring" != io_uring ]; then
  say "bench-backends: no io_uring here (AW_IO=uring awbench caps: backend '$b_uring'); measuring epoll and libuv only"
  env AW_IO=uring "$AWBENCH" caps 2>&1 | head -n 3 | sed 's/^/  /'
  HAVE_URING=0
fi

# ---- the data: 20,000 files of 4 KiB ---------------------------------------------------------
small_complete() { # small_complete DIR: the last file is there with 4096 bytes, and the count is right
  [ -f "$1/f$(printf %05d $((FILES_N - 1)))" ] &&
    [ "$(stat -c %s "$1/f$(printf %05d $((FILES_N - 1)))")" = 4096 ] &&
    [ "$(find "$1" -maxdepth 1 -type f -name 'f[0-9][0-9][0-9][0-9][0-9]' | wc -l)" -ge "$FILES_N" ]
}
if [ -z "${SMALL_DIR:-}" ]; then
  if small_complete "${PEERDATA:-/tmp/peerdata}/small"; then
    SMALL_DIR=${PEERDATA:-/tmp/peerdata}/small
  else
    SMALL_DIR=$WORK/small
    say "bench-backends: making $FILES_N files of 4 KiB in $SMALL_DIR"
    mkdir -p "$SMALL_DIR"
    # Deterministic: file i holds the SHAKE-256 stream of its own name (no randomness, the same
    # bytes on every run; distinct files so nothing dedups them).
    python3 - "$SMALL_DIR" "$FILES_N" <<'EOF' || die "cannot make the files (python3)"
import hashlib, os, sys
d, n = sys.argv[1], int(sys.argv[2])
for i in range(n):
    name = "f%05d" % i
    with open(os.path.join(d, name), "wb") as f:
        f.write(hashlib.shake_256(name.encode()).digest(4096))
EOF
  fi
fi
small_complete "$SMALL_DIR" || die "$SMALL_DIR does not hold $FILES_N files of 4 KiB"

# wait_idle: until both CPUs are >= 90 % idle over one second, at most IDLE_WAIT seconds
wait_idle() {
  [ "$IDLE_WAIT" -gt 0 ] || return 0
  local t0=$SECONDS a b tot idle k
  while :; do
    read -ra a </proc/stat
    sleep 1
    read -ra b </proc/stat
    tot=0
    for k in 1 2 3 4 5 6 7 8; do tot=$((tot + b[k] - a[k])); done
    idle=$((b[4] - a[4] + b[5] - a[5]))
    [ "$tot" -gt 0 ] && [ $((idle * 100 / tot)) -ge 90 ] && return 0
    if [ $((SECONDS - t0)) -ge "$IDLE_WAIT" ]; then
      say "bench-backends: the CPUs are busy ($((idle * 100 / tot)) % idle); measuring anyway"
      return 0
    fi
  done
}

# ---- the runs ------------------------------------------------------------------------------
# KEY|WORKLOAD|PEER|EXPECTED-NAME|COMMAND...   (one line each; COMMAND is run with env)
runs=()
add() { runs+=("$1"); }
for c in 1 64; do
  [ $HAVE_URING = 1 ] && add "pp$c-uring|tcp_pingpong_c$c|uring|tcp_pingpong_c$c|AW_IO=uring $AWBENCH tcp_pingpong $c $PP_N"
  add "pp$c-epoll|tcp_pingpong_c$c|epoll|tcp_pingpong_c$c|AW_IO=epoll $AWBENCH tcp_pingpong $c $PP_N"
  add "pp$c-uv|tcp_pingpong_c$c|libuv|tcp_pingpong_uv_c$c|$UV_PINGPONG $c $PP_N"
done
[ $HAVE_URING = 1 ] && add "frs-uring|file_read_small|uring|file_read_small|AW_IO=uring $AWBENCH file_read_small $SMALL_DIR $FILES_N"
add "frs-epoll|file_read_small|epoll|file_read_small|AW_IO=epoll $AWBENCH file_read_small $SMALL_DIR $FILES_N"
add "frs-uvchain|file_read_small|libuv chain|file_read_small_uv_chain|$UV_FSREAD chain $SMALL_DIR $FILES_N"
add "frs-uvwork|file_read_small|libuv work|file_read_small_uv_work|$UV_FSREAD work $SMALL_DIR $FILES_N"
[ $HAVE_URING = 1 ] && add "nop-uring|io_nop|uring|io_nop|AW_IO=uring $AWBENCH io_nop $NOP_N"
add "nop-epoll|io_nop|epoll|io_nop|AW_IO=epoll $AWBENCH io_nop $NOP_N"

declare -A secs n_of unit_of failed
nfailed=0
nruns=${#runs[@]}
say "bench-backends: $ROUNDS rounds of $nruns runs (files from $SMALL_DIR)"
for r in $(seq "$ROUNDS"); do
  say "  round $r/$ROUNDS"
  for i in $(seq 0 $((nruns - 1))); do
    IFS='|' read -r key _ _ want cmd <<<"${runs[$(((i + r - 1) % nruns))]}"
    wait_idle
    # shellcheck disable=SC2086  # cmd is words on purpose: VAR=value prog args
    out=$(env $cmd 2>"$WORK/err") || {
      say "  $key failed: $(head -n 3 "$WORK/err")"
      failed[$key]=1
      nfailed=$((nfailed + 1))
      continue
    }
    # NAME N UNIT SECONDS s
    read -r name n unit s _ <<<"$(awk '$NF == "s" { print; exit }' <<<"$out")"
    if [ "$name" != "$want" ]; then
      say "  $key: unexpected output: $out"
      failed[$key]=1
      nfailed=$((nfailed + 1))
      continue
    fi
    secs[$key]+="$s "
    n_of[$key]=$n
    unit_of[$key]=$unit
  done
done

# ---- the table -----------------------------------------------------------------------------
median() { tr ' ' '\n' | grep . | sort -g | awk '{ a[NR] = $1 } END { if (NR) print a[int((NR + 1) / 2)] }'; }
minmax() { tr ' ' '\n' | grep . | sort -g | awk 'NR == 1 { lo = $1 } { hi = $1 } END { if (NR) printf "%s-%s", lo, hi }'; }
declare -A med
say ""
say "| workload | backend / peer | median s | min-max s | rate (median) |"
say "|---|---|---:|---:|---:|"
for line in "${runs[@]}"; do
  IFS='|' read -r key work peer _ _ <<<"$line"
  if [ -z "${secs[$key]:-}" ]; then
    say "| $work | $peer | failed | | |"
    continue
  fi
  med[$key]=$(median <<<"${secs[$key]}")
  rate=$(awk -v n="${n_of[$key]}" -v s="${med[$key]}" 'BEGIN { printf "%.0f", n / s }')
  say "| $work | $peer | ${med[$key]} | $(minmax <<<"${secs[$key]}") | $rate ${unit_of[$key]}/s |${failed[$key]:+ (some runs failed)}"
done

# ratio AW PEER: rate of AW over rate of PEER (same N), from the medians; "-" if either is missing
ratio() {
  [ -n "${med[$1]:-}" ] && [ -n "${med[$2]:-}" ] || { printf -- '-'; return; }
  awk -v a="${med[$1]}" -v b="${med[$2]}" 'BEGIN { printf "%.2f", b / a }'
}
verdict() { # verdict RATIO TARGET
  [ "$1" = - ] && { printf -- '-'; return; }
  awk -v r="$1" -v t="$2" 'BEGIN { print (r >= t ? "ok" : "BELOW") }'
}
say ""
say "| ratio (rate over libuv's) | epoll | target | | uring |"
say "|---|---:|---:|---|---:|"
row() { # row LABEL EPOLL-KEY URING-KEY PEER-KEY TARGET
  local e u
  e=$(ratio "$2" "$4")
  u=$(ratio "$3" "$4")
  say "| $1 | $e | >= $5 | $(verdict "$e" "$5") | $u |"
}
row "tcp_pingpong c1 vs uv_pingpong 1" pp1-epoll pp1-uring pp1-uv 1.0
row "tcp_pingpong c64 vs uv_pingpong 64" pp64-epoll pp64-uring pp64-uv 1.0
row "file_read_small vs uv_fsread chain" frs-epoll frs-uring frs-uvchain 1.0
row "file_read_small vs uv_fsread work" frs-epoll frs-uring frs-uvwork 0.8
nop_rate() { [ -n "${med[$1]:-}" ] && awk -v n="${n_of[$1]}" -v s="${med[$1]}" 'BEGIN { printf "%.0f nops/s", n / s }'; }
say ""
say "io_nop: epoll $(nop_rate nop-epoll || printf -- -), uring $(nop_rate nop-uring || printf -- -)"
[ "$nfailed" -eq 0 ] || exit 1
