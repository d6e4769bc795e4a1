"""The trial record: written step by step by the search, read back as one typed value."""

import json
import math

import optuna
import pytest

from ulsam_nas import ArchConfig
from ulsam_nas.costs import CostReport
from ulsam_nas.latency import Latency, LatencySettings
from ulsam_nas.noise import NoiseEstimate
from ulsam_nas.ranks import RankAgreement
from ulsam_nas.record import COUNTED, RefinedRun, Status, StudyMeta, TrialRecord, TrialWriter
from ulsam_nas.study_records import Calibration, Refinement, SkippedBaseline, StudyDefinition
from ulsam_nas.space import load_space
from ulsam_nas.training import ProxySettings, RefineSettings
from ulsam_nas.training.settings import WIDTH_SHARING, SupernetSettings

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
        latency = Latency(3.5, 0.1, "onnxruntime", 1, "cpu", "interleaved", 20, 0.2)
        writer.costed(CostReport(flops=1_000_000, params=20_000, resolution=224, latency=latency), 0.4)
        writer.trial.set_constraint("1M-flops", 0.0)
        writer.epoch([0.3])
        writer.trained(0.5, [0.3, 0.5], 1234.0)
        writer.finished(Status.TRAINED, "", 9.5)

    _, frozen = one_trial(write)
    record = TrialRecord.from_trial(frozen)
    assert record.status is Status.TRAINED and record.state == "COMPLETE" and record.counted and record.evaluated
    assert record.arch_config() == CONFIG and record.config_key == CONFIG.to_json() and record.summary == CONFIG.summary()
    assert (record.flops, record.params, record.latency_ms, record.accuracy) == (1_000_000, 20_000, 3.5, 0.5)
    assert (record.latency_sigma_ms, record.latency_iqr_ms) == (0.1, 0.2)
    assert record.proxy_curve == (0.3, 0.5) and record.train_seconds == 9.5 and record.feasible is True
    assert record.values == (0.5, 1e6) and record.wall_seconds >= 0


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


def test_study_meta_round_trips_as_typed_records():
    study = optuna.create_study()
    assert not StudyMeta.from_study(study).written
    definition = StudyDefinition(load_space("mobilenet_v2"), "digits", 10, ("300M-flops",), ("accuracy", "params"), 224,
                                 ProxySettings(epochs=2), latency=LatencySettings(threads=2))
    meta = StudyMeta(definition=definition, objectives=("accuracy", "params"), sampler="tpe", validation_images=359,
                     reference_point={"accuracy": 0.0, "params": 3e6},
                     skipped_baselines=(SkippedBaseline("vanilla", over_budget=("flops 300M > 200M-flops budget",)),
                                        SkippedBaseline("paper", outside_space=True, unsearched_ulsam=(15,))),
                     noise=NoiseEstimate(359, (0.5, 0.6), (0, 1), "v2 w1"))
    meta.write(study)
    assert StudyMeta.from_study(study) == meta and meta.budgets == ("300M-flops",) and meta.resolution == 224
    assert StudyMeta.from_study(study).definition.differences(definition) == []
    other = StudyDefinition(**{**definition.__dict__, "proxy": ProxySettings(epochs=3)})
    assert definition.differences(other) == ["proxy"]


@pytest.mark.parametrize("sharing", WIDTH_SHARING)
def test_a_supernet_study_reads_back_with_its_width_sharing(sharing):
    supernet = SupernetSettings(epochs=3, width_sharing=sharing, resolution=48)
    definition = StudyDefinition(load_space("mobilenet_v2"), "digits", 10, (), ("accuracy", "flops"), 224,
                                 ProxySettings(epochs=2), supernet=supernet)
    read = StudyDefinition.from_dict(json.loads(json.dumps(definition.to_dict())))
    assert read.supernet.width_sharing == sharing and read.differences(definition) == []


def test_a_study_stored_by_an_earlier_version_opens():
    study = optuna.create_study(directions=["maximize", "minimize"])
    space = load_space("mobilenet_v2").to_dict()
    proxy = {"epochs": 4, "resolution": 48, "train_subset": None, "batch_size": 64, "lr": 0.1, "momentum": 0.9,
             "weight_decay": 4e-5, "label_smoothing": 0.1}  # before the recipe fields
    for key, value in {"settings": {"space": space, "dataset": "digits", "num_classes": 10, "budgets": [],
                                    "objectives": ["accuracy", "flops"], "resolution": 224, "proxy": proxy, "seed": 0,
                                    "early_stopping": True},
                       "baseline_notes": ["baseline 'x' is outside space"], "validation_images": 359,
                       "noise": {"accuracies": [0.5, 0.6], "seeds": [0, 1]},
                       "refinement": {"settings": {"epochs_factor": 3, "seeds": 2, "train_subset": None}, "epochs": 12},
                       "calibration": {"study": "s", "trials": [1, 2, 3], "proxy_accuracy": [0.1, 0.2, 0.3],
                                       "long_accuracy": [0.2, 0.1, 0.3], "flops": [1, 2, 3], "proxy_epochs": 1,
                                       "long_epochs": 3, "kendall_proxy": 0.3, "spearman_proxy": 0.5,
                                       "kendall_flops": 0.3, "spearman_flops": 0.5,
                                       "agreement": [{"predictor": "proxy accuracy", "tau": 0.3, "low": -1, "high": 1,
                                                      "count": 3}]}}.items():
        study.set_user_attr(key, value)
    trial = study.ask()
    trial.set_user_attr("latency_uncertainty_ms", 0.25)
    study.tell(trial, [0.5, 1.0])
    meta = StudyMeta.from_study(study)
    assert meta.written and meta.definition.proxy.epochs == 4 and meta.definition.proxy.zero_init_residual is False
    assert meta.legacy_notes == ("baseline 'x' is outside space",) and meta.noise.seeds == (0, 1)
    assert meta.refinement == Refinement(RefineSettings(), 12) and meta.calibration.agreement[0].tau == 0.3
    assert TrialRecord.from_trial(study.trials[0]).latency_sigma_ms == 0.25


def test_missing_config_is_a_clear_error():
    with pytest.raises(ValueError, match="has no architecture config"):
        TrialRecord(number=3, state="WAITING", status=Status.QUEUED).arch_config()


def test_refinement_calibration_and_refined_runs_are_stored_with_the_study():
    study = optuna.create_study()
    StudyMeta.write_refinement(study, Refinement(RefineSettings(seeds=3), 12))
    calibration = Calibration("s", (1, 2, 3), (0.1, 0.2, 0.3), (0.2, 0.1, 0.3), (1.0, 2.0, 3.0), 1, 3, 0.5, 0.5,
                              (RankAgreement("proxy accuracy", 0.3, -1.0, 1.0, 3),))
    StudyMeta.write_calibration(study, calibration)
    for run in (RefinedRun(3, 1, 0.7, 2.0, (0.6, 0.7)), RefinedRun(3, 0, 0.8), RefinedRun(1, 0, 0.9)):
        StudyMeta.write_refined_run(study, run)
    meta = StudyMeta.from_study(study)
    assert meta.refinement == Refinement(RefineSettings(seeds=3), 12) and meta.calibration == calibration
    assert meta.refined == (RefinedRun(1, 0, 0.9), RefinedRun(3, 0, 0.8), RefinedRun(3, 1, 0.7, 2.0, (0.6, 0.7)))
    StudyMeta.write_refined_run(study, RefinedRun(3, 1, 0.75))  # one key per (trial, seed): rewriting replaces
    assert len(StudyMeta.from_study(study).refined) == 3
