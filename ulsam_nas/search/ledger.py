"""Incremental bookkeeping of a running search: counts, the front and the early-stopping peers.

Each finished trial is read into a :class:`~ulsam_nas.record.TrialRecord`
once and folded into the running front and the peer list, instead of
rescanning the whole study after every trial and every epoch.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import optuna

from ..front import weakly_dominates
from ..metrics import METRICS
from ..record import Status, TrialRecord
from .stopping import EarlierTrial

__all__ = ["Ledger"]

# Statuses whose result a later trial of the same config takes over (a failed one is retried instead).
_REUSABLE = frozenset({Status.TRAINED, Status.REUSED, Status.INFEASIBLE, Status.STOPPED_EARLY})
_FINISHED = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED, optuna.trial.TrialState.FAIL)


@dataclass
class Ledger:
    """What a worker knows of its study: every finished record, the feasible front, early-stopping peers."""

    objectives: tuple[str, ...]
    records: dict[int, TrialRecord] = field(default_factory=dict)  # finished trials by number
    front: dict[int, np.ndarray] = field(default_factory=dict)  # trial -> losses (smaller is better)
    peers: list[EarlierTrial] = field(default_factory=list)
    by_config: dict[str, TrialRecord] = field(default_factory=dict)  # first finished record of each config

    def update(self, trials: list[optuna.trial.FrozenTrial]) -> list[TrialRecord]:
        """Fold in the trials not seen finished before; returns their records."""
        new = []
        for trial in sorted(trials, key=lambda t: t.number):
            if trial.state in _FINISHED and trial.number not in self.records:
                record = TrialRecord.from_trial(trial)
                self.records[trial.number] = record
                self._fold(record)
                new.append(record)
        return new

    def refresh(self, study: optuna.Study) -> list[TrialRecord]:
        return self.update(study.get_trials(deepcopy=False, states=_FINISHED))

    @property
    def finished(self) -> int:
        """Trials that count towards the target."""
        return sum(record.counted for record in self.records.values())

    def evaluated_before(self, config_key: str) -> TrialRecord | None:
        """The first finished trial of this config with a complete record."""
        return self.by_config.get(config_key)

    def best_accuracy(self) -> float | None:
        if "accuracy" not in self.objectives or not self.front:
            return None
        return max(self.records[number].accuracy for number in self.front)

    def _fold(self, record: TrialRecord) -> None:
        if record.config_key and record.state != "FAIL" and record.status in _REUSABLE \
                and record.config_key not in self.by_config:
            self.by_config[record.config_key] = record
        cost_columns = [METRICS[o].column for o in self.objectives if o != "accuracy"]
        if record.status == Status.TRAINED and record.state == "COMPLETE" and record.proxy_curve:
            self.peers.append(EarlierTrial(tuple(record.value(c) for c in cost_columns), record.proxy_curve))
        if not record.evaluated:
            return
        point = np.array([METRICS[o].as_loss(record.value(METRICS[o].column)) for o in self.objectives])
        if np.isnan(point).any():  # not fully evaluated
            return
        if any(weakly_dominates(other, point) for other in self.front.values()):
            return  # dominated, or equal to an earlier point (which stays, as the earliest)
        for number, other in list(self.front.items()):
            if weakly_dominates(point, other):
                del self.front[number]
        self.front[record.number] = point
