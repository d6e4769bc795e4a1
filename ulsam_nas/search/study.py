"""Setting a study up: create or resume it, record what defines it, queue the baselines.

A new study records its defining settings, objectives and reference point
(:class:`~ulsam_nas.record.StudyMeta`) and queues the hand-designed baselines
that fit its space and budgets; a resumed one must match what it recorded.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any, Callable

import optuna

from ..baselines import baselines_for
from ..config import ArchConfig
from ..costs import measure_costs
from ..metrics import METRICS
from ..noise import NoiseEstimate
from ..record import StudyMeta, TrialRecord
from ..space import SearchSpace
from ..training import ProxyResult, ProxySettings, TrainingDiverged
from .objective import Objective, Trainer
from .settings import SearchSettings

__all__ = ["check_budget_reachable", "measure_noise", "prepare_study"]


def prepare_study(study: optuna.Study, settings: SearchSettings, objective: Objective, name: str) -> list[str]:
    """Record what defines a new study, measure its noise and queue its baselines; check a resumed one matches.

    Returns notes for the user (the last one on the study's noise). Runs under the study lock: while the
    first worker measures the noise (a few proxy trainings), other workers wait for the lock, then find
    the study made and go on to claim trials.
    """
    defining = settings.defining(objective.space, objective.data.num_classes)
    meta = StudyMeta.from_study(study)
    if not meta.written:
        # First, before anything is stored: a crash while measuring leaves no half-made study behind.
        noise, runs = measure_noise(objective, settings.noise_seeds)
        notes = _enqueue_baselines(study, objective)
        StudyMeta(settings=defining, objectives=settings.objectives, sampler=settings.sampler,
                  validation_images=len(objective.data.val_labels), reference_point=_reference_point(objective),
                  baseline_notes=tuple(notes), noise=noise.to_dict()).write(study)
        if runs:
            objective.trainer = ReplayingTrainer(objective.trainer, runs, settings.proxy)
        return notes + [noise.describe()]
    _check_same_study(name, meta.settings, defining)
    directions = [optuna.study.StudyDirection[METRICS[o].direction.upper()] for o in settings.objectives]
    if list(study.directions) != directions:
        raise ValueError(f"study {name!r} has other objectives; choose another --study name")
    return list(meta.baseline_notes) + [NoiseEstimate.from_dict(meta.noise, meta.validation_images).describe()]


def _baseline_width(space: SearchSpace) -> float:
    return 1.0 if 1.0 in space.widths else max(space.widths)


def measure_noise(objective: Objective, seeds: int) -> tuple[NoiseEstimate, dict[tuple[str, int], ProxyResult]]:
    """Proxy-train the space's vanilla network (at the baselines' width) with ``seeds`` seeds: the study's noise.

    Seeds are the study's seed and the ones after it, so the run with the study's own seed is exactly the
    vanilla baseline trial's training: returned (config key, seed) -> result, for that trial to replay
    instead of training again (:class:`ReplayingTrainer`). The other runs are extra proxy trainings.
    """
    settings, space, data = objective.settings, objective.space, objective.data
    vanilla = ArchConfig(backbone=space.backbone, width=_baseline_width(space), num_classes=data.num_classes)
    validation_images = len(data.val_labels)
    if "accuracy" not in settings.objectives:
        return NoiseEstimate(validation_images, reason="accuracy is not an objective"), {}
    if seeds < 2:
        return NoiseEstimate(validation_images, reason=f"--noise-seeds {seeds}: fewer than 2 seeds"), {}
    # The baseline trial reuses the run with the study's seed if it is trained in this process and in budget.
    in_budget = space.params_for(vanilla) is not None and not objective.over_budget(objective.measure(vanilla))
    runs: dict[tuple[str, int], ProxyResult] = {}
    started = time.perf_counter()
    for seed in range(settings.seed, settings.seed + seeds):
        try:
            runs[(vanilla.to_json(), seed)] = objective.trainer(vanilla, data, settings.proxy, seed=seed, on_epoch=None)
        except TrainingDiverged as error:
            return NoiseEstimate(validation_images, network=vanilla.summary(),
                                 reason=f"the vanilla network's proxy training diverged: {error}"), {}
    seconds = time.perf_counter() - started
    results = list(runs.values())
    reused = in_budget and not results[0].stopped_early
    noise = NoiseEstimate(
        validation_images, tuple(r.accuracy for r in results), tuple(range(settings.seed, settings.seed + seeds)),
        vanilla.summary(), extra_runs=seeds - 1 if reused else seeds,
        extra_seconds=seconds - results[0].seconds if reused else seconds)
    return noise, ({(vanilla.to_json(), settings.seed): results[0]} if reused else {})


class ReplayingTrainer:
    """The search's trainer, except that a run the noise measurement made already is replayed, not repeated.

    Same config, data, proxy settings and seed: the same training. Its epochs are reported to
    ``on_epoch`` as training would report them, so early stopping decides exactly as it would have.
    Each stored run is replayed once; anything else is trained by the wrapped trainer.
    """

    def __init__(self, trainer: Trainer, runs: dict[tuple[str, int], ProxyResult], proxy: ProxySettings) -> None:
        self.trainer, self.runs, self.proxy = trainer, dict(runs), proxy

    def __call__(self, config: ArchConfig, data, settings: ProxySettings, seed: int = 0,
                 on_epoch: Callable[[int, float], bool] | None = None) -> ProxyResult:
        result = self.runs.pop((config.to_json(), seed), None) if settings == self.proxy else None
        if result is None:
            return self.trainer(config, data, settings, seed=seed, on_epoch=on_epoch)
        for epoch, accuracy in enumerate(result.curve[:-1], start=1):
            if on_epoch is not None and on_epoch(epoch, accuracy):
                return dataclasses.replace(result, accuracy=accuracy, curve=result.curve[:epoch], stopped_early=True)
        return result


def _enqueue_baselines(study: optuna.Study, objective: Objective) -> list[str]:
    """Queue the in-budget baselines the space can express; return notes on the others."""
    space, notes = objective.space, []
    width = _baseline_width(space)
    for label, config in baselines_for(space.backbone, width, objective.data.num_classes).items():
        params = space.params_for(config)
        if params is None:
            notes.append(f"baseline {label!r} is outside space {space.name}: not evaluated")
            continue
        over = objective.over_budget(objective.measure(config))
        if over:
            notes.append(f"baseline {label!r} is over budget ({'; '.join(over)}): not evaluated")
            continue
        # skip_if_exists: a worker killed after queueing the baselines but before recording the study queues them again
        study.enqueue_trial(params, user_attrs=TrialRecord.enqueued_attrs(baseline=label), skip_if_exists=True)
    return notes


def _reference_point(objective: Objective) -> dict[str, float]:
    """Fixed per study: the budget where there is one, else the cost of the space's vanilla network at its widest."""
    space, settings = objective.space, objective.settings
    widest = ArchConfig(backbone=space.backbone, width=max(space.widths), num_classes=objective.data.num_classes)
    vanilla = objective.measure(widest)
    reference = {"accuracy": 0.0}
    for name in settings.cost_objectives:
        limits = [b.limit for b in settings.budgets if b.metric == name]
        reference[name] = float(min(limits)) if limits else float(getattr(vanilla, METRICS[name].column))
    return reference


