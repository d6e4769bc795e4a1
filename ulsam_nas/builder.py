"""The builder: a pure function from an :class:`ArchConfig` to an ``nn.Module``.

Every block keeps its slot in ``features`` whether it is dropped or not and
every block has an attention slot (ULSAM or ``nn.Identity``), so state-dict
keys stay stable across configs: ``features.<block>.block...`` and
``features.<block>.attention...``.
"""

from __future__ import annotations

import copy
import functools
import itertools

import torch
from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_eval

from . import backbones
from .backbones import BlockSpec
from .config import ArchConfig
from .ulsam import ULSAM

__all__ = ["AttentiveBlock", "DepthwiseConv2d", "InvertedResidual", "UlsamMobileNet", "build_block", "build_head",
           "build_model", "conv_norm_activation", "fold_batchnorm", "init_weights", "zero_init_residuals"]

CLASSIFIER_DROPOUT = 0.2


class AttentiveBlock(nn.Module):
    """A backbone block (or ``nn.Identity`` where dropped) followed by its attention slot."""

    def __init__(self, block: nn.Module, attention: nn.Module) -> None:
        super().__init__()
        self.block = block
        self.attention = attention

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.attention(self.block(x))


SMALL_MAP = 2  # inputs of up to 2x2 pixels: where PyTorch's CPU depthwise backward is slowest (profile below)


class DepthwiseConv2d(nn.Conv2d):
    """A depthwise convolution that, training on a CPU, computes maps of up to 2x2 pixels as the products they are.

    At 32 px MobileNet's last stages are 2x2 and 1x1. PyTorch's CPU kernels spent about half of a
    training step in the backward of those few tiny depthwise convolutions: 44 ms for 960 channels at
    1x1 and 14-25 ms at 2x2, against 0.9 and 3-5 ms as products and a sum (batch 64, channels_last,
    2 threads; ``python -m benchmarks.proxy_throughput --profile``). The parameters are the
    convolution's and the values too (to float rounding); in eval mode, without gradients, when traced
    or exported (costs, ONNX), and for every larger map, it is the convolution itself.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        small = (self.training and torch.is_grad_enabled() and x.device.type == "cpu"
                 and max(x.shape[-2:]) <= SMALL_MAP and self.dilation == (1, 1) and self.padding_mode == "zeros"
                 and not isinstance(self.padding, str) and not torch.jit.is_tracing()
                 and not torch.onnx.is_in_onnx_export())
        taps = _tap_index(*x.shape[-2:], self.kernel_size, self.stride, self.padding) if small else None
        if taps is None:
            return super().forward(x)
        index, out_h, out_w = taps
        batch, channels, height, width = x.shape
        kernel = torch.cat([self.weight.reshape(channels, -1), self.weight.new_zeros(channels, 1)], 1)[:, index]
        out = (x.reshape(batch, channels, height * width, 1) * kernel).sum(2).view(batch, channels, out_h, out_w)
        if self.bias is not None:
            out = out + self.bias.view(1, -1, 1, 1)
        layout = torch.channels_last if x.is_contiguous(memory_format=torch.channels_last) else torch.contiguous_format
        return out.contiguous(memory_format=layout)


@functools.lru_cache(maxsize=64)
def _tap_index(height: int, width: int, kernel: tuple[int, int], stride: tuple[int, int],
               padding: tuple[int, int]) -> tuple[torch.Tensor, int, int] | None:
    """For each (input pixel, output pixel) the kernel tap joining them (kernel_h * kernel_w, a zero, where none
    does), and the output size; None where the convolution has no output (it raises its own error)."""
    (kernel_h, kernel_w), (stride_h, stride_w), (pad_h, pad_w) = kernel, stride, padding
    out_h, out_w = (height + 2 * pad_h - kernel_h) // stride_h + 1, (width + 2 * pad_w - kernel_w) // stride_w + 1
    if out_h < 1 or out_w < 1:
        return None
    index = torch.full((height * width, out_h * out_w), kernel_h * kernel_w, dtype=torch.long)
    for a, b, i, j in itertools.product(range(height), range(width), range(out_h), range(out_w)):
        tap_h, tap_w = a - i * stride_h + pad_h, b - j * stride_w + pad_w
        if 0 <= tap_h < kernel_h and 0 <= tap_w < kernel_w:
            index[a * width + b, i * out_w + j] = tap_h * kernel_w + tap_w
    return index, out_h, out_w


def _small_maps_as_products(model: nn.Module) -> None:
    """Every depthwise convolution becomes a :class:`DepthwiseConv2d` (same module, same state-dict keys)."""
    for module in model.modules():
        if type(module) is nn.Conv2d and 1 < module.groups == module.in_channels == module.out_channels:
            module.__class__ = DepthwiseConv2d


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


def conv_norm_activation(in_channels: int, out_channels: int, kernel_size: int, stride: int = 1, groups: int = 1,
                         activation: type[nn.Module] | None = nn.ReLU6) -> nn.Sequential:
    """Convolution (no bias, "same" padding), BatchNorm and an in-place activation: torchvision's
    ``Conv2dNormActivation`` with the same state-dict keys (``0``, ``1``), without importing torchvision."""
    layers = [nn.Conv2d(in_channels, out_channels, kernel_size, stride, (kernel_size - 1) // 2, groups=groups, bias=False),
              nn.BatchNorm2d(out_channels)]
    if activation is not None:
        layers.append(activation(inplace=True))
    return nn.Sequential(*layers)


class InvertedResidual(nn.Module):
    """MobileNet-V2's block (Sandler et al., 2018): 1x1 expansion, 3x3 depthwise, linear 1x1 projection, and the
    identity added where the shape allows. Layers and state-dict keys (``conv.<i>``) are torchvision's."""

    def __init__(self, in_channels: int, out_channels: int, stride: int, expand_ratio: int) -> None:
        super().__init__()
        hidden = int(round(in_channels * expand_ratio))
        self.use_res_connect = stride == 1 and in_channels == out_channels
        layers = [conv_norm_activation(in_channels, hidden, 1)] if expand_ratio != 1 else []
        layers += [conv_norm_activation(hidden, hidden, 3, stride, groups=hidden),
                   nn.Conv2d(hidden, out_channels, 1, bias=False), nn.BatchNorm2d(out_channels)]
        self.conv = nn.Sequential(*layers)

    @property
    def last_norm(self) -> nn.BatchNorm2d:
        """The BatchNorm that ends the residual branch."""
        return self.conv[-1]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv(x) if self.use_res_connect else self.conv(x)


