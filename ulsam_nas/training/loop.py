"""The one training loop: proxy training and full training are two configurations of it.

Split as in torchvision's classification reference: ``train_one_epoch`` and
``evaluate`` are the loop, and a run (``proxy.py``, ``full.py``) chooses the
data, schedule, augmentation and what to keep. Made for CPUs as much as GPUs:
the dataset sits in memory as uint8, batches are sliced from it (no DataLoader
workers) and normalised on the fly, and the model runs in ``channels_last``,
2.5-3x faster for MobileNets on CPU. On a GPU the dataset may sit on the GPU
itself, the forward pass runs in bfloat16 autocast, the optimiser is fused, and
the loss is never read back per step: a device-side flag catches a NaN or
infinite loss and is read once per epoch (on the CPU, where reading it costs
nothing, it is read every step so a diverged run stops at once).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from ..builder import build_model, zero_init_residuals
from ..config import ArchConfig
from .settings import Recipe

__all__ = ["BATCHNORM_BATCH", "BATCHNORM_IMAGES", "EpochStats", "Evaluation", "TrainingDiverged", "evaluate",
           "evaluation_batch_size", "make_optimizer", "mixed_precision", "normalise", "prepare_optimization",
           "prepare_training", "recalibrate_batchnorm", "train_one_epoch", "warmup_cosine_schedule"]


BATCHNORM_IMAGES = 512  # training images BatchNorm statistics are re-estimated from before an evaluation
BATCHNORM_BATCH = 128


def evaluation_batch_size(device: torch.device) -> int:
    """Validation's batch: 256 on the CPU, 1024 on a GPU (smaller batches leave a GPU waiting on launches)."""
    return 1024 if device.type == "cuda" else 256


class TrainingDiverged(RuntimeError):
    """The training loss became NaN or infinite."""


@dataclass(frozen=True)
class EpochStats:
    mean_loss: float  # mean training loss over the epoch's steps
    images: int  # images this process trained on
    seconds: float  # time in the training steps
    grad_norm_max: float | None = None  # largest gradient norm before clipping (None: no clipping, not measured)
    clipped_share: float | None = None  # share of the steps whose gradient was clipped


@dataclass(frozen=True)
class Evaluation:
    val_loss: float  # mean cross-entropy, no label smoothing
    top1: float  # in [0, 1]
    top5: float  # top-k with k = min(5, classes)


def normalise(images: torch.Tensor, mean: torch.Tensor, std: torch.Tensor) -> torch.Tensor:
    """uint8 batch -> normalised float32 in channels_last, on the device of ``mean``."""
    batch = images.to(mean.device, non_blocking=True).float().div_(255).sub_(mean.view(1, 3, 1, 1)).div_(std.view(1, 3, 1, 1))
    return batch.contiguous(memory_format=torch.channels_last)


def mixed_precision(device: torch.device):
    """bfloat16 autocast on a GPU; off on the CPU, where bfloat16 ran MobileNet-V2 at 0.56x float32 here."""
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda")


def make_optimizer(model: nn.Module, lr: float, momentum: float, weight_decay: float,
                   partial: bool = False) -> torch.optim.SGD:
    """SGD with Nesterov momentum, the MobileNet papers' optimiser; one fused kernel when the model is on a GPU,
    unless ``partial``: steps that leave some parameters without a gradient (a supernet's child), which the
    fused kernel refuses and the others skip."""
    fused = (next(model.parameters()).is_cuda and not partial) or None
    return torch.optim.SGD(model.parameters(), lr=lr, momentum=momentum, weight_decay=weight_decay, nesterov=True,
                           fused=fused)


