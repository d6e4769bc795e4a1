"""Refinement on a hand-made study with an injected trainer: resumable, never retrains, becomes the front."""

import dataclasses

import optuna
import pytest
from typer.testing import CliRunner

from ulsam_nas import ArchConfig
from ulsam_nas.cli import app
from ulsam_nas.costs import CostReport
from ulsam_nas.export import select_trial, trial_accuracy
from ulsam_nas.noise import NoiseEstimate
from ulsam_nas.record import Status, StudyMeta, TrialRecord, TrialWriter
from ulsam_nas.refine import RefineSettings, pick_for_refinement, refine_study
from ulsam_nas.report import describe_front, study_front, trials_frame
from ulsam_nas.training import ProxyResult, ProxySettings

PROXY = ProxySettings(epochs=2, resolution=16, train_subset=64)
# (baseline, width, proxy accuracy, FLOPs, refined accuracy): the proxy prefers trial 1, longer training trial 2
TRIALS = [("vanilla", 1.0, 0.88, 300e6, 0.75), ("", 0.75, 0.95, 200e6, 0.70), ("", 0.35, 0.80, 100e6, 0.97),
          ("", 0.5, 0.85, 250e6, 0.60)]
REFINED = {ArchConfig(backbone="mobilenet_v2", width=w, num_classes=10).to_json(): r for _, w, _, _, r in TRIALS}


def make_study(storage=None):
    """A finished study as ulsam-nas search writes it, without training anything."""
    study = optuna.create_study(storage=storage, study_name="hand", directions=["maximize", "minimize"])
    proxy = {k: v for k, v in dataclasses.asdict(PROXY).items() if k not in ("threads", "device")}
    StudyMeta(settings={"dataset": "digits", "proxy": proxy, "seed": 0, "budgets": [], "resolution": 64},
              validation_images=359, reference_point={"accuracy": 0.0, "flops": 400e6},
              noise=NoiseEstimate(359, (0.87, 0.89, 0.88), (0, 1, 2), "v2 w1").to_dict()).write(study)
    for label, width, accuracy, flops, _ in TRIALS:
        if label:
            study.enqueue_trial({}, user_attrs=TrialRecord.enqueued_attrs(baseline=label))
        trial = study.ask()
        writer = TrialWriter(trial)
        writer.claimed(ArchConfig(backbone="mobilenet_v2", width=width, num_classes=10), {"host": "h", "pid": 1})
        writer.costed(CostReport(flops=int(flops), params=int(flops / 100), resolution=64), 0.1)
        writer.trained(accuracy, [accuracy], 100.0)
        writer.finished(Status.TRAINED, "", 1.0)
        study.tell(trial, [accuracy, flops])
    return study


class Trainer:
    """Returns the table's refined accuracy (a little apart per seed); counts calls; can be interrupted."""

    def __init__(self, interrupt_at=None):
        self.calls, self.interrupt_at = [], interrupt_at

    def __call__(self, config, data, settings, seed=0, on_epoch=None):
        if len(self.calls) + 1 == self.interrupt_at:
            raise KeyboardInterrupt
        self.calls.append((config.width, seed, settings.epochs, settings.train_subset))
        accuracy = REFINED[config.to_json()] + 0.005 * seed
        return ProxyResult(accuracy=accuracy, curve=[accuracy], seconds=2.0)


def test_picks_vanilla_then_the_front_spread_over_cost():
    study = make_study()
    chosen, left_out = pick_for_refinement(trials_frame(study), ("accuracy", "flops"), 3)
    assert chosen == [0, 2, 1] and left_out == []
    chosen, left_out = pick_for_refinement(trials_frame(study), ("accuracy", "flops"), 2)
    assert chosen == [0, 2] and left_out == [1]


def test_refinement_resumes_after_an_interrupt_and_never_retrains_a_finished_run():
    study = make_study()
    interrupted = Trainer(interrupt_at=4)
    with pytest.raises(KeyboardInterrupt):
        refine_study(study, 3, trainer=interrupted, data="in memory")
    assert len(StudyMeta.from_study(study).refined) == 3  # each run stored the moment it finished
    # 3x the proxy's epochs, all the training data, seeds 0 and 1
    assert interrupted.calls == [(1.0, 0, 6, None), (1.0, 1, 6, None), (0.35, 0, 6, None)]
    heard, resumed = [], Trainer()
    report = refine_study(study, 3, trainer=resumed, data="in memory", on_result=heard.append)
    assert resumed.calls == [(0.35, 1, 6, None), (0.75, 0, 6, None), (0.75, 1, 6, None)]
    assert [(run.trial, run.seed) for run in heard] == [(2, 1), (1, 0), (1, 1)]
    assert report.trained_runs == 3 and report.stored_runs == 3 and len(report.points) == 3
    again = Trainer()
    assert refine_study(study, 3, trainer=again, data="in memory").trained_runs == 0 and again.calls == []
    with pytest.raises(ValueError, match="refined with other settings"):
        refine_study(study, 3, RefineSettings(seeds=3), trainer=again, data="in memory")


def test_refined_accuracies_become_the_front_and_the_proxy_stays_beside_them(tmp_path):
    storage = f"sqlite:///{tmp_path}/hand.db"
    study = make_study(storage)
    assert select_trial(study, best=True).number == 1  # the proxy's favourite
    report = refine_study(study, 3, trainer=Trainer(), data="in memory")
    point = {p.trial: p for p in report.points}[2]
    assert point.accuracy == pytest.approx(0.9725) and point.proxy_accuracy == 0.80 and point.seeds == 2
    assert [a.predictor for a in report.agreement] == ["proxy accuracy", "FLOPs alone", "params alone"]
    assert report.agreement[0].low <= report.agreement[0].tau <= report.agreement[0].high
    front = study_front(study)
    assert front["trial"].tolist() == [2] and (front["basis"] == "refined").all()
    assert front["proxy_accuracy"].tolist() == [0.80] and front["accuracy"].iloc[0] == pytest.approx(0.9725)
    assert select_trial(study, best=True).number == 2  # export --best follows the refined front
    assert trial_accuracy(study, 2)["basis"] == "refined"
    shown = describe_front(study)
    assert "refined accuracy" in shown and "proxy accuracy" in shown and "97.2% ±" in shown
    assert "Kendall tau" in shown and "no better than counting FLOPs" in shown  # the proxy got this one backwards
    runner = CliRunner()
    exported = runner.invoke(app, ["export", "--best", "--storage", storage, "--out", str(tmp_path / "w.yaml")])
    assert exported.exit_code == 0, exported.output
    assert "trial 2 of 'hand'" in exported.output and "refined accuracy 97.2% ±" in exported.output
    provenance = __import__("yaml").safe_load((tmp_path / "w.yaml").read_text())["provenance"]
    assert provenance["metrics"]["accuracy"] == pytest.approx(0.9725) and provenance["metrics"]["proxy_accuracy"] == 0.80


def test_refine_settings_are_validated():
    with pytest.raises(ValueError, match="seeds: must be an integer >= 2"):
        RefineSettings(seeds=1)
    with pytest.raises(ValueError, match="epochs_factor"):
        RefineSettings(epochs_factor=0)
    assert RefineSettings().training(ProxySettings(epochs=4, train_subset=100)).epochs == 12
