"""Studies with Optuna's names: ``create_study``, ``load_study``,
``Study.optimize``, ask-and-tell, best trials, ``trials_dataframe``."""

from __future__ import annotations

import datetime
import gc
import json
import math
import numbers
import os
import sys
import threading
import time
import traceback
import uuid
import warnings
from typing import Any, Callable, Container, Dict, Iterable, List, Optional, Sequence, Tuple, Type, Union

from ferrotune import _ferrotune
from ferrotune.distributions import BaseDistribution
from ferrotune.exceptions import TrialPruned
from ferrotune.pruners import BasePruner
from ferrotune.samplers import AutoSampler, BaseSampler
from ferrotune.storages import BaseStorage, _resolve
from ferrotune.trial import FrozenTrial, Trial, TrialState

ObjectiveFuncType = Callable[[Trial], Union[float, Sequence[float]]]


class StudyDirection:
    """Optuna's direction names (``StudyDirection.MINIMIZE``)."""

    MINIMIZE = "minimize"
    MAXIMIZE = "maximize"


def _values(v: Any, n: int) -> Tuple[Optional[List[float]], Optional[str]]:
    """An objective's return value as floats, or why it cannot be one."""
    if isinstance(v, numbers.Real) and not isinstance(v, bool):
        vals = [float(v)]
    elif isinstance(v, (list, tuple)) and all(isinstance(x, numbers.Real) and not isinstance(x, bool) for x in v):
        vals = [float(x) for x in v]
    else:
        try:
            vals = [float(v)]  # numpy scalars, 0-d tensors
        except (TypeError, ValueError):
            return None, f"the objective returned {v!r}, which is not a number (or a sequence of {n} numbers)"
    if len(vals) != n:
        return None, f"the objective returned {len(vals)} value(s), but the study has {n} objective(s)"
    for x in vals:
        if not math.isfinite(x):
            return None, f"the objective returned {x}, which is not a finite number"
    return vals, None