def warmup_cosine_schedule(optimizer: torch.optim.Optimizer, warmup_steps: int,
                           total_steps: int) -> torch.optim.lr_scheduler.LambdaLR:
    """The recipe's schedule: linear warm-up over ``warmup_steps``, then cosine decay to zero."""

    # A plain function, not a callable object: LambdaLR then leaves it out of its state_dict,
    # so checkpoints hold the step count only and resume with whatever this code says.
    def factor(step: int) -> float:
        if step < warmup_steps:  # warmup_steps 0: no warm-up
            return (step + 1) / warmup_steps
        return 0.5 * (1 + math.cos(math.pi * (step - warmup_steps) / max(1, total_steps - warmup_steps)))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def prepare_training(config: ArchConfig, settings: Recipe, device: torch.device,
                     total_steps: int) -> tuple[nn.Module, torch.optim.Optimizer, torch.optim.lr_scheduler.LRScheduler]:
    """A new network of ``config`` on ``device`` with the optimiser and schedule of ``settings``' recipe (a
    ``ProxySettings`` or ``TrainSettings``) for ``total_steps`` steps: the start of every training run."""
    model = build_model(config).to(device, memory_format=torch.channels_last).train()
    return (model, *prepare_optimization(model, settings, total_steps))


def prepare_optimization(model: nn.Module, settings: Recipe, total_steps: int,
                         partial: bool = False) -> tuple[torch.optim.Optimizer, torch.optim.lr_scheduler.LRScheduler]:
    """The recipe applied to a new ``model`` (a network, or a supernet: ``partial``, see ``make_optimizer``): its
    initialisation, optimiser and schedule."""
    if settings.zero_init_residual:
        zero_init_residuals(model)
    optimizer = make_optimizer(model, settings.lr, settings.momentum, settings.weight_decay, partial)
    return optimizer, warmup_cosine_schedule(optimizer, round(settings.warmup * total_steps), total_steps)


