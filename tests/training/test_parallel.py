"""Trainings side by side: the same results as one after another, failures reported, the split chosen per device."""

import multiprocessing
import os
from concurrent.futures.process import BrokenProcessPool

import pytest

from ulsam_nas import ArchConfig
from ulsam_nas.data import load_dataset
from ulsam_nas.training import ProxySettings, TrainingDiverged, train_proxy
from ulsam_nas.training.parallel import MAX_PROCESSES, side_by_side, train_jobs

SETTINGS = ProxySettings(epochs=1, resolution=16, train_subset=96, batch_size=32, threads=1)
CONFIGS = [ArchConfig(num_classes=10, width=0.35, drop=[15, 16]),
           ArchConfig(num_classes=10, width=0.35, drop=[13, 15, 16], ulsam=[{"after": 12, "subspaces": 4}])]


def diverges_on_seed_9(config, data, settings, seed):
    """train_proxy, except that seed 9 diverges (module level: spawned workers import it)."""
    if seed == 9:
        raise TrainingDiverged("loss became nan at step 1")
    return train_proxy(config, data, settings, seed=seed)


def dies_on_seed_7(config, data, settings, seed):
    """train_proxy, except that seed 7's process dies (killed, out of memory)."""
    if seed == 7:
        os._exit(1)
    return train_proxy(config, data, settings, seed=seed)


@pytest.mark.parametrize("device, threads, runs, processes, cores, expected", [
    ("cpu", None, 16, None, 2, (2, 1)),  # one single-threaded run per core
    ("cpu", 2, 16, None, 2, (1, 2)),  # the threads asked for fill the cores: one at a time
    ("cpu", 2, 16, None, 8, (4, 2)),
    ("cpu", None, 1, None, 2, (1, None)),  # one run: alone, on PyTorch's threads
    ("cpu", None, 100, None, 64, (MAX_PROCESSES, 64 // MAX_PROCESSES)),  # at most 8, sharing the cores
    ("cpu", None, 16, 3, 2, (3, 1)),  # asked for: as many as asked, sharing the cores
    ("cpu", None, 16, 2, 8, (2, 4)),
    ("cuda", None, 16, None, 16, (1, None)),  # a GPU trains one at a time
    ("cuda", None, 16, 2, 16, (2, 8)),
])
def test_side_by_side_splits_the_cores(device, threads, runs, processes, cores, expected):
    assert side_by_side(device, threads, runs, processes, cores=cores) == expected


@pytest.mark.slow  # starts worker processes
def test_side_by_side_trains_what_one_at_a_time_trains_and_reports_divergence():
    data = load_dataset("digits", resolution=16)
    jobs = [(0, CONFIGS[0], 0), (1, CONFIGS[1], 0), (0, CONFIGS[0], 9), (1, CONFIGS[1], 1)]
    alone = {(n, s): r for n, s, r in train_jobs(jobs, data, SETTINGS, diverges_on_seed_9, processes=1)}
    together = {(n, s): r for n, s, r in train_jobs(jobs, data, SETTINGS, diverges_on_seed_9, processes=2)}
    assert sorted(together) == sorted(alone) == sorted((n, s) for n, _, s in jobs)
    assert together[0, 9] == alone[0, 9] == "loss became nan at step 1"
    for key in [(0, 0), (1, 0), (1, 1)]:  # single-threaded in both: the same arithmetic, the same numbers
        assert together[key].curve == alone[key].curve and 0 <= together[key].accuracy <= 1


@pytest.mark.slow  # starts worker processes
def test_a_worker_that_dies_fails_the_runs_instead_of_leaving_them_waiting():
    data = load_dataset("digits", resolution=16)
    with pytest.raises(BrokenProcessPool):
        list(train_jobs([(0, CONFIGS[0], 7), (1, CONFIGS[1], 0)], data, SETTINGS, dies_on_seed_7, processes=2))
    assert multiprocessing.active_children() == []


@pytest.mark.slow  # starts worker processes
def test_a_caller_that_stops_early_leaves_no_run_training():
    outcomes = train_jobs([(0, CONFIGS[0], seed) for seed in range(4)], load_dataset("digits", resolution=16),
                          SETTINGS, train_proxy, processes=2)
    number, seed, result = next(outcomes)
    assert number == 0 and 0 <= result.accuracy <= 1
    outcomes.close()  # as on Ctrl-C: the runs still training are stopped
    assert multiprocessing.active_children() == []
