"""Which part of a GP-BO run makes the difference: the initial design or what follows?

For each seed, ferrotune's GPSampler runs the first 10 trials (its scrambled-Sobol
design) of a problem from `quality_vs_optuna.py`; those 10 configurations are then
enqueued in a fresh study of `--after` (ferrotune's or Optuna's GPSampler, same seed),
which runs `--trials` trials in all. Compared with each library's own runs in the
quality benchmark's kept curves, this separates the start from the model and the
acquisition search: the same 10 points, then each library's GP.

    PY=target/torch-venv/bin/python
    OMP_NUM_THREADS=1 $PY benchmarks/same_start_vs_optuna.py --problem categorical-8d --seeds 60 --after optuna --json out.json

Prints one line per seed (regret at 10/15/20/30 trials) and writes the curves in the
quality benchmark's JSON shape ("problem|same-start:<after>" -> [seed, curve, secs]).
"""
import argparse
import json
import math
import random
import sys
import time
import warnings
import zlib
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import quality_vs_optuna as q  # noqa: E402


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--problem", required=True, choices=sorted(q.ALL_PROBLEMS))
    p.add_argument("--seeds", type=int, default=30)
    p.add_argument("--first-seed", type=int, default=0)
    p.add_argument("--trials", type=int, default=40)
    p.add_argument("--after", choices=["optuna", "ferrotune"], default="optuna")
    p.add_argument("--json")
    a = p.parse_args()

    import ferrotune
    import optuna

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    warnings.simplefilter("ignore")
    f, optimum, _ = q.ALL_PROBLEMS[a.problem]

    def rng_of(seed, i):
        # The quality benchmark's per-trial noise stream, so both see one objective.
        return random.Random(zlib.crc32(f"{a.problem}|{seed}|{i}".encode()))

    out = {}
    for seed in range(a.first_seed, a.first_seed + a.seeds):
        start = ferrotune.create_study(sampler=ferrotune.samplers.GPSampler(seed=seed))
        first = []
        for i in range(10):
            t = start.ask()
            obs, _ = f(t, rng_of(seed, i))
            start.tell(t, obs)
            first.append(dict(t.params))
        lib = optuna if a.after == "optuna" else ferrotune
        study = lib.create_study(sampler=lib.samplers.GPSampler(seed=seed))
        for params in first:
            study.enqueue_trial(params)
        best_obs, best_true, curve = math.inf, math.inf, []
        t0 = time.perf_counter()
        for i in range(a.trials):
            t = study.ask()
            obs, true = f(t, rng_of(seed, i))
            study.tell(t, obs)
            if obs < best_obs:
                best_obs, best_true = obs, (obs if true is None else true)
            curve.append(max(best_true - optimum, 0.0))
        out.setdefault(f"{a.problem}|same-start:{a.after}", []).append([seed, curve, time.perf_counter() - t0])
        print(seed, [round(curve[c - 1], 4) for c in (10, 15, 20, 30) if c <= a.trials], flush=True)
    if a.json:
        Path(a.json).write_text(json.dumps(out))


if __name__ == "__main__":
    main()