class Study:
    """A study: a named optimisation with its directions, sampler, pruner
    and storage. Create one with :func:`create_study`."""

    def __init__(self, native: Any, storage: BaseStorage, sampler: BaseSampler, pruner: BasePruner) -> None:
        self._native = native
        self._storage = storage
        self.sampler = sampler
        self.pruner = pruner
        self._stop = threading.Event()

    # ---- identity -------------------------------------------------------
    @property
    def study_name(self) -> str:
        return self._native.name

    @property
    def _study_id(self) -> int:
        return self._native.id

    @property
    def directions(self) -> List[str]:
        return list(self._native.directions)

    @property
    def direction(self) -> str:
        d = self.directions
        if len(d) > 1:
            raise RuntimeError("this study has several objectives; use Study.directions")
        return d[0]

    # ---- ask and tell ---------------------------------------------------
    def ask(self, fixed_distributions: Optional[Dict[str, BaseDistribution]] = None) -> Trial:
        """Starts a trial (an enqueued one first); with ``fixed_distributions``,
        those parameters are suggested at once."""
        trial = Trial(self, self._native.ask())
        for name, dist in (fixed_distributions or {}).items():
            trial._suggest(name, dist)
        return trial

    def tell(self, trial: Union[Trial, int], values: Union[float, Sequence[float], None] = None,
             state: Optional[TrialState] = None, skip_if_finished: bool = False) -> FrozenTrial:
        """Finishes a trial: with ``values`` (complete), or ``state``
        PRUNED or FAIL. Returns the stored trial."""
        number = trial.number if isinstance(trial, Trial) else int(trial)
        if state is None:
            state = TrialState.COMPLETE if values is not None else TrialState.FAIL
        try:
            if state == TrialState.COMPLETE:
                if values is None:
                    raise ValueError("tell(state=COMPLETE) needs the values")
                vals, why = _values(values, len(self.directions))
                if why is not None:
                    raise ValueError(why)
                self._apply_constraints(trial)
                return self._finish(trial, number, "complete", vals, None)
            if state == TrialState.PRUNED:
                return self._finish(trial, number, "pruned", None, None)
            if state == TrialState.FAIL:
                return self._finish(trial, number, "fail", None, None)
            raise ValueError(f"a trial can be told COMPLETE, PRUNED or FAIL, not {state!r}")
        except RuntimeError:
            if skip_if_finished:
                return self._frozen(number)
            raise

    def _finish(self, trial: Union[Trial, int], number: int, state: str, values: Optional[List[float]], message: Optional[str]) -> FrozenTrial:
        if isinstance(trial, Trial):
            return FrozenTrial(trial._native.finish(state, values, message))
        return FrozenTrial(self._native.tell(number, state, values, message))

    def _apply_constraints(self, trial: Union[Trial, int]) -> None:
        f = getattr(self.sampler, "_constraints_func", None)
        if f is not None and isinstance(trial, Trial):
            trial.set_constraints(list(f(trial)))

    def _frozen(self, number: int) -> FrozenTrial:
        return FrozenTrial(json.loads(self._native.trial(number)))

    # ---- the loop -------------------------------------------------------
    def optimize(self, func: ObjectiveFuncType, n_trials: Optional[int] = None, timeout: Optional[float] = None,
                 n_jobs: int = 1, catch: Union[Iterable[Type[Exception]], Type[Exception]] = (),
                 callbacks: Optional[List[Callable[["Study", FrozenTrial], None]]] = None,
                 gc_after_trial: bool = False, show_progress_bar: bool = False) -> None:
        """Runs ``func`` on new trials until ``n_trials`` trials have run, ``timeout``
        seconds have passed, or ``Study.stop()`` is called.

        An exception in ``func`` fails the trial (the traceback is stored) and
        is raised again, unless its type is in ``catch``; ``TrialPruned``
        prunes the trial; Ctrl-C fails the running trial and raises
        ``KeyboardInterrupt``. With ``n_jobs > 1`` the objective runs in
        threads; the sampler and storage run with the GIL released."""
        if isinstance(catch, type):
            catch = (catch,)
        catch = tuple(catch)
        if n_jobs == -1:
            n_jobs = os.cpu_count() or 1
        if n_jobs < 1:
            raise ValueError(f"n_jobs must be a positive number or -1, got {n_jobs}")
        if n_trials is not None and n_trials < 0:
            raise ValueError(f"n_trials must be >= 0, got {n_trials}")
        deadline = None if timeout is None else time.monotonic() + float(timeout)
        self._stop.clear()
        lock = threading.Lock()
        started = [0]
        bar = _progress(n_trials, timeout) if show_progress_bar else None

        def next_slot() -> bool:
            with lock:
                if self._stop.is_set() or (n_trials is not None and started[0] >= n_trials):
                    return False
                if deadline is not None and time.monotonic() >= deadline:
                    return False
                started[0] += 1
                return True

        def work() -> None:
            while next_slot():
                frozen = self._run_trial(func, catch)
                for cb in callbacks or []:
                    cb(self, frozen)
                if gc_after_trial:
                    gc.collect()
                if bar is not None:
                    bar.update(frozen)

        try:
            if n_jobs == 1:
                work()
            else:
                errors: List[BaseException] = []

                def guarded() -> None:
                    try:
                        work()
                    except BaseException as e:  # noqa: BLE001 - re-raised in the caller's thread
                        errors.append(e)
                        self._stop.set()

                threads = [threading.Thread(target=guarded, name=f"ferrotune-worker-{i}", daemon=True) for i in range(n_jobs)]
                for t in threads:
                    t.start()
                for t in threads:
                    while t.is_alive():
                        t.join(0.1)  # wakes for Ctrl-C
                if errors:
                    raise errors[0]
        finally:
            if bar is not None:
                bar.close()

    def _run_trial(self, func: ObjectiveFuncType, catch: Tuple[Type[Exception], ...]) -> FrozenTrial:
        trial = self.ask()
        try:
            value = func(trial)
        except TrialPruned:
            return self._finish(trial, trial.number, "pruned", None, None)
        except KeyboardInterrupt:
            self._native.interrupted(trial.number, "interrupted: KeyboardInterrupt")
            raise
        except Exception as e:
            tb = traceback.format_exc()
            frozen = self._finish(trial, trial.number, "fail", None, tb)
            if catch and isinstance(e, catch):
                warnings.warn(f"Trial {trial.number} failed: {e!r} (caught)", RuntimeWarning, stacklevel=3)
                return frozen
            raise
        vals, why = _values(value, len(self.directions))
        if why is not None:
            warnings.warn(f"Trial {trial.number} failed: {why}", RuntimeWarning, stacklevel=3)
            return self._finish(trial, trial.number, "fail", None, why)
        self._apply_constraints(trial)
        return self._finish(trial, trial.number, "complete", vals, None)

    def stop(self) -> None:
        """Stops ``optimize`` after the running trials."""
        self._stop.set()

    # ---- results --------------------------------------------------------
    def get_trials(self, deepcopy: bool = True, states: Optional[Container[TrialState]] = None) -> List[FrozenTrial]:
        names = None if states is None else [s._native() for s in TrialState if s in states]
        return [FrozenTrial(d) for d in json.loads(self._native.trials(names))]

    @property
    def trials(self) -> List[FrozenTrial]:
        return self.get_trials()

    @property
    def best_trial(self) -> FrozenTrial:
        if len(self.directions) > 1:
            raise RuntimeError("this study has several objectives, so there is no single best trial; use Study.best_trials")
        t = self._native.best_trial()
        if t is None:
            raise ValueError("no trial has completed yet")
        return FrozenTrial(json.loads(t))

    @property
    def best_params(self) -> Dict[str, Any]:
        return self.best_trial.params

    @property
    def best_value(self) -> float:
        v = self.best_trial.value
        assert v is not None
        return v

    @property
    def best_trials(self) -> List[FrozenTrial]:
        """The Pareto front (every best trial, for one objective)."""
        return [FrozenTrial(d) for d in json.loads(self._native.best_trials())]

    def enqueue_trial(self, params: Dict[str, Any], user_attrs: Optional[Dict[str, Any]] = None, skip_if_exists: bool = False) -> None:
        """Runs these parameters next (others are sampled)."""
        self._native.enqueue(json.dumps(params), None if user_attrs is None else json.dumps(user_attrs), skip_if_exists)

    def add_trial(self, trial: FrozenTrial) -> None:  # pragma: no cover - listed as not supported
        raise NotImplementedError("Study.add_trial is not supported by ferrotune; enqueue_trial the parameters instead")

    def set_user_attr(self, key: str, value: Any) -> None:
        self._native.set_user_attr(key, json.dumps(value))

    @property
    def user_attrs(self) -> Dict[str, Any]:
        return json.loads(self._native.user_attrs())

    @property
    def system_attrs(self) -> Dict[str, Any]:
        return json.loads(self._native.system_attrs())

    def trials_dataframe(self, attrs: Tuple[str, ...] = ("number", "value", "datetime_start", "datetime_complete", "duration",
                                                         "params", "user_attrs", "system_attrs", "state"),
                         multi_index: bool = False) -> Any:
        """The trials as a pandas DataFrame, with Optuna's column names."""
        try:
            import pandas as pd
        except ImportError as e:
            raise ImportError("Study.trials_dataframe needs pandas: pip install pandas") from e
        rows = []
        multi = len(self.directions) > 1
        for t in self.trials:
            row: Dict[Any, Any] = {}
            for a in attrs:
                if a == "value" or a == "values":
                    if multi:
                        for i in range(len(self.directions)):
                            row[("values", i) if multi_index else f"values_{i}"] = None if t.values is None else t.values[i]
                    else:
                        row[("value", "") if multi_index else "value"] = None if t.values is None else t.values[0]
                elif a in ("params", "user_attrs", "system_attrs", "distributions", "intermediate_values"):
                    for k, v in getattr(t, a).items():
                        row[(a, k) if multi_index else f"{a}_{k}"] = v
                elif a == "state":
                    row[("state", "") if multi_index else "state"] = t.state.name
                else:
                    row[(a, "") if multi_index else a] = getattr(t, a)
            rows.append(row)
        df = pd.DataFrame(rows)
        if multi_index and len(df.columns):
            df.columns = pd.MultiIndex.from_tuples(df.columns)
        return df

    def __repr__(self) -> str:
        return f"Study(study_name={self.study_name!r}, directions={self.directions})"


