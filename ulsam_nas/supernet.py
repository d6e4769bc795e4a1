"""A supernet: every network of a space at one width in one module, sharing weights (Once-for-All, SPOS).

Elastic depth is Once-for-All's: a child keeps the first ``d`` blocks of each stage (the canonical form), so a
block's weights serve every child that keeps it. Each ULSAM slot holds one ULSAM per subspace count (they are
tiny; sharing one across counts would mix attention maps that mean different things). Widths: one supernet per
width, or one for all of them (``width=None``) whose narrower children use the first channels of every layer
(Once-for-All's channel slicing); ULSAM stays separate per width there too, since slicing would regroup its
subspaces.

Training needs no loop of its own: in training mode each forward pass runs a child drawn at random
(:meth:`Supernet.sample_each_step`, uniform single paths as in SPOS), so the one training loop's step trains it.
A child is scored as a stand-alone network: :meth:`Supernet.child` builds it with ``build_model`` and copies its
weights; its BatchNorm statistics must then be recalibrated (``training.loop.recalibrate_batchnorm``), which
SPOS's authors call essential, before it is evaluated.
"""

from __future__ import annotations

import itertools
import random
from typing import Callable

import torch
from torch import nn
from torch.func import functional_call

from .builder import UlsamMobileNet, build_model, init_weights
from .config import ArchConfig
from .space import SearchSpace
from .training.settings import SAMPLING_RULES, SANDWICH_PASSES
from .ulsam import ULSAM

__all__ = ["Supernet"]


def _slot_key(block: int, subspaces: int, width: float | None = None) -> str:
    """A ULSAM's name; a supernet of every width names the width too (no dots: ModuleDict keys)."""
    return f"{block}_{subspaces}" if width is None else f"{block}_{subspaces}_w{str(width).replace('.', '_')}"


def _sliced(tensor: torch.Tensor, shape: torch.Size) -> torch.Tensor:
    """The first entries of ``tensor`` along every dimension, as a view: a narrower layer's weights."""
    return tensor[tuple(slice(0, size) for size in shape)]


class Supernet(nn.Module):
    """Every network of ``space`` at ``width`` (None: at every width, channels sliced) with ``num_classes``
    outputs; :meth:`select` picks the active one."""

    def __init__(self, space: SearchSpace, width: float | None, num_classes: int) -> None:
        super().__init__()
        if width is not None and width not in space.widths:
            raise ValueError(f"supernet: width {width} is not one of the space's widths {list(space.widths)}")
        self.space, self.width, self.num_classes = space, width, num_classes
        self.widths = tuple(space.widths) if width is None else (width,)
        widest = max(self.widths)
        self.body = build_model(ArchConfig(backbone=space.backbone, width=widest, num_classes=num_classes))
        self.attention = nn.ModuleDict({
            _slot_key(block, g, None if width is not None else w):
                ULSAM(ArchConfig(backbone=space.backbone, width=w).blocks[block].out_channels, g)
            for w in self.widths for block in space.ulsam_after for g in space.subspace_choices(block, w)})
        init_weights(self.attention)  # as build_model initialises a ULSAM
        # Narrower networks' layer shapes, run with the widest's sliced weights (not modules of this one: their
        # own weights are never used nor saved).
        self._narrower = {w: build_model(ArchConfig(backbone=space.backbone, width=w, num_classes=num_classes))
                          for w in self.widths if w != widest}
        self.active = space.largest(num_classes, width)
        self._sampler: Callable[[], ArchConfig] | None = None

    def check(self, config: ArchConfig) -> ArchConfig:
        """``config`` in canonical form, or a one-line ValueError where this supernet does not hold it."""
        if (config.backbone, config.num_classes) != (self.space.backbone, self.num_classes) \
                or config.width not in self.widths:
            at = f"width {self.width}" if self.width is not None else f"widths {list(self.widths)}"
            raise ValueError(f"supernet: holds {self.space.backbone} networks at {at} with "
                             f"{self.num_classes} classes, not {config.summary()} with {config.num_classes}")
        config = config.canonical()
        if self.space.params_for(config) is None:
            raise ValueError(f"supernet: {config.summary()} is not a network of the space {self.space.name!r}")
        return config

    def select(self, config: ArchConfig) -> None:
        """Make ``config`` the network the forward pass runs."""
        self.active = self.check(config)
        self._sampler = None

    def sample_each_step(self, seed: int, rule: str = "uniform") -> None:
        """In training mode, run a new child on every forward pass, reproducibly from ``seed``: uniformly drawn
        (``uniform``, SPOS), or in turn the largest, the smallest and two drawn (``sandwich`` and
        ``sandwich-distill``, BigNAS; the loop runs :data:`SANDWICH_PASSES` passes per step, the largest first)."""
        if rule not in SAMPLING_RULES:
            raise ValueError(f"supernet sampling: unknown rule {rule!r}; valid: {', '.join(SAMPLING_RULES)}")
        rng = random.Random(seed)

        def drawn() -> ArchConfig:
            return self.space.sample(rng, self.num_classes, width=self.width)

        if rule == "uniform":
            self._sampler = drawn
            return
        ends = (self.space.largest(self.num_classes, self.width), self.space.cheapest(self.num_classes, self.width))
        passes = itertools.count()

        def sandwich() -> ArchConfig:
            turn = next(passes) % SANDWICH_PASSES
            return ends[turn] if turn < len(ends) else drawn()

        self._sampler = sandwich

    def _attention(self, after: int, subspaces: int, width: float) -> nn.Module:
        return self.attention[_slot_key(after, subspaces, None if self.width is not None else width)]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        config = self._sampler() if self._sampler is not None and self.training else self.active
        dropped = set(config.drop)
        attention = {p.after: self._attention(p.after, p.subspaces, config.width) for p in config.ulsam}
        narrower = self._narrower.get(config.width)
        for index, feature in enumerate(self.body.features):
            if index in dropped:
                continue
            x = feature.block(x) if narrower is None else self._run_sliced(narrower.features[index].block, feature.block, x)
            if index in attention:
                x = attention[index](x)
        x = torch.flatten(self.body.pool(x), 1)
        return self.body.classifier(x) if narrower is None else self._run_sliced(narrower.classifier, self.body.classifier, x)

    @staticmethod
    def _run_sliced(narrow: nn.Module, wide: nn.Module, x: torch.Tensor) -> torch.Tensor:
        """``narrow``'s layers run with the first channels of ``wide``'s weights and BatchNorm statistics (views:
        gradients and statistics' updates reach the wide ones)."""
        wide_tensors = dict(itertools.chain(wide.named_parameters(), wide.named_buffers()))
        sliced = {name: _sliced(wide_tensors[name], tensor.shape)
                  for name, tensor in itertools.chain(narrow.named_parameters(), narrow.named_buffers())}
        narrow.train(wide.training)
        return functional_call(narrow, sliced, (x,))

    def child(self, config: ArchConfig) -> UlsamMobileNet:
        """``config`` as a stand-alone network (``build_model``'s) holding this supernet's weights for it."""
        config = self.check(config)
        model = build_model(config)
        source = self.body.state_dict()
        for placement in config.ulsam:
            slot = self._attention(placement.after, placement.subspaces, config.width).state_dict()
            source.update({f"features.{placement.after}.attention.{key}": value for key, value in slot.items()})
        model.load_state_dict({key: _sliced(source[key], value.shape).clone() for key, value in model.state_dict().items()})
        return model

