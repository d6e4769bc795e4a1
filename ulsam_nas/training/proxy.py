"""Proxy training: a short training run whose validation accuracy scores a search candidate.

Runs at a reduced proxy resolution (the architecture and its costs stay those
of the deployment resolution), with a one-cycle schedule, on an optional
seeded subset of the training images; BatchNorm statistics are re-estimated
before each evaluation. On a GPU the images move to it once, as uint8, and
every step reads from there (see ``loop.py`` for the rest of the GPU path).
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from typing import Callable

import torch

from .. import runtime
from ..builder import build_model
from ..config import ArchConfig
from ..data import ImageData
from .loop import (BATCHNORM_IMAGES, check_run_settings, evaluate, make_optimizer, one_cycle_schedule,
                   recalibrate_batchnorm, train_one_epoch)

__all__ = ["AUTO", "ProxyResult", "ProxySettings", "epochs_for", "train_proxy"]


AUTO = "auto"
# The default proxy by dataset size, chosen on the proxy-fidelity ladder (benchmarks/RESULTS.md, "Proxy
# fidelity"): a subset of at most AUTO_SUBSET training images, trained for as many epochs as reach about
# AUTO_IMAGES images (at most AUTO_MAX_EPOCHS; a large dataset gets one epoch).
AUTO_SUBSET = 10_000
AUTO_IMAGES = 10_000
AUTO_MAX_EPOCHS = 4


def epochs_for(images: float, per_epoch: int) -> int:
    """The whole epochs (at least one) of ``per_epoch`` images that come closest to training on ``images`` images."""
    return max(1, round(images / max(1, per_epoch)))


@dataclass(frozen=True)
class ProxySettings:
    epochs: int | str = AUTO  # "auto": by dataset size (see AUTO_IMAGES)
    resolution: int = 48  # proxy input size in pixels
    train_subset: int | str | None = AUTO  # at most this many training images (None: all; "auto": by dataset size)
    batch_size: int = 64
    lr: float = 0.1
    momentum: float = 0.9
    weight_decay: float = 4e-5
    label_smoothing: float = 0.1
    threads: int | None = None  # CPU threads (None: PyTorch's default)
    device: str = "cpu"  # or "cuda"

    def __post_init__(self) -> None:
        check_run_settings(self, prefix="proxy ", min_resolution=16, auto=("epochs",))
        if self.train_subset == "all":  # as a study file or the command line may say it
            object.__setattr__(self, "train_subset", None)
        subset = self.train_subset
        if subset is not None and subset != AUTO and (isinstance(subset, bool) or not isinstance(subset, int) or subset < 2):
            raise ValueError(f"proxy train_subset: must be an integer >= 2, 'auto' or empty (all), got {subset!r}")

    @property
    def is_resolved(self) -> bool:
        return AUTO not in (self.epochs, self.train_subset)

    def resolve(self, train_images: int) -> "ProxySettings":
        """These settings for a dataset of ``train_images`` training images: every "auto" made a number."""
        subset = self.train_subset
        if subset == AUTO:
            subset = AUTO_SUBSET if train_images > AUTO_SUBSET else None
        epochs = self.epochs
        if epochs == AUTO:
            epochs = min(AUTO_MAX_EPOCHS, epochs_for(AUTO_IMAGES, min(train_images, subset or train_images)))
        return dataclasses.replace(self, epochs=epochs, train_subset=subset)


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
    if not settings.is_resolved:
        settings = settings.resolve(data.train_available or len(data.train_labels))
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
    # Resident on the device: no copy from the host per step (a no-op on the CPU).
    images, labels = images.to(device), labels.to(device)
    val_images, val_labels = data.val_images.to(device), data.val_labels.to(device)
    steps_per_epoch = max(1, len(labels) // settings.batch_size)

    with runtime.threads(settings.threads), runtime.seeded(seed, device), runtime.gpu_kernels(device):
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
            recalibrate_batchnorm(model, images[order[:BATCHNORM_IMAGES].to(images.device)], mean, std)
            curve.append(evaluate(model, val_images, val_labels, mean, std).top1)
            if on_epoch is not None and epoch < settings.epochs and on_epoch(epoch, curve[-1]):
                break
    return ProxyResult(
        accuracy=curve[-1], curve=curve, seconds=time.perf_counter() - started,
        images_per_second=trained_images / max(train_seconds, 1e-9), stopped_early=len(curve) < settings.epochs,
    )