class _progress:
    """A progress bar through tqdm when it is installed."""

    def __init__(self, n_trials: Optional[int], timeout: Optional[float]) -> None:
        try:
            from tqdm.auto import tqdm
        except ImportError:
            warnings.warn("show_progress_bar needs tqdm: pip install tqdm", RuntimeWarning, stacklevel=3)
            self.bar = None
            return
        self.bar = tqdm(total=n_trials)

    def update(self, t: FrozenTrial) -> None:
        if self.bar is not None:
            self.bar.update(1)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


class MaxTrialsCallback:
    """Stops ``optimize`` once the study holds ``n_trials`` trials in
    ``states`` (by every worker on the storage, not only this process)."""

    def __init__(self, n_trials: int, states: Optional[Container[TrialState]] = (TrialState.COMPLETE,)) -> None:
        self._n_trials = n_trials
        self._states = states

    def __call__(self, study: "Study", trial: FrozenTrial) -> None:
        if len(study.get_trials(states=self._states)) >= self._n_trials:
            study.stop()


def _directions(direction: Optional[str], directions: Optional[Sequence[str]]) -> List[str]:
    if direction is not None and directions is not None:
        raise ValueError("give direction or directions, not both")
    ds = list(directions) if directions is not None else [direction or "minimize"]
    out = []
    for d in ds:
        d = getattr(d, "name", d)
        d = str(d).lower()
        if d not in ("minimize", "maximize"):
            raise ValueError(f"direction {d!r} must be 'minimize' or 'maximize'")
        out.append(d)
    return out


