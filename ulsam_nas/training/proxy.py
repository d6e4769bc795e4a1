"""Proxy training: a short training run whose validation accuracy scores a search candidate.

Runs at a reduced proxy resolution (the architecture and its costs stay those
of the deployment resolution), with a one-cycle schedule, on an optional
seeded subset of the training images; BatchNorm statistics are re-estimated
before each evaluation.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable

import torch

from .. import runtime
from ..builder import build_model
from ..config import ArchConfig
from ..data import ImageData
from .loop import check_run_settings, evaluate, make_optimizer, one_cycle_schedule, recalibrate_batchnorm, train_one_epoch

__all__ = ["ProxyResult", "ProxySettings", "train_proxy"]


@dataclass(frozen=True)
class ProxySettings:
    epochs: int = 4
    resolution: int = 48  # proxy input size in pixels
    train_subset: int | None = None  # at most this many training images (None: all)
    batch_size: int = 64
    lr: float = 0.1
    momentum: float = 0.9
    weight_decay: float = 4e-5
    label_smoothing: float = 0.1
    threads: int | None = None  # CPU threads (None: PyTorch's default)
    device: str = "cpu"  # or "cuda"

    def __post_init__(self) -> None:
        check_run_settings(self, prefix="proxy ", min_resolution=16)
        if self.train_subset is not None and (not isinstance(self.train_subset, int) or self.train_subset < 2):
            raise ValueError(f"proxy train_subset: must be an integer >= 2 or empty, got {self.train_subset!r}")


@dataclass(frozen=True)
class ProxyResult:
    accuracy: float  # validation top-1 after the last epoch run, in [0, 1]
    curve: list[float] = field(default_factory=list)  # validation top-1 after each epoch
    seconds: float = 0.0  # training and evaluation time
    images_per_second: float = 0.0  # training throughput
    stopped_early: bool = False


def train_proxy(
    config: ArchConfig,
    data: ImageData,
    settings: ProxySettings = ProxySettings(),
    seed: int = 0,
    on_epoch: Callable[[int, float], bool] | None = None,
) -> ProxyResult:
    """Train ``config`` from scratch on ``data``; ``on_epoch(epoch, accuracy)`` returning True stops early."""
    if data.resolution != settings.resolution:
        raise ValueError(f"proxy: data is at {data.resolution}px but the proxy resolution is {settings.resolution}px")
    if config.num_classes != data.num_classes:
        raise ValueError(f"proxy: config has {config.num_classes} classes, dataset {data.name} has {data.num_classes}")
    device = runtime.resolve_device(settings.device, setting="proxy device")
    started = time.perf_counter()
    mean, std = (stat.to(device) for stat in data.channel_stats())
    images, labels = data.train_images, data.train_labels
    if settings.train_subset is not None and settings.train_subset < len(labels):
        subset = torch.randperm(len(labels), generator=torch.Generator().manual_seed(seed))[: settings.train_subset]
        images, labels = images[subset], labels[subset]
    steps_per_epoch = max(1, len(labels) // settings.batch_size)

    with runtime.threads(settings.threads), runtime.seeded(seed, device):
        model = build_model(config).to(device, memory_format=torch.channels_last).train()
        optimizer = make_optimizer(model, settings.lr, settings.momentum, settings.weight_decay)
        scheduler = one_cycle_schedule(optimizer, settings.lr, steps_per_epoch * settings.epochs)
        generator = torch.Generator().manual_seed(seed)  # the epochs' orders
        curve: list[float] = []
        trained_images, train_seconds = 0, 0.0
        for epoch in range(1, settings.epochs + 1):
            order = torch.randperm(len(labels), generator=generator)
            stats = train_one_epoch(model, images, labels, order, optimizer, scheduler, mean, std,
                                    batch_size=settings.batch_size, epoch=epoch, label_smoothing=settings.label_smoothing)
            trained_images, train_seconds = trained_images + stats.images, train_seconds + stats.seconds
            recalibrate_batchnorm(model, images[order], mean, std)
            curve.append(evaluate(model, data.val_images, data.val_labels, mean, std).top1)
            if on_epoch is not None and epoch < settings.epochs and on_epoch(epoch, curve[-1]):
                break
    return ProxyResult(
        accuracy=curve[-1], curve=curve, seconds=time.perf_counter() - started,
        images_per_second=trained_images / max(train_seconds, 1e-9), stopped_early=len(curve) < settings.epochs,
    )
