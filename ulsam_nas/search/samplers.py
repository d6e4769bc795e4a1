"""The samplers a search can use, built for multi-objective studies under budget constraints."""

from __future__ import annotations

import warnings

import optuna

from .settings import SAMPLERS

__all__ = ["make_sampler"]


def make_sampler(name: str, seed: int, trials: int) -> optuna.samplers.BaseSampler:
    """Samplers read each trial's budget constraints (``Trial.set_constraint``) from the storage."""
    if name == "nsga2":
        # A population of a fifth of the trials gives several generations even in short searches.
        return optuna.samplers.NSGAIISampler(seed=seed, population_size=max(6, min(50, trials // 5)))
    if name == "tpe":
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)  # multivariate TPE
            return optuna.samplers.TPESampler(seed=seed, multivariate=True, n_startup_trials=max(5, min(20, trials // 5)))
    if name == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    raise ValueError(f"sampler: unknown sampler {name!r}; valid: {', '.join(SAMPLERS)}")
