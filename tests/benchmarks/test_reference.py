"""The reference's networks: what the issue asks of the ground truth, each a network of the bundled space."""

import pytest

from benchmarks.reference import (NETWORKS, SECOND_SEED, expected_seed_tau, key, recipe, runs_of, size_predictors, spiked,
                                  spread_within_width, truth)
from ulsam_nas.space import load_space
from ulsam_nas.training.settings import TrainSettings


def test_twelve_or_more_canonical_networks_of_the_bundled_space_over_three_widths():
    space = load_space("mobilenet_v2")
    assert len(NETWORKS) >= 12 and {c.width for c in NETWORKS.values()} == set(space.widths)
    for name, config in NETWORKS.items():
        assert config == config.canonical(), name  # one encoding per network
        assert space.params_for(config) is not None, name  # every evaluator can score it, the supernet too
    drops = [len(c.drop) for c in NETWORKS.values()]
    assert min(drops) == 0 and max(drops) == len(space.drop)  # full depth to every droppable block dropped
    assert len(SECOND_SEED) >= 4 and set(SECOND_SEED) <= set(NETWORKS)
    assert runs_of()[: len(NETWORKS)] == [f"{name}|0" for name in NETWORKS]  # first seeds first


def test_a_results_file_holds_one_recipe_and_the_clip_is_part_of_it():
    assert recipe(TrainSettings())["grad_clip"] == 10.0
    assert recipe(TrainSettings(grad_clip=None)) != recipe(TrainSettings())


RECIPE = {"warmup": 0.1, "grad_clip": 10.0}


def _run(top1: float, norms: list[float]) -> dict:
    return {"top1": [top1], "grad_norm_max": norms}


def test_a_run_spiked_when_its_gradient_passed_twice_the_clip_in_two_epochs_after_the_warm_up():
    calm = [30.0, 25.0] + [8.0] * 18  # large norms during the warm-up (2 of 20 epochs) are not spikes
    assert not spiked(_run(0.8, calm), RECIPE)
    assert not spiked(_run(0.8, calm[:10] + [35.0] + calm[11:]), RECIPE)  # one epoch is not enough
    assert spiked(_run(0.7, calm[:10] + [35.0, 8.0, 50.0] + calm[13:]), RECIPE)
    assert not spiked(_run(0.7, [50.0] * 20), {"warmup": 0.1, "grad_clip": None})  # nothing clipped: no measure
    assert not spiked({"top1": [0.8]}, RECIPE)  # runs stored before the norms were kept


def test_the_truth_takes_seed_one_only_where_seed_zero_spiked_and_seed_one_did_not():
    a, b, c = list(NETWORKS)[:3]
    calm, spiky = [8.0] * 20, [8.0] * 5 + [40.0] * 3 + [8.0] * 12
    store = {"recipe": RECIPE, "runs": {key(a, 0): _run(0.66, spiky), key(a, 1): _run(0.77, calm),
                                        key(b, 0): _run(0.80, calm), key(b, 1): _run(0.81, calm),
                                        key(c, 0): _run(0.60, spiky), key(c, 1): _run(0.59, spiky)}}
    chosen = truth(store)
    assert {n: run["top1"][-1] for n, run in chosen.items()} == {a: 0.77, b: 0.80, c: 0.60}


def test_the_expected_seed_to_seed_tau_falls_as_the_seed_noise_grows_against_the_spread():
    top1 = [0.70 + 0.01 * i for i in range(10)]
    assert expected_seed_tau(top1, 1e-6, draws=50) == 1.0  # no noise: the same ranking twice
    quiet, loud = expected_seed_tau(top1, 0.005, draws=300), expected_seed_tau(top1, 0.05, draws=300)
    assert 0.5 < quiet < 1.0 and abs(loud) < quiet - 0.3


def test_the_size_predictors_rank_by_cost_and_width_without_training():
    names = ["w1.0 vanilla", "w1.0 drop all 10", "w0.5 vanilla"]
    sizes = size_predictors(names)
    assert set(sizes) == {"FLOPs alone", "params alone", "width alone"}
    assert sizes["width alone"] == [1.0, 1.0, 0.5]
    assert sizes["FLOPs alone"][0] > sizes["FLOPs alone"][1] > sizes["FLOPs alone"][2]


def test_the_spread_within_a_width_ignores_the_differences_between_widths():
    names = ["w1.0 vanilla", "w1.0 drop all 10", "w0.5 vanilla", "w0.5 drop all 10"]
    assert spread_within_width(names, [0.80, 0.78, 0.50, 0.46]) == pytest.approx(0.03)  # (0.02 + 0.04) / 2
    assert spread_within_width(names, [0.80, 0.80, 0.50, 0.50]) == 0


def test_a_run_records_the_threads_it_trained_on():
    import torch

    from benchmarks.reference import machine

    before = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        assert ", 2 threads per run, torch " in machine("cpu")
        torch.set_num_threads(1)
        assert ", 1 thread per run, torch " in machine("cpu")
    finally:
        torch.set_num_threads(before)
