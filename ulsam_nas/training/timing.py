"""How long a training run will take, measured before it runs: a few steps of the real loop, timed.

The study estimate (``search/estimate.py``) and refinement's (``refine.py``) both come from here. The
steps run through ``loop.train_one_epoch`` with the recipe's optimiser and schedule (``loop.prepare_training``)
on random images; BatchNorm re-estimation and validation are timed on one batch each, through the loop's own
``recalibrate_batchnorm`` and ``evaluate``, and scaled to the run's image counts.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from typing import Callable

import torch

from .. import runtime
from ..config import ArchConfig
from .loop import (BATCHNORM_BATCH, BATCHNORM_IMAGES, evaluate, evaluation_batch_size, prepare_training,
                   recalibrate_batchnorm, train_one_epoch)
from .settings import ProxySettings

__all__ = ["TrainingTime", "time_training"]


@dataclass(frozen=True)
class TrainingTime:
    """Expected time of one training run of a network, measured: step and evaluation times and run length."""

    candidate: str  # summary of the network timed
    step_seconds: float  # one training step of batch_size images, after a warm-up step
    steps_per_epoch: int
    epochs: int
    eval_seconds: float  # per epoch: BatchNorm re-estimation and validation
    other_seconds: float  # per run: building the model, counting its costs
    resolution: int
    batch_size: int
    train_images: int  # after the training subset
    val_images: int

    @property
    def epoch_seconds(self) -> float:
        return self.steps_per_epoch * self.step_seconds + self.eval_seconds

    @property
    def training_seconds(self) -> float:
        """One training run alone (no costing)."""
        return self.epochs * self.epoch_seconds

    @property
    def trial_seconds(self) -> float:
        return self.other_seconds + self.training_seconds

    def with_run(self, epochs: int | None = None, train_images: int | None = None) -> "TrainingTime":
        """The same measurement for other epochs or training images (resolutions need a new measurement)."""
        images = self.train_images if train_images is None else train_images
        return dataclasses.replace(self, epochs=epochs or self.epochs, train_images=images,
                                   steps_per_epoch=max(1, images // self.batch_size))


def _random_images(count: int, resolution: int, device: torch.device) -> torch.Tensor:
    return torch.randint(0, 256, (count, 3, resolution, resolution), dtype=torch.uint8, device=device)


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _timed(run: Callable[[], object], device: torch.device) -> float:
    _synchronize(device)
    started = time.perf_counter()
    run()
    _synchronize(device)
    return time.perf_counter() - started


def time_training(config: ArchConfig, training: ProxySettings, num_classes: int, train_images: int, val_images: int,
                  seed: int = 0, measure: Callable[[ArchConfig], object] | None = None, trains: bool = True,
                  steps: int = 3, batchnorm_images: int = BATCHNORM_IMAGES) -> TrainingTime:
    """Time ``steps`` training steps (after a warm-up step) of ``config`` trained as ``training`` says, on random images.

    ``train_images`` (``training.train_subset`` already taken) and ``val_images`` are the counts it trains and
    validates on; ``measure(config)`` is the per-run costing (timed once; None: not counted); ``trains=False``
    times no training (epochs 0); ``batchnorm_images`` are the images BatchNorm is re-estimated from per epoch.
    """
    device = runtime.resolve_device(training.device, setting="proxy device")
    started = time.perf_counter()
    if measure is not None:
        measure(config)
    step = eval_seconds = 0.0
    with runtime.threads(training.threads), runtime.seeded(seed, device), runtime.gpu_kernels(device):
        model, optimizer, scheduler = prepare_training(config, training, device, steps + 1)
        other = time.perf_counter() - started
        if trains:
            step = _time_steps(model, optimizer, scheduler, training, num_classes, device, steps)
            eval_seconds = _time_evaluation(model, training, num_classes, device, min(batchnorm_images, train_images),
                                            val_images)
    return TrainingTime(
        candidate=config.summary(), step_seconds=step, steps_per_epoch=max(1, train_images // training.batch_size),
        epochs=training.epochs if trains else 0, eval_seconds=eval_seconds, other_seconds=other,
        resolution=training.resolution, batch_size=training.batch_size, train_images=train_images, val_images=val_images)


def _time_steps(model, optimizer, scheduler, training: ProxySettings, num_classes: int, device: torch.device,
                steps: int) -> float:
    """Mean seconds of one step of the real loop, after one warm-up step (images resident, as the proxy's)."""
    mean, std = torch.full((3,), 0.5, device=device), torch.full((3,), 0.25, device=device)
    images = _random_images(training.batch_size * (steps + 1), training.resolution, device)
    labels = torch.randint(0, num_classes, (len(images),), device=device)
    order = torch.arange(len(images))

    def train(part: torch.Tensor) -> None:
        train_one_epoch(model, images, labels, part, optimizer, scheduler, mean, std, batch_size=training.batch_size,
                        epoch=1, label_smoothing=training.label_smoothing, max_grad_norm=training.grad_clip)

    train(order[: training.batch_size])  # warm-up
    return _timed(lambda: train(order[training.batch_size:]), device) / steps


def _time_evaluation(model, training: ProxySettings, num_classes: int, device: torch.device, bn_images: int,
                     val_images: int) -> float:
    """Seconds per epoch of BatchNorm re-estimation and validation, from one timed batch of each (as the loop
    batches them; on a GPU after an untimed pass, which pays for cuDNN's choice of kernels)."""
    mean, std = torch.full((3,), 0.5, device=device), torch.full((3,), 0.25, device=device)
    bn_batch, eval_batch = min(BATCHNORM_BATCH, bn_images), max(1, min(evaluation_batch_size(device), val_images))
    batch = _random_images(max(bn_batch, eval_batch), training.resolution, device)
    labels = torch.randint(0, num_classes, (eval_batch,), device=device)
    state = {k: v.clone() for k, v in model.state_dict().items()}  # re-estimation changes BatchNorm's statistics

    def normalisation() -> None:
        recalibrate_batchnorm(model, batch[:bn_batch], mean, std, count=bn_batch, batch_size=bn_batch)

    def validation() -> None:
        evaluate(model, batch[:eval_batch], labels, mean, std, batch_size=eval_batch)

    if device.type == "cuda":
        normalisation(), validation()
    seconds = (_timed(normalisation, device) * bn_images / bn_batch + _timed(validation, device) * val_images / eval_batch)
    model.load_state_dict(state)
    return seconds
