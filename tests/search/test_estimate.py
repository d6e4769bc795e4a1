"""The cost of a search said before it is spent, and --time-budget: a trial count that fits, or one clear refusal."""

import dataclasses

import optuna
import pytest
from typer.testing import CliRunner

from ulsam_nas.cli import app
from ulsam_nas.search import SearchSettings, run_search
from ulsam_nas.search import estimate as estimate_module
from ulsam_nas.search.estimate import (TrialEstimate, estimate_trial_time, format_duration, largest_candidate,
                                       minimum_trials, plan_trials)
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
    assert optuna.get_all_study_names(storage) == []  # a rerun with other proxy settings is not a clash


@pytest.mark.slow
def test_search_reports_the_estimate_and_a_budget_chooses_the_trials(tmp_path, tiny_space, monkeypatch):
    monkeypatch.setattr(estimate_module, "estimate_trial_time", lambda *args, **kwargs: fixed(remaining=50))  # 40 s
    heard = []
    settings = SearchSettings(space=str(tiny_space), proxy=TINY_PROXY, trials=50, storage=f"sqlite:///{tmp_path}/s.db",
                              study="t", sampler="random", time_budget="9m")

    def instant(config, data, proxy, seed=0, on_epoch=None):
        return ProxyResult(accuracy=0.5, curve=[0.5], seconds=0.01, images_per_second=1.0)

    outcome = run_search(settings, on_estimate=heard.append, trainer=instant)
    (estimate,) = heard
    assert estimate.remaining == 13  # 540 s at 40 s per trial
    assert outcome.settings.trials == 13 and outcome.trials_run == 13 and outcome.settings.timeout == 540