def _make_block(spec: BlockSpec, activation: type[nn.Module]) -> nn.Module:
    if spec.kind == backbones.STEM:
        return conv_norm_activation(spec.in_channels, spec.out_channels, 3, spec.stride, activation=activation)
    if spec.kind == backbones.POINTWISE:
        return conv_norm_activation(spec.in_channels, spec.out_channels, 1, activation=activation)
    if spec.kind == backbones.INVERTED_RESIDUAL:
        return InvertedResidual(spec.in_channels, spec.out_channels, spec.stride, spec.expand_ratio)
    if spec.kind == backbones.DEPTHWISE_SEPARABLE:
        return nn.Sequential(
            conv_norm_activation(spec.in_channels, spec.in_channels, 3, spec.stride, groups=spec.in_channels,
                                 activation=activation),
            conv_norm_activation(spec.in_channels, spec.out_channels, 1, activation=activation),
        )
    raise ValueError(f"unknown block kind {spec.kind!r}")


# MobileNet-V2 uses ReLU6 (torchvision); MobileNet-V1's paper uses ReLU.
_ACTIVATIONS = {"mobilenet_v1": nn.ReLU, "mobilenet_v2": nn.ReLU6}


def init_weights(model: nn.Module) -> None:
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


def fold_batchnorm(model: nn.Module) -> nn.Module:
    """A copy of ``model`` in eval mode with each Conv2d -> BatchNorm2d pair fused, as deployed models ship."""
    folded = copy.deepcopy(model).eval()
    for module in folded.modules():
        if not isinstance(module, nn.Sequential):
            continue
        for index in range(len(module) - 1):
            conv, norm = module[index], module[index + 1]
            if isinstance(conv, nn.Conv2d) and isinstance(norm, nn.BatchNorm2d):
                module[index] = fuse_conv_bn_eval(conv, norm)
                module[index + 1] = nn.Identity()
    return folded


def zero_init_residuals(model: nn.Module) -> None:
    """Start every residual branch at zero (its last BatchNorm's scale), so that each residual block begins as the
    identity: deep networks then train like shallow ones at first (Goyal et al., 2017; BigNAS). Blocks without an
    identity path keep their initialisation: zeroing them would cut the signal."""
    for module in model.modules():
        if isinstance(module, InvertedResidual) and module.use_res_connect:
            nn.init.zeros_(module.last_norm.weight)


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
    init_weights(model)
    _small_maps_as_products(model)
    return model
