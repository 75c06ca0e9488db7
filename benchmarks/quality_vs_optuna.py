"""Tuning quality, side by side: ferrotune's samplers (through its Python
package, i.e. the Rust samplers) and Optuna's on the same problems, seeds
and budgets, both driven through the same ask/tell loop and the same
Python objective functions, so both see identical objectives.

Reports the mean and median best-so-far regret (best value minus the known
optimum; for the real networks, the best validation error itself) at 10, 30
and 60 trials over the seeds, and each sampler's average rank by mean
regret, per checkpoint, across the problems.

    PY=target/torch-venv/bin/python          # a venv with torch (Optuna's GPSampler needs it)
    $PY -m pip install optuna cmaes scipy scikit-learn . # and ferrotune's package (release build)
    $PY benchmarks/quality_vs_optuna.py --seeds 5 --trials 60 --jobs 2 > quality.md

`--problems` and `--samplers` take comma-separated subsets; `--json FILE`
keeps every run's curve. `benchmarks/results/quality-30-seeds.json.gz` holds
the curves of the 30-seed run in docs/benchmarks.md (every sampler, Optuna's
included): `--reuse` it with `--rerun ferrotune:gp` (say) to measure a change
to one sampler against all the others without re-running them.
`benchmarks/results/quality-130-seeds-tpe-cmaes.json.gz` holds 130 seeds of
the TPE and CMA-ES pairs on the ten fast problems; with `--options '{...}'`
(keyword arguments for ferrotune's samplers) and `--against` that file, a
non-default option is measured against the defaults in seconds.
"""

import argparse
import gzip
import json
import math
import multiprocessing as mp
import random
import sys
import time
import warnings
import zlib

CHECKPOINTS = (10, 30, 60)

# ---- problems --------------------------------------------------------------------------------
# Each: (name, kind, optimum, objective(trial, rng) -> (observed, true)). `rng` is seeded by
# (problem, seed, trial number), so the noisy problem's noise is the same for every sampler.


def _xs(trial, n, lo, hi):
    return [trial.suggest_float(f"x{i}", lo, hi) for i in range(n)]


def branin(trial, rng):
    x1 = trial.suggest_float("x1", -5.0, 10.0)
    x2 = trial.suggest_float("x2", 0.0, 15.0)
    b, c, r, s, t = 5.1 / (4 * math.pi ** 2), 5 / math.pi, 6.0, 10.0, 1 / (8 * math.pi)
    v = (x2 - b * x1 * x1 + c * x1 - r) ** 2 + s * (1 - t) * math.cos(x1) + s
    return v, v


_H_ALPHA = [1.0, 1.2, 3.0, 3.2]
_H_A = [[10, 3, 17, 3.5, 1.7, 8], [0.05, 10, 17, 0.1, 8, 14], [3, 3.5, 1.7, 10, 17, 8], [17, 8, 0.05, 10, 0.1, 14]]
_H_P = [[0.1312, 0.1696, 0.5569, 0.0124, 0.8283, 0.5886], [0.2329, 0.4135, 0.8307, 0.3736, 0.1004, 0.9991],
        [0.2348, 0.1451, 0.3522, 0.2883, 0.3047, 0.6650], [0.4047, 0.8828, 0.8732, 0.5743, 0.1091, 0.0381]]


def _hartmann6(x):
    return -sum(_H_ALPHA[i] * math.exp(-sum(_H_A[i][j] * (x[j] - _H_P[i][j]) ** 2 for j in range(6))) for i in range(4))


def hartmann6(trial, rng):
    v = _hartmann6(_xs(trial, 6, 0.0, 1.0))
    return v, v


def noisy_hartmann6(trial, rng):
    """Hartmann-6 with Gaussian noise (sd 0.1, a tenth of its range of interest): the
    regret is the noise-free value of the trial that looked best."""
    v = _hartmann6(_xs(trial, 6, 0.0, 1.0))
    return v + rng.gauss(0.0, 0.1), v


def rosenbrock5(trial, rng):
    x = _xs(trial, 5, -5.0, 10.0)
    v = sum(100 * (x[i + 1] - x[i] ** 2) ** 2 + (1 - x[i]) ** 2 for i in range(4))
    return v, v


