"""The incremental front and counts agree with recomputing them from scratch."""

import numpy as np
import optuna
import pytest

from ulsam_nas.record import Status, TrialWriter
from ulsam_nas.report import study_results
from ulsam_nas.search.ledger import Ledger
from ulsam_nas import ArchConfig


def study_with(points, statuses):
    study = optuna.create_study(directions=["maximize", "minimize"])
    for index, ((accuracy, flops), status) in enumerate(zip(points, statuses)):
        trial = study.ask()
        writer = TrialWriter(trial)
        config = ArchConfig(backbone="mobilenet_v2", width=0.35 + 0.01 * index, num_classes=10)
        writer.claimed(config, {"host": "h", "pid": 1})
        trial.set_user_attr("flops", flops)
        trial.set_user_attr("params", 1.0)
        if status in (Status.TRAINED, Status.REUSED):
            writer.trained(accuracy, [accuracy], 1.0)
        writer.finished(status)
        study.tell(trial, [accuracy, flops])
    return study


@pytest.mark.parametrize("seed", range(5))
def test_incremental_front_equals_the_recomputed_one(seed):
    rng = np.random.default_rng(seed)
    points = [(round(float(a), 2), float(f)) for a, f in zip(rng.uniform(0.3, 0.9, 40), rng.integers(1, 20, 40) * 1e6)]
    kinds = [Status.TRAINED, Status.REUSED, Status.INFEASIBLE]
    statuses = [kinds[i] for i in rng.choice(3, size=40, p=[0.7, 0.1, 0.2])]
    study = study_with(points, statuses)
    ledger = Ledger(("accuracy", "flops"))
    for trial in study.trials:  # one at a time, as a search sees them
        ledger.update([trial])
    expected = [point.trial for point in study_results(study).front(strict=True)]
    assert sorted(ledger.front) == sorted(trial.number for trial in expected)
    assert ledger.best_accuracy() == pytest.approx(max(trial.accuracy for trial in expected))
    assert ledger.finished == 40 and len(ledger.peers) == sum(s == Status.TRAINED for s in statuses)


def test_a_trial_is_folded_in_once():
    study = study_with([(0.5, 1e6)], [Status.TRAINED])
    ledger = Ledger(("accuracy", "flops"))
    assert len(ledger.update(study.trials)) == 1 and ledger.update(study.trials) == []
    assert ledger.finished == 1 and len(ledger.peers) == 1
