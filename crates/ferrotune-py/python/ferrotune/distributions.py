"""Parameter distributions, with Optuna's names: what ``Study.ask`` takes in
``fixed_distributions`` and what ``FrozenTrial.distributions`` holds."""

from __future__ import annotations

from typing import Any, Dict, Optional, Sequence, Union

CategoricalChoiceType = Union[None, bool, int, float, str]


class BaseDistribution:
    """A parameter's domain."""

    def _to_json(self) -> Dict[str, Any]:  # pragma: no cover - overridden
        raise NotImplementedError

    def __eq__(self, other: object) -> bool:
        return isinstance(other, BaseDistribution) and self._to_json() == other._to_json()

    def __hash__(self) -> int:
        return hash(repr(self._to_json()))


class FloatDistribution(BaseDistribution):
    """A float in ``[low, high]``: uniform, log-uniform (``log=True``) or on a
    grid of ``step``."""

    def __init__(self, low: float, high: float, log: bool = False, step: Optional[float] = None) -> None:
        if log and step is not None:
            raise ValueError("FloatDistribution: log and step cannot be used together")
        self.low, self.high, self.log, self.step = float(low), float(high), bool(log), step

    def _to_json(self) -> Dict[str, Any]:
        d: Dict[str, Any] = {"type": "float", "low": self.low, "high": self.high, "log": self.log}
        if self.step is not None:
            d["step"] = float(self.step)
        return d

    def __repr__(self) -> str:
        return f"FloatDistribution(high={self.high}, log={self.log}, low={self.low}, step={self.step})"


class IntDistribution(BaseDistribution):
    """An integer in ``[low, high]`` on a grid of ``step``, or log-uniform."""

    def __init__(self, low: int, high: int, log: bool = False, step: int = 1) -> None:
        if log and step != 1:
            raise ValueError("IntDistribution: log needs step=1")
        self.low, self.high, self.log, self.step = int(low), int(high), bool(log), int(step)

    def _to_json(self) -> Dict[str, Any]:
        return {"type": "int", "low": self.low, "high": self.high, "log": self.log, "step": self.step}

    def __repr__(self) -> str:
        return f"IntDistribution(high={self.high}, log={self.log}, low={self.low}, step={self.step})"


class CategoricalDistribution(BaseDistribution):
    """One of ``choices`` (strings, numbers or booleans)."""

    def __init__(self, choices: Sequence[CategoricalChoiceType]) -> None:
        if len(choices) == 0:
            raise ValueError("CategoricalDistribution: give at least one choice")
        for c in choices:
            if c is None or not isinstance(c, (bool, int, float, str)):
                raise ValueError(
                    f"CategoricalDistribution: choice {c!r} is not a string, number or boolean "
                    "(ferrotune stores choices as plain values; None is not supported)"
                )
        self.choices = tuple(choices)

    def _to_json(self) -> Dict[str, Any]:
        return {"type": "categorical", "choices": list(self.choices)}

    def __repr__(self) -> str:
        return f"CategoricalDistribution(choices={self.choices})"


def _from_json(d: Dict[str, Any]) -> BaseDistribution:
    t = d["type"]
    if t == "float":
        return FloatDistribution(d["low"], d["high"], log=d.get("log", False), step=d.get("step"))
    if t == "int":
        return IntDistribution(d["low"], d["high"], log=d.get("log", False), step=d.get("step", 1))
    return CategoricalDistribution(d["choices"])


__all__ = ["BaseDistribution", "FloatDistribution", "IntDistribution", "CategoricalDistribution", "CategoricalChoiceType"]
