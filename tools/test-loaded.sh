#!/usr/bin/env bash
# Run the test suite the way CI often meets it: on a busy machine.
# A busy loop holds every core but one, the suite runs twice in a row in random order
# (pytest-randomly shuffles every run; replay a failing order with `--randomly-seed=N` as printed),
# and the run fails if either pass fails. Usage: tools/test-loaded.sh [PYTEST ARGS…]
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
cores=$(nproc)
busy=$(( cores > 1 ? cores - 1 : 1 ))
pids=()
cleanup() { for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done; }
trap cleanup EXIT
for _ in $(seq "$busy"); do
  "$PY" -c 'while True: pass' &
  pids+=($!)
done
echo "test-loaded: $busy busy loop(s) on $cores core(s)"
for round in 1 2; do
  echo "test-loaded: round $round"
  "$PY" -m pytest -q --durations=5 "$@"
done
