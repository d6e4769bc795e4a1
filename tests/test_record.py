"""The trial record: written step by step by the search, read back as one typed value."""

import math

import optuna
import pytest

from ulsam_nas import ArchConfig
from ulsam_nas.costs import CostReport
from ulsam_nas.record import COUNTED, Status, StudyMeta, TrialRecord, TrialWriter

CONFIG = ArchConfig(backbone="mobilenet_v2", width=0.5, num_classes=10, drop=(13,), ulsam=({"after": 16, "subspaces": 4},))


def one_trial(write, state=optuna.trial.TrialState.COMPLETE, values=(0.5, 1e6)):
    study = optuna.create_study(directions=["maximize", "minimize"])
    trial = study.ask()
    write(TrialWriter(trial))
    study.tell(trial, list(values) if state == optuna.trial.TrialState.COMPLETE else None, state=state)
    return study, study.trials[0]


def test_a_written_trial_reads_back_as_its_record():
    def write(writer):
        writer.claimed(CONFIG, {"host": "h", "pid": 1})
        writer.costed(CostReport(flops=1_000_000, params=20_000, resolution=224, latency_ms=3.5, latency_iqr_ms=0.2), 0.4)
        writer.trial.set_constraint("1M-flops", 0.0)
        writer.epoch([0.3])
        writer.trained(0.5, [0.3, 0.5], 1234.0)
        writer.finished(Status.TRAINED, "", 9.5)

    _, frozen = one_trial(write)
    record = TrialRecord.from_trial(frozen)
    assert record.status is Status.TRAINED and record.state == "COMPLETE" and record.counted and record.evaluated
    assert record.arch_config() == CONFIG and record.config_key == CONFIG.to_json() and record.summary == CONFIG.summary()
    assert (record.flops, record.params, record.latency_ms, record.accuracy) == (1_000_000, 20_000, 3.5, 0.5)
    assert record.proxy_curve == (0.3, 0.5) and record.train_seconds == 9.5 and record.feasible is True
    assert record.values == (0.5, 1e6) and record.wall_seconds >= 0
    assert record.cost_report(224).flops == 1_000_000
    # to_attrs is what the storage holds: reading it back gives the same record
    assert frozen.user_attrs == record.to_attrs()


def test_a_trial_without_status_is_interrupted_and_not_counted():
    _, frozen = one_trial(lambda writer: writer.claimed(CONFIG, {"host": "h", "pid": 1}),
                          state=optuna.trial.TrialState.FAIL)
    record = TrialRecord.from_trial(frozen)
    assert record.status is Status.INTERRUPTED and not record.counted and not record.evaluated
    assert math.isnan(record.value("accuracy"))


def test_an_infeasible_trial_is_counted_but_never_on_the_front():
    def write(writer):
        writer.claimed(CONFIG, {"host": "h", "pid": 1})
        writer.trial.set_constraint("1K-flops", 999.0)
        writer.finished(Status.INFEASIBLE, "flops 1M > 1K-flops budget")

    _, frozen = one_trial(write)
    record = TrialRecord.from_trial(frozen)
    assert record.counted and record.feasible is False and not record.evaluated


def test_statuses_are_the_stored_strings():
    assert {status.value for status in COUNTED} == {"trained", "reused", "infeasible", "stopped_early", "failed"}
    assert str(Status.STOPPED_EARLY) == "stopped_early" and Status("reused") is Status.REUSED


def test_study_meta_round_trips():
    study = optuna.create_study()
    assert not StudyMeta.from_study(study).written
    meta = StudyMeta(settings={"budgets": ["300M-flops"], "resolution": 224}, objectives=("accuracy", "params"),
                     sampler="tpe", validation_images=359, reference_point={"accuracy": 0.0, "params": 3e6},
                     baseline_notes=("note",))
    meta.write(study)
    assert StudyMeta.from_study(study) == meta and meta.budgets == ["300M-flops"] and meta.resolution == 224


def test_missing_config_is_a_clear_error():
    with pytest.raises(ValueError, match="has no architecture config"):
        TrialRecord(number=3, state="WAITING", status=Status.QUEUED).arch_config()


def test_noise_and_refined_runs_are_stored_with_the_study():
    from ulsam_nas.record import RefinedRun

    study = optuna.create_study()
    StudyMeta(settings={"seed": 0}, noise={"accuracies": [0.5, 0.6], "seeds": [0, 1]}).write(study)
    StudyMeta.write_refinement(study, {"settings": {"seeds": 2}, "epochs": 12})
    for run in (RefinedRun(3, 1, 0.7, 2.0, (0.6, 0.7)), RefinedRun(3, 0, 0.8), RefinedRun(1, 0, 0.9)):
        StudyMeta.write_refined_run(study, run)
    meta = StudyMeta.from_study(study)
    assert meta.noise["seeds"] == [0, 1] and meta.refinement["epochs"] == 12
    assert meta.refined == (RefinedRun(1, 0, 0.9), RefinedRun(3, 0, 0.8), RefinedRun(3, 1, 0.7, 2.0, (0.6, 0.7)))
    StudyMeta.write_refined_run(study, RefinedRun(3, 1, 0.75))  # one key per (trial, seed): rewriting replaces
    assert len(StudyMeta.from_study(study).refined) == 3
