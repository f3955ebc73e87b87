#!/usr/bin/env bash
# tools/bench-http.sh — awserve against nginx (one worker), libuv's uv_http and Node's http,
# under wrk, on loopback. Run through `tools/run bench http [WORK...]` (which builds first).
#
#   WORK     hello     /hello keep-alive at c64, c256, c1000: all four servers
#            static    a 4 KiB file at c256: awserve and nginx (sendfile on)
#            idle      IDLE_CONNS idle connections held open, then c64 active: every active
#                      request answered, RSS per idle connection (awserve, nginx, uv_http)
#            download  a DOWNLOAD_MIB file fetched with curl: MB/s and the server's RSS growth
#            (default: all of them)
#   ROUNDS=3 DURATION=10 (s per wrk run) IDLE_CONNS=15000 DOWNLOAD_MIB=1024
#
# Pinning: every server on CPU 0 (taskset), wrk / curl / the idle client on CPU 1; before each
# run the script waits (up to IDLE_WAIT=60 s) for both CPUs to be at least 90 % idle over a
# second and says so if they never are. Rounds alternate the servers (the order rotates each
# round). Each cell is the median with min-max over the rounds; a markdown table is printed.
# Every server is started on a free loopback port and stopped by its PID. Keep-alive: awserve
# --keepalive-ms 600000 and nginx keepalive_timeout 300s (the idle connections must stay open).
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-10}
IDLE_CONNS=${IDLE_CONNS:-15000}
DOWNLOAD_MIB=${DOWNLOAD_MIB:-1024}
IDLE_WAIT=${IDLE_WAIT:-60}
SERVER_CPU=${SERVER_CPU:-0}
CLIENT_CPU=${CLIENT_CPU:-1}
AWSERVE=${AWSERVE:-$ROOT/build/tools/awserve/awserve}
works=("$@")
[ ${#works[@]} -gt 0 ] || works=(hello static idle download)

say() { printf '%s\n' "$*"; }
die() { printf 'bench-http: %s\n' "$*" >&2; exit 1; }
[ -x "$AWSERVE" ] || die "no awserve at $AWSERVE (tools/run build)"
for c in wrk nginx node curl taskset python3; do command -v "$c" >/dev/null || die "$c is not installed"; done

WORK=$(mktemp -d "${TMPDIR:-/tmp}/bench-http.XXXXXX")
chmod 755 "$WORK"
SERVER_PID=
stop_server() {
  if [ -n "$SERVER_PID" ]; then
    kill -TERM "$SERVER_PID" 2>/dev/null
    local i
    for i in $(seq 100); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$SERVER_PID" 2>/dev/null
    wait "$SERVER_PID" 2>/dev/null
    SERVER_PID=
  fi
}
trap 'stop_server; rm -rf "$WORK"' EXIT

# ---- the peers -----------------------------------------------------------------------------
UV_HTTP=$WORK/uv_http
cc -O2 -o "$UV_HTTP" "$ROOT/tools/peers/uv_http.c" -luv || die "cannot build tools/peers/uv_http.c (libuv1-dev)"
mkdir -p "$WORK/www"
head -c 4096 /dev/urandom >"$WORK/www/4k.bin"
case " ${works[*]} " in *" download "*)
  say "bench-http: making a $DOWNLOAD_MIB MiB file"
  head -c $((DOWNLOAD_MIB << 20)) /dev/urandom >"$WORK/www/big.bin" ;;
esac
chmod -R a+rX "$WORK/www"

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

nginx_conf() { # nginx_conf PORT: one worker, return 200 "hello", static files with sendfile
  local user=""
  [ "$(id -u)" -eq 0 ] && user="user root;"
  mkdir -p "$WORK/nginx"
  cat >"$WORK/nginx/nginx.conf" <<EOF
$user
daemon off;
master_process off;
worker_processes 1;
worker_rlimit_nofile 20000;
error_log $WORK/nginx/error.log warn;
pid $WORK/nginx/nginx.pid;
events { worker_connections 20000; multi_accept on; }
http {
  access_log off;
  sendfile on;
  tcp_nopush on;
  tcp_nodelay on;
  keepalive_requests 100000000;
  keepalive_timeout 300s;
  client_body_temp_path $WORK/nginx/body;
  proxy_temp_path $WORK/nginx/proxy;
  fastcgi_temp_path $WORK/nginx/fastcgi;
  uwsgi_temp_path $WORK/nginx/uwsgi;
  scgi_temp_path $WORK/nginx/scgi;
  types { application/octet-stream bin; }
  server {
    listen 127.0.0.1:$1 backlog=4096;
    root $WORK/www;
    location = /hello { default_type text/plain; return 200 "hello"; }
  }
}
EOF
}

# start_server NAME: starts it pinned on SERVER_CPU, sets SERVER_PID and PORT
start_server() {
  local name=$1 i line
  PORT=$(free_port)
  # the previous server's first line must not be read as this one's (the redirection below
  # happens in the child, after this shell may already look)
  : >"$WORK/out"
  case $name in
    awserve)
      taskset -c "$SERVER_CPU" "$AWSERVE" --host 127.0.0.1 --port 0 --root "$WORK/www" --threads 1 \
        --max-conns 100000 --keepalive-ms 600000 --header-timeout-ms 600000 >"$WORK/out" 2>"$WORK/err" &
      SERVER_PID=$! ;;
    nginx)
      nginx_conf "$PORT"
      taskset -c "$SERVER_CPU" nginx -c "$WORK/nginx/nginx.conf" -p "$WORK/nginx" >"$WORK/out" 2>"$WORK/err" &
      SERVER_PID=$! ;;
    uv_http)
      taskset -c "$SERVER_CPU" "$UV_HTTP" "$PORT" >"$WORK/out" 2>"$WORK/err" &
      SERVER_PID=$! ;;
    node)
      taskset -c "$SERVER_CPU" node "$ROOT/tools/peers/http_hello.js" "$PORT" >"$WORK/out" 2>"$WORK/err" &
      SERVER_PID=$! ;;
  esac
  for i in $(seq 300); do
    if [ "$name" = awserve ]; then
      line=$(head -n 1 "$WORK/out" 2>/dev/null)
      [ -n "$line" ] && PORT=${line##*:} && break
    elif (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; then
      break
    fi
    kill -0 "$SERVER_PID" 2>/dev/null || break
    sleep 0.1
  done
  curl -s -o /dev/null --max-time 10 "http://127.0.0.1:$PORT/hello" ||
    { cat "$WORK/err" >&2; die "$name did not come up"; }
}

rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status" 2>/dev/null || echo 0; }

# wait_idle: until both CPUs are >= 90 % idle over one second, at most IDLE_WAIT seconds
wait_idle() {
  local t0=$SECONDS a b
  while :; do
    a=($(head -1 /proc/stat))
    sleep 1
    b=($(head -1 /proc/stat))
    local tot=0 k
    for k in 1 2 3 4 5 6 7 8; do tot=$((tot + b[k] - a[k])); done
    local idle=$((b[4] - a[4] + b[5] - a[5]))
    [ $tot -gt 0 ] && [ $((idle * 100 / tot)) -ge 90 ] && return 0
    if [ $((SECONDS - t0)) -ge "$IDLE_WAIT" ]; then
      say "   (machine not idle after ${IDLE_WAIT}s: $((idle * 100 / (tot > 0 ? tot : 1)))% idle; running anyway)" >&2
      return 0
    fi
  done
}

# wrk_run URL CONNS: prints "RPS P99_MS ERRORS"
wrk_run() {
  local out rps p99 errs
  out=$(timeout $((DURATION + 60)) taskset -c "$CLIENT_CPU" wrk -t1 -c"$2" -d"${DURATION}s" --latency "$1" 2>&1)
  rps=$(awk '/^Requests\/sec:/ { print $2 }' <<<"$out")
  p99=$(awk '$1 == "99%" { v = $2; if (v ~ /us$/) { sub(/us$/, "", v); v /= 1000 }
        else if (v ~ /ms$/) { sub(/ms$/, "", v) } else if (v ~ /s$/) { sub(/s$/, "", v); v *= 1000 }
        print v }' <<<"$out")
  errs=$(awk '/Socket errors:/ { n = 0; for (i = 3; i <= NF; i++) if ($i ~ /^[0-9]+,?$/) n += $i; print n }
        /Non-2xx/ { print $NF }' <<<"$out" | awk '{ s += $1 } END { print s + 0 }')
  echo "${rps:-0} ${p99:-0} ${errs:-0}"
}

# stats V...: "median (min-max)"
stats() {
  printf '%s\n' "$@" | sort -g | awk '{ a[NR] = $1 } END {
    if (NR == 0) { print "-"; exit }
    m = (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2
    printf "%s (%s-%s)", f(m), f(a[1]), f(a[NR]) }
    function f(x) { return (x >= 100) ? sprintf("%.0f", x) : sprintf("%.3g", x) }'
}
median() { printf '%s\n' "$@" | sort -g | awk '{ a[NR] = $1 } END { print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }

declare -A RPS P99 ERR EXTRA
ROWS=()
record() { # record ROW SERVER RPS P99 ERRS
  local key="$1|$2"
  [[ " ${ROWS[*]} " == *" $1 "* ]] || ROWS+=("$1")
  RPS[$key]="${RPS[$key]:-} $3"
  P99[$key]="${P99[$key]:-} $4"
  ERR[$key]=$((${ERR[$key]:-0} + $5))
}

rotate() { # rotate ROUND NAME...: the names, rotated by ROUND
  local r=$1 n
  shift
  local a=("$@") i
  n=${#a[@]}
  for ((i = 0; i < n; i++)); do printf '%s\n' "${a[$(((i + r) % n))]}"; done
}

bench_wrk() { # bench_wrk ROW PATH CONNS SERVERS...
  local row=$1 path=$2 conns=$3 r s
  shift 3
  for ((r = 0; r < ROUNDS; r++)); do
    for s in $(rotate "$r" "$@"); do
      wait_idle
      start_server "$s"
      # warm-up (not counted)
      timeout 30 taskset -c "$CLIENT_CPU" wrk -t1 -c"$conns" -d1s "http://127.0.0.1:$PORT$path" >/dev/null 2>&1
      read -r rps p99 errs < <(wrk_run "http://127.0.0.1:$PORT$path" "$conns")
      stop_server
      say "   round $((r + 1)) $row $s: $rps req/s, p99 $p99 ms${errs:+, errors $errs}"
      record "$row" "$s" "$rps" "$p99" "$errs"
    done
  done
}

# the idle client: opens N connections (one request answered on each first, so they are
# accepted and past any header deadline) then holds them open until stdin closes
IDLE_PY='
import selectors, socket, sys, resource
n, port = int(sys.argv[1]), int(sys.argv[2])
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
req = b"GET /hello HTTP/1.1\r\nHost: b\r\n\r\n"
socks = []
for i in range(0, n, 500):
    batch = []
    for _ in range(min(500, n - i)):
        s = socket.create_connection(("127.0.0.1", port), timeout=60)
        s.sendall(req)
        batch.append(s)
    for s in batch:
        got = b""
        while b"hello" not in got:
            c = s.recv(4096)
            if not c:
                sys.exit("idle client: connection %d closed" % len(socks))
            got += c
    socks.extend(batch)
print(len(socks), flush=True)
sys.stdin.read()
'

bench_idle() {
  local r s
  for ((r = 0; r < ROUNDS; r++)); do
    for s in $(rotate "$r" awserve nginx uv_http); do
      wait_idle
      start_server "$s"
      local before after n
      before=$(rss_kb "$SERVER_PID")
      coproc IDLE { taskset -c "$CLIENT_CPU" python3 -c "$IDLE_PY" "$IDLE_CONNS" "$PORT"; }
      read -r -t 600 n <&"${IDLE[0]}" || n=0
      after=$(rss_kb "$SERVER_PID")
      read -r rps p99 errs < <(wrk_run "http://127.0.0.1:$PORT/hello" 64)
      eval "exec ${IDLE[1]}>&-" # closes the idle client's stdin: it exits
      wait "$IDLE_PID" 2>/dev/null
      stop_server
      local per=0
      [ "${n:-0}" -gt 0 ] && per=$(awk -v a="$after" -v b="$before" -v n="$n" 'BEGIN { printf "%.0f", (a - b) * 1024 / n }')
      say "   round $((r + 1)) idle $s: $n idle, RSS +$((after - before)) KiB = $per B/conn; c64 active: $rps req/s, p99 $p99 ms, errors $errs"
      record "$IDLE_CONNS idle + c64 active" "$s" "$rps" "$p99" "$errs"
      EXTRA["idle|$s"]="${EXTRA["idle|$s"]:-} $per"
      [ "${n:-0}" -eq "$IDLE_CONNS" ] || ERR["$IDLE_CONNS idle + c64 active|$s"]=$((${ERR["$IDLE_CONNS idle + c64 active|$s"]:-0} + 1))
    done
  done
}

bench_download() {
  local r s
  for ((r = 0; r < ROUNDS; r++)); do
    for s in $(rotate "$r" awserve nginx); do
      wait_idle
      start_server "$s"
      local before peak=0 speed
      before=$(rss_kb "$SERVER_PID")
      taskset -c "$CLIENT_CPU" curl -s -o /dev/null --max-time 600 -w '%{speed_download}\n' \
        "http://127.0.0.1:$PORT/big.bin" >"$WORK/speed" &
      local cpid=$! now
      while kill -0 "$cpid" 2>/dev/null; do
        now=$(rss_kb "$SERVER_PID")
        [ "$now" -gt "$peak" ] && peak=$now
        sleep 0.05
      done
      wait "$cpid"
      speed=$(awk '{ printf "%.0f", $1 / 1048576 }' "$WORK/speed")
      stop_server
      say "   round $((r + 1)) download $s: $speed MiB/s, RSS $before KiB -> peak $peak KiB"
      record "${DOWNLOAD_MIB} MiB download (MiB/s)" "$s" "$speed" 0 0
      EXTRA["dl|$s"]="${EXTRA["dl|$s"]:-} $((peak - before))"
    done
  done
}

say "bench-http: servers on CPU $SERVER_CPU, clients on CPU $CLIENT_CPU; $ROUNDS rounds of ${DURATION}s; $(nproc) CPUs"
for w in "${works[@]}"; do
  case $w in
    hello)
      for c in 64 256 1000; do
        say "== /hello keep-alive c$c"
        bench_wrk "/hello c$c" /hello "$c" awserve nginx uv_http node
      done ;;
    static)
      say "== static 4 KiB file c256"
      bench_wrk "static 4 KiB c256" /4k.bin 256 awserve nginx ;;
    idle)
      say "== $IDLE_CONNS idle connections + c64 active"
      bench_idle ;;
    download)
      say "== $DOWNLOAD_MIB MiB download"
      bench_download ;;
    *) die "unknown work '$w' (hello static idle download)" ;;
  esac
