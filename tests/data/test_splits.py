"""Stratified validation splits and seeded subsets."""

import torch

from ulsam_nas.data.splits import split_and_subset, stratified_split, subset


def test_stratified_split_takes_the_fraction_of_every_class_and_keeps_singletons_for_training():
    labels = torch.tensor([0] * 10 + [1] * 5 + [2])
    train, val = stratified_split(labels, 0.2, seed=0)
    assert sorted(torch.cat([train, val]).tolist()) == list(range(16))  # disjoint and complete
    assert [int((labels[val] == c).sum()) for c in (0, 1, 2)] == [2, 1, 0]  # 20% of 10, at least 1 of 5, none of 1
    assert torch.equal(stratified_split(labels, 0.2, seed=0)[1], val)
    assert any(not torch.equal(stratified_split(labels, 0.2, seed=s)[1], val) for s in range(1, 5))


def test_subset_is_seeded_sorted_and_everything_without_a_limit():
    assert torch.equal(subset(5, None, 0), torch.arange(5)) and torch.equal(subset(5, 9, 0), torch.arange(5))
    chosen = subset(100, 10, seed=3)
    assert len(chosen) == 10 and torch.equal(chosen, chosen.sort().values) and torch.equal(chosen, subset(100, 10, 3))


def test_split_and_subset_reports_the_training_images_before_the_subset():
    labels = torch.arange(40) % 4
    train, val, before = split_and_subset(labels, 0.25, (6, 2), seed=0)
    assert (len(train), len(val), before) == (6, 2, 32)  # 2 of each class of 10 to val (round(2.5) is 2)
    assert not set(train.tolist()) & set(val.tolist())
