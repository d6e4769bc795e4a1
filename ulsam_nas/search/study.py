"""Setting a study up: create or resume it, record what defines it, queue the baselines.

A new study records its defining settings, objectives and reference point
(:class:`~ulsam_nas.record.StudyMeta`) and queues the hand-designed baselines
that fit its space and budgets; a resumed one must match what it recorded.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from typing import Callable

import optuna

from ..baselines import baselines_for
from ..config import ArchConfig
from ..costs import measure_costs
from ..metrics import METRICS
from ..noise import NoiseEstimate
from ..record import StudyMeta, TrialRecord
from ..study_records import SkippedBaseline, StudyDefinition
from ..space import SearchSpace
from ..training.loop import TrainingDiverged
from ..training.proxy import ProxyResult
from .ledger import Ledger
from .objective import Evaluator, Objective
from .settings import SearchSettings

__all__ = ["StudyProgress", "check_budget_reachable", "check_resumable", "measure_noise", "prepare_study",
           "study_progress"]


def prepare_study(study: optuna.Study, settings: SearchSettings, objective: Objective, name: str) -> StudyMeta:
    """Record what defines a new study, measure its noise and queue its baselines; check a resumed one matches.

    Returns the study's metadata (its skipped baselines and noise are what the user hears). Runs under the
    study lock: while the first worker measures the noise (a few proxy trainings), other workers wait for the
    lock, then find the study made and go on to claim trials.
    """
    definition = settings.definition(objective.space, objective.data.num_classes)
    meta = StudyMeta.from_study(study)
    if not meta.written:
        # First, before anything is stored: a crash while measuring leaves no half-made study behind.
        noise, runs = measure_noise(objective, settings.noise_seeds)
        skipped = _enqueue_baselines(study, objective)
        meta = StudyMeta(definition=definition, objectives=settings.objectives, sampler=settings.sampler,
                         validation_images=len(objective.data.val_labels), reference_point=_reference_point(objective),
                         skipped_baselines=tuple(skipped), noise=noise)
        meta.write(study)
        if runs:
            objective.evaluator = ReplayingEvaluator(objective.evaluator, runs)
        return meta
    _check_same_study(name, meta.definition, definition)
    directions = [optuna.study.StudyDirection[METRICS[o].direction.upper()] for o in settings.objectives]
    if list(study.directions) != directions:
        raise ValueError(f"study {name!r} has other objectives; choose another --study name")
    return meta


def measure_noise(objective: Objective, seeds: int) -> tuple[NoiseEstimate, dict[tuple[str, int], ProxyResult]]:
    """Proxy-train the space's vanilla network (at the baselines' width) with ``seeds`` seeds: the study's noise.

    Seeds are the study's seed and the ones after it, so the run with the study's own seed is exactly the
    vanilla baseline trial's training: returned (config key, seed) -> result, for that trial to replay
    instead of training again (:class:`ReplayingEvaluator`). The other runs are extra proxy trainings.
    """
    settings, space, data = objective.settings, objective.space, objective.data
    vanilla = space.vanilla(data.num_classes, space.baseline_width)
    validation_images = len(data.val_labels)
    if not settings.trains:
        return NoiseEstimate(validation_images, reason="accuracy is not an objective"), {}
    if seeds < 2:
        return NoiseEstimate(validation_images, reason=f"--noise-seeds {seeds}: fewer than 2 seeds"), {}
    # The baseline trial reuses the run with the study's seed if it is trained in this process and in budget.
    in_budget = space.params_for(vanilla) is not None and not objective.over_budget(objective.measure(vanilla))
    runs: dict[tuple[str, int], ProxyResult] = {}
    started = time.perf_counter()
    for seed in range(settings.seed, settings.seed + seeds):
        try:
            runs[(vanilla.to_json(), seed)] = objective.evaluator(vanilla, seed=seed, on_epoch=None)
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


class ReplayingEvaluator:
    """The search's evaluator, except that a run the noise measurement made already is replayed, not repeated.

    Same network and seed, same evaluator: the same training. Its epochs are reported to ``on_epoch`` as
    training would report them, so early stopping decides exactly as it would have. Each stored run is
    replayed once; anything else goes to the wrapped evaluator.
    """

    def __init__(self, evaluator: Evaluator, runs: dict[tuple[str, int], ProxyResult]) -> None:
        self.evaluator, self.runs = evaluator, dict(runs)

    def __call__(self, config: ArchConfig, seed: int = 0,
                 on_epoch: Callable[[int, float], bool] | None = None) -> ProxyResult:
        result = self.runs.pop((config.to_json(), seed), None)
        if result is None:
            return self.evaluator(config, seed=seed, on_epoch=on_epoch)
        for epoch, accuracy in enumerate(result.curve[:-1], start=1):
            if on_epoch is not None and on_epoch(epoch, accuracy):
                return dataclasses.replace(result, accuracy=accuracy, curve=result.curve[:epoch], stopped_early=True)
        return result


def _enqueue_baselines(study: optuna.Study, objective: Objective) -> list[SkippedBaseline]:
    """Queue the in-budget baselines the space can express; return the others."""
    space, skipped = objective.space, []
    for label, config in baselines_for(space.backbone, space.baseline_width, objective.data.num_classes).items():
        params = space.params_for(config)
        if params is None:
            unsearched = tuple(p.after for p in config.canonical().ulsam if p.after not in space.ulsam_after)
            skipped.append(SkippedBaseline(label, outside_space=True, unsearched_ulsam=unsearched))
            continue
        over = objective.over_budget(objective.measure(config))
        if over:
            skipped.append(SkippedBaseline(label, over_budget=tuple(over)))
            continue
        # skip_if_exists: a worker killed after queueing the baselines but before recording the study queues them again
        study.enqueue_trial(params, user_attrs=TrialRecord.enqueued_attrs(baseline=label), skip_if_exists=True)
    return skipped


def _reference_point(objective: Objective) -> dict[str, float]:
    """Fixed per study: the budget where there is one, else the cost of the space's vanilla network at its widest."""
    space, settings = objective.space, objective.settings
    vanilla = objective.measure(space.vanilla(objective.data.num_classes))
    reference = {"accuracy": 0.0}
    for name in settings.cost_objectives:
        limits = [b.limit for b in settings.budgets if b.metric == name]
        reference[name] = float(min(limits)) if limits else float(getattr(vanilla, METRICS[name].column))
    return reference


