#!/usr/bin/env bash
# The Python package's tests: a venv (target/py-venv) with maturin, pytest,
# numpy, pandas and scikit-learn from PyPI, the package built into it
# (`maturin develop`, a debug build), then pytest. .ci/run runs this after
# `cargo test`, whose ferrotune binary the CLI-sharing tests call.
#
#   crates/ferrotune-py/test.sh            # extra arguments go to pytest
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
venv="${FERROTUNE_PY_VENV:-$root/target/py-venv}"
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
fi
"$venv/bin/python" -m pip install -q --upgrade pip
"$venv/bin/python" -m pip install -q "maturin>=1.5,<2" pytest numpy pandas scikit-learn
# maturin develop installs into the active virtual environment.
( cd "$root" && VIRTUAL_ENV="$venv" PATH="$venv/bin:$PATH" maturin develop -q --locked )
export FERROTUNE_BIN="${FERROTUNE_BIN:-$root/target/debug/ferrotune}"
cd "$root"
"$venv/bin/python" -m pytest crates/ferrotune-py/tests -q "$@"
