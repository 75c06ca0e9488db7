"""Samplers with Optuna's class and argument names, backed by ferrotune's
Rust implementations. Arguments Optuna has that ferrotune does not
implement raise a clear error when set to something other than their
default; see the README's table of what is not there."""

from __future__ import annotations

import json
from typing import Any, Callable, Dict, Mapping, Optional, Sequence


def _unsupported(sampler: str, **given: Any) -> None:
    for name, value in given.items():
        if value is not None and value is not False:
            raise ValueError(
                f"{sampler}({name}=...) is not supported by ferrotune; leave it out "
                "(see the README: 'the subset of Optuna's API that ferrotune implements')"
            )


class BaseSampler:
    """A sampler: what kind, its options (ferrotune's names) and its seed."""

    _kind = "random"

    def __init__(self, seed: Optional[int] = None, **options: Any) -> None:
        self._seed = None if seed is None else int(seed) & ((1 << 64) - 1)
        self._options: Dict[str, Any] = options
        self._constraints_func: Optional[Callable[[Any], Sequence[float]]] = None

    def _native_args(self) -> tuple:
        return self._kind, json.dumps(self._options), self._seed

    def reseed_rng(self) -> None:
        """Optuna calls this when a sampler is shared by worker processes."""
        self._seed = None

    def __repr__(self) -> str:
        return f"{type(self).__name__}(seed={self._seed}, {self._options})"


class AutoSampler(BaseSampler):
    """ferrotune's default: GP-BO up to ``gp_max_trials`` complete trials
    (``gp_max_trials_conditional`` in a conditional space, whose parameters
    differ between trials), TPE for longer studies and several objectives;
    chosen per trial from the study and stored as the trial's
    ``auto_sampler`` system attribute. (Optuna has no such sampler; its
    default is TPE.)"""

    _kind = "auto"

    def __init__(self, *, seed: Optional[int] = None, gp_max_trials: int = 1000, gp_max_trials_conditional: int = 250,
                 constraints_func: Optional[Callable[[Any], Sequence[float]]] = None) -> None:
        super().__init__(seed, gp_max_trials=int(gp_max_trials), gp_max_trials_conditional=int(gp_max_trials_conditional))
        self._constraints_func = constraints_func


class RandomSampler(BaseSampler):
    """Independent uniform draws."""

    _kind = "random"

    def __init__(self, seed: Optional[int] = None) -> None:
        super().__init__(seed)


class QMCSampler(BaseSampler):
    """Owen-scrambled Sobol points (quasi-random)."""

    _kind = "qmc"

    def __init__(self, *, qmc_type: str = "sobol", scramble: bool = True, seed: Optional[int] = None,
                 independent_sampler: Any = None, warn_asynchronous_seeding: bool = True,
                 warn_independent_sampling: bool = True) -> None:
        if qmc_type != "sobol" or not scramble:
            raise ValueError("QMCSampler: ferrotune implements scrambled Sobol (qmc_type='sobol', scramble=True) only")
        _unsupported("QMCSampler", independent_sampler=independent_sampler)
        super().__init__(seed)


class GridSampler(BaseSampler):
    """Every combination of the given values, each once."""

    _kind = "grid"

    def __init__(self, search_space: Mapping[str, Sequence[Any]], seed: Optional[int] = None) -> None:
        grid = {k: list(v) for k, v in search_space.items()}
        for k, vs in grid.items():
            for v in vs:
                if v is None or not isinstance(v, (bool, int, float, str)):
                    raise ValueError(f"GridSampler: value {v!r} of '{k}' is not a string, number or boolean")
        super().__init__(seed)
        self._grid = grid

    def _native_args(self) -> tuple:
        return self._kind, json.dumps(self._grid), self._seed


class TPESampler(BaseSampler):
    """Tree-structured Parzen Estimator (Bergstra et al. 2011; Watanabe 2023).

    Estimators as Optuna 5's for one objective: multivariate (a joint model
    of the parameters every trial has), ``group=False`` (the parameters of a
    conditional space that only some trials have are sampled one at a
    time); ``multivariate=False`` gives the univariate TPE. Three defaults
    differ from Optuna's, measured better together on ferrotune's quality
    benchmark: the good trials' kernels weigh by their improvement
    (``ei_weights=True``, Watanabe 2023), ``gamma=0.15`` (the best 15%, at
    most 25, are "good"; Optuna 10%) and ``prior_weight=2.0`` (Optuna 1.0).
    ``ei_weights=False, gamma=0.1, prior_weight=1.0`` gives Optuna's."""

    _kind = "tpe"

    def __init__(self, *, consider_prior: bool = True, prior_weight: float = 2.0, consider_magic_clip: bool = True,
                 consider_endpoints: bool = False, n_startup_trials: int = 10, n_ei_candidates: int = 24,
                 gamma: Any = None, weights: Any = None, seed: Optional[int] = None, multivariate: bool = True,
                 group: bool = False, warn_independent_sampling: bool = True, constant_liar: bool = False,
                 constraints_func: Optional[Callable[[Any], Sequence[float]]] = None,
                 categorical_distance_func: Any = None, ei_weights: bool = True) -> None:
        if not consider_prior:
            raise ValueError("TPESampler(consider_prior=False) is not supported by ferrotune (the prior is always used)")
        if callable(gamma):
            raise ValueError("TPESampler(gamma=<function>) is not supported; ferrotune takes gamma as the fraction of "
                             "trials in the 'good' group (default 0.15, at most 25 trials)")
        _unsupported("TPESampler", weights=weights, categorical_distance_func=categorical_distance_func)
        opts: Dict[str, Any] = dict(prior_weight=prior_weight, consider_magic_clip=consider_magic_clip,
                                    consider_endpoints=consider_endpoints, n_startup_trials=n_startup_trials,
                                    n_ei_candidates=n_ei_candidates, multivariate=multivariate, group=group,
                                    constant_liar=constant_liar, ei_weights=ei_weights)
        if gamma is not None:
            opts["gamma"] = float(gamma)
        super().__init__(seed, **opts)
        self._constraints_func = constraints_func