def train_one_epoch(
    model: nn.Module,
    images: torch.Tensor,
    labels: torch.Tensor,
    order: torch.Tensor,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
    mean: torch.Tensor,
    std: torch.Tensor,
    *,
    batch_size: int,
    epoch: int,
    label_smoothing: float = 0.0,
    augment: Callable[[torch.Tensor], torch.Tensor] | None = None,
    rank: int = 0,
    world_size: int = 1,
    on_step: Callable[[int, int], None] | None = None,
    check_every_step: bool | None = None,
    max_grad_norm: float | None = None,
    passes: int = 1,
    distill: bool = False,
) -> EpochStats:
    """One pass over ``images`` (uint8, on the CPU or on ``mean``'s device) in the order ``order``.

    Each step takes the next ``batch_size * world_size`` indices of ``order`` and this process
    its ``rank``-th share; the ragged last batch is dropped (BatchNorm needs more than one
    image). ``augment`` maps a uint8 batch to a uint8 batch; ``on_step(step, steps)`` follows
    every step. A NaN or infinite loss raises ``TrainingDiverged``: at once when
    ``check_every_step`` (None: on the CPU), else at the end of the epoch (on a GPU the check stays
    on the GPU, so that no step waits for the host). With ``max_grad_norm`` the gradient's norm is
    clipped to it before every step (the recipe's guard against spikes, ``recipe.GRAD_CLIP``). With ``passes``
    above 1 each step runs that many forward and backward passes on its batch and steps once on their mean
    gradient (a supernet draws another child per pass: the sandwich rule); the loss reported is their mean. With
    ``distill`` the passes after the first learn from the first pass's predictions instead of the labels (in-place
    distillation: the sandwich's largest child teaches the others).
    """
    started = time.perf_counter()
    device = mean.device
    order = order.to(images.device)
    per_step = batch_size * world_size
    steps = max(1, len(order) // per_step)
    total_loss = torch.zeros((), device=device)
    finite = torch.ones((), dtype=torch.bool, device=device)
    read_every_step = device.type == "cpu" if check_every_step is None else check_every_step
    seen = 0
    norm_max = torch.zeros((), device=device)
    clipped = torch.zeros((), device=device)
    for step in range(steps):
        batch = order[step * per_step: (step + 1) * per_step][rank::world_size]
        inputs = normalise(images[batch] if augment is None else augment(images[batch]), mean, std)
        targets = labels[batch].to(device)
        optimizer.zero_grad(set_to_none=True)
        loss = torch.zeros((), device=device)
        teacher = None
        for turn in range(passes):
            with mixed_precision(device):
                logits = model(inputs).float()
            if teacher is None:
                one = F.cross_entropy(logits, targets, label_smoothing=label_smoothing) / passes
            else:
                one = F.cross_entropy(logits, teacher) / passes  # soft targets: the teacher's probabilities
            if distill and turn == 0:
                teacher = logits.detach().softmax(dim=1)
            one.backward()
            loss += one.detach()
        finite &= torch.isfinite(loss)
        if read_every_step and not finite:
            raise TrainingDiverged(f"loss became {loss.item()} at epoch {epoch}, step {step + 1}")
        if max_grad_norm is not None:
            norm = torch.nn.utils.clip_grad_norm_(model.parameters(), max_grad_norm)
            norm_max = torch.maximum(norm_max, norm.detach())
            clipped += norm.detach() > max_grad_norm
        optimizer.step()
        scheduler.step()
        total_loss += loss.detach()
        seen += len(batch)
        if on_step is not None:
            on_step(step + 1, steps)
    if not finite:  # one read per epoch on a GPU
        raise TrainingDiverged(f"loss became NaN or infinite during epoch {epoch}")
    clipping = max_grad_norm is not None
    return EpochStats(mean_loss=float(total_loss) / steps, images=seen, seconds=time.perf_counter() - started,
                      grad_norm_max=float(norm_max) if clipping else None,
                      clipped_share=float(clipped) / steps if clipping else None)


@torch.no_grad()
def recalibrate_batchnorm(model: nn.Module, images: torch.Tensor, mean: torch.Tensor, std: torch.Tensor,
                          count: int = BATCHNORM_IMAGES, batch_size: int = BATCHNORM_BATCH) -> None:
    """Re-estimate BatchNorm statistics from the first ``count`` of ``images`` with the current weights.

    After a few hundred steps the running averages still remember the first, very different
    weights, and eval-mode accuracy sits near chance (measured here: 10% in eval mode against 40%
    with batch statistics). Once-for-all re-estimates them the same way before scoring subnets.
    """
    norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    momenta = [m.momentum for m in norms]
    for norm in norms:
        norm.reset_running_stats()
        norm.momentum = None  # cumulative average over the batches below
    was_training = model.training
    model.eval()  # dropout off: it would draw from the global generator, and the training after would differ
    for norm in norms:
        norm.train()
    for start in range(0, min(count, len(images)), batch_size):
        with mixed_precision(mean.device):
            model(normalise(images[start: min(start + batch_size, count)], mean, std))
    for norm, momentum in zip(norms, momenta):
        norm.momentum = momentum
    model.train(was_training)


@torch.inference_mode()
def evaluate(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, mean: torch.Tensor, std: torch.Tensor,
             batch_size: int | None = None) -> Evaluation:
    """Top-1, top-5 and loss of ``model`` in eval mode on uint8 ``images``; the model's mode is restored after.

    ``batch_size`` None: 256 on the CPU, 1024 on a GPU. The sums stay on the device until the end.
    """
    was_training = model.training
    model.eval()
    device = mean.device
    batch_size = batch_size or evaluation_batch_size(device)
    sums = torch.zeros(3, dtype=torch.float64, device=device)  # loss, top-1 hits, top-5 hits
    for start in range(0, len(labels), batch_size):
        batch_labels = labels[start: start + batch_size].to(device)
        with mixed_precision(device):
            logits = model(normalise(images[start: start + batch_size], mean, std)).float()
        # argmax, not topk's first: on tied logits topk's order is unspecified, argmax takes the first.
        right1 = logits.argmax(dim=1) == batch_labels
        right5 = (logits.topk(min(5, logits.shape[1]), dim=1).indices == batch_labels[:, None]).any(dim=1) | right1
        sums += torch.stack([F.cross_entropy(logits, batch_labels, reduction="sum").double(),
                             right1.sum().double(), right5.sum().double()])
    model.train(was_training)
    total_loss, hits1, hits5 = sums.tolist()
    count = max(1, len(labels))
    return Evaluation(val_loss=total_loss / count, top1=hits1 / count, top5=hits5 / count)
