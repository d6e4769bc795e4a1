"""Block tables: stages (the canonical space's depth units), feature sizes, ULSAM slots and subspace counts."""

import pytest

from ulsam_nas.backbones import (MIN_PROXY_MAP, backbone_blocks, backbone_stages, describe_blocks, feature_sizes,
                                 make_divisible, valid_subspaces)


@pytest.mark.parametrize("backbone", ["mobilenet_v2", "mobilenet_v1"])
def test_stages_cover_every_block_once_and_hold_exactly_the_droppable_ones(backbone):
    stages = backbone_stages(backbone)
    blocks = backbone_blocks(backbone)
    assert [b for stage in stages for b in stage.blocks] == [spec.index for spec in blocks]
    assert [b for stage in stages for b in stage.droppable] == [spec.index for spec in blocks if spec.droppable]
    for stage in stages:  # the blocks a stage may drop have its first block's output shape
        first = blocks[stage.first]
        assert all(blocks[b].in_channels == blocks[b].out_channels == first.out_channels and blocks[b].stride == 1
                   for b in stage.droppable)


def test_mobilenet_v2_stages_are_the_papers_bottleneck_groups():
    assert [stage.blocks for stage in backbone_stages("mobilenet_v2")] == [
        (0,), (1,), (2, 3), (4, 5, 6), (7, 8, 9, 10), (11, 12, 13), (14, 15, 16), (17,), (18,)]


def test_feature_sizes_at_the_deployment_and_proxy_resolutions():
    blocks = backbone_blocks("mobilenet_v2")
    assert feature_sizes(blocks, 224)[-1] == 7 and feature_sizes(blocks, 224)[4] == 28
    at_32 = feature_sizes(blocks, 32)
    assert at_32[7:14] == [2] * 7 and at_32[14:18] == [1] * 4  # why late ULSAM is a constant scale at 32 px
    assert feature_sizes(blocks, 57)[0] == 29  # odd sizes round up, as a 3x3 convolution with padding 1 does


def test_ulsam_is_searchable_only_where_both_maps_are_big_enough():
    rows = {row["index"]: row for row in describe_blocks("mobilenet_v2", 1.0, 224, proxy_resolution=48)}
    assert rows[13]["proxy_feature_size"] == MIN_PROXY_MAP and rows[13]["ulsam_searchable"]
    assert rows[14]["proxy_feature_size"] == 2 and not rows[14]["ulsam_searchable"]
    assert rows[16]["stage"] == 14 and rows[16]["feature_size"] == 7
    at_deployment_1x1 = {row["index"]: row for row in describe_blocks("mobilenet_v2", 1.0, 32, proxy_resolution=224)}
    assert not at_deployment_1x1[15]["ulsam_searchable"]  # 1x1 where it ships: never searched


def test_channel_rounding_and_subspace_counts():
    assert make_divisible(0.75 * 16) == 16 and make_divisible(0.75 * 24) == 24  # never below 90% of the target
    assert make_divisible(0.5 * 32) == 16 and make_divisible(3) == 8
    assert valid_subspaces(24, (1, 2, 4, 8, 16)) == [1, 2, 4, 8]
    assert valid_subspaces(12) == [1, 2, 3, 4, 6, 12]
