# Optuna's ask-and-tell tutorial (docs: tutorial/20_recipes/009_ask_and_tell.py),
# with only the import changed.
import numpy as np
from sklearn.datasets import make_classification
from sklearn.linear_model import LogisticRegression

import ferrotune as optuna

X, y = make_classification(n_features=10)


def objective(trial):
    C = trial.suggest_float("C", 1e-7, 10.0, log=True)
    solver = trial.suggest_categorical("solver", ("lbfgs", "saga"))

    clf = LogisticRegression(C=C, solver=solver, max_iter=300)
    clf.fit(X, y)
    val_accuracy = clf.score(X, y)

    return val_accuracy


study = optuna.create_study(direction="maximize")

n_trials = 10
for _ in range(n_trials):
    trial = study.ask()  # `trial` is a `Trial` and not a `FrozenTrial`.

    C = trial.suggest_float("C", 1e-7, 10.0, log=True)
    solver = trial.suggest_categorical("solver", ("lbfgs", "saga"))

    clf = LogisticRegression(C=C, solver=solver, max_iter=300)
    clf.fit(X, y)
    val_accuracy = clf.score(X, y)

    study.tell(trial, val_accuracy)  # tell the pair of trial and objective value

# Define-and-run with fixed distributions.
distributions = {
    "C": optuna.distributions.FloatDistribution(1e-7, 10.0, log=True),
    "solver": optuna.distributions.CategoricalDistribution(("lbfgs", "saga")),
}
for _ in range(n_trials):
    trial = study.ask(distributions)  # pass the pre-defined distributions.

    # two hyperparameters are already sampled from the pre-defined distributions
    C = trial.params["C"]
    solver = trial.params["solver"]

    clf = LogisticRegression(C=C, solver=solver, max_iter=300)
    clf.fit(X, y)
    val_accuracy = clf.score(X, y)

    study.tell(trial, val_accuracy)

# Batch optimization
study = optuna.create_study(direction="maximize")
batch_size = 4
for _ in range(3):
    trial_numbers = []
    x_batch = []
    y_batch = []
    for _ in range(batch_size):
        trial = study.ask()
        trial_numbers.append(trial.number)
        x_batch.append(trial.suggest_float("x", -10, 10))
        y_batch.append(trial.suggest_float("y", -10, 10))
    x_batch = np.array(x_batch)
    y_batch = np.array(y_batch)
    objectives = x_batch**2 + y_batch**2
    for trial_number, objective in zip(trial_numbers, objectives):
        study.tell(trial_number, objective)
print(len(study.trials), study.best_value)
assert len(study.trials) == 12
