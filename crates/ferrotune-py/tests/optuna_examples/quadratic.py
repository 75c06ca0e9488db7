# Optuna's README example, with only the import changed.
import ferrotune as optuna


def objective(trial):
    x = trial.suggest_float("x", -10, 10)
    return (x - 2) ** 2


study = optuna.create_study()
study.optimize(objective, n_trials=100)

print(study.best_params)  # E.g. {'x': 2.002108042}
assert abs(study.best_params["x"] - 2) < 0.5, study.best_params
