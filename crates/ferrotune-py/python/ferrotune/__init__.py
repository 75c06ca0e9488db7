"""ferrotune: hyperparameter tuning with a Rust core, under Optuna's API
names — for the common Optuna script, changing the import is the whole
migration::

    import ferrotune as optuna

    def objective(trial):
        x = trial.suggest_float("x", -10, 10)
        return (x - 2) ** 2

    study = optuna.create_study()
    study.optimize(objective, n_trials=100)
    print(study.best_params)

What is implemented, and what is not, is listed in the README
("Python").
"""

from ferrotune import distributions, exceptions, logging, pruners, samplers, storages, trial
from ferrotune._ferrotune import __version__
from ferrotune.exceptions import TrialPruned
from ferrotune.study import (
    Study,
    StudyDirection,
    StudySummary,
    create_study,
    delete_study,
    get_all_study_names,
    get_all_study_summaries,
    load_study,
)
from ferrotune.trial import FrozenTrial, Trial, TrialState

__all__ = [
    "Study",
    "StudyDirection",
    "StudySummary",
    "Trial",
    "FrozenTrial",
    "TrialState",
    "TrialPruned",
    "create_study",
    "load_study",
    "delete_study",
    "get_all_study_summaries",
    "get_all_study_names",
    "distributions",
    "exceptions",
    "logging",
    "pruners",
    "samplers",
    "storages",
    "trial",
    "__version__",
]
