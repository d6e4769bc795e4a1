"""--time-budget: a trial count that fits after the noise runs and refinement, or one clear refusal."""

import dataclasses

import optuna
import pytest
from typer.testing import CliRunner

from tests.estimates import fixed, study
from ulsam_nas.cli import app
from ulsam_nas.search import SearchSettings, run_search
from ulsam_nas.search import plan as plan_module
from ulsam_nas.search.estimate import StudyEstimate
from ulsam_nas.search.plan import minimum_trials, plan_search, plan_trials
from ulsam_nas.search.study import StudyProgress
from ulsam_nas.training.timing import TrainingTime
from ulsam_nas.space import load_space
from ulsam_nas.training import ProxyResult, ProxySettings

TINY_PROXY = ProxySettings(epochs=1, resolution=16, train_subset=96, batch_size=32, threads=1)


def test_minimum_is_the_expressible_baselines_and_ten_trials(tiny_space):
    # tiny: the paper's 15+16 drop puts ULSAM after block 14 (canonically), not a slot of tiny: vanilla only
    assert minimum_trials(load_space(tiny_space), 10, 60) == 1 + 10
    assert minimum_trials(load_space("mobilenet_v2"), 10, 60) == 4 + 10
    assert minimum_trials(load_space(tiny_space), 10, 5) == 5  # never more than asked for


@pytest.mark.parametrize("budget,done,target,expected", [
    (300, 0, 60, 7),  # 40 s per trial: 7 fit
    (3600, 0, 60, 60),  # more fit than asked for: --trials stays the most
    (300, 20, 60, 27),  # resumed: 7 more
])
def test_a_time_budget_that_fits_chooses_the_trial_count(budget, done, target, expected):
    bare = study(noise_runs=0, refine_networks=0)
    assert plan_trials(bare, budget, done, target, minimum=5) == expected


def test_a_time_budget_that_does_not_fit_is_one_line_naming_settings_that_fit():
    bare = study(noise_runs=0, refine_networks=0)  # 40 s per trial
    measured = []

    def remeasure(resolution):
        measured.append(resolution)
        return dataclasses.replace(bare.trial, resolution=resolution,
                                   step_seconds=bare.trial.step_seconds * (resolution / 48) ** 2)

    with pytest.raises(ValueError) as error:
        plan_trials(bare, 300, 0, 60, minimum=14, remeasure=remeasure)
    message = str(error.value)
    assert "\n" not in message
    assert message.startswith("time budget 5m 00s: not even 14 trial(s) fit")
    assert "--proxy-epochs 2 (up to 20s per trial)" in message
    assert "--proxy-subset 400 (up to 18s per trial)" in message  # 4 steps of 0.9 s + 1 s evaluation, 4 epochs
    assert "--proxy-resolution 32 (up to 20s per trial)" in message and measured == [40, 32]  # the first that fits
    assert "or a time budget of at least 9m 20s" in message


@pytest.mark.parametrize("extra,expected", [
    ({}, 30),  # 1200 s at 40 s per trial
    ({"noise_runs": 3}, 27),  # 120 s of noise runs first
    ({"refine_networks": 2}, 18),  # 2 networks x 2 seeds x 120 s of refinement after
    ({"noise_runs": 3, "refine_networks": 2}, 15),
])
def test_a_time_budget_leaves_room_for_the_noise_runs_and_the_refinement(extra, expected):
    estimate = study(**({"noise_runs": 0, "refine_networks": 0} | extra))
    assert plan_trials(estimate, 1200, 0, 60, minimum=5) == expected


