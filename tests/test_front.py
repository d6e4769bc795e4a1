"""Dominance and hypervolume on plain loss arrays: the one routine the front, the ledger and the history share."""

import numpy as np
import pytest

from ulsam_nas.front import hypervolume, hypervolume_history, non_dominated, weakly_dominates


def test_vectorised_front_matches_the_pairwise_definition():
    rng = np.random.default_rng(0)
    losses = rng.integers(0, 6, size=(60, 3)).astype(float)  # many ties
    expected = [not any((other <= point).all() and (other < point).any() for other in losses) for point in losses]
    assert non_dominated(losses).tolist() == expected
    assert weakly_dominates(np.array([1.0, 2.0]), np.array([1.0, 2.0])) and not weakly_dominates([1.0, 3.0], [2.0, 2.0])


def test_a_margin_keeps_points_beaten_by_less_than_it():
    losses = np.array([[-0.90, 100.0], [-0.89, 150.0], [-0.80, 160.0]])
    margins = np.full((3, 3), 0.05)
    assert non_dominated(losses).tolist() == [True, False, False]
    assert non_dominated(losses, margins).tolist() == [True, True, False]  # 1 point short of 0: within the margin


def test_hypervolume_in_the_unit_box():
    # (0.5, 0.25) and (0.0, 0.5): boxes of 0.375 and 0.5 that overlap in 0.25
    assert hypervolume(np.array([[0.5, 0.25], [0.0, 0.5]])) == pytest.approx(0.375 + 0.5 - 0.25)
    assert hypervolume(np.zeros((0, 2))) == 0.0 and hypervolume(np.array([[1.2, 0.1]])) == 0.0  # outside the box


def grid_volume(losses: np.ndarray) -> float:
    """Brute force: the union of the boxes [point, 1] cut into a grid at every coordinate, each cell checked."""
    if len(losses) == 0:
        return 0.0
    edges = [np.unique(np.append(axis, 1.0)) for axis in losses.T]
    lower = np.stack(np.meshgrid(*[e[:-1] for e in edges], indexing="ij"), axis=-1).reshape(-1, losses.shape[1])
    size = np.prod(np.stack(np.meshgrid(*[np.diff(e) for e in edges], indexing="ij"), axis=-1), axis=-1).ravel()
    covered = (losses[None, :, :] <= lower[:, None, :]).all(axis=2).any(axis=1)
    return float(size[covered].sum())


@pytest.mark.parametrize("dimensions", [2, 3])
@pytest.mark.parametrize("seed", range(6))
def test_history_equals_a_recomputation_for_every_prefix(dimensions, seed):
    rng = np.random.default_rng(seed)
    losses = rng.integers(0, 13, size=(40, dimensions)) / 10  # ties, duplicates, points outside the box
    usable = rng.random(40) > 0.3
    history = hypervolume_history(losses, usable)
    for count, value in enumerate(history, start=1):
        inside = losses[:count][usable[:count] & (losses[:count] < 1).all(axis=1)]
        assert value == pytest.approx(grid_volume(inside), rel=1e-12, abs=1e-15)
        assert value == pytest.approx(hypervolume(losses[:count][usable[:count]]), rel=1e-12, abs=1e-15)
    assert history == sorted(history) and history[-1] > 0
