"""Trials: the live ``Trial`` an objective suggests from and reports to,
the stored ``FrozenTrial``, and ``TrialState`` (Optuna's names and values)."""

from __future__ import annotations

import datetime
import enum
import json
from typing import TYPE_CHECKING, Any, Dict, List, Optional, Sequence

from ferrotune.distributions import BaseDistribution, CategoricalChoiceType, _from_json

if TYPE_CHECKING:  # pragma: no cover
    from ferrotune.study import Study


class TrialState(enum.IntEnum):
    """Where a trial is in its life (Optuna's values)."""

    RUNNING = 0
    COMPLETE = 1
    PRUNED = 2
    FAIL = 3
    WAITING = 4

    def __repr__(self) -> str:
        return f"TrialState.{self.name}"

    def is_finished(self) -> bool:
        return self in (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)

    @classmethod
    def _from_native(cls, s: str) -> "TrialState":
        return {"running": cls.RUNNING, "complete": cls.COMPLETE, "pruned": cls.PRUNED, "failed": cls.FAIL, "waiting": cls.WAITING}[s]

    def _native(self) -> str:
        return {0: "running", 1: "complete", 2: "pruned", 3: "fail", 4: "waiting"}[int(self)]


def _time(t: Optional[float]) -> Optional[datetime.datetime]:
    return None if t is None else datetime.datetime.fromtimestamp(t)


class FrozenTrial:
    """A trial as stored: a snapshot, never a live handle."""

    def __init__(self, d: Any) -> None:
        if isinstance(d, dict):
            self._load(d)
        else:
            # A native handle: read into Python on first use (see __getattr__),
            # so a loop that never looks at what tell returned does not pay for it.
            self.__dict__["_pending"] = d

    def __getattr__(self, name: str) -> Any:
        pending = self.__dict__.pop("_pending", None)
        if pending is None or name.startswith("__"):
            raise AttributeError(name)
        self._load(json.loads(pending.json()))
        return getattr(self, name)

    def _load(self, d: Dict[str, Any]) -> None:
        self.number: int = d["number"]
        self._trial_id: int = d["id"]
        self.state: TrialState = TrialState._from_native(d["state"])
        vals = d.get("values")
        self.values: Optional[List[float]] = None if vals is None else [float("nan") if v is None else v for v in vals]
        self.params: Dict[str, Any] = d["params"]
        self.distributions: Dict[str, BaseDistribution] = {k: _from_json(v) for k, v in d["distributions"].items()}
        self.intermediate_values: Dict[int, float] = {
            int(k): (float("nan") if v is None else v) for k, v in d["intermediate_values"].items()
        }
        self.user_attrs: Dict[str, Any] = d["user_attrs"]
        self.system_attrs: Dict[str, Any] = dict(d["system_attrs"])
        if d.get("message"):
            self.system_attrs.setdefault("fail_reason", d["message"])
        self.datetime_start = _time(d.get("started_at"))
        self.datetime_complete = _time(d.get("completed_at"))

    @property
    def value(self) -> Optional[float]:
        """The objective value (one objective)."""
        if self.values is None:
            return None
        if len(self.values) != 1:
            raise RuntimeError("this trial has several values; use FrozenTrial.values")
        return self.values[0]

    @property
    def duration(self) -> Optional[datetime.timedelta]:
        if self.datetime_start is None or self.datetime_complete is None:
            return None
        return self.datetime_complete - self.datetime_start

    @property
    def last_step(self) -> Optional[int]:
        return max(self.intermediate_values) if self.intermediate_values else None

    def __repr__(self) -> str:
        return f"FrozenTrial(number={self.number}, state={self.state!r}, values={self.values}, params={self.params})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, FrozenTrial) and self._trial_id == other._trial_id and self.state == other.state and self.values == other.values


class Trial:
    """A running trial: the objective asks it for hyperparameters and
    reports intermediate values to it (``trial.suggest_float(...)``,
    ``trial.report(value, step)``, ``trial.should_prune()``)."""

    def __init__(self, study: "Study", native: Any) -> None:
        self.study = study
        self._native = native

    @property
    def number(self) -> int:
        return self._native.number

    @property
    def _trial_id(self) -> int:
        return self._native.id

    def suggest_float(self, name: str, low: float, high: float, *, step: Optional[float] = None, log: bool = False) -> float:
        """A float in ``[low, high]``: log-uniform with ``log=True``, on a
        grid with ``step``."""
        return self._native.suggest_float(name, float(low), float(high), None if step is None else float(step), bool(log))

    def suggest_int(self, name: str, low: int, high: int, *, step: int = 1, log: bool = False) -> int:
        """An integer in ``[low, high]``: on a grid of ``step``, or log-uniform."""
        return self._native.suggest_int(name, int(low), int(high), int(step), bool(log))

    def suggest_categorical(self, name: str, choices: Sequence[CategoricalChoiceType]) -> Any:
        """One of ``choices`` (strings, numbers or booleans)."""
        from ferrotune.distributions import CategoricalDistribution

        d = CategoricalDistribution(choices)
        return json.loads(self._native.suggest(name, json.dumps(d._to_json())))

    def _suggest(self, name: str, distribution: BaseDistribution) -> Any:
        return json.loads(self._native.suggest(name, json.dumps(distribution._to_json())))

    def report(self, value: float, step: int) -> None:
        """Reports an intermediate value at ``step`` (an epoch, say)."""
        self._native.report(float(value), int(step))

    def should_prune(self) -> bool:
        """Whether the study's pruner says this trial should stop now."""
        return self._native.should_prune()

    def set_user_attr(self, key: str, value: Any) -> None:
        self._native.set_user_attr(key, json.dumps(value))

    def set_constraints(self, values: Sequence[float]) -> None:
        """Constraint values; the trial is feasible when all are <= 0."""
        self._native.set_constraints([float(v) for v in values])

    def _snapshot(self) -> Dict[str, Any]:
        try:
            return json.loads(self._native.snapshot())
        except RuntimeError:
            # Told already: as in Optuna, the trial's params and attributes
            # stay readable; they come from storage now.
            try:
                return json.loads(self.study._native.trial(self.number))
            except Exception:
                pass
            raise

    @property
    def params(self) -> Dict[str, Any]:
        return self._snapshot()["params"]

    @property
    def distributions(self) -> Dict[str, BaseDistribution]:
        return {k: _from_json(v) for k, v in self._snapshot()["distributions"].items()}

    @property
    def user_attrs(self) -> Dict[str, Any]:
        return self._snapshot()["user_attrs"]

    @property
    def datetime_start(self) -> Optional[datetime.datetime]:
        return _time(self._snapshot().get("started_at"))

    def __repr__(self) -> str:
        return f"Trial(number={self.number})"


__all__ = ["Trial", "FrozenTrial", "TrialState"]
