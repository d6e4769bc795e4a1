"""Backbone block tables: MobileNet-V1 and MobileNet-V2 as data.

Each backbone is a list of numbered blocks, numbered from the input as
``ulsam-nas blocks`` lists them. Block 0 is the stem convolution.

* MobileNet-V1 (Howard et al., 2017, Table 1): blocks 1-13 are the
  depthwise-separable layers.
* MobileNet-V2 (Sandler et al., 2018, Table 2): blocks follow torchvision's
  ``features`` numbering: 1-17 are inverted residuals, 18 the final 1x1 conv.

Widths are applied like torchvision does (channels rounded to multiples of 8),
so the vanilla networks match the published parameter counts.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

__all__ = ["DEFAULT_RESOLUTION", "BlockSpec", "BACKBONES", "Stage", "backbone_blocks", "backbone_stages",
           "classifier_channels", "describe_blocks", "feature_sizes", "make_divisible", "valid_subspaces"]

DEFAULT_RESOLUTION = 224  # the deployment input size costs are counted at, unless a user says otherwise

STEM = "conv3x3"
DEPTHWISE_SEPARABLE = "depthwise_separable"
INVERTED_RESIDUAL = "inverted_residual"
POINTWISE = "conv1x1"


@dataclass(frozen=True)
class BlockSpec:
    """One numbered block of a backbone, after the width multiplier is applied."""

    index: int
    kind: str
    in_channels: int
    out_channels: int
    stride: int
    expand_ratio: int = 1

    @property
    def droppable(self) -> bool:
        """Only shape-preserving blocks can be removed without breaking the network."""
        return self.index > 0 and self.stride == 1 and self.in_channels == self.out_channels


def make_divisible(value: float, divisor: int = 8) -> int:
    """Round a channel count to a multiple of ``divisor`` (torchvision's rule)."""
    rounded = max(divisor, int(value + divisor / 2) // divisor * divisor)
    if rounded < 0.9 * value:  # never round down by more than 10%
        rounded += divisor
    return rounded


# MobileNet-V1, Table 1: (output channels, stride) of each depthwise-separable layer.
_V1_STEM = 32
_V1_LAYERS = [(64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2)] + [(512, 1)] * 5 + [(1024, 2), (1024, 1)]

# MobileNet-V2, Table 2: expansion t, output channels c, repeats n, first stride s.
_V2_STEM = 32
_V2_STAGES = [(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1)]
_V2_LAST = 1280


def _mobilenet_v1(width: float) -> tuple[BlockSpec, ...]:
    channels = make_divisible(_V1_STEM * width)
    blocks = [BlockSpec(0, STEM, 3, channels, 2)]
    for index, (out, stride) in enumerate(_V1_LAYERS, start=1):
        out = make_divisible(out * width)
        blocks.append(BlockSpec(index, DEPTHWISE_SEPARABLE, channels, out, stride))
        channels = out
    return tuple(blocks)


def _mobilenet_v2(width: float) -> tuple[BlockSpec, ...]:
    channels = make_divisible(_V2_STEM * width)
    blocks = [BlockSpec(0, STEM, 3, channels, 2)]
    for expand, out, repeats, first_stride in _V2_STAGES:
        out = make_divisible(out * width)
        for repeat in range(repeats):
            stride = first_stride if repeat == 0 else 1
            blocks.append(BlockSpec(len(blocks), INVERTED_RESIDUAL, channels, out, stride, expand))
            channels = out
    last = make_divisible(_V2_LAST * max(1.0, width))
    blocks.append(BlockSpec(len(blocks), POINTWISE, channels, last, 1))
    return tuple(blocks)


BACKBONES = {"mobilenet_v1": _mobilenet_v1, "mobilenet_v2": _mobilenet_v2}


@lru_cache(maxsize=None)
def backbone_blocks(backbone: str, width: float = 1.0) -> tuple[BlockSpec, ...]:
    """The numbered blocks of ``backbone`` at width multiplier ``width``."""
    if backbone not in BACKBONES:
        raise ValueError(f"backbone: unknown backbone {backbone!r}; valid: {', '.join(sorted(BACKBONES))}")
    if not width > 0:
        raise ValueError(f"width: must be > 0, got {width}")
    return BACKBONES[backbone](width)


@dataclass(frozen=True)
class Stage:
    """A block that changes shape (stride 2 or new channels) and the droppable blocks of the same shape after it.

    The droppable blocks of a stage are interchangeable (same channels, stride 1, expansion): a network keeps
    some number of them, its depth, and the canonical network keeps the first ones (Once-for-All's elastic depth).
    """

    blocks: tuple[int, ...]

    @property
    def first(self) -> int:
        return self.blocks[0]

    @property
    def droppable(self) -> tuple[int, ...]:
        return self.blocks[1:]


@lru_cache(maxsize=None)
def backbone_stages(backbone: str) -> tuple[Stage, ...]:
    """The backbone's blocks grouped into stages (the same at every width: widths scale channels alike)."""
    groups: list[list[int]] = []
    for spec in backbone_blocks(backbone, 1.0):
        if spec.droppable and groups:
            groups[-1].append(spec.index)
        else:
            groups.append([spec.index])
    return tuple(Stage(tuple(group)) for group in groups)


def classifier_channels(backbone: str, width: float = 1.0) -> int:
    """Channels entering the classifier (the last block's output)."""
    return backbone_blocks(backbone, width)[-1].out_channels


def feature_sizes(blocks: tuple[BlockSpec, ...], resolution: int) -> list[int]:
    """Spatial size of each block's output for a square input of ``resolution`` pixels."""
    sizes, size = [], resolution
    for block in blocks:
        # 3x3 convs with padding 1: ceil division, as PyTorch computes it
        size = (size - 1) // block.stride + 1
        sizes.append(size)
    return sizes


def valid_subspaces(channels: int, choices: tuple[int, ...] | None = None) -> list[int]:
    """Subspace counts that divide ``channels`` (all divisors, or those among ``choices``)."""
    candidates = choices if choices is not None else range(1, channels + 1)
    return [g for g in candidates if channels % g == 0]


MIN_PROXY_MAP = 3  # ULSAM is searched where the proxy sees a map of at least 3x3 (space.SearchSpace.visible)


def describe_blocks(backbone: str, width: float, resolution: int, proxy_resolution: int | None = None) -> list[dict]:
    """Every numbered block: its stage (first block), kind, channels, stride, output size (at the proxy resolution
    too), droppable, whether a search places ULSAM after it, valid ULSAM subspace counts."""
    specs = backbone_blocks(backbone, width)
    stage_of = {block: stage.first for stage in backbone_stages(backbone) for block in stage.blocks}
    proxy_sizes = feature_sizes(specs, proxy_resolution or resolution)
    return [
        {"index": spec.index, "stage": stage_of[spec.index], "kind": spec.kind, "in_channels": spec.in_channels,
         "out_channels": spec.out_channels, "stride": spec.stride, "feature_size": size,
         "proxy_feature_size": proxy, "droppable": spec.droppable,
         "ulsam_searchable": size > 1 and proxy >= MIN_PROXY_MAP, "ulsam_subspaces": valid_subspaces(spec.out_channels)}
        for spec, size, proxy in zip(specs, feature_sizes(specs, resolution), proxy_sizes)
    ]