def levy10(trial, rng):
    x = _xs(trial, 10, -10.0, 10.0)
    w = [1 + (v - 1) / 4 for v in x]
    mid = sum((wi - 1) ** 2 * (1 + 10 * math.sin(math.pi * wi + 1) ** 2) for wi in w[:-1])
    v = math.sin(math.pi * w[0]) ** 2 + mid + (w[-1] - 1) ** 2 * (1 + math.sin(2 * math.pi * w[-1]) ** 2)
    return v, v


def styblinski_tang20(trial, rng):
    x = _xs(trial, 20, -5.0, 5.0)
    v = 0.5 * sum(t ** 4 - 16 * t * t + 5 * t for t in x)
    return v, v


def mixed4(trial, rng):
    """A hyperparameter-like space: optimum 0 at lr=1e-3, units=256, relu, dropout=0.2."""
    lr = trial.suggest_float("lr", 1e-5, 1e-1, log=True)
    units = trial.suggest_int("units", 16, 512, step=16)
    act = trial.suggest_categorical("activation", ["relu", "tanh", "sigmoid"])
    dropout = trial.suggest_float("dropout", 0.0, 0.5)
    v = (math.log10(lr) + 3) ** 2 / 4 + ((units - 256) / 256) ** 2 + {"relu": 0.0, "tanh": 0.3, "sigmoid": 0.6}[act] \
        + (dropout - 0.2) ** 2
    return v, v


def categorical8(trial, rng):
    """Categorical-heavy: six categoricals (3-5 choices, one pair interacting) and two
    floats; optimum 0."""
    opt = trial.suggest_categorical("optimizer", ["sgd", "adam", "adamw", "rmsprop"])
    act = trial.suggest_categorical("activation", ["relu", "gelu", "tanh", "silu", "elu"])
    norm = trial.suggest_categorical("norm", ["none", "batch", "layer"])
    init = trial.suggest_categorical("init", ["he", "xavier", "normal"])
    sched = trial.suggest_categorical("schedule", ["constant", "cosine", "step", "exp"])
    batch = trial.suggest_categorical("batch_size", [16, 32, 64, 128, 256])
    lr = trial.suggest_float("lr", 1e-5, 1e-1, log=True)
    wd = trial.suggest_float("weight_decay", 0.0, 0.1)
    v = {"sgd": 0.8, "adam": 0.2, "adamw": 0.0, "rmsprop": 0.5}[opt]
    v += {"relu": 0.3, "gelu": 0.0, "tanh": 0.9, "silu": 0.1, "elu": 0.4}[act]
    # An interaction: batch norm helps only with He initialisation.
    v += 0.0 if (norm == "batch" and init == "he") else 0.6 if norm == "batch" else {"none": 0.5, "layer": 0.2}[norm] \
        + {"he": 0.0, "xavier": 0.1, "normal": 0.3}[init]
    v += {"constant": 0.6, "cosine": 0.0, "step": 0.2, "exp": 0.3}[sched]
    v += abs(math.log2(batch) - 6) * 0.2
    v += (math.log10(lr) + 3 - (0.5 if opt == "sgd" else 0.0)) ** 2 / 4 + (wd - 0.01) ** 2 * 10
    return v, v


def conditional(trial, rng):
    """A conditional space: the model family decides which parameters exist; optimum 0
    (an MLP with 3 layers of 128 units and adam at lr 1e-3)."""
    model = trial.suggest_categorical("model", ["linear", "mlp", "tree"])
    if model == "linear":
        c = trial.suggest_float("l2", 1e-6, 1.0, log=True)
        return 0.5 + 0.1 * (math.log10(c) + 3) ** 2, None
    if model == "tree":
        depth = trial.suggest_int("depth", 1, 16)
        leaf = trial.suggest_int("min_leaf", 1, 64, log=True)
        return 0.3 + 0.01 * (depth - 8) ** 2 + 0.05 * (math.log2(leaf) - 3) ** 2, None
    layers = trial.suggest_int("layers", 1, 5)
    units = trial.suggest_int("units", 16, 1024, log=True)
    opt = trial.suggest_categorical("optimizer", ["sgd", "adam"])
    if opt == "sgd":
        lr = trial.suggest_float("sgd_lr", 1e-4, 1.0, log=True)
        mom = trial.suggest_float("momentum", 0.0, 0.99)
        v = 0.1 + (math.log10(lr) + 1.5) ** 2 / 4 + (mom - 0.9) ** 2
    else:
        lr = trial.suggest_float("adam_lr", 1e-5, 1e-1, log=True)
        v = (math.log10(lr) + 3) ** 2 / 4
    v += 0.05 * (layers - 3) ** 2 + 0.1 * (math.log2(units) - 7) ** 2
    return v, None


