"""The settings of proxy, refined and full training: checked in one place, "auto" resolved by dataset size."""

import dataclasses
import math

import pytest

from ulsam_nas.training import ProxySettings, RefineSettings, TrainSettings
from ulsam_nas.training.settings import SupernetSettings, epochs_for


@pytest.mark.parametrize("settings,message", [
    (dict(epochs=0), "proxy epochs: must be a positive integer or 'auto'"),
    (dict(batch_size=True), "proxy batch_size: must be a positive"),
    (dict(resolution=8), "proxy resolution: must be >= 16 pixels"),
    (dict(lr=math.nan), "proxy lr: must be a positive number"), (dict(lr="0.1"), "proxy lr: must be a positive number"),
    (dict(warmup=1.0), r"proxy warmup: must be a share of the steps in \[0, 1\)"),
    (dict(train_subset=1), "proxy train_subset: must be an integer >= 2"),
])
def test_proxy_settings_are_checked(settings, message):
    with pytest.raises(ValueError, match=message):
        ProxySettings(**settings)


def test_full_training_settings_are_checked_with_their_own_names():
    with pytest.raises(ValueError, match="^resolution: must be >= 32 pixels"):
        TrainSettings(resolution=16)
    with pytest.raises(ValueError, match="--no-cache and --cache-dir"):
        TrainSettings(cache=False, cache_dir="/x")


def test_auto_is_resolved_by_dataset_size():
    assert ProxySettings().resolve(1438) == ProxySettings(epochs=4, train_subset=None)  # the digits: 4 epochs, all
    assert ProxySettings().resolve(25_000) == ProxySettings(epochs=1, train_subset=10_000)  # CIFAR-sized: 1 of 10,000
    assert ProxySettings(train_subset="all").train_subset is None and ProxySettings().resolve(100).is_resolved


def test_too_few_seeds_or_images_are_refused_or_rounded_up():
    assert epochs_for(0, 100) == 1
    with pytest.raises(ValueError, match="refine seeds: must be an integer >= 2"):
        RefineSettings(seeds=1)


def test_a_study_stored_before_the_recipe_fields_reads_as_the_old_recipe():
    stored = {k: v for k, v in ProxySettings(epochs=2, train_subset=None).defining().items()
              if k not in ("warmup", "zero_init_residual", "grad_clip")}
    old = ProxySettings.from_stored(stored)
    assert old.epochs == 2 and old.zero_init_residual is False and old.warmup == 0.15 and old.grad_clip is None


def test_a_study_stored_before_the_clip_reads_as_unclipped_and_a_bad_clip_is_refused():
    stored = {k: v for k, v in ProxySettings(epochs=2).defining().items() if k != "grad_clip"}
    between = ProxySettings.from_stored(stored)
    assert between.zero_init_residual is True and between.grad_clip is None
    assert ProxySettings().grad_clip == 10.0 and ProxySettings(grad_clip=None).grad_clip is None
    for bad in (0, -1.0, float("inf"), True, "5"):
        with pytest.raises(ValueError, match="proxy grad_clip: must be a positive number or empty"):
            ProxySettings(grad_clip=bad)


def test_a_supernet_is_sliced_by_default_and_one_stored_before_slicing_reads_as_one_per_width():
    assert SupernetSettings().width_sharing == "sliced"
    separate = SupernetSettings(epochs=3, width_sharing="separate")
    assert "width_sharing" not in separate.defining()  # as stored before slicing existed
    assert SupernetSettings.from_stored(separate.defining()) == dataclasses.replace(separate, threads=None)
    sliced = SupernetSettings(epochs=3)
    assert SupernetSettings.from_stored(sliced.defining()).width_sharing == "sliced"


@pytest.mark.parametrize("proxy,available,epochs", [
    (ProxySettings(epochs=4, train_subset=None), 1_437, 12),  # the digits: 3x the proxy's 4 epochs on all
    (ProxySettings(epochs=4, train_subset=100), 100, 12),
    (ProxySettings(epochs=1, train_subset=10_000), 50_000, 1),  # CIFAR-sized: one epoch on all (5x the images)
    (ProxySettings(epochs=1, train_subset=10_000), 25_000, 1),
    (ProxySettings(epochs=2, train_subset=10_000), 25_000, 2),  # 60,000 images: 2.4 epochs, rounded
    (ProxySettings(epochs=1, train_subset=2_000), 50_000, 1),  # at least one epoch: every image seen
])
def test_refinement_trains_on_three_times_the_proxys_images_in_whole_epochs_over_all(proxy, available, epochs):
    refined = RefineSettings().training(proxy, available)
    assert refined.epochs == epochs and refined.train_subset is None


def test_refine_settings_are_validated():
    with pytest.raises(ValueError, match="refine factor"):
        RefineSettings(factor=0)
    with pytest.raises(ValueError, match="refine: must be an integer >= 0"):
        RefineSettings(count=-1)
    assert RefineSettings(count=3).defining() == RefineSettings(count=8).defining()  # how many does not matter
