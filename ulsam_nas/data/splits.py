"""Held-out validation splits and seeded subsets: one rule for every dataset."""

from __future__ import annotations

import torch

__all__ = ["split_and_subset", "stratified_split", "subset"]


def stratified_split(labels: torch.Tensor, fraction: float, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Indices (train, val): ``fraction`` of every class with 2+ images goes to val."""
    generator = torch.Generator().manual_seed(seed)
    train, val = [], []
    for label in labels.unique():
        members = (labels == label).nonzero().flatten()
        members = members[torch.randperm(len(members), generator=generator)]
        count = 0 if len(members) < 2 else max(1, round(len(members) * fraction))
        val.append(members[:count])
        train.append(members[count:])
    return torch.cat(train).sort().values, torch.cat(val).sort().values


def subset(count: int, limit: int | None, seed: int) -> torch.Tensor:
    """Sorted indices of a seeded subset of at most ``limit`` of ``count`` items (all of them without a limit)."""
    order = torch.randperm(count, generator=torch.Generator().manual_seed(seed))
    return order[:limit].sort().values if limit is not None and limit < count else torch.arange(count)


def split_and_subset(labels: torch.Tensor, val_fraction: float, limits: tuple[int | None, int | None],
                     seed: int) -> tuple[torch.Tensor, torch.Tensor, int]:
    """A stratified validation split of ``labels``, then seeded subsets of at most ``limits`` (train, val).

    Returns (train indices, val indices, training images before the subset).
    """
    train, val = stratified_split(labels, val_fraction, seed)
    return train[subset(len(train), limits[0], seed)], val[subset(len(val), limits[1], seed)], len(train)
