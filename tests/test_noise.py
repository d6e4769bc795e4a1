"""How sure an accuracy is: the noise statistics and when a difference counts, on hand-made numbers."""

import math

import pytest

from ulsam_nas.noise import NoiseEstimate, difference_margin, is_on_par, pooled_std, uncertainty


def test_a_difference_counts_only_beyond_the_margin():
    # sigma 1.0 point each: the difference has 1.41 points of uncertainty and must exceed 2.83 points
    assert is_on_par(0.014, 0.01, 0.01) and is_on_par(-0.02, 0.01, 0.01)
    assert not is_on_par(0.031, 0.01, 0.01) and not is_on_par(-0.05, 0.01, 0.01)
    assert not is_on_par(0.0, math.nan, math.nan)  # nothing known: never called on par


def test_the_margin_is_two_sqrt_two_sigma_for_equal_uncertainties():
    assert difference_margin(0.01, 0.01) == pytest.approx(2 * math.sqrt(2) * 0.01)
    assert difference_margin(0.03, 0.04) == pytest.approx(0.10)


def test_noise_estimate_combines_the_seed_spread_and_the_binomial_error():
    noise = NoiseEstimate(validation_images=359, accuracies=(0.322, 0.440, 0.280), seeds=(0, 1, 2))
    assert noise.measured and noise.seed_std == pytest.approx(0.0830, abs=1e-4)
    p = (0.322 + 0.440 + 0.280) / 3
    assert noise.binomial_se == pytest.approx(math.sqrt(p * (1 - p) / 359))
    assert noise.sigma == pytest.approx(math.hypot(noise.seed_std, noise.binomial_se))
    assert noise.margin == pytest.approx(2 * math.sqrt(2) * noise.sigma)
    assert NoiseEstimate.from_dict(noise.to_dict()) == noise


def test_without_seeds_only_the_binomial_error_and_it_says_so():
    noise = NoiseEstimate(validation_images=400, reason="--noise-seeds 1: fewer than 2 seeds")
    assert not noise.measured and noise.seed_std is None
    assert noise.sigma_of(0.5) == pytest.approx(0.025)
    assert NoiseEstimate.from_dict(None, 359) == NoiseEstimate.unmeasured(359) and "made before" in \
        NoiseEstimate.unmeasured(359).reason


def test_uncertainty_of_a_mean_of_seeds_and_pooled_spread():
    assert uncertainty(0.5, 0.04, 400, runs=4) == pytest.approx(math.sqrt(0.02 ** 2 + 0.025 ** 2))
    assert list(uncertainty([0.0, 1.0], None, 100)) == [0.0, 0.0]
    assert math.isnan(uncertainty(0.5, None, None))
    assert pooled_std([[0.5, 0.7], [0.1, 0.1], [0.3]]) == pytest.approx(math.sqrt(0.02 / 2))
    assert pooled_std([[0.5]]) is None
