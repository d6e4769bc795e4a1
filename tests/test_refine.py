"""Refinement on a hand-made study with an injected trainer: resumable, never retrains, becomes the front, says its
expected time before it trains."""

import dataclasses

import optuna
import pytest
import torch
from typer.testing import CliRunner

from ulsam_nas import ArchConfig
from ulsam_nas import refine as refine_module
from ulsam_nas.cli import app
from ulsam_nas.costs import CostReport
from ulsam_nas.data import ImageData, load_dataset
from ulsam_nas.export import select_trial
from ulsam_nas.noise import NoiseEstimate
from ulsam_nas.present.estimates import refine_estimate_line
from ulsam_nas.present.study import show_text
from ulsam_nas.record import Status, StudyMeta, TrialRecord, TrialWriter
from ulsam_nas.study_records import StudyDefinition
from ulsam_nas.refine import RefineSettings, pick_for_refinement, refine_study
from ulsam_nas.report import study_results
from ulsam_nas.space import load_space
from ulsam_nas.training import ProxyResult, ProxySettings

PROXY = ProxySettings(epochs=2, resolution=16, train_subset=64)
# (baseline, width, proxy accuracy, FLOPs, refined accuracy): the proxy prefers trial 1, longer training trial 2
TRIALS = [("vanilla", 1.0, 0.88, 300e6, 0.75), ("", 0.75, 0.95, 200e6, 0.70), ("", 0.35, 0.80, 100e6, 0.97),
          ("", 0.5, 0.85, 250e6, 0.60)]
REFINED = {ArchConfig(backbone="mobilenet_v2", width=w, num_classes=10).to_json(): r for _, w, _, _, r in TRIALS}


# The fake trainers below never look at the images; refinement only counts them.
IN_MEMORY = ImageData("in memory", ["a", "b"], torch.zeros(20, 3, 8, 8, dtype=torch.uint8), torch.arange(20) % 2,
                      torch.zeros(4, 3, 8, 8, dtype=torch.uint8), torch.arange(4) % 2)


def make_study(storage=None):
    """A finished study as ulsam-nas search writes it, without training anything."""
    study = optuna.create_study(storage=storage, study_name="hand", directions=["maximize", "minimize"])
    definition = StudyDefinition(load_space("mobilenet_v2"), "digits", 10, (), ("accuracy", "flops"), 64, PROXY)
    StudyMeta(definition=definition, validation_images=359, reference_point={"accuracy": 0.0, "flops": 400e6},
              noise=NoiseEstimate(359, (0.87, 0.89, 0.88), (0, 1, 2), "v2 w1")).write(study)
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
    chosen, left_out = pick_for_refinement(study_results(study), 3)
    assert chosen == [0, 2, 1] and left_out == []
    chosen, left_out = pick_for_refinement(study_results(study), 2)
    assert chosen == [0, 2] and left_out == [1]


def test_refinement_resumes_after_an_interrupt_and_never_retrains_a_finished_run():
    study = make_study()
    interrupted = Trainer(interrupt_at=4)
    with pytest.raises(KeyboardInterrupt):
        refine_study(study, RefineSettings(count=3), trainer=interrupted, data=IN_MEMORY)
    assert len(StudyMeta.from_study(study).refined) == 3  # each run stored the moment it finished
    # 3x the proxy's images (all 20, 2 epochs), as epochs over all the training data: 6; seeds 0 and 1
    assert interrupted.calls == [(1.0, 0, 6, None), (1.0, 1, 6, None), (0.35, 0, 6, None)]
    heard, resumed = [], Trainer()
    report = refine_study(study, RefineSettings(count=3), trainer=resumed, data=IN_MEMORY, on_result=heard.append)
    assert resumed.calls == [(0.35, 1, 6, None), (0.75, 0, 6, None), (0.75, 1, 6, None)]
    assert [(run.trial, run.seed) for run in heard] == [(2, 1), (1, 0), (1, 1)]
    assert report.trained_runs == 3 and report.stored_runs == 3 and len(report.points) == 3
    again = Trainer()
    assert refine_study(study, RefineSettings(count=3), trainer=again, data=IN_MEMORY).trained_runs == 0 and again.calls == []
    with pytest.raises(ValueError, match="refined with other settings"):
        refine_study(study, RefineSettings(count=3, seeds=3), trainer=again, data=IN_MEMORY)