def _check_same_study(name: str, stored: StudyDefinition, now: StudyDefinition) -> None:
    if stored.space_encoding != now.space_encoding:
        raise ValueError(f"study {name!r} was made by an earlier version (one drop flag per block, before one "
                         "encoding per network); it still opens for show, pareto, export and refine, but cannot take "
                         "more trials: use --study NEW_NAME")
    if stored.evaluator != now.evaluator:  # the default changed from the proxy to the supernet (2026-12-01)
        raise ValueError(f"study {name!r} was scored with the {stored.evaluator}, not the {now.evaluator}: pass "
                         f"--evaluator {stored.evaluator} (evaluator: {stored.evaluator} in a study file) to resume it, "
                         "or --study NEW_NAME for a new study")
    differing = stored.differences(now)
    if differing:
        before, after = stored.to_dict(), now.to_dict()
        details = "; ".join(f"{k}: stored {before.get(k)!r}, now {after.get(k)!r}" for k in differing[:2])
        raise ValueError(f"study {name!r} was created with other settings ({', '.join(differing)}); "
                         f"use --study NEW_NAME for a new study or the original settings to resume. {details}")


def check_budget_reachable(space: SearchSpace, settings: SearchSettings, num_classes: int) -> None:
    """Say so before training anything when not even the space's cheapest network fits the budgets."""
    budgets = [b for b in settings.budgets if b.metric in ("flops", "params")]
    if not budgets:
        return
    cheapest = space.cheapest(num_classes)
    report = measure_costs(cheapest, settings.deployment_resolution(space))
    over = [b.describe_excess(report) for b in budgets if b.violation(report) > 0]
    if over:
        raise ValueError(f"budget: nothing in space {space.name} can meet it: its cheapest network ({cheapest.summary()}) "
                         f"has {'; '.join(over)}")


@dataclass(frozen=True)
class StudyProgress:
    """What a study has done already, read before the search opens it (all nothing for a new study)."""

    finished: int = 0  # trials counted towards the total
    created: bool = False  # made by ulsam-nas search: its noise is measured (or was not wanted) already
    refined_runs: int = 0  # refinement runs stored


def study_progress(backend, name: str, objectives: tuple[str, ...]) -> StudyProgress:
    """What the study ``name`` has done already (nothing if it does not exist yet); creates nothing."""
    try:
        study = optuna.load_study(study_name=name, storage=backend)
    except KeyError:
        return StudyProgress()
    ledger = Ledger(objectives)
    ledger.refresh(study)
    meta = StudyMeta.from_study(study)
    return StudyProgress(ledger.finished, meta.written, len(meta.refined))


def check_resumable(backend, name: str, definition: StudyDefinition) -> None:
    """Refuse, before anything costly, a stored study ``name`` made with other settings (nothing if it is new)."""
    try:
        study = optuna.load_study(study_name=name, storage=backend)
    except KeyError:
        return
    meta = StudyMeta.from_study(study)
    if meta.written:
        _check_same_study(name, meta.definition, definition)
