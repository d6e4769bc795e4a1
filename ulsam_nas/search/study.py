"""Setting a study up: create or resume it, record what defines it, queue the baselines.

A new study records its defining settings, objectives and reference point
(:class:`~ulsam_nas.record.StudyMeta`) and queues the hand-designed baselines
that fit its space and budgets; a resumed one must match what it recorded.
"""

from __future__ import annotations

from typing import Any

import optuna

from ..baselines import baselines_for
from ..config import ArchConfig
from ..costs import measure_costs
from ..metrics import METRICS
from ..record import StudyMeta, TrialRecord
from ..space import SearchSpace
from .objective import Objective
from .settings import SearchSettings

__all__ = ["check_budget_reachable", "prepare_study"]


def prepare_study(study: optuna.Study, settings: SearchSettings, objective: Objective, name: str) -> list[str]:
    """Record what defines a new study and queue its baselines; check a resumed one matches. Returns notes."""
    defining = settings.defining(objective.space, objective.data.num_classes)
    meta = StudyMeta.from_study(study)
    if not meta.written:
        notes = _enqueue_baselines(study, objective)
        StudyMeta(settings=defining, objectives=settings.objectives, sampler=settings.sampler,
                  validation_images=len(objective.data.val_labels), reference_point=_reference_point(objective),
                  baseline_notes=tuple(notes)).write(study)
        return notes
    _check_same_study(name, meta.settings, defining)
    directions = [optuna.study.StudyDirection[METRICS[o].direction.upper()] for o in settings.objectives]
    if list(study.directions) != directions:
        raise ValueError(f"study {name!r} has other objectives; choose another --study name")
    return list(meta.baseline_notes)


def _enqueue_baselines(study: optuna.Study, objective: Objective) -> list[str]:
    """Queue the in-budget baselines the space can express; return notes on the others."""
    space, notes = objective.space, []
    width = 1.0 if 1.0 in space.widths else max(space.widths)
    for label, config in baselines_for(space.backbone, width, objective.data.num_classes).items():
        params = space.params_for(config)
        if params is None:
            notes.append(f"baseline {label!r} is outside space {space.name}: not evaluated")
            continue
        over = objective.over_budget(objective.measure(config))
        if over:
            notes.append(f"baseline {label!r} is over budget ({'; '.join(over)}): not evaluated")
            continue
        study.enqueue_trial(params, user_attrs=TrialRecord.enqueued_attrs(baseline=label))
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
