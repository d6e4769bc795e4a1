"""What a chaos run must leave behind, read from the storage: exact totals, nothing running, nothing trained
twice, nothing lost, refinement complete."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import optuna

from ulsam_nas.record import COUNTED, Status, StudyMeta, TrialRecord
from ulsam_nas.refine import pick_for_refinement
from ulsam_nas.report import study_results
from ulsam_nas.search import open_study

Snapshot = dict[str, tuple]  # "trial:N" or "refined:N:SEED" -> what was stored


@dataclass(frozen=True)
class Tally:
    counted: int  # trials that count towards the target
    target: int
    running: int  # trials left RUNNING
    trained_twice: int  # configs trained in more than one counted trial
    thrown_away: int  # trials whose complete record ended failed: a finished result not kept
    lost: int  # results stored at an earlier look that are gone or changed
    refined_missing: int | None  # refinement runs the final front lacks (None: refinement not asked for)

    @property
    def ok(self) -> bool:
        return (self.counted == self.target and not self.running and not self.trained_twice and not self.thrown_away
                and not self.lost and not self.refined_missing)

    def describe(self) -> str:
        refined = "" if self.refined_missing is None else f", refinement runs missing {self.refined_missing}"
        return (f"trials counted {self.counted}/{self.target}, left running {self.running}, trained twice "
                f"{self.trained_twice}, results thrown away {self.thrown_away}, lost {self.lost}{refined}")


def snapshot(study: optuna.Study) -> Snapshot:
    """Every finished result the study holds now."""
    stored: Snapshot = {}
    for trial in study.get_trials(deepcopy=False):
        record = TrialRecord.from_trial(trial)
        if record.counted:
            stored[f"trial:{trial.number}"] = (trial.state.name, record.values, record.status.value, record.config_key,
                                               record.accuracy)
    for run in StudyMeta.from_study(study).refined:
        stored[f"refined:{run.trial}:{run.seed}"] = (run.accuracy,)
    return stored


def tally(storage: str, study_name: str, target: int, earlier: list[Snapshot] = (),
          refine: int | None = None, refine_seeds: int = 2) -> Tally:
    study = open_study(storage, study_name)
    records = [TrialRecord.from_trial(t) for t in study.get_trials(deepcopy=False)]
    counted = [r for r in records if r.counted]
    trained = Counter(r.config_key for r in counted if r.status == Status.TRAINED)
    thrown_away = [r for r in records if r.state == "FAIL" and r.status in COUNTED and r.status != Status.FAILED]
    now = snapshot(study)
    lost = {key for before in earlier for key, value in before.items() if now.get(key) != value}
    missing = None
    if refine is not None:
        meta = StudyMeta.from_study(study)
        chosen, _ = pick_for_refinement(study_results(study), refine)
        seed = meta.definition.seed
        done = {(run.trial, run.seed) for run in meta.refined}
        missing = sum((number, s) not in done for number in chosen for s in range(seed, seed + refine_seeds))
    return Tally(len(counted), target, sum(r.state == "RUNNING" for r in records),
                 sum(n > 1 for n in trained.values()), len(thrown_away), len(lost), missing)
