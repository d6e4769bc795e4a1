"""ULSAM against a plain per-subspace loop written from the paper's description."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from ulsam_nas import ULSAM


class PaperLoopULSAM(nn.Module):
    """One small module per subspace, exactly as the paper describes it."""

    def __init__(self, channels: int, subspaces: int) -> None:
        super().__init__()
        size = channels // subspaces
        self.subspaces = subspaces
        self.parts = nn.ModuleList(
            nn.ModuleDict({
                "dw": nn.Conv2d(size, size, 1, groups=size), "bn1": nn.BatchNorm2d(size),
                "pw": nn.Conv2d(size, 1, 1), "bn2": nn.BatchNorm2d(1),
            })
            for _ in range(subspaces)
        )

    def forward(self, x):
        outputs = []
        for part, features in zip(self.parts, torch.chunk(x, self.subspaces, dim=1)):
            y = F.max_pool2d(F.relu(part["bn1"](part["dw"](features))), 3, stride=1, padding=1)
            a = F.relu(part["bn2"](part["pw"](y)))
            n, _, h, w = a.shape
            a = torch.softmax(a.view(n, 1, h * w), dim=-1).view(n, 1, h, w)
            outputs.append(features * a + features)
        return torch.cat(outputs, dim=1)


def _randomise(module: nn.Module, generator: torch.Generator) -> None:
    with torch.no_grad():
        for tensor in list(module.parameters()) + [b for b in module.buffers() if b.is_floating_point()]:
            tensor.copy_(torch.rand(tensor.shape, generator=generator, dtype=tensor.dtype) + 0.5
                         if tensor.dim() == 1 else torch.randn(tensor.shape, generator=generator, dtype=tensor.dtype))


def _slices(ulsam: ULSAM, loop: PaperLoopULSAM):
    """Triples (vectorised tensor, index into it, loop tensor) that mean the same thing."""
    size = ulsam.channels // ulsam.subspaces
    for index, part in enumerate(loop.parts):
        channels, single = slice(index * size, (index + 1) * size), slice(index, index + 1)
        for name in ("weight", "bias", "running_mean", "running_var"):
            yield getattr(ulsam.depthwise_bn, name), channels, getattr(part["bn1"], name)
            yield getattr(ulsam.pointwise_bn, name), single, getattr(part["bn2"], name)
        for name in ("weight", "bias"):
            yield getattr(ulsam.depthwise, name), channels, getattr(part["dw"], name)
            yield getattr(ulsam.pointwise, name), single, getattr(part["pw"], name)


def _pair(channels: int, subspaces: int):
    generator = torch.Generator().manual_seed(channels * 100 + subspaces)
    ulsam = ULSAM(channels, subspaces).double()
    _randomise(ulsam, generator)
    loop = PaperLoopULSAM(channels, subspaces).double()
    with torch.no_grad():
        for vectorised, index, looped in _slices(ulsam, loop):
            looped.copy_(vectorised[index].reshape(looped.shape))
    return ulsam, loop, generator


@pytest.mark.parametrize("channels,subspaces", [(8, 1), (16, 4), (32, 8), (24, 3), (64, 64)])
@pytest.mark.parametrize("training", [True, False])
def test_matches_per_subspace_loop_forward_and_gradients(channels, subspaces, training):
    ulsam, loop, generator = _pair(channels, subspaces)
    ulsam.train(training)
    loop.train(training)
    x = torch.randn(3, channels, 7, 5, generator=generator, dtype=torch.float64)
    x_vectorised, x_loop = x.clone().requires_grad_(), x.clone().requires_grad_()
    out_vectorised, out_loop = ulsam(x_vectorised), loop(x_loop)
    torch.testing.assert_close(out_vectorised, out_loop)

    upstream = torch.randn(out_loop.shape, generator=generator, dtype=torch.float64)
    (out_vectorised * upstream).sum().backward()
    (out_loop * upstream).sum().backward()
    torch.testing.assert_close(x_vectorised.grad, x_loop.grad)
    compared = 0
    for vectorised, index, looped in _slices(ulsam, loop):
        if looped.requires_grad:
            torch.testing.assert_close(vectorised.grad[index], looped.grad.reshape(vectorised[index].shape))
            compared += 1
        else:  # BatchNorm running statistics: updated in train mode only, and alike in both
            torch.testing.assert_close(vectorised[index], looped.reshape(vectorised[index].shape))
    assert compared == 8 * subspaces


def test_output_is_input_plus_attended_input():
    ulsam = ULSAM(16, 4).eval()
    x = torch.randn(2, 16, 6, 6)
    out = ulsam(x)
    assert out.shape == x.shape
    # softmax weights are positive, so every output is x * (1 + a) with a in (0, 1]
    ratio = out / x
    assert torch.all(ratio > 1) and torch.all(ratio <= 2 + 1e-6)


def test_works_in_channels_last():
    ulsam = ULSAM(32, 8).eval()
    x = torch.randn(2, 32, 9, 9)
    torch.testing.assert_close(ulsam(x.to(memory_format=torch.channels_last)), ulsam(x))


@pytest.mark.parametrize("channels,subspaces", [(16, 3), (16, 0), (16, 32), (0, 1), (16, 2.0), (16, True)])
def test_rejects_subspaces_that_do_not_divide_channels(channels, subspaces):
    with pytest.raises(ValueError, match="channels|subspaces"):
        ULSAM(channels, subspaces)


def test_error_lists_valid_subspaces():
    with pytest.raises(ValueError, match="valid: 1, 2, 3, 4, 6, 12"):
        ULSAM(12, 5)