def create_study(*, storage: Union[str, BaseStorage, None] = None, sampler: Optional[BaseSampler] = None,
                 pruner: Optional[BasePruner] = None, study_name: Optional[str] = None,
                 direction: Optional[str] = None, load_if_exists: bool = False,
                 directions: Optional[Sequence[str]] = None) -> Study:
    """Creates a study (loads it with ``load_if_exists=True`` if it exists).
    ``storage``: None (this process's memory), ``sqlite:///file.db`` or
    ``postgresql://user@host/db`` — the same databases the ferrotune CLI
    and dashboard read."""
    st = _resolve(storage)
    ds = _directions(direction, directions)
    sampler = sampler or AutoSampler()
    from ferrotune.pruners import MedianPruner

    pruner = pruner or MedianPruner()
    name = study_name or f"no-name-{uuid.uuid4()}"
    kind, opts, seed = sampler._native_args()
    native = _ferrotune.NativeStudy.open(st._native, name, ds, kind, opts, seed, pruner._json(), True, load_if_exists)
    if native.directions != ds:
        raise ValueError(f"study {name!r} exists with directions {native.directions}, not {ds}")
    return Study(native, st, sampler, pruner)


def load_study(*, study_name: Optional[str], storage: Union[str, BaseStorage], sampler: Optional[BaseSampler] = None,
               pruner: Optional[BasePruner] = None) -> Study:
    """Loads an existing study (KeyError if there is none)."""
    st = _resolve(storage)
    if study_name is None:
        names = get_all_study_names(st)
        if len(names) != 1:
            raise ValueError(f"study_name is None, but the storage holds {len(names)} studies; name one")
        study_name = names[0]
    sampler = sampler or AutoSampler()
    from ferrotune.pruners import MedianPruner

    pruner = pruner or MedianPruner()
    kind, opts, seed = sampler._native_args()
    native = _ferrotune.NativeStudy.open(st._native, study_name, None, kind, opts, seed, pruner._json(), False, True)
    return Study(native, st, sampler, pruner)


def delete_study(*, study_name: str, storage: Union[str, BaseStorage]) -> None:
    """Deletes a study and all its trials."""
    _resolve(storage)._native.delete_study(study_name)


class StudySummary:
    """What ``get_all_study_summaries`` lists."""

    def __init__(self, d: Dict[str, Any], best_trial: Optional[FrozenTrial]) -> None:
        self.study_name: str = d["name"]
        self.directions: List[str] = d["directions"]
        self.direction: str = self.directions[0]
        self.n_trials: int = d["n_trials"]
        self.user_attrs: Dict[str, Any] = d["user_attrs"]
        self.system_attrs: Dict[str, Any] = {}
        self.best_trial = best_trial
        self.datetime_start = datetime.datetime.fromtimestamp(d["created_at"])
        self._study_id: int = d["id"]

    def __repr__(self) -> str:
        return f"StudySummary(study_name={self.study_name!r}, n_trials={self.n_trials})"


def get_all_study_summaries(storage: Union[str, BaseStorage], include_best_trial: bool = True) -> List[StudySummary]:
    st = _resolve(storage)
    out = []
    for d in json.loads(st._native.summaries()):
        best = None
        if include_best_trial and len(d["directions"]) == 1 and d["n_trials"]:
            s = load_study(study_name=d["name"], storage=st)
            t = s._native.best_trial()
            best = None if t is None else FrozenTrial(json.loads(t))
        out.append(StudySummary(d, best))
    return out


def get_all_study_names(storage: Union[str, BaseStorage]) -> List[str]:
    return [d["name"] for d in json.loads(_resolve(storage)._native.summaries())]


__all__ = ["Study", "StudyDirection", "MaxTrialsCallback", "StudySummary", "create_study", "load_study", "delete_study",
           "get_all_study_summaries", "get_all_study_names"]
