"""The supernet: its children are build_model's networks with its weights; BatchNorm recalibration; refusals."""

import random

import pytest
import torch

from ulsam_nas import ArchConfig, build_model
from ulsam_nas.space import SearchSpace
from ulsam_nas.supernet import Supernet
from ulsam_nas.training.loop import recalibrate_batchnorm

SPACE = SearchSpace(name="small", backbone="mobilenet_v2", widths=(0.35, 0.5), drop=(3, 5, 6, 12, 13, 15, 16),
                    ulsam_after=(4, 6, 10, 13), subspaces=(1, 2, 4, 8))


@pytest.fixture(scope="module")
def supernet():
    torch.manual_seed(0)
    net = Supernet(SPACE, 0.5, num_classes=3)
    with torch.no_grad():  # running statistics that differ per layer, so that copying them matters
        net.train()
        net.sample_each_step(0)
        for _ in range(3):
            net(torch.randn(4, 3, 64, 64))
    return net.eval()


def children(count: int, seed: int = 1):
    rng = random.Random(seed)
    return [SPACE.sample(rng, 3, width=0.5) for _ in range(count)] + [SPACE.largest(3, 0.5), SPACE.cheapest(3, 0.5)]


@pytest.mark.parametrize("index", range(6))
def test_a_child_is_the_stand_alone_network_with_the_supernets_weights(supernet, index):
    config = children(4)[index]
    child = supernet.child(config)
    alone = build_model(config)
    assert [(k, v.shape) for k, v in child.state_dict().items()] == [(k, v.shape) for k, v in alone.state_dict().items()]
    supernet.select(config)
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(child.eval()(x), supernet(x))


def test_equal_encodings_are_one_child(supernet):
    one = ArchConfig(width=0.5, num_classes=3, drop=[5])
    other = ArchConfig(width=0.5, num_classes=3, drop=[6])  # the same network (a stage keeps its first blocks)
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(supernet.child(one).eval()(x), supernet.child(other).eval()(x))


def test_a_selected_child_trains_only_its_own_weights():
    net = Supernet(SPACE, 0.5, num_classes=3).train()
    config = ArchConfig(width=0.5, num_classes=3, drop=[12, 13], ulsam=[{"after": 6, "subspaces": 2}])
    net.select(config)
    net(torch.randn(4, 3, 64, 64)).sum().backward()
    grads = {name: p.grad is not None for name, p in net.named_parameters()}
    assert not any(g for name, g in grads.items() if name.startswith(("body.features.12.", "body.features.13.")))
    assert grads["attention.6_2.pointwise.weight"] and not grads["attention.6_4.pointwise.weight"]
    assert not grads["attention.10_2.pointwise.weight"] and grads["body.features.11.block.conv.0.0.weight"]


def test_sampling_each_step_draws_children_reproducibly():
    def drawn(seed):
        net = Supernet(SPACE, 0.35, num_classes=3).train()
        net.sample_each_step(seed)
        return [net._sampler() for _ in range(5)]  # the draws forward() makes, one per step
    assert drawn(0) == drawn(0) and drawn(0) != drawn(1)
    assert len({c.to_json() for c in drawn(0)}) > 1


def test_the_sandwich_rule_trains_the_largest_the_smallest_and_two_drawn_children_each_step():
    net = Supernet(SPACE, 0.35, num_classes=3).train()
    net.sample_each_step(0, "sandwich")
    passes = [net._sampler() for _ in range(8)]  # two steps of four passes
    largest, smallest = SPACE.largest(3, 0.35), SPACE.cheapest(3, 0.35)
    assert passes[0] == passes[4] == largest and passes[1] == passes[5] == smallest
    assert smallest.width == 0.35 and not smallest.ulsam and len(smallest.drop) == len(SPACE.drop)
    assert len({c.to_json() for c in passes[2:4] + passes[6:8]}) > 1  # the others are drawn
    with pytest.raises(ValueError, match="unknown rule 'greedy'"):
        net.sample_each_step(0, "greedy")


