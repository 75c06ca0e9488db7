#!/usr/bin/env bash
# Creates (or reuses) the benchmarks' Python environment: Optuna and what
# its samplers and storages need, from PyPI. Prints the venv's python.
#
#   PY=$(benchmarks/venv.sh)   # then pass --python "$PY" to ferrotune-bench
set -euo pipefail
dir="${FERROTUNE_BENCH_VENV:-$(cd "$(dirname "$0")/.." && pwd)/target/bench-venv}"
if [ ! -x "$dir/bin/python" ]; then
  python3 -m venv "$dir" >&2
fi
"$dir/bin/python" -m pip install -q --upgrade pip >&2
"$dir/bin/python" -m pip install -q "optuna>=4" psycopg2-binary "$@" >&2
echo "$dir/bin/python"
