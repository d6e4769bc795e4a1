"""Rank agreement: Kendall tau as scipy computes it, with a bootstrap interval around it."""

import numpy as np
import pytest
from scipy import stats

from ulsam_nas.ranks import RankAgreement, bootstrap_interval, kendall_tau, rank_agreement, top_recall


def test_kendall_tau_matches_scipy_with_ties():
    rng = np.random.default_rng(1)
    for _ in range(20):
        x, y = rng.integers(0, 4, 9).astype(float), rng.integers(0, 4, 9).astype(float)
        expected = stats.kendalltau(x, y).statistic
        assert kendall_tau(x, y) == pytest.approx(0.0 if np.isnan(expected) else expected)


def test_bootstrap_interval_contains_the_point_estimate():
    rng = np.random.default_rng(0)
    proxy = rng.uniform(0.9, 0.99, 8)
    refined = proxy + rng.normal(0, 0.02, 8)
    (agreement,) = rank_agreement(refined, {"proxy accuracy": proxy})
    assert agreement.low <= agreement.tau <= agreement.high and agreement.count == 8
    assert -1 <= agreement.low < agreement.high <= 1
    assert bootstrap_interval(proxy, refined) == bootstrap_interval(proxy, refined)  # seeded: repeatable
    assert bootstrap_interval([1, 2], [2, 1]) == (-1.0, 1.0)  # too few to say anything


def test_the_proxy_must_beat_flops_in_either_direction():
    proxy = RankAgreement("proxy accuracy", 0.3, -0.2, 0.7, 8)
    assert proxy.beats(RankAgreement("FLOPs alone", 0.1, -0.4, 0.6, 8))
    assert not proxy.beats(RankAgreement("FLOPs alone", -0.5, -0.8, 0.1, 8))


def test_top_recall_counts_the_targets_best_among_the_predictors_best():
    target = [0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3]
    assert top_recall(target, target) == 3
    assert top_recall([-t for t in target], target) == 1  # reversed: of the best three only the third, ranked fifth
    assert top_recall([0.1, 0.9, 0.2, 0.8, 0.7, 0.6, 0.5], target) == 1  # the best and the third ranked last: 1 kept
    assert top_recall([0.7, 0.9, 0.2, 0.8, 0.1, 0.6, 0.5], target) == 2  # only the third falls out of the top 5
    assert top_recall([0.1, 0.9, 0.2, 0.8, 0.7, 0.6, 0.5], target, k=3, among=7) == 3
