#!/usr/bin/env bash
# hack/bench.sh [name...]: runs the benchmarks in bench/ (bench/<name>.sh or
# bench/<name>.py) and prints their figures. With no name, runs them all.
set -uo pipefail
cd "$(dirname "$0")/.."
names=("$@")
if [ ${#names[@]} -eq 0 ]; then
  for f in bench/*.sh bench/*.py; do [ -e "$f" ] && names+=("$(basename "${f%.*}")"); done
fi
[ ${#names[@]} -eq 0 ] && { echo "bench: no benchmarks yet"; exit 0; }
rc=0
for n in "${names[@]}"; do
  echo "=== bench $n"
  if [ -e "bench/$n.sh" ]; then bash "bench/$n.sh" || rc=1
  elif [ -e "bench/$n.py" ]; then python3 "bench/$n.py" || rc=1
  else echo "bench: unknown benchmark '$n'"; rc=2; fi
done
exit $rc
