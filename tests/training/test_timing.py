"""Timing a training run before it runs: a few steps of the real loop, and evaluation scaled to the images."""

import dataclasses

import pytest

from ulsam_nas import ArchConfig
from ulsam_nas.training import ProxySettings
from ulsam_nas.training.timing import time_training

PROXY = ProxySettings(epochs=1, resolution=16, batch_size=32, threads=1)
CONFIG = ArchConfig(width=0.35, num_classes=10, drop=[3, 5, 6, 8, 9, 10, 12, 13, 15, 16])


def test_time_is_positive_and_grows_with_epochs_and_images():
    short = time_training(CONFIG, PROXY, 10, train_images=96, val_images=40)
    long = time_training(CONFIG, dataclasses.replace(PROXY, epochs=6), 10, train_images=96, val_images=40)
    assert short.step_seconds > 0 and short.eval_seconds > 0 and short.other_seconds > 0
    assert short.steps_per_epoch == 3 and long.epochs == 6
    assert 0 < short.trial_seconds < long.trial_seconds
    assert long.with_run(epochs=2).training_seconds == pytest.approx(long.training_seconds / 3)
    assert long.with_run(train_images=32).trial_seconds < long.trial_seconds


def test_timing_leaves_no_trace_in_what_it_times():
    costed = []
    timed = time_training(CONFIG, PROXY, 10, 96, 40, measure=costed.append, trains=False)
    assert costed == [CONFIG] and timed.epochs == 0 and timed.training_seconds == 0