def test_a_resumed_refinement_trains_with_its_stored_epochs_and_loads_no_data_when_nothing_is_left(monkeypatch):
    study = make_study()
    with pytest.raises(KeyboardInterrupt):
        refine_study(study, RefineSettings(count=3), trainer=Trainer(interrupt_at=2), data=IN_MEMORY)  # 20 images: 6 epochs stored
    bigger = dataclasses.replace(IN_MEMORY, train_images=torch.zeros(128, 3, 8, 8, dtype=torch.uint8),
                                 train_labels=torch.arange(128) % 2)  # the folder grew: 3x 2 epochs x 64 is 3 epochs
    resumed = Trainer()
    refine_study(study, RefineSettings(count=3), trainer=resumed, data=bigger)
    assert {epochs for _, _, epochs, _ in resumed.calls} == {6}  # as the runs stored before, so they compare

    def no_loading(*args, **kwargs):
        raise AssertionError("a finished refinement loaded its dataset")

    monkeypatch.setattr(refine_module, "load_dataset", no_loading)
    assert len(refine_study(study, RefineSettings(count=3), trainer=Trainer()).points) == 3  # report only


def test_a_refinement_stored_by_an_earlier_version_resumes_with_its_epochs():
    study = make_study()
    study.set_user_attr("refinement", {"settings": {"epochs_factor": 3, "seeds": 2, "train_subset": None},
                                       "epochs": 6, "train_subset": None})  # as the first version stored it
    resumed = Trainer()
    assert refine_study(study, RefineSettings(count=3), trainer=resumed, data=IN_MEMORY).trained_runs == 6
    assert {epochs for _, _, epochs, _ in resumed.calls} == {6}
    with pytest.raises(ValueError, match="refined with other settings"):
        refine_study(study, RefineSettings(count=3, seeds=3), trainer=Trainer(), data=IN_MEMORY)


def test_refined_accuracies_become_the_front_and_the_proxy_stays_beside_them(tmp_path):
    storage = f"sqlite:///{tmp_path}/hand.db"
    study = make_study(storage)
    assert select_trial(study, best=True).number == 1  # the proxy's favourite
    report = refine_study(study, RefineSettings(count=3), trainer=Trainer(), data=IN_MEMORY)
    point = {p.trial: p for p in report.points}[2]
    assert point.accuracy == pytest.approx(0.9725) and point.proxy_accuracy == 0.80 and point.seeds == 2
    assert [a.predictor for a in report.agreement] == ["proxy accuracy", "FLOPs alone", "params alone"]
    assert report.agreement[0].low <= report.agreement[0].tau <= report.agreement[0].high
    (point,) = study_results(study).front()
    assert point.trial.number == 2 and point.trial.basis == "refined"
    assert point.trial.proxy_accuracy == 0.80 and point.trial.accuracy == pytest.approx(0.9725)
    assert select_trial(study, best=True).number == 2  # export --best follows the refined front
    assert study_results(study).trial(2).basis == "refined"
    shown = show_text(study_results(study))
    assert "refined accuracy" in shown and "proxy accuracy" in shown and "97.2% ±" in shown
    assert "Kendall tau" in shown and "no better than counting FLOPs" in shown  # the proxy got this one backwards
    runner = CliRunner()
    exported = runner.invoke(app, ["export", "--best", "--storage", storage, "--out", str(tmp_path / "w.yaml")])
    assert exported.exit_code == 0, exported.output
    assert "trial 2 of 'hand'" in exported.output and "refined accuracy 97.2% ±" in exported.output
    provenance = __import__("yaml").safe_load((tmp_path / "w.yaml").read_text())["provenance"]
    assert provenance["metrics"]["accuracy"] == pytest.approx(0.9725) and provenance["metrics"]["proxy_accuracy"] == 0.80


