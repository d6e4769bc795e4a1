"""Setting a study up: every new study measures the proxy's noise on its vanilla baseline, stores it and shows it;
a study of an earlier version is refused more trials."""

import pytest
from typer.testing import CliRunner

from ulsam_nas.cli import app
from ulsam_nas.search import SearchSettings, run_search
from ulsam_nas.training import ProxyResult, ProxySettings

pytestmark = pytest.mark.slow  # real searches (with a stand-in trainer)

PROXY = ProxySettings(epochs=2, resolution=16, train_subset=64, batch_size=32, threads=1)


class SeededTrainer:
    """An accuracy that depends on the width and the seed; records (width, seed) of every call."""

    def __init__(self):
        self.calls = []

    def __call__(self, config, data, settings, seed=0, on_epoch=None):
        self.calls.append((config.width, seed))
        accuracy = 0.5 + 0.2 * config.width + 0.01 * (seed % 3)
        curve = [accuracy - 0.1, accuracy]
        if on_epoch is not None:
            on_epoch(1, curve[0])
        return ProxyResult(accuracy=accuracy, curve=curve, seconds=0.5, images_per_second=1.0)


def settings(tmp_path, space, **overrides):
    return SearchSettings(**dict(space=str(space), proxy=PROXY, trials=3, seed=0, sampler="random", study="n",
                                 storage=f"sqlite:///{tmp_path}/n.db", evaluator="proxy") | overrides)


def test_noise_is_measured_stored_and_shown_and_the_baseline_reuses_its_run(tmp_path, tiny_space):
    trainer = SeededTrainer()
    outcome = run_search(settings(tmp_path, tiny_space), trainer=trainer)
    noise = outcome.study.user_attrs["noise"]
    assert noise["seeds"] == [0, 1, 2] and noise["accuracies"] == pytest.approx([0.7, 0.71, 0.72])
    assert noise["validation_images"] == 359 and noise["network"] == "v2 w1"
    # the vanilla baseline (trial 0, seed 0) replayed the noise run: 2 extra trainings, not 3
    assert noise["extra_runs"] == 2 and trainer.calls[:3] == [(1.0, 0), (1.0, 1), (1.0, 2)]
    assert len(trainer.calls) == 3 + 2  # then trials 1 and 2 only
    first = outcome.study.trials[0]
    assert first.user_attrs["baseline"] == "vanilla" and first.user_attrs["accuracy"] == pytest.approx(0.7)
    shown = CliRunner().invoke(app, ["show", "--storage", outcome.storage, "--study", "n"])
    assert shown.exit_code == 0, shown.output
    assert "seed std 1.0 points" in shown.output and "± " in shown.output
    assert "70.0% ± 2.6" in shown.output  # sqrt(1.0**2 + 0.7 * 0.3 / 359 * 1e4) points


def test_fewer_than_two_noise_seeds_disable_the_measurement_and_say_so(tmp_path, tiny_space):
    trainer = SeededTrainer()
    outcome = run_search(settings(tmp_path, tiny_space, noise_seeds=1, trials=1), trainer=trainer)
    assert trainer.calls == [(1.0, 0)]  # the baseline trial only
    assert "fewer than 2 seeds" in outcome.study.user_attrs["noise"]["reason"]
    shown = CliRunner().invoke(app, ["show", "--storage", outcome.storage, "--study", "n"])
    assert "seed-to-seed noise not measured" in shown.output and "± 2.4" in shown.output  # binomial only


def test_a_study_of_an_earlier_version_is_refused_more_trials_in_one_line(tmp_path, tiny_space):
    trainer = SeededTrainer()
    outcome = run_search(settings(tmp_path, tiny_space, trials=1, noise_seeds=0), trainer=trainer)
    stored = dict(outcome.study.user_attrs["settings"])
    del stored["space_encoding"]  # as studies were stored before one encoding per network
    outcome.study.set_user_attr("settings", stored)
    with pytest.raises(ValueError, match="made by an earlier version .* cannot take more trials: use --study NEW_NAME"):
        run_search(settings(tmp_path, tiny_space, trials=2, noise_seeds=0), trainer=trainer)
    shown = CliRunner().invoke(app, ["show", "--storage", outcome.storage, "--study", "n"])
    assert shown.exit_code == 0 and "trial" in shown.output  # it still opens
