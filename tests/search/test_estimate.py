"""A study's expected time: its trials, a new study's noise runs and the refinement, from one measurement."""

import pytest

from tests.estimates import fixed, study
from ulsam_nas.space import load_space
from ulsam_nas.search.estimate import time_trial
from ulsam_nas.training import ProxySettings


def test_the_study_estimate_counts_the_noise_runs_and_the_refinement():
    # refinement on twice the proxy's images: 3 x 4 epochs x 1000 images = 6 epochs of 2000, each 20 x 0.9 s + 1 s
    estimate = study(refine_images=2000)
    assert estimate.search_seconds == pytest.approx(60 * 40)
    assert estimate.noise_seconds == pytest.approx(3 * 40)
    assert estimate.refinement.epochs == 6 and estimate.refinement.training_seconds == pytest.approx(6 * 19)
    assert estimate.refine_seconds == pytest.approx(16 * 6 * 19)
    assert estimate.total_seconds == pytest.approx(60 * 40 + 3 * 40 + 16 * 6 * 19)
    assert study(refine_done=5).refine_runs == 11


def test_parts_not_run_cost_nothing():
    bare = study(noise_runs=0, refine_networks=0)
    assert bare.extra_seconds == 0 and bare.total_seconds == pytest.approx(60 * 40)
    assert study(remaining=0, noise_runs=0).total_seconds == pytest.approx(16 * 120)


def test_a_trial_is_timed_on_the_space_largest_candidate(tiny_space):
    space = load_space(tiny_space)
    proxy = ProxySettings(epochs=1, resolution=16, train_subset=96, batch_size=32, threads=1)
    trial = time_trial(space, proxy, 10, train_images=1000, val_images=40)
    assert trial.candidate == space.largest(10).summary() and trial.train_images == 96 and trial.steps_per_epoch == 3
    untrained = time_trial(space, proxy, 10, 1000, 40, trains=False)
    assert untrained.epochs == 0 and untrained.trial_seconds == untrained.other_seconds


def test_workers_share_out_the_trials_and_separate_supernets_and_refinement_runs_side_by_side():
    two = study(workers=2, refine_processes=2)
    assert two.search_seconds == pytest.approx(30 * 40) and study(workers=2, remaining=61).search_seconds == 31 * 40
    assert two.refine_seconds == pytest.approx(8 * 120)
    assert two.trials_that_fit(400) == 20 and study().trials_that_fit(400) == 10
    epoch = fixed(epochs=1)
    sliced = study(workers=2, supernet_epoch=epoch, supernet_epochs=12, supernets=1)
    separate = study(workers=2, supernet_epoch=epoch, supernet_epochs=36, supernets=3)
    assert sliced.supernet_seconds == pytest.approx(12 * epoch.epoch_seconds)  # one supernet: one worker trains it
    assert separate.supernet_seconds == pytest.approx(18 * epoch.epoch_seconds)  # three of them, two at a time
