"""Pareto fronts and hypervolumes over points given as losses (every column: smaller is better).

The one dominance routine of the package: the study's front (``report.py``), the search's running
front (``search/ledger.py``) and the hypervolume history all use :func:`weakly_dominates` and
:func:`non_dominated`. Plain NumPy: no trials, no tables, no words.
"""

from __future__ import annotations

import numpy as np

__all__ = ["dominated_volume", "hypervolume", "hypervolume_history", "non_dominated", "weakly_dominates"]


def weakly_dominates(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Whether ``a`` is no worse than ``b`` in every column (broadcast over leading axes)."""
    return (np.asarray(a) <= np.asarray(b)).all(axis=-1)


def non_dominated(losses: np.ndarray, margins: np.ndarray | None = None, column: int = 0) -> np.ndarray:
    """Boolean mask of the rows no other row dominates.

    j dominates i when it is no worse everywhere and better somewhere. With ``margins`` ([j, i]: how much
    row j must beat row i in ``column``, the accuracy's noise margin), j dominates i only when it is also
    better in ``column`` by more than the margin; a zero margin is plain dominance.
    """
    losses = np.asarray(losses, dtype=float)
    if len(losses) == 0:
        return np.zeros(0, dtype=bool)
    no_worse = weakly_dominates(losses[:, None, :], losses[None, :, :])  # [j, i]
    better = (losses[:, None, :] < losses[None, :, :]).any(axis=2)
    dominates = no_worse & better
    if margins is not None:
        gain = losses[None, :, column] - losses[:, None, column]  # [j, i]: how much j beats i in the column
        dominates &= (gain > margins) | (margins == 0)
    return ~dominates.any(axis=0)


def hypervolume(losses: np.ndarray) -> float:
    """Volume dominated by ``losses`` inside the unit box [0, 1]^d (losses already scaled to it; rows outside add
    nothing). A perfect point at the origin scores 1."""
    losses = np.asarray(losses, dtype=float)
    if losses.size == 0:
        return 0.0
    inside = losses[(losses < 1.0).all(axis=1)]
    return dominated_volume(inside) if len(inside) else 0.0


def dominated_volume(losses: np.ndarray, is_front: bool = False) -> float:
    """Volume dominated by ``losses`` (all < 1) inside the unit box: exact, by slicing the last axis.

    Two objectives cost one sort (O(n log n)), three a sort per slice (O(n^2 log n)). ``is_front``: no row
    dominates another already (skips that check).
    """
    if losses.shape[1] == 1:
        return float(1.0 - losses[:, 0].min())
    if losses.shape[1] == 2:
        return _area(losses)
    losses = losses if is_front else losses[non_dominated(losses)]
    losses = losses[losses[:, -1].argsort()]
    widths = np.append(losses[1:, -1], 1.0) - losses[:, -1]
    return float(sum(width * dominated_volume(losses[: i + 1, :-1]) for i, width in enumerate(widths) if width > 0))


def _area(losses: np.ndarray) -> float:
    """Two objectives: sorted by the second loss, the staircase keeps each point whose first loss beats all before it."""
    losses = losses[np.lexsort((losses[:, 0], losses[:, 1]))]
    losses = losses[losses[:, 0] < np.minimum.accumulate(np.append(np.inf, losses[:-1, 0]))]
    widths = np.append(losses[1:, 1], 1.0) - losses[:, 1]
    return float(sum((widths * (1.0 - losses[:, 0])).tolist()))  # summed in order, as slab after slab


def hypervolume_history(losses: np.ndarray, usable: np.ndarray) -> list[float]:
    """Hypervolume of the front of the first n points, for every n (points in arrival order; unusable ones add
    nothing). Incremental: the front is kept as points arrive and the volume recomputed only when a point lands
    outside what the front dominates already."""
    losses = np.asarray(losses, dtype=float)
    front, volume, volumes = np.zeros((0, losses.shape[1] if losses.ndim == 2 else 0)), 0.0, []
    for point, use in zip(losses, usable):
        if use and (point < 1.0).all() and not weakly_dominates(front, point).any():
            front = np.vstack([front[~weakly_dominates(point, front)], point])
            volume = dominated_volume(front, is_front=True)
        volumes.append(volume)
    return volumes
