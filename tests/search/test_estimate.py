"""The cost of a study said before it is spent (trials, noise runs, refinement), and --time-budget: a trial count that
fits after the noise runs and refinement, or one clear refusal."""

import dataclasses

import optuna
import pytest
from typer.testing import CliRunner

from ulsam_nas.cli import app
from ulsam_nas.search import SearchSettings, run_search
from ulsam_nas.search import estimate as estimate_module
from ulsam_nas.search.estimate import (StudyEstimate, StudyProgress, TrialEstimate, estimate_trial_time, format_duration,
                                       largest_candidate, minimum_trials, plan_search, plan_trials)
from ulsam_nas.space import load_space
from ulsam_nas.training import ProxyResult, ProxySettings

TINY_PROXY = ProxySettings(epochs=1, resolution=16, train_subset=96, batch_size=32, threads=1)


def fixed(trial_seconds_per_epoch: float = 10.0, epochs: int = 4, **overrides) -> TrialEstimate:
    """An estimate with round numbers: 10 steps of 0.9 s and 1 s evaluation per epoch, 0 s costing."""
    values = dict(candidate="v2 w1", step_seconds=(trial_seconds_per_epoch - 1) / 10, steps_per_epoch=10, epochs=epochs,
                  eval_seconds=1.0, other_seconds=0.0, remaining=60, resolution=48, batch_size=100, train_images=1000,
                  val_images=200)
    return TrialEstimate(**(values | overrides))


def test_largest_candidate_is_widest_undropped_with_ulsam_everywhere(tiny_space):
    config = largest_candidate(load_space(tiny_space), 10)
    assert config.width == 1.0 and config.drop == () and [(p.after, p.subspaces) for p in config.ulsam] == [(16, 4)]


def test_minimum_is_the_expressible_baselines_and_ten_trials(tiny_space):
    assert minimum_trials(load_space(tiny_space), 10, 60) == 2 + 10  # vanilla and the paper's 15+16 drop
    assert minimum_trials(load_space("mobilenet_v2"), 10, 60) == 4 + 10
    assert minimum_trials(load_space(tiny_space), 10, 5) == 5  # never more than asked for


def test_estimate_is_positive_and_ordered(tiny_space):
    space = load_space(tiny_space)
    one = SearchSettings(space=str(tiny_space), proxy=TINY_PROXY)
    six = dataclasses.replace(one, proxy=dataclasses.replace(TINY_PROXY, epochs=6))
    short = estimate_trial_time(one, space, 10, train_images=96, val_images=40, remaining=5)
    long = estimate_trial_time(six, space, 10, train_images=96, val_images=40, remaining=5)
    assert short.step_seconds > 0 and short.eval_seconds > 0 and short.other_seconds > 0
    assert short.steps_per_epoch == 3 and long.epochs == 6
    assert 0 < short.trial_seconds < long.trial_seconds  # measured apart: six epochs against one
    assert short.remaining_seconds == pytest.approx(5 * short.trial_seconds)
    assert long.with_proxy(epochs=2).trial_seconds < long.trial_seconds
    assert long.with_proxy(train_images=32).trial_seconds < long.trial_seconds
    line = short.describe()
    assert "\n" not in line and "per trial" in line and "5 trials left" in line and "upper bound" in line


def test_no_accuracy_objective_means_no_training_time(tiny_space):
    settings = SearchSettings(space=str(tiny_space), proxy=TINY_PROXY, objectives=("flops", "params"))
    estimate = estimate_trial_time(settings, load_space(tiny_space), 10, 96, 40, 5)
    assert estimate.epochs == 0 and estimate.trial_seconds == estimate.other_seconds


@pytest.mark.parametrize("budget,done,target,expected", [
    (300, 0, 60, 7),  # 40 s per trial: 7 fit
    (3600, 0, 60, 60),  # more fit than asked for: --trials stays the most
    (300, 20, 60, 27),  # resumed: 7 more
])
def test_a_time_budget_that_fits_chooses_the_trial_count(budget, done, target, expected):
    assert plan_trials(fixed(), budget, done, target, minimum=5) == expected