done

# ---- the table -----------------------------------------------------------------------------
say ""
say "| work | server | req/s (MiB/s for download): median (min-max) | p99 ms | vs nginx | errors | notes |"
say "| --- | --- | --- | --- | --- | --- | --- |"
for row in "${ROWS[@]}"; do
  nginx_med=
  [ -n "${RPS["$row|nginx"]:-}" ] && nginx_med=$(median ${RPS["$row|nginx"]})
  for s in awserve nginx uv_http node; do
    key="$row|$s"
    [ -n "${RPS[$key]:-}" ] || continue
    ratio=-
    med=$(median ${RPS[$key]})
    [ -n "$nginx_med" ] && ratio=$(awk -v a="$med" -v b="$nginx_med" 'BEGIN { printf (b > 0) ? "%.2fx" : "-", a / b }')
    note=
    case $row in
      *idle*) note="RSS/idle conn $(stats ${EXTRA["idle|$s"]}) B" ;;
      *download*) note="RSS growth $(stats ${EXTRA["dl|$s"]}) KiB" ;;
    esac
    p99=$(stats ${P99[$key]})
    case $row in *download*) p99=- ;; esac
    say "| $row | $s | $(stats ${RPS[$key]}) | $p99 | $ratio | ${ERR[$key]:-0} | $note |"
  done
done
