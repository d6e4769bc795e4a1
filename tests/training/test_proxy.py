"""Proxy training: learns, is repeatable, reports NaN losses."""

import pytest
import torch

from ulsam_nas import ArchConfig
from ulsam_nas.data import load_dataset
from ulsam_nas.training import ProxySettings, TrainingDiverged, train_proxy
from ulsam_nas.training.proxy import train_final_only

SETTINGS = ProxySettings(epochs=3, resolution=24, train_subset=400, batch_size=32, lr=0.05, threads=1)
CONFIG = ArchConfig(num_classes=10, width=0.35, drop=[15, 16], ulsam=[{"after": 16, "subspaces": 4}])


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits", resolution=24)


@pytest.mark.slow
def test_learns_well_above_chance(digits):
    result = train_proxy(CONFIG, digits, SETTINGS, seed=0)
    assert len(result.curve) == 3 and result.accuracy == result.curve[-1]
    assert result.accuracy > 0.3  # chance is 0.1
    assert result.images_per_second > 0 and not result.stopped_early


def test_same_seed_same_result(digits):
    settings = ProxySettings(epochs=1, resolution=24, train_subset=128, batch_size=32, threads=1)
    assert train_proxy(CONFIG, digits, settings, seed=3).curve == train_proxy(CONFIG, digits, settings, seed=3).curve


def test_on_epoch_can_stop_early(digits):
    seen = []
    result = train_proxy(CONFIG, digits, SETTINGS, on_epoch=lambda epoch, acc: seen.append(epoch) or epoch == 1)
    assert seen == [1] and result.stopped_early and len(result.curve) == 1


def test_nan_loss_raises(digits):
    with pytest.raises(TrainingDiverged, match="loss became"):
        train_proxy(CONFIG, digits, ProxySettings(epochs=2, resolution=24, train_subset=128, batch_size=32, lr=1e30))


def test_mismatches_are_clear_errors(digits):
    with pytest.raises(ValueError, match="classes"):
        train_proxy(ArchConfig(num_classes=3), digits, SETTINGS)
    with pytest.raises(ValueError, match="proxy resolution"):
        train_proxy(CONFIG, digits, ProxySettings(resolution=32))


@pytest.mark.parametrize("field,value", [("epochs", 0), ("resolution", 8), ("lr", -1.0), ("train_subset", 1)])
def test_invalid_settings(field, value):
    with pytest.raises(ValueError, match=field):
        ProxySettings(**{field: value})


def test_leaves_the_global_generator_and_threads_as_it_found_them(digits):
    torch.manual_seed(99)
    before, threads = torch.get_rng_state(), torch.get_num_threads()
    settings = ProxySettings(epochs=1, resolution=24, train_subset=64, batch_size=32, threads=1)
    first = train_proxy(CONFIG, digits, settings, seed=2)
    assert torch.equal(torch.get_rng_state(), before) and torch.get_num_threads() == threads
    torch.manual_seed(0)  # the global state going in does not matter either
    assert train_proxy(CONFIG, digits, settings, seed=2).curve == first.curve


@pytest.mark.parametrize("train_images,subset,epochs", [
    (50_000, 10_000, 1),  # CIFAR-10-sized: one epoch on a 10,000-image subset
    (10_001, 10_000, 1),
    (10_000, None, 1),  # all of it, once
    (6_000, None, 2),  # enough epochs to reach about 10,000 images
    (1_437, None, 4),  # the digits: capped at 4 epochs
])
def test_auto_proxy_settings_follow_the_dataset_size(train_images, subset, epochs):
    resolved = ProxySettings().resolve(train_images)
    assert (resolved.train_subset, resolved.epochs) == (subset, epochs)
    assert resolved.is_resolved and not ProxySettings().is_resolved


def test_given_proxy_settings_are_kept_and_only_auto_ones_chosen():
    assert ProxySettings(epochs=3).resolve(50_000).epochs == 3
    assert ProxySettings(train_subset=2_000).resolve(50_000).epochs == 4  # 2,000 images: 4 epochs reach 8,000
    assert ProxySettings(train_subset=None).resolve(50_000) == ProxySettings(train_subset=None, epochs=1)
    assert ProxySettings(train_subset="all").train_subset is None


@pytest.mark.parametrize("field,value", [("epochs", "some"), ("train_subset", "most"), ("train_subset", 1)])
def test_auto_and_all_are_the_only_words(field, value):
    with pytest.raises(ValueError, match=f"proxy {field}"):
        ProxySettings(**{field: value})


@pytest.mark.slow  # times proxy steps
def test_auto_settings_resolve_on_the_data_they_train(digits):
    # Unresolved settings reaching train_proxy are resolved against its data: 4 epochs on the digits.
    result = train_proxy(ArchConfig(num_classes=10, width=0.5, drop=(3, 5, 6, 8, 9, 10, 12, 13, 15, 16)), digits,
                         ProxySettings(resolution=digits.resolution, batch_size=128, threads=1))
    assert len(result.curve) == 4


def test_evaluating_only_after_the_last_epoch_gives_the_same_accuracy(digits):
    settings = ProxySettings(epochs=2, resolution=24, train_subset=128, batch_size=32, threads=1)
    every = train_proxy(CONFIG, digits, settings, seed=1)
    final = train_final_only(CONFIG, digits, settings, seed=1)
    assert len(every.curve) == 2 and final.curve == [every.accuracy] and final.accuracy == every.accuracy
    assert final.losses == every.losses and not final.stopped_early
    with pytest.raises(ValueError, match="stopping early needs the accuracy after every epoch"):
        train_proxy(CONFIG, digits, settings, on_epoch=lambda epoch, accuracy: False, curve=False)