def test_refinement_says_its_runs_and_their_time_before_it_trains():
    study, heard = make_study(), []
    data = load_dataset("digits", 16, train_subset=96)  # timed on real images' counts; the trainer below is injected
    trainer = Trainer(interrupt_at=4)

    def hear(estimate):
        assert trainer.calls == []  # before the first run
        heard.append(estimate)

    with pytest.raises(KeyboardInterrupt):
        refine_study(study, RefineSettings(count=3), trainer=trainer, data=data, on_estimate=hear, threads=1)
    (first,) = heard
    assert (first.networks, first.seeds, first.done, first.runs) == (3, 2, 0, 6)
    # timed on the costliest network left (trial 0, 300M FLOPs) as refinement trains it: 3x the proxy's 2 epochs
    # on 64 images, as epochs over the 96 it refines on: 4
    assert first.run.candidate == "v2 w1" and first.run.epochs == 4 and first.run.steps_per_epoch == 96 // 64
    assert first.run.step_seconds > 0 and first.seconds == pytest.approx(6 * first.run.training_seconds)
    line = refine_estimate_line(first)
    assert "\n" not in line and line.startswith("refinement: 6 run(s) to do (3 networks x 2 seeds) x up to ")
    side_by_side = dataclasses.replace(first, runs=5, processes=2)
    assert side_by_side.seconds == pytest.approx(3 * first.run.training_seconds)  # 5 runs, 2 at a time: 3 rounds
    assert ", 2 side by side = up to " in refine_estimate_line(side_by_side)
    heard.clear()
    refine_study(study, RefineSettings(count=3), trainer=Trainer(), data=data, on_estimate=heard.append, threads=1)  # resumed: 3 stored
    (resumed,) = heard
    assert resumed.done == 3 and resumed.runs == 3 and resumed.run.candidate == "v2 w0.75"  # trial 0 is done
    assert refine_estimate_line(resumed).startswith("refinement: 3 run(s) to do (3 networks x 2 seeds; 3 of 6 done already) x up to ")
    heard.clear()
    refine_study(study, RefineSettings(count=3), trainer=Trainer(), data=data, on_estimate=heard.append)
    assert heard == []  # nothing left to do: nothing timed


def test_refine_command_prints_its_expected_time_and_the_runs_done_before_training(tmp_path, monkeypatch):
    storage = f"sqlite:///{tmp_path}/hand.db"
    study = make_study(storage)
    with pytest.raises(KeyboardInterrupt):
        refine_study(study, RefineSettings(count=3), trainer=Trainer(interrupt_at=3), data=IN_MEMORY)  # 2 runs stored
    trainer, real_train_each = Trainer(), refine_module.train_each
    monkeypatch.setattr(refine_module, "train_each",  # the command's real data and timing, the injected trainer
                        lambda jobs, data, training, on_result, *_: real_train_each(jobs, data, training, on_result,
                                                                                    trainer))
    result = CliRunner().invoke(app, ["refine", "--storage", storage, "--study", "hand", "--refine", "3",
                                      "--threads", "1"])
    assert result.exit_code == 0, result.output
    assert len(trainer.calls) == 4
    expected = [line for line in result.output.splitlines() if line.startswith("refinement: ")]
    assert len(expected) == 1, result.output
    assert expected[0].startswith("refinement: 4 run(s) to do (3 networks x 2 seeds; 2 of 6 done already) x up to ")
    # the epochs the 2 runs stored trained (6 on 20 images), not those the digits' 1,437 would give a new refinement
    assert "= up to " in expected[0] and "costliest network v2 w0.75: 6 epochs x 22 steps" in expected[0]
    lines = result.output.splitlines()
    assert lines.index(expected[0]) < min(i for i, line in enumerate(lines) if line.startswith("refined trial "))


def test_refine_command_refuses_no_cache_with_a_cache_dir_in_one_line(tmp_path):
    storage = f"sqlite:///{tmp_path}/hand.db"
    make_study(storage)
    result = CliRunner().invoke(app, ["refine", "--storage", storage, "--no-cache", "--cache-dir", str(tmp_path)])
    assert result.exit_code == 2
    assert result.output.strip().count("\n") == 0 and "--no-cache and --cache-dir" in result.output
    assert StudyMeta.from_study(optuna.load_study(study_name="hand", storage=storage)).refinement is None