def integer6(trial, rng):
    """Integer and stepped parameters only (epochs, widths with steps, log batch size, ...);
    optimum 0."""
    layers = trial.suggest_int("layers", 1, 8)
    units = trial.suggest_int("units", 16, 1024, step=16)
    batch = trial.suggest_int("batch_size", 8, 512, log=True)
    epochs = trial.suggest_int("epochs", 5, 100, step=5)
    heads = trial.suggest_int("heads", 1, 16)
    drop = trial.suggest_float("dropout", 0.0, 0.5, step=0.05)
    v = (layers - 4) ** 2 / 9 + ((units - 384) / 384) ** 2 + (math.log2(batch) - 6) ** 2 / 9 \
        + ((epochs - 40) / 40) ** 2 + (heads - 6) ** 2 / 25 + ((drop - 0.15) / 0.25) ** 2
    return v, v


def conditional_layers(trial, rng):
    """Per-layer parameters, the shape of Optuna's own PyTorch example: the layer count
    decides how many width and dropout parameters exist; optimum 0 (3 layers of 256, 128
    and 64 units, dropout 0.2, lr 1e-3). Not in the default set (see EXTRA_PROBLEMS)."""
    n = trial.suggest_int("n_layers", 1, 4)
    lr = trial.suggest_float("lr", 1e-5, 1e-1, log=True)
    v = (math.log10(lr) + 3) ** 2 / 4 + 0.1 * (n - 3) ** 2
    for i, target in enumerate([256, 128, 64, 32][:n]):
        units = trial.suggest_int(f"n_units_l{i}", 4, 512, log=True)
        drop = trial.suggest_float(f"dropout_l{i}", 0.0, 0.5)
        v += 0.05 * (math.log2(units) - math.log2(target)) ** 2 + (drop - 0.2) ** 2
    return v, None


_DATA = {}


def _digits():
    if "digits" not in _DATA:
        from sklearn.datasets import load_digits
        from sklearn.preprocessing import StandardScaler

        x, y = load_digits(return_X_y=True)
        r = random.Random(0)
        idx = list(range(len(x)))
        r.shuffle(idx)
        tr, va = idx[:600], idx[600:1000]
        sc = StandardScaler().fit(x[tr])
        _DATA["digits"] = (sc.transform(x[tr]), y[tr], sc.transform(x[va]), y[va])
    return _DATA["digits"]


