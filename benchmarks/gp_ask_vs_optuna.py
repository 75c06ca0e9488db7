"""GP-BO's cost per ask beside Optuna's GPSampler, in one run on the same
machine: each library's study first gets N trials from its own random
sampler (seed 0, the same objective), then its GP sampler proposes
`--asks` more trials; the median time of one ask + tell is reported.
ferrotune's study is in SQLite (its Python package takes storage URLs),
Optuna's in memory.

    PY=target/torch-venv/bin/python       # torch, optuna, ferrotune (maturin develop --release)
    $PY benchmarks/gp_ask_vs_optuna.py --trials 300 --asks 5
"""

import argparse
import os
import statistics
import tempfile
import time


# The same two spaces and objectives as the per-trial overhead benchmark.
from python_overhead import SPACES  # noqa: E402


def per_ask_ms(lib, storage, space, n, asks):
    f = SPACES[space]
    name = f"{space}-{n}"
    history = lib.create_study(study_name=name, storage=storage, sampler=lib.samplers.RandomSampler(seed=0))
    for _ in range(n):
        t = history.ask()
        history.tell(t, f(t))
    study = lib.load_study(study_name=name, storage=storage, sampler=lib.samplers.GPSampler(seed=0))
    times = []
    for _ in range(asks):
        start = time.perf_counter()
        t = study.ask()
        study.tell(t, f(t))
        times.append((time.perf_counter() - start) * 1e3)
    return statistics.median(times)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--trials", type=int, default=300)
    p.add_argument("--asks", type=int, default=5)
    a = p.parse_args()
    import ferrotune
    import optuna

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    tmp = tempfile.mkdtemp()
    print(f"GP-BO, one ask + tell after {a.trials} trials (median of {a.asks}), ms\n")
    print("| space | ferrotune | Optuna " + optuna.__version__ + " | ratio |")
    print("|---|---:|---:|---:|")
    for space in SPACES:
        ours = per_ask_ms(ferrotune, "sqlite:///" + os.path.join(tmp, "ft.db"), space, a.trials, a.asks)
        theirs = per_ask_ms(optuna, optuna.storages.InMemoryStorage(), space, a.trials, a.asks)
        print(f"| {space} | {ours:.1f} | {theirs:.1f} | {theirs / ours:.0f}× |")


if __name__ == "__main__":
    main()