def test_a_time_budget_taken_by_noise_and_refinement_is_refused_in_one_line_saying_so():
    assert plan_trials(study(noise_runs=0, refine_networks=0), 900, 0, 60, minimum=14) == 22  # the search alone fits
    assert plan_trials(study(noise_runs=0, refine_networks=0, workers=2), 900, 0, 60, minimum=14) == 44  # two at once
    with pytest.raises(ValueError) as error:
        plan_trials(study(), 900, 0, 60, minimum=14)
    message = str(error.value)
    assert "\n" not in message
    assert message.startswith("time budget 15m 00s: not even 14 trial(s) fit (the baselines and 10 trials): up to 40s "
                              "per trial with 4 proxy epoch(s) at 48px on 1000 images, 9m 20s in all, on top of noise runs "
                              "3 x 40s = 2m 00s and refinement 8 networks x 2 seeds x 2m 00s (12 epochs on 1000 images) = "
                              "32m 00s; ")
    # 1 epoch: 14 x 10 s, noise 3 x 10 s, refinement 16 x 3 epochs x 10 s = 650 s
    assert "proxy settings that fit: --proxy-epochs 1 (up to 10s per trial)" in message
    # 3 batches, 300 images: 17 x 4 epochs x (3 steps x 0.9 s + 1 s) = 252 s of search and noise runs, and
    # refinement's epochs shrink with the proxy's images: 16 runs x round(3 x 4 x 300 / 1000) = 4 epochs x 10 s
    # = 640 s; 892 s in all. 400 images: 313 + 800 s.
    assert "--proxy-subset 300 (up to 15s per trial)" in message
    assert "; or --refine 0 (no refinement); " in message  # 220 s left for refinement: not one network's 240 s
    assert message.endswith("; or a time budget of at least 43m 20s")  # 560 + 120 + 1920 s
    with pytest.raises(ValueError, match=r"; or --refine 2 \(refinement up to 8m 00s\); "):
        plan_trials(study(), 1200, 0, 60, minimum=14)  # 520 s left: 2 networks of 240 s


def test_plan_search_counts_noise_for_a_new_study_and_refinement_when_asked(tiny_space, monkeypatch):
    monkeypatch.setattr(plan_module, "time_trial", lambda *args, **kwargs: fixed())
    space = load_space(tiny_space)
    settings = SearchSettings(space=str(tiny_space), trials=60, evaluator="proxy")  # 3 noise seeds, 8 refined: defaults

    def plan(progress=StudyProgress(), **changes):
        return plan_search(dataclasses.replace(settings, **changes), space, 10, 1000, 200, lambda: progress,
                           available_images=3000)

    new, unchanged = plan()
    assert unchanged.trials == 60 and new.remaining == 60
    assert new.noise_runs == 3 and new.refine_runs == 16  # RefineSettings(): 2 seeds, 3x the images, all the images
    assert new.refinement.epochs == 4 and new.refinement.train_images == 3000  # 3 x 4 epochs x 1000 over 3000
    resumed, _ = plan(StudyProgress(finished=20, created=True))
    assert resumed.noise_runs == 0 and resumed.remaining == 40 and resumed.refine_runs == 16  # noise stored
    assert plan(noise_seeds=1)[0].noise_runs == 0 and plan(refine=0)[0].refine_runs == 0
    search_only, _ = plan(objectives=("flops", "params"))
    assert search_only.extra_seconds == 0
    left, _ = plan(StudyProgress(finished=60, created=True, refined_runs=10))  # only refinement is left
    assert left.remaining == 0 and left.refine_runs == 6
    assert plan(StudyProgress(finished=60, created=True, refined_runs=16)) == (None, dataclasses.replace(settings))
    # 1800 s: 120 s of noise runs, 1 network x 2 seeds x 4 epochs x 28 s = 224 s refined, 1456 s for 36 trials
    budgeted, planned = plan(refine=1, time_budget=1800)
    assert planned.trials == 36 and planned.timeout == pytest.approx(1456) and budgeted.remaining == 36
    with pytest.raises(ValueError, match="on top of noise runs 3 x 40s = 2m 00s and refinement 8 networks"):
        plan(time_budget=1800)