def mlp_digits(trial, rng):
    """A real small network: scikit-learn's MLP (15 epochs) on 600 digits images, the
    error on 400 held-out ones (the optimum is unknown: the regret column is the error itself)."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier

    xt, yt, xv, yv = _digits()
    width = trial.suggest_int("units", 8, 128, log=True)
    depth = trial.suggest_int("layers", 1, 3)
    clf = MLPClassifier(
        hidden_layer_sizes=(width,) * depth,
        activation=trial.suggest_categorical("activation", ["relu", "tanh", "logistic"]),
        alpha=trial.suggest_float("alpha", 1e-6, 1.0, log=True),
        learning_rate_init=trial.suggest_float("lr", 1e-5, 1.0, log=True),
        batch_size=trial.suggest_int("batch_size", 16, 256, log=True),
        max_iter=15,
        random_state=0,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        clf.fit(xt, yt)
    v = 1.0 - clf.score(xv, yv)
    return v, v


PROBLEMS = {
    "branin-2d": (branin, 0.397887, "continuous"),
    "hartmann-6d": (hartmann6, -3.32237, "continuous"),
    "rosenbrock-5d": (rosenbrock5, 0.0, "continuous"),
    "levy-10d": (levy10, 0.0, "continuous"),
    "styblinski-tang-20d": (styblinski_tang20, -39.16617 * 20, "continuous, 20-D"),
    "noisy-hartmann-6d": (noisy_hartmann6, -3.32237, "noisy"),
    "mixed-4d": (mixed4, 0.0, "mixed"),
    "integer-6d": (integer6, 0.0, "integer/step"),
    "categorical-8d": (categorical8, 0.0, "categorical-heavy"),
    "conditional": (conditional, 0.0, "conditional"),
    "mlp-digits": (mlp_digits, 0.0, "real network"),
}

# Problems run only when named in --problems: checks of one sampler's behaviour
# beyond the set the head-to-head counts are taken on.
EXTRA_PROBLEMS = {
    "conditional-layers": (conditional_layers, 0.0, "conditional (per-layer)"),
}
ALL_PROBLEMS = {**PROBLEMS, **EXTRA_PROBLEMS}

# ---- samplers ----------------------------------------------------------------------------------


def make_sampler(name, seed, options=None):
    """`options`: keyword arguments for ferrotune's samplers (--options)."""
    lib, kind = name.split(":")
    if lib == "ferrotune":
        import ferrotune as m
    else:
        import optuna as m
    s = m.samplers
    kw = dict(options or {}) if lib == "ferrotune" else {}
    return {
        "auto": lambda: s.AutoSampler(seed=seed, **kw),
        "tpe": lambda: s.TPESampler(seed=seed, **kw),
        "gp": lambda: s.GPSampler(seed=seed, **kw),
        "cmaes": lambda: s.CmaEsSampler(seed=seed, **kw),
        "random": lambda: s.RandomSampler(seed=seed, **kw),
    }[kind](), m


SAMPLERS = ["ferrotune:auto", "ferrotune:gp", "ferrotune:tpe", "ferrotune:cmaes", "optuna:gp", "optuna:tpe", "optuna:cmaes",
            "ferrotune:random"]


def run_one(args):
    problem, sampler_name, seed, n, options = args
    f, optimum, _ = ALL_PROBLEMS[problem]
    sampler, lib = make_sampler(sampler_name, seed, options)
    if lib.__name__ == "optuna":
        lib.logging.set_verbosity(lib.logging.ERROR)
        warnings.simplefilter("ignore")
    study = lib.create_study(sampler=sampler)
    best_obs, best_true, curve = math.inf, math.inf, []
    start = time.perf_counter()
    for i in range(n):
        t = study.ask()
        rng = random.Random(zlib.crc32(f"{problem}|{seed}|{i}".encode()))
        obs, true = f(t, rng)
        study.tell(t, obs)
        if obs < best_obs:
            best_obs, best_true = obs, (obs if true is None else true)
        curve.append(max(best_true - optimum, 0.0))
    return problem, sampler_name, seed, curve, time.perf_counter() - start


