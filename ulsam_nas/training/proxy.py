"""Proxy training: a short training run whose validation accuracy scores a search candidate.

Runs at a reduced proxy resolution (the architecture and its costs stay those of the deployment
resolution) with the shared recipe (``recipe.py``), on an optional seeded subset of the training images;
BatchNorm statistics are re-estimated before each evaluation. On a GPU the images move to it once, as
uint8, and every step reads from there (see ``loop.py`` for the rest of the GPU path).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable

import torch

from .. import runtime
from ..config import ArchConfig
from ..data import ImageData
from .loop import BATCHNORM_IMAGES, evaluate, prepare_training, recalibrate_batchnorm, train_one_epoch
from .settings import ProxySettings

__all__ = ["ProxyResult", "train_final_only", "train_proxy"]


@dataclass(frozen=True)
class ProxyResult:
    accuracy: float  # validation top-1 after the last epoch run, in [0, 1]
    curve: list[float] = field(default_factory=list)  # validation top-1 after each epoch (the last: train_final_only)
    seconds: float = 0.0  # training and evaluation time
    images_per_second: float = 0.0  # training throughput
    stopped_early: bool = False
    losses: list[float] = field(default_factory=list)  # mean training loss of each epoch


def train_proxy(
    config: ArchConfig,
    data: ImageData,
    settings: ProxySettings = ProxySettings(),
    seed: int = 0,
    on_epoch: Callable[[int, float], bool] | None = None,
    curve: bool = True,
) -> ProxyResult:
    """Train ``config`` from scratch on ``data``; ``on_epoch(epoch, accuracy)`` returning True stops early.

    ``curve`` False evaluates only after the last epoch (no early stopping then): the same final accuracy, since
    BatchNorm statistics are re-estimated from scratch before each evaluation and evaluating changes no weight.
    """
    if on_epoch is not None and not curve:
        raise ValueError("proxy: stopping early needs the accuracy after every epoch (curve)")
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
        model, optimizer, scheduler = prepare_training(config, settings, device, steps_per_epoch * settings.epochs)
        generator = torch.Generator().manual_seed(seed)  # the epochs' orders
        accuracies: list[float] = []
        losses: list[float] = []
        trained_images, train_seconds = 0, 0.0
        for epoch in range(1, settings.epochs + 1):
            order = torch.randperm(len(labels), generator=generator)
            stats = train_one_epoch(model, images, labels, order, optimizer, scheduler, mean, std,
                                    batch_size=settings.batch_size, epoch=epoch, label_smoothing=settings.label_smoothing,
                                    max_grad_norm=settings.grad_clip)
            trained_images, train_seconds = trained_images + stats.images, train_seconds + stats.seconds
            losses.append(stats.mean_loss)
            if not curve and epoch < settings.epochs:
                continue
            recalibrate_batchnorm(model, images[order[:BATCHNORM_IMAGES].to(images.device)], mean, std)
            accuracies.append(evaluate(model, val_images, val_labels, mean, std).top1)
            if on_epoch is not None and epoch < settings.epochs and on_epoch(epoch, accuracies[-1]):
                break
    return ProxyResult(
        accuracy=accuracies[-1], curve=accuracies, seconds=time.perf_counter() - started,
        images_per_second=trained_images / max(train_seconds, 1e-9), stopped_early=len(losses) < settings.epochs,
        losses=losses,
    )


def train_final_only(config: ArchConfig, data: ImageData, settings: ProxySettings = ProxySettings(),
                     seed: int = 0) -> ProxyResult:
    """``train_proxy`` evaluated once, after its last epoch: for runs nothing stops early (refinement), where
    evaluating after every epoch took about a sixth of the time (BatchNorm re-estimation on 512 images and
    validation, against an epoch of the digits' 1,438 images). Its curve is that one point."""
    return train_proxy(config, data, settings, seed, curve=False)
