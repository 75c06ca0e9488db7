"""Multi-fidelity, side by side: ferrotune's pruners and Optuna's (median,
successive halving, Hyperband), each with its own library's TPE sampler, on
the learning-curve families of `ferrotune-bench pruning`
(crates/ferrotune-bench/src/pruning.rs documents them), with the same
epoch budget and the same noise for both libraries.

For each strategy: the best final validation loss among trials that
completed within 25%, 50% and 100% of the epoch budget (mean and median
over the seeds). A run stops once the budget is spent.

    PY=$(benchmarks/venv.sh) && "$PY" -m pip install .
    "$PY" benchmarks/pruning_vs_optuna.py --seeds 10 --budget 540
"""

import argparse
import math
import random
import sys
import warnings
import zlib

MAX_EPOCHS = 27
FRACTIONS = (0.25, 0.5, 1.0)


def loss(family, x, epoch, noise):
    a = 0.1 + (x[0] - 0.3) ** 2 + 0.5 * (x[1] - 0.6) ** 2 + 0.2 * x[2] * x[3]
    if family == "crossing":
        b = 1.0 + 2.0 * x[1]
        c = 0.05 + 0.4 * x[0]
        return a + b * math.exp(-c * epoch) + noise
    alpha = 0.3 + 0.7 * x[0]
    return a + (2.3 - a) * epoch ** (-alpha) + noise


def pruner(lib, name):
    p = lib.pruners
    return {
        "none": lambda: p.NopPruner(),
        "median": lambda: p.MedianPruner(n_startup_trials=5, n_warmup_steps=3),
        "asha": lambda: p.SuccessiveHalvingPruner(min_resource=1, reduction_factor=3),
        "hyperband": lambda: p.HyperbandPruner(min_resource=1, max_resource=MAX_EPOCHS, reduction_factor=3),
    }[name]()


def run(lib, family, strategy, seed, budget):
    study = lib.create_study(sampler=lib.samplers.TPESampler(seed=seed), pruner=pruner(lib, strategy))
    epochs = 0
    finished = []  # (epochs used when it completed, final loss)
    while epochs < budget:
        t = study.ask()
        x = [t.suggest_float(f"x{i}", 0.0, 1.0) for i in range(4)]
        rng = random.Random(zlib.crc32(f"{family}|{seed}|{t.number}".encode()))
        v, pruned = math.nan, False
        for e in range(1, MAX_EPOCHS + 1):
            v = loss(family, x, e, 0.005 * rng.gauss(0.0, 1.0))
            epochs += 1
            t.report(v, e)
            if t.should_prune():
                pruned = True
                break
        if pruned:
            study.tell(t, state=lib.trial.TrialState.PRUNED)
        else:
            study.tell(t, v)
            finished.append((epochs, v))
    return [min([v for (e, v) in finished if e <= f * budget], default=math.inf) for f in FRACTIONS]


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--seeds", type=int, default=10)
    p.add_argument("--budget", type=int, default=540, help="epochs per run (540 = 20 full trainings of 27 epochs)")
    a = p.parse_args()
    import ferrotune
    import optuna

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    warnings.simplefilter("ignore")
    libs = [("ferrotune", ferrotune), (f"Optuna {optuna.__version__}", optuna)]
    for family in ("crossing", "power-law"):
        print(f"\n### {family} curves, budget {a.budget} epochs, TPE + pruner, {a.seeds} seeds\n")
        print("| library | pruner | " + " | ".join(f"best @{int(f * 100)}% (mean / median)" for f in FRACTIONS) + " |")
        print("|---|---|" + "---:|" * len(FRACTIONS))
        best = {}
        for name, lib in libs:
            for strategy in ("none", "median", "asha", "hyperband"):
                runs = [run(lib, family, strategy, s, a.budget) for s in range(a.seeds)]
                cells = []
                for k in range(len(FRACTIONS)):
                    col = sorted(r[k] for r in runs)
                    mean = sum(col) / len(col)
                    med = 0.5 * (col[(len(col) - 1) // 2] + col[len(col) // 2])
                    cells.append(f"{mean:.4f} / {med:.4f}")
                    if strategy != "none":
                        best.setdefault((name, k), []).append(mean)
                print(f"| {name} | {strategy} | " + " | ".join(cells) + " |", flush=True)
                print(f"{family} {name} {strategy} done", file=sys.stderr)
        ours = [min(best[(libs[0][0], k)]) for k in range(len(FRACTIONS))]
        theirs = [min(best[(libs[1][0], k)]) for k in range(len(FRACTIONS))]
        print("\nBest pruned method (mean): " + ", ".join(
            f"@{int(f * 100)}%: ferrotune {o:.4f} vs Optuna {t:.4f} ({'<=' if o <= t else '>'})"
            for f, o, t in zip(FRACTIONS, ours, theirs)))


if __name__ == "__main__":
    main()
