# The shape of Optuna's multi-objective tutorial (docs: tutorial/20_recipes/002_multi_objective.py),
# on a function instead of a PyTorch network, with only the import changed.
import ferrotune as optuna


def objective(trial):
    x = trial.suggest_float("x", 0, 5)
    y = trial.suggest_float("y", 0, 3)

    v0 = 4 * x**2 + 4 * y**2
    v1 = (x - 5) ** 2 + (y - 5) ** 2
    return v0, v1


study = optuna.create_study(directions=["minimize", "minimize"], sampler=optuna.samplers.NSGAIISampler(seed=1))
study.optimize(objective, n_trials=100, timeout=300)

print("Number of finished trials: ", len(study.trials))
print(f"Number of trials on the Pareto front: {len(study.best_trials)}")

trial_with_highest_accuracy = max(study.best_trials, key=lambda t: t.values[1])
print("Trial with lowest v1: ")
print(f"\tnumber: {trial_with_highest_accuracy.number}")
print(f"\tparams: {trial_with_highest_accuracy.params}")
print(f"\tvalues: {trial_with_highest_accuracy.values}")
assert len(study.best_trials) >= 5
