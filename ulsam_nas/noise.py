"""How sure an accuracy is: the proxy's seed-to-seed noise, the validation set's binomial error, and when a
difference counts.

A short proxy is noisy: the same network scored 32.2%, 44.0% and 28.0% over three proxy seeds on real
images (issue 10). Every study therefore retrains its vanilla baseline with a few seeds
(:func:`ulsam_nas.search.study.measure_noise`) and stores the spread as a :class:`NoiseEstimate`.

The rule, used by every report, the noise-aware front and the gains over baselines:

* an accuracy ``a`` measured by ``runs`` seeds has the standard uncertainty
  ``sigma(a) = sqrt(s**2 / runs + a * (1 - a) / n)``: ``s`` the seed-to-seed standard deviation,
  ``n`` the validation images (the second term is the binomial error of a finite validation set);
* a difference ``a - b`` counts only when it exceeds ``2 * sqrt(sigma(a)**2 + sigma(b)**2)``, which is
  ``2 * sqrt(2) * sigma`` for equal uncertainties: about a two-sided 95% test. It treats the two
  values as independent, which is conservative for networks scored on the same images (their binomial
  errors are correlated); a smaller difference is "on par (within noise)".

``±`` in every output is one standard uncertainty, in percentage points.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any, Iterable, Sequence

import numpy as np

__all__ = ["MARGIN_SIGMAS", "NoiseEstimate", "difference_margin", "is_on_par", "pooled_std", "uncertainty"]

MARGIN_SIGMAS = 2.0  # a difference counts beyond this many standard uncertainties of the difference


def uncertainty(accuracy, seed_std: float | None, validation_images: int | None, runs=1):
    """One standard uncertainty of ``accuracy`` (a fraction; scalars or arrays) measured as the mean of ``runs`` seeds.

    NaN when nothing is known (no validation size and no seed spread).
    """
    p = np.clip(np.asarray(accuracy, dtype=float), 0.0, 1.0)
    if validation_images:
        binomial = p * (1 - p) / validation_images
    else:
        binomial = np.full_like(p, 0.0 if seed_std is not None else math.nan)
    seed = (seed_std ** 2) / np.maximum(np.asarray(runs, dtype=float), 1.0) if seed_std is not None else 0.0
    sigma = np.sqrt(binomial + seed)
    return float(sigma) if np.ndim(sigma) == 0 else sigma


def difference_margin(sigma_a, sigma_b):
    """How far apart two accuracies must be for the difference to count (0 where the uncertainties are unknown)."""
    a, b = np.nan_to_num(np.asarray(sigma_a, dtype=float)), np.nan_to_num(np.asarray(sigma_b, dtype=float))
    margin = MARGIN_SIGMAS * np.sqrt(a ** 2 + b ** 2)
    return float(margin) if np.ndim(margin) == 0 else margin


def is_on_par(difference: float, sigma_a: float, sigma_b: float) -> bool:
    """Whether a difference of two accuracies is within the noise (never, where both uncertainties are unknown)."""
    if math.isnan(sigma_a) and math.isnan(sigma_b):
        return False
    return abs(difference) <= difference_margin(sigma_a, sigma_b)


def pooled_std(groups: Iterable[Sequence[float]]) -> float | None:
    """The seed-to-seed standard deviation pooled over groups (one group per network); None without 2+ runs of one."""
    squares, dof = 0.0, 0
    for values in groups:
        if len(values) >= 2:
            squares += float(np.var(values, ddof=1)) * (len(values) - 1)
            dof += len(values) - 1
    return math.sqrt(squares / dof) if dof else None


@dataclass(frozen=True)
class NoiseEstimate:
    """The proxy's noise, measured once per study on its vanilla baseline; stored in ``StudyMeta.noise``."""

    validation_images: int | None = None
    accuracies: tuple[float, ...] = ()  # the baseline's proxy accuracy, one per seed
    seeds: tuple[int, ...] = ()
    network: str = ""  # summary of the network measured
    extra_runs: int = 0  # proxy trainings made for the measurement alone
    extra_seconds: float = 0.0
    reason: str = ""  # why it was not measured

    @property
    def measured(self) -> bool:
        return len(self.accuracies) >= 2

    @property
    def seed_std(self) -> float | None:
        """Sample standard deviation of the accuracy over seeds (a fraction)."""
        return float(np.std(self.accuracies, ddof=1)) if self.measured else None

    @property
    def mean_accuracy(self) -> float | None:
        return float(np.mean(self.accuracies)) if self.accuracies else None

    @property
    def binomial_se(self) -> float:
        """sqrt(p (1 - p) / n) at the baseline's mean accuracy (NaN when unknown)."""
        if self.mean_accuracy is None or not self.validation_images:
            return math.nan
        p = self.mean_accuracy
        return math.sqrt(p * (1 - p) / self.validation_images)

    @property
    def sigma(self) -> float:
        """The combined per-accuracy uncertainty at the baseline's accuracy."""
        return uncertainty(self.mean_accuracy, self.seed_std, self.validation_images) \
            if self.mean_accuracy is not None else math.nan

    @property
    def margin(self) -> float:
        """What a difference between two accuracies like the baseline's must exceed: 2 x sqrt(2) x sigma."""
        return difference_margin(self.sigma, self.sigma)

    def sigma_of(self, accuracy, runs=1):
        """The uncertainty of a proxy accuracy (or an array of them) of this study."""
        return uncertainty(accuracy, self.seed_std, self.validation_images, runs)

    def to_dict(self) -> dict[str, Any]:
        values = asdict(self)
        values["accuracies"], values["seeds"] = list(self.accuracies), list(self.seeds)
        # derived, stored for whoever reads the storage alone (optuna-dashboard); from_dict recomputes them
        binomial = self.binomial_se
        values |= {"seed_std": self.seed_std, "binomial_se": None if math.isnan(binomial) else binomial,
                   "margin_rule": f"{MARGIN_SIGMAS:g} x sqrt(sigma_a^2 + sigma_b^2)"}
        return values

    @classmethod
    def unmeasured(cls, validation_images: int | None) -> "NoiseEstimate":
        """A study stored without a noise estimate: only the validation size is known."""
        return cls(validation_images=validation_images, reason="the study was made before ulsam-nas measured noise")

    @classmethod
    def from_dict(cls, values: dict[str, Any] | None, validation_images: int | None = None) -> "NoiseEstimate":
        """The stored estimate; without one, an estimate that knows only the validation size."""
        if not values:
            return cls.unmeasured(validation_images)
        known = {key: value for key, value in values.items() if key in cls.__dataclass_fields__}
        known["accuracies"] = tuple(known.get("accuracies", ()))
        known["seeds"] = tuple(known.get("seeds", ()))
        if known.get("validation_images") is None:
            known["validation_images"] = validation_images
        return cls(**known)
