"""Pruners with Optuna's class and argument names, backed by ferrotune's
Rust implementations."""

from __future__ import annotations

import json
from typing import Any, Dict, Optional, Union


class BasePruner:
    """A pruner: ferrotune's pruner description."""

    def __init__(self, spec: Dict[str, Any]) -> None:
        self._spec = spec

    def _json(self) -> str:
        return json.dumps(self._spec)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._spec})"


class NopPruner(BasePruner):
    """Never prunes."""

    def __init__(self) -> None:
        super().__init__({"type": "none"})


class PercentilePruner(BasePruner):
    """Prunes a trial whose best value so far is worse than the given
    percentile of the other trials' values at the same step."""

    def __init__(self, percentile: float, n_startup_trials: int = 5, n_warmup_steps: int = 0, interval_steps: int = 1,
                 *, n_min_trials: int = 1) -> None:
        super().__init__({"type": "percentile", "percentile": float(percentile), "n_startup_trials": n_startup_trials,
                          "n_warmup_steps": n_warmup_steps, "interval_steps": interval_steps, "n_min_trials": n_min_trials})


class MedianPruner(PercentilePruner):
    """Prunes below the median of the other trials at the same step."""

    def __init__(self, n_startup_trials: int = 5, n_warmup_steps: int = 0, interval_steps: int = 1, *, n_min_trials: int = 1) -> None:
        super().__init__(50.0, n_startup_trials, n_warmup_steps, interval_steps, n_min_trials=n_min_trials)
        self._spec["type"] = "median"


class ThresholdPruner(BasePruner):
    """Prunes when a value leaves ``[lower, upper]`` (or is NaN)."""

    def __init__(self, lower: Optional[float] = None, upper: Optional[float] = None, n_warmup_steps: int = 0,
                 interval_steps: int = 1) -> None:
        if lower is None and upper is None:
            raise TypeError("ThresholdPruner: give lower, upper or both")
        spec: Dict[str, Any] = {"type": "threshold", "n_warmup_steps": n_warmup_steps, "interval_steps": interval_steps}
        if lower is not None:
            spec["lower"] = float(lower)
        if upper is not None:
            spec["upper"] = float(upper)
        super().__init__(spec)


class PatientPruner(BasePruner):
    """Prunes when the best of the last ``patience + 1`` reports is no
    better than the best before them (Optuna's window); with
    ``wrapped_pruner``, only when it agrees too.

    One difference from Optuna: ``min_delta`` is how much better the recent
    window must be to count as an improvement (Keras' meaning), where
    Optuna prunes only when the window is worse by more than ``min_delta``.
    They agree at ``min_delta=0`` except on exact ties, which ferrotune
    counts as no improvement."""

    def __init__(self, wrapped_pruner: Optional[BasePruner], patience: int, min_delta: float = 0.0) -> None:
        if int(patience) < 0:
            raise ValueError(f"patience must be >= 0, got {patience}")
        # ferrotune's core counts the window itself: Optuna's patience p is a window of p + 1 reports.
        spec: Dict[str, Any] = {"type": "patient", "patience": int(patience) + 1, "min_delta": float(min_delta)}
        if wrapped_pruner is not None:
            spec["wrapped"] = wrapped_pruner._spec
        super().__init__(spec)


class SuccessiveHalvingPruner(BasePruner):
    """Asynchronous successive halving (Li et al. 2020, ASHA).

    ``min_resource='auto'`` takes 1 step (Optuna estimates it from the first
    trial); give a number for your epoch budget."""

    def __init__(self, min_resource: Union[str, int] = "auto", reduction_factor: int = 4, min_early_stopping_rate: int = 0,
                 bootstrap_count: int = 0) -> None:
        super().__init__({"type": "successive_halving", "min_resource": 1 if min_resource == "auto" else int(min_resource),
                          "reduction_factor": reduction_factor, "min_early_stopping_rate": min_early_stopping_rate,
                          "bootstrap_count": bootstrap_count})


class HyperbandPruner(BasePruner):
    """Hyperband (Li et al. 2018) over successive-halving brackets.

    ``max_resource='auto'`` takes 81 steps (Optuna estimates it from the
    first trial); give your number of epochs."""

    def __init__(self, min_resource: int = 1, max_resource: Union[str, int] = "auto", reduction_factor: int = 3,
                 bootstrap_count: int = 0) -> None:
        if bootstrap_count:
            raise ValueError("HyperbandPruner(bootstrap_count=...) is not supported by ferrotune")
        super().__init__({"type": "hyperband", "min_resource": int(min_resource),
                          "max_resource": 81 if max_resource == "auto" else int(max_resource),
                          "reduction_factor": reduction_factor})


class WilcoxonPruner(BasePruner):
    """A signed-rank test against the best trial, for objectives evaluated
    step by step on folds or instances (report one per step)."""

    def __init__(self, *, p_threshold: float = 0.1, n_startup_steps: int = 2) -> None:
        super().__init__({"type": "wilcoxon", "p_threshold": float(p_threshold), "n_startup_steps": int(n_startup_steps)})


__all__ = ["BasePruner", "NopPruner", "MedianPruner", "PercentilePruner", "ThresholdPruner", "PatientPruner",
           "SuccessiveHalvingPruner", "HyperbandPruner", "WilcoxonPruner"]
