"""Per-trial overhead through Python: ferrotune's package beside Optuna,
in one process on the same machine, plus ferrotune's Rust API (run through
`ferrotune-bench overhead`).

One trial = ask + suggest every parameter + tell, a trivial objective,
in-memory storage. Spaces: 10 floats, and a 10-parameter mixed space (log
float, floats, a stepped float, ints with step and log, categoricals).
Samplers: TPE and random with each library's defaults, seed 0.

    PY=$(benchmarks/venv.sh)              # Optuna from PyPI
    "$PY" -m pip install .                # ferrotune's package (release build)
    cargo build --release -p ferrotune-bench
    "$PY" benchmarks/python_overhead.py --rust target/release/ferrotune-bench
"""

import argparse
import json
import math
import subprocess
import sys
import time


def floats10(trial):
    return sum(trial.suggest_float(f"x{i}", -5.0, 5.0) ** 2 for i in range(10))


def mixed10(trial):
    lr = trial.suggest_float("lr", 1e-5, 1e-1, log=True)
    dropout = trial.suggest_float("dropout", 0.0, 0.5)
    momentum = trial.suggest_float("momentum", 0.0, 0.99)
    wd = trial.suggest_float("weight_decay", 0.0, 0.1, step=0.01)
    layers = trial.suggest_int("layers", 1, 4)
    units = trial.suggest_int("units", 16, 512, log=True)
    batch = trial.suggest_int("batch", 16, 256, step=16)
    act = trial.suggest_categorical("activation", ["relu", "tanh", "gelu", "silu"])
    opt = trial.suggest_categorical("optimizer", ["sgd", "adam", "rmsprop"])
    bn = trial.suggest_categorical("batch_norm", [True, False])
    return ((math.log10(lr) + 3) ** 2 + dropout + momentum + wd + layers + math.log(units) + batch / 256
            + (act == "relu") + (opt == "adam") + bn)


SPACES = {"floats10": floats10, "mixed10": mixed10}


def per_trial_us(lib, space, sampler, n):
    s = lib.samplers.TPESampler(seed=0) if sampler == "tpe" else lib.samplers.RandomSampler(seed=0)
    study = lib.create_study(sampler=s)
    f = SPACES[space]
    start = time.perf_counter()
    for _ in range(n):
        t = study.ask()
        study.tell(t, f(t))
    return (time.perf_counter() - start) * 1e6 / n


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--trials", default="100,300,1000")
    p.add_argument("--rust", help="ferrotune-bench binary, for the Rust API's own cost")
    p.add_argument("--skip-optuna", action="store_true")
    a = p.parse_args()
    trials = [int(x) for x in a.trials.split(",")]

    import ferrotune

    libs = [("ferrotune (Python)", ferrotune)]
    if not a.skip_optuna:
        import optuna

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        libs.append((f"Optuna {optuna.__version__}", optuna))
    rows = {}
    if a.rust:
        out = subprocess.run([a.rust, "overhead", "--trials", a.trials], check=True, capture_output=True, text=True).stdout
        for line in out.splitlines():
            r = json.loads(line)
            rows[(r["space"], r["sampler"], r["trials"], "ferrotune (Rust)")] = r["us_per_trial"]
    for space in SPACES:
        for sampler in ("tpe", "random"):
            for n in trials:
                for name, lib in libs:
                    rows[(space, sampler, n, name)] = per_trial_us(lib, space, sampler, n)
                    print(f"{space} {sampler} {n} {name}: {rows[(space, sampler, n, name)]:.0f} us", file=sys.stderr)
    names = (["ferrotune (Rust)"] if a.rust else []) + [n for n, _ in libs]
    print("| space | sampler | trials | " + " | ".join(f"{n} µs/trial" for n in names)
          + (" | Optuna ÷ ferrotune (Python)" if len(libs) > 1 else "")
          + (" | Python ÷ Rust" if a.rust else "") + " |")
    print("|---|---|---:|" + "---:|" * (len(names) + (len(libs) > 1) + bool(a.rust)))
    for space in SPACES:
        for sampler in ("tpe", "random"):
            for n in trials:
                cells = [f"{rows[(space, sampler, n, x)]:.0f}" for x in names]
                py = rows[(space, sampler, n, "ferrotune (Python)")]
                if len(libs) > 1:
                    cells.append(f"{rows[(space, sampler, n, libs[1][0])] / py:.1f}×")
                if a.rust:
                    cells.append(f"{py / rows[(space, sampler, n, 'ferrotune (Rust)')]:.2f}×")
                print(f"| {space} | {sampler} | {n} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
