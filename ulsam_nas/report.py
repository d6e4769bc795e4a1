"""A study's results as data: every trial scored with its uncertainty, the front, the comparison with baselines.

Every accuracy carries its uncertainty (``noise.py``). Fronts are noise-aware unless asked to be strict: a
point leaves the front only when another is more accurate by more than the noise margin and no worse on
every cost. Once a study is refined (``refine.py``), its results stand on the refined accuracies, with
the proxy's beside them. Everything here returns records and tables; ``present/`` words them.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, replace
from typing import Sequence

import numpy as np
import pandas as pd

from .front import hypervolume, hypervolume_history, non_dominated
from .metrics import METRICS
from .noise import NoiseEstimate, difference_margin, pooled_std, uncertainty
from .ranks import RankAgreement, rank_agreement
from .record import RefinedRun, StudyMeta, TrialRecord

__all__ = ["COLUMNS", "FRONT_COLUMNS", "SCORE_NAMES", "BaselineComparison", "FrontPoint", "ScoredTrial", "StudyResults", "eligible",
           "front_table", "pareto_front", "study_results", "trials_frame"]

# The one vocabulary of trial tables: record fields, each accuracy's sigma and the refinement's columns.
COLUMNS = ["trial", "state", "status", "baseline", "feasible", "accuracy", "accuracy_sigma", "flops", "params",
           "latency_ms", "latency_sigma_ms", "summary", "config", "train_seconds", "wall_seconds", "reason",
           "refined_accuracy", "refined_sigma", "refined_std", "refined_seeds"]
# The front as a table (``pareto --csv/--json``), before the readable config columns.
FRONT_COLUMNS = ["trial", "accuracy", "accuracy_sigma", "proxy_accuracy", "proxy_sigma", "refined_seeds", "basis",
                 "strict_front", "flops", "params", "latency_ms", "latency_sigma_ms", "baseline"]
# What a trial's first accuracy is, by the evaluator that scored it (its column is proxy_accuracy either way).
SCORE_NAMES = {"proxy": "proxy accuracy", "supernet": "supernet score"}


@dataclass(frozen=True)
class ScoredTrial:
    """One trial with the accuracy the results stand on (refined once refined, else the proxy's) and its sigma."""

    record: TrialRecord
    accuracy: float  # NaN without one
    sigma: float
    proxy_accuracy: float
    proxy_sigma: float
    refined_seeds: int = 0
    refined_accuracy: float = math.nan  # the seeds' mean
    refined_sigma: float = math.nan
    refined_std: float = math.nan  # the seeds' spread

    @property
    def number(self) -> int:
        return self.record.number

    @property
    def basis(self) -> str:
        return "refined" if self.refined_seeds and self.accuracy == self.refined_accuracy else "proxy"

    def value(self, metric: str) -> float:
        """An objective's value: the standing accuracy, or a cost from the record."""
        return self.accuracy if metric == "accuracy" else self.record.value(METRICS[metric].column)

    def as_refined(self) -> "ScoredTrial":
        return replace(self, accuracy=self.refined_accuracy, sigma=self.refined_sigma)


def eligible(trial: ScoredTrial, objectives: Sequence[str]) -> bool:
    """Whether a trial may be on a front: evaluated (``TrialRecord.evaluated``) with every objective measured."""
    return trial.record.evaluated and not any(math.isnan(trial.value(name)) for name in objectives)


@dataclass(frozen=True)
class FrontPoint:
    trial: ScoredTrial
    strict: bool  # on the strict front too (not only because the noise hides a difference)


def pareto_front(trials: Sequence[ScoredTrial], objectives: Sequence[str], strict: bool = False) -> list[FrontPoint]:
    """Eligible trials that no other eligible trial dominates, sorted by the first cost.

    Noise-aware unless ``strict``: a trial leaves the front only when another is more accurate by more than
    the noise margin (``noise.difference_margin``) and no worse on every cost. Points with identical
    objective values (a network evaluated twice) appear once, as the earliest trial.
    """
    seen: set[tuple[float, ...]] = set()
    candidates = []
    for trial in sorted((t for t in trials if eligible(t, objectives)), key=lambda t: t.number):
        values = tuple(trial.value(name) for name in objectives)
        if values not in seen:
            seen.add(values)
            candidates.append(trial)
    losses = np.array([[METRICS[name].as_loss(t.value(name)) for name in objectives] for t in candidates]).reshape(
        len(candidates), len(objectives))
    on_strict = non_dominated(losses)
    keep = on_strict
    sigmas = np.array([t.sigma for t in candidates], dtype=float)
    if not strict and "accuracy" in objectives and not np.isnan(sigmas).all():
        margins = difference_margin(sigmas[:, None], sigmas[None, :])
        keep = non_dominated(losses, margins, list(objectives).index("accuracy"))
    costs = [name for name in objectives if not METRICS[name].maximise] or list(objectives)[:1]
    points = [FrontPoint(t, bool(s)) for t, k, s in zip(candidates, keep, on_strict) if k]
    return sorted(points, key=lambda p: (p.trial.value(costs[0]), p.trial.number))


@dataclass(frozen=True)
class BaselineComparison:
    """A trained baseline against the front: the most accurate front point that costs no more FLOPs."""

    baseline: ScoredTrial
    best: ScoredTrial  # the most accurate front point with no more FLOPs (the baseline itself, if it is on the front)
    on_par: ScoredTrial | None = None  # where best's gain is within the noise: the cheapest point on par with it

    @property
    def difference(self) -> float:
        return self.best.accuracy - self.baseline.accuracy

    @property
    def itself(self) -> bool:
        return self.best.number == self.baseline.number


@dataclass(frozen=True)
class StudyResults:
    """A study read once: its stored metadata and every trial, scored."""

    name: str
    meta: StudyMeta
    trials: tuple[ScoredTrial, ...]  # every trial, standing on the proxy's accuracy

    @property
    def objectives(self) -> tuple[str, ...]:
        return self.meta.objectives

    @property
    def noise(self) -> NoiseEstimate:
        return self.meta.noise_estimate

    @property
    def evaluator(self) -> str:
        """What scored the trials: "proxy" or "supernet"."""
        return self.meta.definition.evaluator if self.meta.definition is not None else "proxy"

    @property
    def refined(self) -> bool:
        return any(t.refined_seeds for t in self.trials)

    def final(self) -> tuple[ScoredTrial, ...]:
        """What the results stand on: the refined trials at their refined accuracy once anything was refined (mixing
        fidelities would compare unlike values), else every trial at the proxy's."""
        if not self.refined:
            return self.trials
        return tuple(t.as_refined() for t in self.trials if t.refined_seeds)

    def front(self, strict: bool = False) -> list[FrontPoint]:
        return pareto_front(self.final(), self.objectives, strict)

    def reference_baseline(self) -> ScoredTrial | None:
        """The baseline points are compared with: vanilla if evaluated, else the first evaluated baseline."""
        baselines = [t for t in self.final() if t.record.baseline and t.record.evaluated]
        vanilla = [t for t in baselines if t.record.baseline == "vanilla"]
        return (vanilla or baselines or [None])[0]

    def comparisons(self, front: list[FrontPoint] | None = None) -> list[BaselineComparison]:
        """Each trained baseline against the front (baselines with no front point as cheap are left out)."""
        points = [p.trial for p in (front if front is not None else self.front())]
        comparisons = []
        for base in (t for t in self.final() if t.record.baseline and t.record.evaluated):
            cheaper = [p for p in points if p.value("flops") <= base.value("flops")]
            if not cheaper:
                continue
            best = min(cheaper, key=lambda p: (-p.accuracy, p.value("flops")))
            on_par = None
            known = not (math.isnan(best.sigma) and math.isnan(base.sigma))
            if best.number != base.number and known and \
                    best.accuracy - base.accuracy <= difference_margin(best.sigma, base.sigma):
                par = [p for p in cheaper if p.accuracy - base.accuracy >= -difference_margin(p.sigma, base.sigma)]
                on_par = min(par, key=lambda p: (p.value("flops"), p.number)) if par else None
            comparisons.append(BaselineComparison(base, best, on_par))
        return comparisons

    def hypervolume(self, front: list[FrontPoint] | None = None) -> float:
        points = [p.trial for p in (front if front is not None else self.front(strict=True))]
        return hypervolume(_normalised_losses(points, self.objectives, self.meta.reference_point))

    def hypervolume_history(self) -> pd.DataFrame:
        """Hypervolume of the strict front of the first n trials (at the proxy's accuracy), for every n."""
        trials = sorted(self.trials, key=lambda t: t.number)
        losses = _normalised_losses(trials, self.objectives, self.meta.reference_point)
        usable = np.array([eligible(t, self.objectives) for t in trials], dtype=bool)
        return pd.DataFrame({"trials": np.arange(1, len(trials) + 1), "trial": [t.number for t in trials],
                             "hypervolume": hypervolume_history(losses, usable)}, columns=["trials", "trial", "hypervolume"])

    def agreement(self, numbers: Sequence[int] | None = None, min_seeds: int = 2) -> list[RankAgreement]:
        """How well the proxy's accuracy (or the supernet's score), FLOPs alone and params alone rank the refined trials (those among
        ``numbers``, with ``min_seeds`` runs or more) like their refined accuracy; empty below 3 such trials."""
        refined = [t for t in self.trials if t.refined_seeds >= min_seeds and not math.isnan(t.proxy_accuracy)
                   and (numbers is None or t.number in numbers)]
        if len(refined) < 3:
            return []
        return rank_agreement([t.refined_accuracy for t in refined], {
            SCORE_NAMES[self.evaluator]: [t.proxy_accuracy for t in refined], "FLOPs alone": [t.value("flops") for t in refined],
            "params alone": [t.value("params") for t in refined]})

    def trial(self, number: int) -> ScoredTrial:
        """Trial ``number`` as the results stand on it (its refined accuracy where it was refined)."""
        found = next(t for t in self.trials if t.number == number)
        return found.as_refined() if self.refined and found.refined_seeds else found


def _normalised_losses(trials: Sequence[ScoredTrial], objectives: Sequence[str],
                       reference: dict[str, float]) -> np.ndarray:
    """Each objective as a loss in reference units: 1 - accuracy, cost / reference cost."""
    columns = [[1.0 - t.accuracy if METRICS[name].maximise else t.value(name) / reference[name] for t in trials]
               for name in objectives]
    return np.array(columns, dtype=float).T.reshape(len(trials), len(objectives))


def study_results(study) -> StudyResults:
    """Read an Optuna study written by ulsam-nas: every trial scored with its uncertainty."""
    meta = StudyMeta.from_study(study)
    records = [TrialRecord.from_trial(trial) for trial in study.get_trials(deepcopy=False)]
    return StudyResults(study.study_name, meta, tuple(score(records, meta.noise_estimate, meta.refined)))


def score(records: Sequence[TrialRecord], noise: NoiseEstimate, refined: Sequence[RefinedRun] = ()) -> list[ScoredTrial]:
    """Each record with its accuracy's uncertainty and its refined runs' mean, spread and uncertainty.

    A refined mean of k seeds has the uncertainty sqrt(s**2 / k + p (1 - p) / n), ``s`` the seed spread
    pooled over every refined network (two seeds alone say little about their own spread).
    """
    runs: dict[int, list[float]] = {}
    for run in refined:
        runs.setdefault(run.trial, []).append(run.accuracy)
    spread = pooled_std(runs.values())
    spread = noise.seed_std if spread is None else spread
    scored = []
    for record in records:
        accuracy = math.nan if record.accuracy is None else float(record.accuracy)
        sigma = float(noise.sigma_of(accuracy))
        values = runs.get(record.number, [])
        mean = float(np.mean(values)) if values else math.nan
        scored.append(ScoredTrial(
            record, accuracy, sigma, accuracy, sigma, len(values), mean,
            float(uncertainty(mean, spread, noise.validation_images, max(1, len(values)))) if values else math.nan,
            float(np.std(values, ddof=1)) if len(values) >= 2 else math.nan))
    return scored


def _row(trial: ScoredTrial) -> dict:
    record = trial.record
    return {"trial": record.number, "state": record.state, "status": record.status.value, "baseline": record.baseline,
            "feasible": record.feasible, "accuracy": trial.proxy_accuracy, "accuracy_sigma": trial.proxy_sigma,
            "flops": record.value("flops"), "params": record.value("params"), "latency_ms": record.value("latency_ms"),
            "latency_sigma_ms": record.value("latency_sigma_ms"), "summary": record.summary,
            "config": json.dumps(record.config) if record.config is not None else "",
            "train_seconds": record.train_seconds, "wall_seconds": record.wall_seconds, "reason": record.reason,
            "refined_accuracy": trial.refined_accuracy, "refined_sigma": trial.refined_sigma,
            "refined_std": trial.refined_std, "refined_seeds": trial.refined_seeds}


def trials_frame(study) -> pd.DataFrame:
    """Every trial of a study as a table (``COLUMNS``): for people and spreadsheets, not for the analysis."""
    return pd.DataFrame([_row(t) for t in study_results(study).trials], columns=COLUMNS)


def _readable(config: dict | None) -> dict:
    """Readable columns of a config: width, dropped blocks, ULSAM positions and subspace counts."""
    if not config:
        return {"width": math.nan, "dropped": "", "ulsam": ""}
    return {"width": config["width"], "dropped": " ".join(map(str, config["drop"])),
            "ulsam": " ".join(f"{u['after']}:{u['subspaces']}" for u in config["ulsam"])}


def front_table(studies, strict: bool = False) -> pd.DataFrame:
    """The final fronts of ``studies`` as one table: ``FRONT_COLUMNS``, a readable config, its summary and JSON."""
    rows = []
    for study in studies:
        for point in study_results(study).front(strict=strict):
            trial, record = point.trial, point.trial.record
            rows.append({"study": study.study_name, "trial": record.number, "accuracy": trial.accuracy,
                         "accuracy_sigma": trial.sigma, "proxy_accuracy": trial.proxy_accuracy,
                         "proxy_sigma": trial.proxy_sigma, "refined_seeds": trial.refined_seeds, "basis": trial.basis,
                         "strict_front": point.strict, "flops": record.value("flops"), "params": record.value("params"),
                         "latency_ms": record.value("latency_ms"), "latency_sigma_ms": record.value("latency_sigma_ms"),
                         "baseline": record.baseline, **_readable(record.config), "summary": record.summary,
                         "config": json.dumps(record.config)})
    return pd.DataFrame(rows, columns=["study", *FRONT_COLUMNS, "width", "dropped", "ulsam", "summary", "config"])
