"""Rank agreement: does a predictor (the proxy, FLOPs, params) order networks like a better measurement does?

Kendall's tau-b with a percentile bootstrap 95% interval (networks resampled with replacement). Used by
refinement (``refine.py``: proxy against refined accuracy) and by ``calibrate.py``. With the handful of
networks a study retrains the interval is wide; that is the honest answer.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Sequence

import numpy as np

__all__ = ["RankAgreement", "bootstrap_interval", "kendall_tau", "rank_agreement", "spearman_rho", "top_recall"]

BOOTSTRAP_RESAMPLES = 2000


def _taus(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Kendall tau-b of each row pair of ``x`` and ``y`` (shape (B, n)); NaN where either is constant."""
    sx = np.sign(x[:, :, None] - x[:, None, :])
    sy = np.sign(y[:, :, None] - y[:, None, :])
    numerator = (sx * sy).sum(axis=(1, 2))
    denominator = np.sqrt((sx ** 2).sum(axis=(1, 2)) * (sy ** 2).sum(axis=(1, 2)))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(denominator > 0, numerator / np.where(denominator > 0, denominator, 1.0), np.nan)


def kendall_tau(x: Sequence[float], y: Sequence[float]) -> float:
    """Kendall's tau-b (ties handled as scipy does); 0.0 where it is undefined (all of one side tie)."""
    tau = _taus(np.asarray([x], dtype=float), np.asarray([y], dtype=float))[0]
    return 0.0 if math.isnan(tau) else float(tau)


def spearman_rho(x: Sequence[float], y: Sequence[float]) -> float:
    """Spearman's rho; 0.0 where it is undefined."""
    from scipy import stats

    rho = stats.spearmanr(x, y).statistic
    return 0.0 if rho != rho else float(rho)


def bootstrap_interval(x: Sequence[float], y: Sequence[float], resamples: int = BOOTSTRAP_RESAMPLES,
                       level: float = 0.95, seed: int = 0) -> tuple[float, float]:
    """Percentile bootstrap interval of Kendall's tau (resamples where tau is undefined are left out)."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if len(x) < 3:
        return (-1.0, 1.0)
    picks = np.random.default_rng(seed).integers(0, len(x), size=(resamples, len(x)))
    taus = _taus(x[picks], y[picks])
    taus = taus[~np.isnan(taus)]
    if len(taus) == 0:
        return (-1.0, 1.0)
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(taus, [tail, 100 - tail])
    return float(low), float(high)


@dataclass(frozen=True)
class RankAgreement:
    """How well ``predictor`` ranks networks like the target: tau and its bootstrap 95% interval."""

    predictor: str  # "proxy accuracy", "FLOPs alone", "params alone"
    tau: float
    low: float
    high: float
    count: int

    def beats(self, other: "RankAgreement") -> bool:
        """Whether this predictor agrees with the target more strongly than ``other`` in either direction
        (FLOPs may predict accuracy either way; a proxy must agree, and more strongly)."""
        return self.tau > abs(other.tau)

    def to_dict(self) -> dict:
        return asdict(self)


def rank_agreement(target: Sequence[float], predictors: dict[str, Sequence[float]]) -> list[RankAgreement]:
    """Each predictor's agreement with ``target``, in the order given."""
    return [RankAgreement(name, kendall_tau(values, target), *bootstrap_interval(values, target), len(target))
            for name, values in predictors.items()]


def top_recall(predicted: Sequence[float], target: Sequence[float], k: int = 3, among: int = 5) -> int:
    """How many of ``target``'s best ``k`` networks are among ``predicted``'s best ``among`` (higher is better;
    ties broken by order): what a search that refines its top ``among`` would keep of the truly best ``k``."""
    best = set(np.argsort(-np.asarray(target, dtype=float), kind="stable")[:k].tolist())
    kept = set(np.argsort(-np.asarray(predicted, dtype=float), kind="stable")[:among].tolist())
    return len(best & kept)
