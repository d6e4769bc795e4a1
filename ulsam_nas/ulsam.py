"""ULSAM: Ultra-Lightweight Subspace Attention Module.

Saini, Jha et al., "ULSAM: Ultra-Lightweight Subspace Attention Module for
Compact Convolutional Neural Networks", WACV 2020.

The ``m`` input channels are split into ``g`` subspaces of ``m/g`` channels.
Each subspace gets one attention map::

    depthwise 1x1 conv -> BN -> ReLU -> 3x3 max-pool (stride 1, pad 1)
    -> pointwise 1x1 conv to ONE map -> BN -> ReLU -> softmax over h*w

and its output is ``x * a + x``; the subspaces are concatenated again.

All subspaces are computed at once: the depthwise 1x1 conv is a per-channel
affine map, the per-subspace BNs together are one BN over all channels, and the
per-subspace pointwise convs are one grouped conv with ``g`` groups.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .backbones import valid_subspaces

__all__ = ["ULSAM"]


class ULSAM(nn.Module):
    """Subspace attention over ``channels`` channels split into ``subspaces`` groups.

    State-dict layout: ``depthwise`` (``channels`` 1x1 filters, one per channel),
    ``depthwise_bn``, ``pointwise`` (a grouped 1x1 conv whose ``i``-th output is
    subspace ``i``'s attention logit), ``pointwise_bn``.
    """

    def __init__(self, channels: int, subspaces: int = 4) -> None:
        super().__init__()
        if isinstance(channels, bool) or not isinstance(channels, int) or channels < 1:
            raise ValueError(f"channels: must be a positive integer, got {channels!r}")
        if isinstance(subspaces, bool) or not isinstance(subspaces, int) or subspaces < 1 or channels % subspaces:
            valid = ", ".join(map(str, valid_subspaces(channels)))
            raise ValueError(f"subspaces: {subspaces!r} does not divide {channels} channels; valid: {valid}")
        self.channels = channels
        self.subspaces = subspaces
        self.depthwise = nn.Conv2d(channels, channels, 1, groups=channels)
        self.depthwise_bn = nn.BatchNorm2d(channels)
        self.pointwise = nn.Conv2d(channels, subspaces, 1, groups=subspaces)
        self.pointwise_bn = nn.BatchNorm2d(subspaces)

    def extra_repr(self) -> str:
        return f"channels={self.channels}, subspaces={self.subspaces}"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, m, h, w = x.shape
        if torch.jit.is_tracing():
            # Op counters and exporters trace the model: show them the paper's convolution.
            y = self.depthwise(x)
        else:
            # A depthwise 1x1 conv is a per-channel multiply-add; as a conv it is far slower.
            y = torch.addcmul(self.depthwise.bias.view(1, m, 1, 1), x, self.depthwise.weight.view(1, m, 1, 1))
        y = F.relu(self.depthwise_bn(y))
        y = F.max_pool2d(y, kernel_size=3, stride=1, padding=1)
        logits = F.relu(self.pointwise_bn(self.pointwise(y)))
        attention = torch.softmax(logits.flatten(2), dim=-1).view(n, self.subspaces, 1, h, w)
        grouped = x.unflatten(1, (self.subspaces, m // self.subspaces))
        return (grouped * (attention + 1)).flatten(1, 2)  # x * a + x, one pass over the features