def test_a_time_budget_that_does_not_fit_is_one_line_naming_settings_that_fit():
    estimate = fixed()  # 40 s per trial
    measured = []

    def remeasure(resolution):
        measured.append(resolution)
        return dataclasses.replace(estimate, resolution=resolution, step_seconds=estimate.step_seconds * (resolution / 48) ** 2)

    with pytest.raises(ValueError) as error:
        plan_trials(estimate, 300, 0, 60, minimum=14, remeasure=remeasure)
    message = str(error.value)
    assert "\n" not in message
    assert message.startswith("time budget 5m 00s: not even 14 trial(s) fit")
    assert "--proxy-epochs 2 (up to 20s per trial)" in message
    assert "--proxy-subset 400 (up to 18s per trial)" in message  # 4 steps of 0.9 s + 1 s evaluation, 4 epochs
    assert "--proxy-resolution 32 (up to 20s per trial)" in message and measured == [40, 32]  # the first that fits
    assert "or a time budget of at least 9m 20s" in message


def study(**overrides) -> StudyEstimate:
    """fixed() with 3 noise runs (40 s each: no costing) and 8 networks x 2 seeds refined on 3x the proxy's images,
    as epochs over the same 1000 images (12 epochs of 10 s: 120 s each)."""
    values = dict(search=fixed(), noise_runs=3, refine_networks=8, refine_seeds=2, refine_factor=3,
                  refine_images=1000)
    return StudyEstimate(**(values | overrides))


def test_the_study_estimate_counts_the_noise_runs_and_the_refinement():
    # refinement on twice the proxy's images: 3 x 4 epochs x 1000 images = 6 epochs of 2000, each 20 x 0.9 s + 1 s
    estimate = study(refine_images=2000)
    assert estimate.noise_seconds == pytest.approx(3 * 40)
    assert estimate.refinement.epochs == 6 and estimate.refinement.training_seconds == pytest.approx(6 * 19)
    assert estimate.refine_seconds == pytest.approx(16 * 6 * 19)
    assert estimate.total_seconds == pytest.approx(60 * 40 + 3 * 40 + 16 * 6 * 19)
    first, second = estimate.describe().splitlines()
    assert first.startswith("estimate: up to 40s per trial (largest candidate v2 w1")
    assert second.startswith("expected study time: up to 1h 12m (search 60 trials x 40s = 40m 00s, "
                             "noise runs 3 x 40s = 2m 00s, refinement 8 networks x 2 seeds x 1m 54s (6 epochs on "
                             "2000 images) = 30m 24s; an upper bound")
    resumed = study(refine_done=5)
    assert resumed.refine_runs == 11 and "refinement 11 runs (8 networks x 2 seeds, 5 done) x 2m 00s" in resumed.describe()


def test_parts_not_run_are_left_out_of_the_estimate():
    bare = study(noise_runs=0, refine_networks=0)
    assert bare.extra_seconds == 0 and bare.total_seconds == fixed().remaining_seconds
    line = bare.describe().splitlines()[1]
    assert "noise" not in line and "refinement" not in line and "search 60 trials" in line
    after = study(search=fixed(remaining=0), noise_runs=0)  # the search is finished, the refinement is not
    assert after.describe() == ("expected study time: up to 32m 00s (refinement 8 networks x 2 seeds x 2m 00s (12 epochs on "
                                "1000 images) = 32m 00s; an upper bound)")


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
    assert plan_trials(fixed(), 900, 0, 60, minimum=14) == 22  # the search alone would fit
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
    monkeypatch.setattr(estimate_module, "estimate_trial_time", lambda *args, **kwargs: fixed(remaining=args[5]))
    space = load_space(tiny_space)
    settings = SearchSettings(space=str(tiny_space), trials=60)  # 3 noise seeds, 8 networks refined: the defaults

    def plan(progress=StudyProgress(), **changes):
        return plan_search(dataclasses.replace(settings, **changes), space, 10, 1000, 200, lambda: progress,
                           available_images=3000)

    new, unchanged = plan()
    assert unchanged.trials == 60 and new.search.remaining == 60
    assert new.noise_runs == 3 and new.refine_runs == 16  # RefineSettings(): 2 seeds, 3x the images, all the images
    assert new.refinement.epochs == 4 and new.refinement.train_images == 3000  # 3 x 4 epochs x 1000 over 3000
    resumed, _ = plan(StudyProgress(finished=20, created=True))
    assert resumed.noise_runs == 0 and resumed.search.remaining == 40 and resumed.refine_runs == 16  # noise stored
    assert plan(noise_seeds=1)[0].noise_runs == 0 and plan(refine=0)[0].refine_runs == 0
    search_only, _ = plan(objectives=("flops", "params"))
    assert search_only.extra_seconds == 0
    left, _ = plan(StudyProgress(finished=60, created=True, refined_runs=10))  # only refinement is left
    assert left.search.remaining == 0 and left.refine_runs == 6 and left.describe().startswith("expected study time")
    assert plan(StudyProgress(finished=60, created=True, refined_runs=16)) == (None, dataclasses.replace(settings))
    # 1800 s: 120 s of noise runs, 1 network x 2 seeds x 4 epochs x 28 s = 224 s refined, 1456 s for 36 trials
    budgeted, planned = plan(refine=1, time_budget=1800)
    assert planned.trials == 36 and planned.timeout == pytest.approx(1456) and budgeted.search.remaining == 36
    with pytest.raises(ValueError, match="on top of noise runs 3 x 40s = 2m 00s and refinement 8 networks"):
        plan(time_budget=1800)