def fmt(x):
    if x == 0:
        return "0"
    if 0.01 <= abs(x) < 1e4:
        return f"{x:.3f}"
    return f"{x:.2e}"


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--seeds", type=int, default=5)
    p.add_argument("--first-seed", type=int, default=0,
                   help="run seeds first-seed .. first-seed+seeds-1 (to add seeds to an earlier run: merge the --json files)")
    p.add_argument("--trials", type=int, default=60)
    p.add_argument("--jobs", type=int, default=2)
    p.add_argument("--problems", default=",".join(PROBLEMS),
                   help="comma-separated (default: the head-to-head set); also: " + ",".join(EXTRA_PROBLEMS))
    p.add_argument("--samplers", default=",".join(SAMPLERS))
    p.add_argument("--json", help="write every run's curve here")
    p.add_argument("--reuse", help="a --json file of an earlier run: its curves stand in for every (problem, sampler) "
                                   "not in --rerun, so one changed sampler can be measured again without the rest")
    p.add_argument("--rerun", default="", help="with --reuse: the samplers to run again (comma-separated)")
    p.add_argument("--options", default="{}",
                   help="JSON keyword arguments for ferrotune's samplers in this run (e.g. '{\"gamma\": 0.15}' with "
                        "--samplers ferrotune:tpe), to measure a non-default option")
    p.add_argument("--against", help="a --json file of the same samplers with other code or options: print, per "
                                     "problem and checkpoint, how far this run's means are from its, in standard errors")
    a = p.parse_args()
    problems = a.problems.split(",")
    samplers = a.samplers.split(",")
    unknown = [pr for pr in problems if pr not in ALL_PROBLEMS]
    if unknown:
        p.error(f"--problems: unknown {', '.join(unknown)}; choose from {', '.join(ALL_PROBLEMS)}")
    try:
        options = json.loads(a.options)
        for s in samplers:
            if options and s.startswith("ferrotune:"):
                make_sampler(s, 0, options)  # an unknown option fails here, not in every worker
    except (ValueError, TypeError) as e:
        p.error(f"--options: {e}")
    results = {}
    if a.reuse:
        rerun = set(a.rerun.split(",")) if a.rerun else set()
        for key, runs in read_runs(a.reuse).items():
            pr, s = key.split("|")
            if pr in problems and s in samplers and s not in rerun:
                results[(pr, s)] = [tuple(r) for r in runs]
    jobs = [(pr, s, seed, a.trials, options) for pr in problems for s in samplers for seed in range(a.first_seed, a.first_seed + a.seeds) if (pr, s) not in results]
    # Slow jobs first, so the pool ends together.
    jobs.sort(key=lambda j: (j[1] != "optuna:gp", j[0] != "mlp-digits"))
    if jobs:
        # The network's error depends on scikit-learn's (and numpy's) version, Optuna's GPSampler on
        # torch's: curves from different environments are not comparable there.
        print("versions: " + ", ".join(f"{m} {_version(m)}" for m in ("ferrotune", "optuna", "cmaes", "torch",
                                                                       "scikit-learn", "numpy")), file=sys.stderr)
    ctx = mp.get_context("spawn")
    with ctx.Pool(a.jobs) as pool:
        for k, (pr, s, seed, curve, secs) in enumerate(pool.imap_unordered(run_one, jobs)):
            results.setdefault((pr, s), []).append((seed, curve, secs))
            print(f"[{k + 1}/{len(jobs)}] {pr} {s} seed {seed}: {fmt(curve[-1])} in {secs:.1f} s", file=sys.stderr)
    if a.json:
        with open(a.json, "w") as fh:
            json.dump({f"{pr}|{s}": r for (pr, s), r in results.items()}, fh)
    cps = [c for c in CHECKPOINTS if c <= a.trials]
    means = {}
    print(f"{a.seeds} seeds, {a.trials} trials; regret = best so far minus the optimum (mean / median)\n")
    print("| problem | class | sampler | " + " | ".join(f"@{c}" for c in cps) + " | s per run |")
    print("|---|---|---|" + "---:|" * (len(cps) + 1))
    for pr in problems:
        for s in samplers:
            runs = results[(pr, s)]
            cells = []
            for c in cps:
                col = sorted(r[1][c - 1] for r in runs)
                # Correctly rounded, so equal totals give equal means (the
                # network's errors are multiples of 1/400 and do tie).
                mean = math.fsum(col) / len(col)
                means[(pr, s, c)] = mean
                med = col[len(col) // 2] if len(col) % 2 else 0.5 * (col[len(col) // 2 - 1] + col[len(col) // 2])
                cells.append(f"{fmt(mean)} / {fmt(med)}")
            secs = sum(r[2] for r in runs) / len(runs)
            print(f"| {pr} | {ALL_PROBLEMS[pr][2]} | {s} | " + " | ".join(cells) + f" | {secs:.1f} |")
    print("\nAverage rank by mean regret (1 = best; ties share):\n")
    print("| sampler | " + " | ".join(f"rank @{c}" for c in cps) + " |")
    print("|---|" + "---:|" * len(cps))
    for s in samplers:
        cells = []
        for c in cps:
            total = 0.0
            for pr in problems:
                mine = means[(pr, s, c)]
                others = [means[(pr, o, c)] for o in samplers]
                total += 1 + sum(1 for m in others if m < mine) + (sum(1 for m in others if m == mine) - 1) / 2
            cells.append(f"{total / len(problems):.2f}")
        print(f"| {s} | " + " | ".join(cells) + " |")
    # Head to head: ours vs Optuna's same algorithm.
    print("\nHead to head (problems where ferrotune's mean is <= Optuna's):\n")
    print("| pair | " + " | ".join(f"@{c}" for c in cps) + " |")
    print("|---|" + "---:|" * len(cps))
    pairs = [k for k in ("gp", "tpe", "cmaes") if f"ferrotune:{k}" in samplers and f"optuna:{k}" in samplers]
    for kind in pairs:
        ours, theirs = f"ferrotune:{kind}", f"optuna:{kind}"
        cells = [f"{sum(1 for pr in problems if means[(pr, ours, c)] <= means[(pr, theirs, c)])}/{len(problems)}" for c in cps]
        print(f"| {kind} | " + " | ".join(cells) + " |")
    # How much of a gap is noise: the difference of the means in standard errors.
    print("\nDifference of the means in standard errors, (ferrotune − Optuna) / √(se₁² + se₂²), at the last "
          "checkpoint (negative: ferrotune ahead; beyond ±2 is unlikely to be seed noise):\n")
    print("| problem | " + " | ".join(pairs) + " |")
    print("|---|" + "---:|" * len(pairs))
    for pr in problems:
        cells = []
        for kind in pairs:
            z = z_score(results[(pr, f"ferrotune:{kind}")], results[(pr, f"optuna:{kind}")], cps[-1])
            cells.append("0" if z is None else f"{z:+.1f}")
        print(f"| {pr} | " + " | ".join(cells) + " |")
    if a.against:
        # Only the samplers this invocation ran (not those reused).
        ran = {j[1] for j in jobs}
        compare(results, a.against, problems, [s for s in samplers if s in ran], cps)


def _version(dist):
    from importlib import metadata
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "absent"


def read_runs(path):
    """A --json file (gzipped if it ends in .gz): "problem|sampler" -> runs."""
    with (gzip.open(path, "rt") if path.endswith(".gz") else open(path)) as fh:
        return json.load(fh)


def z_score(runs_a, runs_b, c):
    """(mean a − mean b) / √(se_a² + se_b²) of the regret at checkpoint c;
    None where both standard errors are 0."""
    def mean_se(runs):
        v = [r[1][c - 1] for r in runs]
        m = math.fsum(v) / len(v)
        return m, math.sqrt(math.fsum((x - m) ** 2 for x in v) / max(1, len(v) - 1) / len(v))

    (m1, s1), (m2, s2) = mean_se(runs_a), mean_se(runs_b)
    se = math.sqrt(s1 * s1 + s2 * s2)
    return (m1 - m2) / se if se > 0 else None


def compare(results, path, problems, samplers, cps):
    """This run against another of the same samplers: per problem and
    checkpoint (this − that) / √(se₁² + se₂²), and the sum over problems
    (of n independent z-scores, beyond ±2√n is unlikely to be noise)."""
    other = {tuple(k.split("|")): v for k, v in read_runs(path).items()}
    for s in samplers:
        rows = [pr for pr in problems if (pr, s) in other]
        if not rows:
            continue
        print(f"\n{s} against {path} (negative: this run better):\n")
        print("| problem | " + " | ".join(f"z @{c}" for c in cps) + " |")
        print("|---|" + "---:|" * len(cps))
        sums = [0.0] * len(cps)
        for pr in rows:
            cells = []
            for i, c in enumerate(cps):
                z = z_score(results[(pr, s)], other[(pr, s)], c) or 0.0
                sums[i] += z
                cells.append(f"{z:+.1f}")
            print(f"| {pr} | " + " | ".join(cells) + " |")
        print(f"| sum ({len(rows)} problems) | " + " | ".join(f"{z:+.1f}" for z in sums) + " |")


if __name__ == "__main__":
    main()