def _check_same_study(name: str, stored: dict[str, Any], defining: dict[str, Any]) -> None:
    differing = [key for key in defining if stored.get(key) != defining[key]]
    if differing:
        details = "; ".join(f"{k}: stored {stored.get(k)!r}, now {defining[k]!r}" for k in differing[:2])
        raise ValueError(f"study {name!r} was created with other settings ({', '.join(differing)}); "
                         f"use --study NEW_NAME for a new study or the original settings to resume. {details}")


def check_budget_reachable(space: SearchSpace, settings: SearchSettings, num_classes: int) -> None:
    """Say so before training anything when not even the space's cheapest network fits the budgets."""
    budgets = [b for b in settings.budgets if b.metric in ("flops", "params")]
    if not budgets:
        return
    cheapest = space.config_from_params(
        {"width": min(space.widths)} | {f"drop_{b}": True for b in space.drop} | {f"ulsam_{b}": 0 for b in space.ulsam_after},
        num_classes)
    report = measure_costs(cheapest, settings.deployment_resolution(space))
    over = [b.describe_excess(report) for b in budgets if b.violation(report) > 0]
    if over:
        raise ValueError(f"budget: nothing in space {space.name} can meet it: its cheapest network ({cheapest.summary()}) "
                         f"has {'; '.join(over)}")
