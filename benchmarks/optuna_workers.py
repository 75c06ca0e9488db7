#!/usr/bin/env python3
"""Optuna's side of `ferrotune-bench workers`: one worker process of a
storage-throughput measurement, driven by the same protocol as ferrotune's
own worker (`ferrotune-bench worker`), so both do identical work per trial:
ask, suggest one float, report 5 intermediate values, tell.

    python optuna_workers.py create --storage URL --study NAME
    python optuna_workers.py worker --storage URL --study NAME --ready DIR --index I [--reports 5]

A worker sets everything up (imports, connection, study), writes
DIR/ready-I, waits for DIR/go ("T0 T1" in Unix seconds), runs trials from
T0 until T1 and prints `trials=N errors=E`: the trials it told by T1, and
storage errors it survived (SQLite "database is locked", for instance).
"""
import argparse
import os
import sys
import time


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("mode", choices=["create", "worker"])
    ap.add_argument("--storage", required=True)
    ap.add_argument("--study", required=True)
    ap.add_argument("--ready")
    ap.add_argument("--index", type=int, default=0)
    ap.add_argument("--reports", type=int, default=5)
    a = ap.parse_args()

    import optuna

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    storage = optuna.storages.RDBStorage(a.storage)
    if a.mode == "create":
        optuna.create_study(study_name=a.study, storage=storage, direction="minimize")
        return
    study = optuna.load_study(
        study_name=a.study,
        storage=storage,
        sampler=optuna.samplers.RandomSampler(seed=a.index),
        pruner=optuna.pruners.NopPruner(),
    )
    open(os.path.join(a.ready, f"ready-{a.index}"), "w").close()
    go = os.path.join(a.ready, "go")
    while not os.path.exists(go):
        time.sleep(0.01)
    t0, t1 = (float(x) for x in open(go).read().split())
    while time.time() < t0:
        time.sleep(0.001)
    n = errors = 0
    while time.time() < t1:
        try:
            trial = study.ask()
            x = trial.suggest_float("x", -10.0, 10.0)
            for step in range(a.reports):
                trial.report(x * x + 1.0 / (step + 1), step)
            study.tell(trial, x * x)
        except Exception as e:  # noqa: BLE001 - counted, as a user's loop would survive it
            errors += 1
            if errors <= 3:
                print(f"worker {a.index}: {type(e).__name__}: {e}", file=sys.stderr)
            continue
        if time.time() <= t1:
            n += 1
    print(f"trials={n} errors={errors}")


if __name__ == "__main__":
    main()
