#!/bin/sh
# tests/unit/layering.sh DIR — the layering (docs/DESIGN.md, "Who calls whom"): DIR (executor/)
# includes nothing of io/ or workers/. Fails, naming the lines, if it does; fails if DIR is missing.
dir=$1
[ -d "$dir" ] || { echo "layering: no directory $dir" >&2; exit 1; }
if grep -rn -e '#include "io/' -e '#include "workers/' "$dir"; then
  echo "layering: $dir includes io/ or workers/ (above)" >&2
  exit 1
fi
exit 0
