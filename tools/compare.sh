#!/usr/bin/env bash
# Alternates awbench and its Node.js peer, RUNS times each (default 5), and
# prints the median in-process seconds of each and the ratio (rate of libawait
# over rate of Node). The peers live in ../shared/peers (or $PEERS).
# usage: tools/compare.sh [NAME...]    (default: the executor benchmarks)
set -uo pipefail
HERE=$(cd "$(dirname "$0")/.." && pwd)
PEERS=${PEERS:-$HERE/../shared/peers}
AWBENCH=${AWBENCH:-$HERE/build/tools/awbench}
RUNS=${RUNS:-5}
names=("$@")
[ ${#names[@]} -gt 0 ] || names=(await_loop promise_chain promise_fanout async_tree immediate_chain timers)
if [ ! -f "$PEERS/node/common.js" ]; then
  echo "compare.sh: the Node.js peers are not at $PEERS (set PEERS=/path/to/shared/peers)" >&2
  exit 2
fi
command -v node >/dev/null || { echo "compare.sh: node is not installed" >&2; exit 2; }
[ -x "$AWBENCH" ] || { echo "compare.sh: no awbench at $AWBENCH (tools/run build first)" >&2; exit 2; }
median() { sort -g | awk '{a[NR]=$1} END{print a[int((NR+1)/2)]}'; }
printf '%-16s %10s %10s %8s %10s %10s\n' name libawait_s node_s ratio aw_rss_MB node_rss_MB
for n in "${names[@]}"; do
  a=() b=() ra=() rb=()
  for i in $(seq "$RUNS"); do
    out=$( { /usr/bin/time -f 'RSS %M' "$AWBENCH" "$n"; } 2>&1 )
    a+=("$(awk '$NF=="s"{print $(NF-1)}' <<<"$out")"); ra+=("$(awk '/^RSS/{print $2/1024}' <<<"$out")")
    out=$( { /usr/bin/time -f 'RSS %M' node "$PEERS/node/$n.js"; } 2>&1 )
    b+=("$(awk '$NF=="s"{print $(NF-1)}' <<<"$out")"); rb+=("$(awk '/^RSS/{print $2/1024}' <<<"$out")")
  done
  ma=$(printf '%s\n' "${a[@]}" | median); mb=$(printf '%s\n' "${b[@]}" | median)
  mra=$(printf '%s\n' "${ra[@]}" | median); mrb=$(printf '%s\n' "${rb[@]}" | median)
  printf '%-16s %10s %10s %8.2f %10.0f %10.0f\n' "$n" "$ma" "$mb" "$(awk -v a="$ma" -v b="$mb" 'BEGIN{print b/a}')" "$mra" "$mrb"
done
