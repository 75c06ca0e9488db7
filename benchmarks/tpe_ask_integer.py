"""Per-trial time of ferrotune's TPE on an all-integer space: the integer
problem of quality_vs_optuna.py (six grid axes, one log-integer), asked,
suggested and told through the Python package; the median of the last 50
trials at 100, 300 and 1,000 trials.

    PY=target/torch-venv/bin/python   # with `maturin develop --release`
    "$PY" benchmarks/tpe_ask_integer.py
"""

import os
import random
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ferrotune  # noqa: E402
import quality_vs_optuna as q  # noqa: E402

study = ferrotune.create_study(sampler=ferrotune.samplers.TPESampler(seed=0))
times = []
for i in range(1000):
    t0 = time.perf_counter()
    t = study.ask()
    v, _ = q.integer6(t, random.Random(i))
    study.tell(t, v)
    times.append(time.perf_counter() - t0)
    if i + 1 in (100, 300, 1000):
        last = sorted(times[-50:])
        print(f"integer-6d, ask + suggest + tell at {i + 1} trials: median {last[25] * 1e3:.3f} ms")