class GPSampler(BaseSampler):
    """Gaussian-process Bayesian optimisation (Matérn-5/2, log EI), fitted
    to power-warped objective values. In a conditional space it models the
    union of the parameters (Optuna's models only those every trial has);
    under a pruner it models pruned trials at their extrapolated end where
    the finished curves show that is reliable (Optuna's ignores them)."""

    _kind = "gp"

    def __init__(self, *, seed: Optional[int] = None, independent_sampler: Any = None, n_startup_trials: int = 10,
                 deterministic_objective: bool = False,
                 constraints_func: Optional[Callable[[Any], Sequence[float]]] = None) -> None:
        _unsupported("GPSampler", independent_sampler=independent_sampler)
        super().__init__(seed, n_initial_points=n_startup_trials, deterministic=deterministic_objective)
        self._constraints_func = constraints_func


class CmaEsSampler(BaseSampler):
    """CMA-ES (active, orthogonal sampling) with IPOP restarts and the integer margin.

    ``catcma=True`` (ferrotune's default) models categorical parameters beside numerical
    ones (CatCMA, Hamano et al. 2024); ``catcma=False`` draws them at random, as Optuna's
    CmaEsSampler does."""

    _kind = "cmaes"

    def __init__(self, x0: Any = None, sigma0: Optional[float] = None, n_startup_trials: int = 1,
                 independent_sampler: Any = None, warn_independent_sampling: bool = True, seed: Optional[int] = None,
                 *, consider_pruned_trials: bool = False, restart_strategy: Optional[str] = None,
                 popsize: Optional[int] = None, inc_popsize: int = 2, use_separable_cma: bool = False,
                 with_margin: bool = False, lr_adapt: bool = False, source_trials: Any = None,
                 catcma: bool = True) -> None:
        _unsupported("CmaEsSampler", x0=x0, independent_sampler=independent_sampler,
                     consider_pruned_trials=consider_pruned_trials, use_separable_cma=use_separable_cma,
                     lr_adapt=lr_adapt, source_trials=source_trials)
        if restart_strategy not in (None, "ipop"):
            raise ValueError("CmaEsSampler: restart_strategy must be None or 'ipop'")
        opts: Dict[str, Any] = dict(n_startup_trials=n_startup_trials, ipop=restart_strategy == "ipop", with_margin=with_margin,
                                    catcma=bool(catcma))
        if sigma0 is not None:
            opts["sigma0"] = float(sigma0)
        if popsize is not None:
            opts["popsize"] = int(popsize)
        super().__init__(seed, **opts)


class NSGAIISampler(BaseSampler):
    """NSGA-II (Deb et al. 2002): several objectives, or a genetic algorithm."""

    _kind = "nsga2"

    def __init__(self, *, population_size: int = 50, mutation_prob: Optional[float] = None, crossover: Any = None,
                 crossover_prob: float = 0.9, swapping_prob: float = 0.5, seed: Optional[int] = None,
                 constraints_func: Optional[Callable[[Any], Sequence[float]]] = None,
                 elite_population_selection_strategy: Any = None, child_generation_strategy: Any = None,
                 after_trial_strategy: Any = None) -> None:
        _unsupported("NSGAIISampler", crossover=crossover, elite_population_selection_strategy=elite_population_selection_strategy,
                     child_generation_strategy=child_generation_strategy, after_trial_strategy=after_trial_strategy)
        opts: Dict[str, Any] = dict(population_size=population_size, crossover_prob=crossover_prob)
        if mutation_prob is not None:
            opts["mutation_prob"] = float(mutation_prob)
        super().__init__(seed, **opts)
        self._constraints_func = constraints_func


__all__ = ["BaseSampler", "AutoSampler", "RandomSampler", "QMCSampler", "GridSampler", "TPESampler", "GPSampler", "CmaEsSampler", "NSGAIISampler"]
