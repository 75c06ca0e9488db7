"""Tune a scikit-learn MLP on the digits data set (8x8 images) with
ferrotune's Python package: a 5-fold cross-validated objective, TPE.

    pip install . scikit-learn                  # from a ferrotune checkout
    python examples/python/sklearn_digits.py    # --trials 30
"""

import argparse
import warnings

import ferrotune
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import cross_val_score
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--trials", type=int, default=30)
    p.add_argument("--storage", default=None, help="e.g. sqlite:///ferrotune-examples.db (default: in memory)")
    a = p.parse_args()
    x, y = load_digits(return_X_y=True)

    def objective(trial):
        width = trial.suggest_int("units", 16, 256, log=True)
        depth = trial.suggest_int("layers", 1, 2)
        clf = MLPClassifier(
            hidden_layer_sizes=(width,) * depth,
            activation=trial.suggest_categorical("activation", ["relu", "tanh"]),
            alpha=trial.suggest_float("alpha", 1e-6, 1e-1, log=True),
            learning_rate_init=trial.suggest_float("lr", 1e-4, 1e-1, log=True),
            max_iter=60,
            random_state=0,
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            return cross_val_score(make_pipeline(StandardScaler(), clf), x, y, cv=5).mean()

    study = ferrotune.create_study(study_name="sklearn-digits", storage=a.storage, load_if_exists=True,
                                   direction="maximize", sampler=ferrotune.samplers.TPESampler(seed=0))
    study.optimize(objective, n_trials=a.trials, n_jobs=2)
    print(f"best 5-fold accuracy {study.best_value:.4f} with {study.best_params}")
    assert study.best_value > 0.9, "an MLP reaches over 90% on digits"


if __name__ == "__main__":
    main()
