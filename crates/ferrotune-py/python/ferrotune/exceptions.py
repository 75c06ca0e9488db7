"""Exceptions with Optuna's names."""

from ferrotune._ferrotune import DuplicatedStudyError, FerrotuneError, StorageInternalError

OptunaError = FerrotuneError


class TrialPruned(FerrotuneError):
    """Raise it in an objective to end the trial as pruned
    (``if trial.should_prune(): raise ferrotune.TrialPruned()``)."""


__all__ = ["FerrotuneError", "OptunaError", "TrialPruned", "DuplicatedStudyError", "StorageInternalError"]
