"""The builder: a pure function from an :class:`ArchConfig` to an ``nn.Module``.

Every block keeps its slot in ``features`` whether it is dropped or not and
every block has an attention slot (ULSAM or ``nn.Identity``), so state-dict
keys stay stable across configs: ``features.<block>.block...`` and
``features.<block>.attention...``.
"""

from __future__ import annotations

import torch
from torch import nn
from torchvision.ops import Conv2dNormActivation
from torchvision.models.mobilenetv2 import InvertedResidual

from . import backbones
from .backbones import BlockSpec
from .config import ArchConfig
from .ulsam import ULSAM

__all__ = ["AttentiveBlock", "UlsamMobileNet", "build_block", "build_head", "build_model"]

CLASSIFIER_DROPOUT = 0.2


class AttentiveBlock(nn.Module):
    """A backbone block (or ``nn.Identity`` where dropped) followed by its attention slot."""

    def __init__(self, block: nn.Module, attention: nn.Module) -> None:
        super().__init__()
        self.block = block
        self.attention = attention

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.attention(self.block(x))


class UlsamMobileNet(nn.Module):
    """MobileNet features, global average pooling and a linear classifier."""

    def __init__(self, config: ArchConfig, features: list[AttentiveBlock]) -> None:
        super().__init__()
        self.config = config
        self.features = nn.Sequential(*features)
        self.pool = nn.AdaptiveAvgPool2d(1)
        in_features = backbones.classifier_channels(config.backbone, config.width)
        self.classifier = nn.Sequential(nn.Dropout(CLASSIFIER_DROPOUT), nn.Linear(in_features, config.num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(torch.flatten(self.pool(self.features(x)), 1))


def _make_block(spec: BlockSpec, activation: type[nn.Module]) -> nn.Module:
    if spec.kind == backbones.STEM:
        return Conv2dNormActivation(spec.in_channels, spec.out_channels, 3, spec.stride, activation_layer=activation)
    if spec.kind == backbones.POINTWISE:
        return Conv2dNormActivation(spec.in_channels, spec.out_channels, 1, activation_layer=activation)
    if spec.kind == backbones.INVERTED_RESIDUAL:
        return InvertedResidual(spec.in_channels, spec.out_channels, spec.stride, spec.expand_ratio)
    if spec.kind == backbones.DEPTHWISE_SEPARABLE:
        return nn.Sequential(
            Conv2dNormActivation(spec.in_channels, spec.in_channels, 3, spec.stride, groups=spec.in_channels,
                                 activation_layer=activation),
            Conv2dNormActivation(spec.in_channels, spec.out_channels, 1, activation_layer=activation),
        )
    raise ValueError(f"unknown block kind {spec.kind!r}")


# MobileNet-V2 uses ReLU6 (torchvision); MobileNet-V1's paper uses ReLU.
_ACTIVATIONS = {"mobilenet_v1": nn.ReLU, "mobilenet_v2": nn.ReLU6}


def _init_weights(model: nn.Module) -> None:
    """torchvision's MobileNet initialisation."""
    for module in model.modules():
        if isinstance(module, nn.Conv2d):
            nn.init.kaiming_normal_(module.weight, mode="fan_out")
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.BatchNorm2d):
            nn.init.ones_(module.weight)
            nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Linear):
            nn.init.normal_(module.weight, 0, 0.01)
            nn.init.zeros_(module.bias)


def build_block(backbone: str, spec: BlockSpec) -> nn.Module:
    """One backbone block on its own, as ``build_model`` makes it (latency tables time blocks one by one)."""
    return _make_block(spec, _ACTIVATIONS[backbone])


def build_head(backbone: str, width: float, num_classes: int) -> nn.Module:
    """Global average pooling and the classifier: what follows the last block."""
    in_features = backbones.classifier_channels(backbone, width)
    return nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(1), nn.Dropout(CLASSIFIER_DROPOUT),
                         nn.Linear(in_features, num_classes))


def build_model(config: ArchConfig) -> UlsamMobileNet:
    """Build the network ``config`` describes (the config is never modified)."""
    if not isinstance(config, ArchConfig):
        raise TypeError(f"build_model expects an ArchConfig, got {type(config).__name__}")
    activation = _ACTIVATIONS[config.backbone]
    subspaces = {placement.after: placement.subspaces for placement in config.ulsam}
    features = []
    for spec in config.blocks:
        block = nn.Identity() if spec.index in config.drop else _make_block(spec, activation)
        attention = ULSAM(spec.out_channels, subspaces[spec.index]) if spec.index in subspaces else nn.Identity()
        features.append(AttentiveBlock(block, attention))
    model = UlsamMobileNet(config, features)
    _init_weights(model)
    return model
