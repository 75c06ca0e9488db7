"""Tune a PyTorch MLP on MNIST in-process: TPE + median pruning, one
`report` per epoch, the data loaded once for all trials.

    pip install .  torch numpy                    # from a ferrotune checkout
    python examples/python/pytorch_mnist.py       # --trials 20 --epochs 5 --limit 10000

The trials go to sqlite:///ferrotune-examples.db, the database the CLI and
the dashboard read:

    ferrotune trials --study pytorch-mnist --storage sqlite:///ferrotune-examples.db
    ferrotune dashboard --storage sqlite:///ferrotune-examples.db

MNIST's original files are read from $FERROTUNE_DATA_DIR/mnist,
~/.cache/ferrotune/mnist (where the ferrotune CLI downloads them), or the
3,000-image subset a checkout ships in fixtures/data/mnist.

Moving from Optuna: the only change is `import ferrotune as optuna`.
"""

import argparse
import gzip
import os
import pathlib

import numpy as np
import torch
import torch.nn as nn

import ferrotune as optuna

HERE = pathlib.Path(__file__).resolve().parent


def mnist_dir() -> pathlib.Path:
    candidates = []
    if os.environ.get("FERROTUNE_DATA_DIR"):
        candidates.append(pathlib.Path(os.environ["FERROTUNE_DATA_DIR"]) / "mnist")
    candidates += [pathlib.Path.home() / ".cache" / "ferrotune" / "mnist", HERE.parents[1] / "fixtures" / "data" / "mnist"]
    for d in candidates:
        if (d / "train-images-idx3-ubyte.gz").exists():
            return d
    raise SystemExit("MNIST not found: set FERROTUNE_DATA_DIR=DIR with DIR/mnist/*.gz, "
                     "or run `ferrotune train --dataset mnist` once to download it into ~/.cache/ferrotune")


def idx(path: pathlib.Path) -> np.ndarray:
    with gzip.open(path, "rb") as f:
        data = f.read()
    dims = data[3]
    shape = [int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(dims)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * dims).reshape(shape)


def load(limit: int):
    """Train/validation split of MNIST's training set, as float tensors: loaded once."""
    d = mnist_dir()
    x = torch.from_numpy(idx(d / "train-images-idx3-ubyte.gz").reshape(-1, 784)[:limit].astype(np.float32) / 255.0)
    y = torch.from_numpy(idx(d / "train-labels-idx1-ubyte.gz")[:limit].astype(np.int64))
    n_val = len(x) // 10
    return (x[n_val:], y[n_val:]), (x[:n_val], y[:n_val])


def build(trial) -> nn.Module:
    layers, width = [], 784
    act = {"relu": nn.ReLU, "tanh": nn.Tanh, "gelu": nn.GELU}[trial.suggest_categorical("activation", ["relu", "tanh", "gelu"])]
    dropout = trial.suggest_float("dropout", 0.0, 0.5)
    for i in range(trial.suggest_int("n_layers", 1, 3)):
        units = trial.suggest_int(f"units_l{i}", 32, 512, log=True)
        layers += [nn.Linear(width, units), act(), nn.Dropout(dropout)]
        width = units
    layers.append(nn.Linear(width, 10))
    return nn.Sequential(*layers)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--trials", type=int, default=20)
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument("--limit", type=int, default=10000, help="use the first N training images")
    p.add_argument("--storage", default="sqlite:///ferrotune-examples.db")
    a = p.parse_args()
    torch.manual_seed(0)
    torch.set_num_threads(max(1, os.cpu_count() or 1))
    (xt, yt), (xv, yv) = load(a.limit)

    def objective(trial):
        model = build(trial)
        lr = trial.suggest_float("lr", 1e-4, 1e-1, log=True)
        name = trial.suggest_categorical("optimizer", ["adam", "sgd"])
        if name == "sgd":
            opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=trial.suggest_float("momentum", 0.0, 0.99))
        else:
            opt = torch.optim.Adam(model.parameters(), lr=lr)
        batch = trial.suggest_categorical("batch_size", [32, 64, 128])
        loss_fn = nn.CrossEntropyLoss()
        accuracy = 0.0
        for epoch in range(a.epochs):
            model.train()
            order = torch.randperm(len(xt))
            for i in range(0, len(xt), batch):
                j = order[i:i + batch]
                opt.zero_grad()
                loss_fn(model(xt[j]), yt[j]).backward()
                opt.step()
            model.eval()
            with torch.no_grad():
                accuracy = (model(xv).argmax(1) == yv).float().mean().item()
            trial.report(accuracy, epoch)
            if trial.should_prune():
                raise optuna.TrialPruned()
        return accuracy

    study = optuna.create_study(
        study_name="pytorch-mnist",
        storage=a.storage,
        load_if_exists=True,
        direction="maximize",
        sampler=optuna.samplers.TPESampler(seed=0, n_startup_trials=5),
        pruner=optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=1),
    )
    study.optimize(objective, n_trials=a.trials)
    pruned = study.get_trials(states=[optuna.trial.TrialState.PRUNED])
    print(f"{len(study.trials)} trials, {len(pruned)} pruned")
    print(f"best validation accuracy {study.best_value:.4f} with {study.best_params}")


if __name__ == "__main__":
    main()
