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


def sampler(lib, kind, seed):
    s = lib.samplers
    return {"tpe": lambda: s.TPESampler(seed=seed), "auto": lambda: s.AutoSampler(seed=seed)}[kind]()


def run(lib, family, strategy, seed, budget, kind="tpe"):
    # Named per run: Hyperband's bracket of a trial is a hash of the study
    # name and the trial number in both libraries, and an unnamed study gets
    # a random name, so a run would not repeat.
    study = lib.create_study(study_name=f"{family}-{strategy}-{seed}", sampler=sampler(lib, kind, seed),
                             pruner=pruner(lib, strategy))
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
    p.add_argument("--first-seed", type=int, default=0, help="seeds first-seed .. first-seed + seeds - 1")
    p.add_argument("--budget", type=int, default=540, help="epochs per run (540 = 20 full trainings of 27 epochs)")
    p.add_argument("--ferrotune-samplers", default="tpe",
                   help="comma-separated: tpe, auto (ferrotune's default sampler; GP-BO here); Optuna's side is TPE")
    p.add_argument("--libraries", default="ferrotune,optuna", help="comma-separated subset of ferrotune,optuna")
    p.add_argument("--families", default="crossing,power-law")
    a = p.parse_args()
    kinds = a.ferrotune_samplers.split(",")
    if not set(kinds) <= {"tpe", "auto"}:
        p.error("--ferrotune-samplers: tpe and/or auto")
    import ferrotune
    import optuna

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    warnings.simplefilter("ignore")
    wanted = a.libraries.split(",")
    libs = [(f"ferrotune ({k})" if len(kinds) > 1 or k != "tpe" else "ferrotune", ferrotune, k) for k in kinds if "ferrotune" in wanted]
    libs += [(f"Optuna {optuna.__version__}", optuna, "tpe")] if "optuna" in wanted else []
    for family in a.families.split(","):
        print(f"\n### {family} curves, budget {a.budget} epochs, sampler + pruner, {a.seeds} seeds\n")
        print("| library (sampler) | pruner | " + " | ".join(f"best @{int(f * 100)}% (mean / median)" for f in FRACTIONS) + " |")
        print("|---|---|" + "---:|" * len(FRACTIONS))
        best = {}
        for name, lib, kind in libs:
            for strategy in ("none", "median", "asha", "hyperband"):
                runs = [run(lib, family, strategy, s, a.budget, kind) for s in range(a.first_seed, a.first_seed + a.seeds)]
                cells = []
                for k in range(len(FRACTIONS)):
                    col = sorted(r[k] for r in runs)
                    mean = sum(col) / len(col)
                    med = 0.5 * (col[(len(col) - 1) // 2] + col[len(col) // 2])
                    cells.append(f"{mean:.4f} / {med:.4f}")
                    if strategy != "none":
                        best.setdefault(("ferrotune" if lib is ferrotune else "optuna", k), []).append(mean)
                print(f"| {name} | {strategy} | " + " | ".join(cells) + " |", flush=True)
                print(f"{family} {name} {strategy} done", file=sys.stderr)
        if len({n for (n, _) in best}) < 2:
            continue
        ours = [min(best[("ferrotune", k)]) for k in range(len(FRACTIONS))]
        theirs = [min(best[("optuna", k)]) for k in range(len(FRACTIONS))]
        print("\nBest pruned method (mean): " + ", ".join(
            f"@{int(f * 100)}%: ferrotune {o:.4f} vs Optuna {t:.4f} ({'<=' if o <= t else '>'})"
            for f, o, t in zip(FRACTIONS, ours, theirs)))


if __name__ == "__main__":
    main()