def test_format_duration():
    assert [format_duration(s) for s in (4.4, 65, 3600 * 9.5)] == ["4s", "1m 05s", "9h 30m"]


def test_time_budget_is_parsed_and_not_part_of_the_study(tiny_space):
    settings = SearchSettings(space=str(tiny_space), time_budget="1h", cache_dir="/elsewhere")
    assert settings.time_budget == 3600
    space = load_space(tiny_space)
    assert settings.defining(space, 10) == SearchSettings(space=str(tiny_space)).defining(space, 10)
    with pytest.raises(ValueError, match="time budget: cannot read 'soon'"):
        SearchSettings(time_budget="soon")


def test_cli_refuses_a_budget_that_does_not_fit_in_one_line_and_creates_no_study(tmp_path, tiny_space):
    storage = f"sqlite:///{tmp_path}/cli.db"
    result = CliRunner().invoke(app, [
        "search", "--space", str(tiny_space), "--storage", storage, "--proxy-epochs", "2", "--proxy-resolution", "16",
        "--proxy-subset", "64", "--proxy-batch-size", "32", "--threads", "1", "--quiet", "--time-budget", "1s"])
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: time budget 1s: not even 12 trial(s) fit")
    assert "per trial" in lines[0]
    # what the budget went to besides the trials: the defaults' 3 noise runs and 8 networks x 2 seeds refined
    assert "on top of noise runs 3 x " in lines[0] and " and refinement 8 networks x 2 seeds x " in lines[0]
    assert optuna.get_all_study_names(storage) == []  # a rerun with other proxy settings is not a clash


@pytest.mark.slow
def test_search_reports_the_estimate_and_a_budget_chooses_the_trials(tmp_path, tiny_space, monkeypatch):
    monkeypatch.setattr(estimate_module, "estimate_trial_time", lambda *args, **kwargs: fixed(remaining=50))  # 40 s
    heard = []
    settings = SearchSettings(space=str(tiny_space), proxy=TINY_PROXY, trials=50, storage=f"sqlite:///{tmp_path}/s.db",
                              study="t", sampler="random", time_budget="20m", refine=1)

    def instant(config, data, proxy, seed=0, on_epoch=None):
        return ProxyResult(accuracy=0.5, curve=[0.5], seconds=0.01, images_per_second=1.0)

    outcome = run_search(settings, on_estimate=heard.append, trainer=instant)
    (estimate,) = heard
    # a new study: 3 noise runs; 1 network x 2 seeds refined on all the digits' training images, not the proxy's 96
    assert estimate.noise_runs == 3 and estimate.refine_runs == 2 and estimate.refinement.train_images > 1000
    left = 1200 - estimate.extra_seconds
    assert estimate.search.remaining == int(left // 40) < int(1200 // 40)
    assert outcome.settings.trials == outcome.trials_run == estimate.search.remaining
    assert outcome.settings.timeout == pytest.approx(left)