def test_time_budget_is_parsed_and_not_part_of_the_study(tiny_space):
    settings = SearchSettings(space=str(tiny_space), time_budget="1h", cache_dir="/elsewhere")
    assert settings.time_budget == 3600
    space = load_space(tiny_space)
    assert settings.definition(space, 10) == SearchSettings(space=str(tiny_space)).definition(space, 10)
    with pytest.raises(ValueError, match="time budget: cannot read 'soon'"):
        SearchSettings(time_budget="soon")


def test_cli_refuses_a_budget_that_does_not_fit_in_one_line_and_creates_no_study(tmp_path, tiny_space, monkeypatch):
    monkeypatch.setattr(plan_module, "time_trial", lambda *args, **kwargs: fixed())  # 40 s per trial
    storage = f"sqlite:///{tmp_path}/cli.db"
    result = CliRunner().invoke(app, [
        "search", "--space", str(tiny_space), "--storage", storage, "--proxy-epochs", "2", "--proxy-resolution", "16",
        "--proxy-subset", "64", "--proxy-batch-size", "32", "--threads", "1", "--quiet", "--time-budget", "1s",
        "--evaluator", "proxy"])
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: time budget 1s: not even 11 trial(s) fit")
    assert "per trial" in lines[0]
    # what the budget went to besides the trials: the defaults' 3 noise runs and 8 networks x 2 seeds refined
    assert "on top of noise runs 3 x " in lines[0] and " and refinement 8 networks x 2 seeds x " in lines[0]
    assert optuna.get_all_study_names(storage) == []  # a rerun with other proxy settings is not a clash


@pytest.mark.slow
def test_search_reports_the_estimate_and_a_budget_chooses_the_trials(tmp_path, tiny_space, monkeypatch):
    monkeypatch.setattr(plan_module, "time_trial", lambda *args, **kwargs: fixed())  # 40 s
    heard = []
    settings = SearchSettings(space=str(tiny_space), proxy=TINY_PROXY, trials=50, storage=f"sqlite:///{tmp_path}/s.db",
                              study="t", sampler="random", time_budget="20m", refine=1, evaluator="proxy")

    def instant(config, data, proxy, seed=0, on_epoch=None):
        return ProxyResult(accuracy=0.5, curve=[0.5], seconds=0.01, images_per_second=1.0)

    outcome = run_search(settings, on_estimate=heard.append, trainer=instant)
    (estimate,) = heard
    # a new study: 3 noise runs; 1 network x 2 seeds refined on all the digits' training images, not the proxy's 96
    assert estimate.noise_runs == 3 and estimate.refine_runs == 2 and estimate.refinement.train_images > 1000
    left = 1200 - estimate.extra_seconds
    assert estimate.remaining == int(left // 40) < int(1200 // 40)
    assert outcome.settings.trials == outcome.trials_run == estimate.remaining
    assert outcome.settings.timeout == pytest.approx(left)


def test_a_supernet_study_that_does_not_fit_says_how_many_supernet_epochs_would():
    timed = TrainingTime("v2 w1", step_seconds=0.5, steps_per_epoch=100, epochs=1, eval_seconds=4.0, other_seconds=1.0,
                         resolution=48, batch_size=64, train_images=6400, val_images=1000)
    scoring = dataclasses.replace(timed, step_seconds=0.0, steps_per_epoch=0)
    epoch = dataclasses.replace(timed, eval_seconds=0.0, other_seconds=0.0)  # 50 s per supernet epoch
    study = StudyEstimate(scoring, remaining=100, supernet_epoch=epoch, supernet_epochs=36)  # 30 min of supernet
    assert study.supernet_seconds == 1800 and study.extra_seconds == 1800
    assert plan_trials(study, budget=1800 + 50 * 5, done=0, target=100, minimum=10) == 50  # 5 s a trial
    with pytest.raises(ValueError) as error:
        plan_trials(study, budget=600, done=0, target=100, minimum=10)
    message = str(error.value)
    assert "supernet training 36 epochs" in message and "at most 11 supernet epochs fit" in message
    assert "--proxy" not in message and "\n" not in message