def test_batchnorm_recalibration_changes_only_batchnorm_statistics(supernet):
    child = supernet.child(children(1)[0])
    before = {k: v.clone() for k, v in child.state_dict().items()}
    images = torch.randint(0, 256, (32, 3, 64, 64), dtype=torch.uint8)
    recalibrate_batchnorm(child, images, torch.full((3,), 0.5), torch.full((3,), 0.25), count=32, batch_size=16)
    after = child.state_dict()
    statistics = [k for k in after if k.endswith(("running_mean", "running_var", "num_batches_tracked"))]
    assert all(torch.equal(before[k], after[k]) for k in after if k not in statistics)
    assert any(not torch.equal(before[k], after[k]) for k in statistics if k.endswith("running_mean"))


def test_a_network_the_supernet_does_not_hold_is_refused_in_one_line(supernet):
    for config, words in [(ArchConfig(width=0.35, num_classes=3), "width 0.5"),
                          (ArchConfig(width=0.5, num_classes=10), "3 classes"),
                          (ArchConfig(width=0.5, num_classes=3, drop=[8]), "not a network of the space"),
                          (ArchConfig(width=0.5, num_classes=3, ulsam=[{"after": 7, "subspaces": 2}]),
                           "not a network of the space")]:
        with pytest.raises(ValueError, match=words) as error:
            supernet.child(config)
        assert "\n" not in str(error.value)
    with pytest.raises(ValueError, match="not one of the space's widths"):
        Supernet(SPACE, 1.0, num_classes=3)


@pytest.fixture(scope="module")
def sliced():
    """One supernet of both widths: the narrower children run on the first channels of the wider weights."""
    torch.manual_seed(0)
    net = Supernet(SPACE, None, num_classes=3)
    with torch.no_grad():
        net.train()
        net.sample_each_step(0)
        for _ in range(3):
            net(torch.randn(4, 3, 32, 32))
    return net.eval()


@pytest.mark.parametrize("width", SPACE.widths)
def test_a_channel_sliced_child_is_the_stand_alone_network_with_the_first_channels(sliced, width):
    rng = random.Random(width)
    for config in [SPACE.sample(rng, 3, width=width), SPACE.largest(3, width)]:
        child = sliced.child(config)
        assert [(k, v.shape) for k, v in child.state_dict().items()] == \
               [(k, v.shape) for k, v in build_model(config).state_dict().items()]
        sliced.select(config)
        x = torch.randn(2, 3, 32, 32)
        with torch.no_grad():
            torch.testing.assert_close(child.eval()(x), sliced(x))
    first = sliced.body.features[1].block.conv[0][0].weight  # the 3x3 depthwise of block 1, at the widest
    narrow = sliced.child(SPACE.largest(3, width)).features[1].block.conv[0][0].weight
    torch.testing.assert_close(narrow, first[: len(narrow)])


def test_a_narrow_child_trains_the_first_channels_of_the_shared_weights_only():
    net = Supernet(SPACE, None, num_classes=3).train()
    assert not any(key.startswith("_narrower") for key in net.state_dict())  # shapes only, never saved
    net.select(SPACE.cheapest(3, 0.35))
    net(torch.randn(4, 3, 32, 32)).sum().backward()
    narrow = ArchConfig(width=0.35).blocks[17].out_channels  # 112 of block 17's 160 output channels at 0.5
    projection = net.body.features[17].block.conv[-2].weight.grad
    assert projection[:narrow].abs().sum() > 0 and projection[narrow:].abs().sum() == 0
    assert net.attention["4_2_w0_5"].pointwise.weight.grad is None
    with pytest.raises(ValueError, match=r"widths \[0.35, 0.5\]"):
        net.child(ArchConfig(width=1.0, num_classes=3))
