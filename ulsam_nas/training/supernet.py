"""Training a supernet with the one loop's step, resumable by epoch, and scoring its children.

The supernet (``ulsam_nas/supernet.py``) draws a child per step; ``train_one_epoch`` trains it like any network.
After each epoch the checkpoint holds the weights, the optimiser, the schedule and every random state, so a
run cut off anywhere resumes from its last finished epoch and ends with the same weights as one that never
stopped. The checkpoint also holds what the supernet was trained for (space, dataset, width, settings); it is
refused for anything else, in one line.
"""

from __future__ import annotations

import random
import time
from pathlib import Path
from typing import Callable

import torch

from .. import runtime
from ..config import ArchConfig
from ..data import ImageData
from ..space import SearchSpace
from ..supernet import Supernet
from .checkpoint import load_checkpoint, save_checkpoint
from .loop import evaluate, prepare_optimization, recalibrate_batchnorm, train_one_epoch
from .proxy import ProxyResult
from .settings import SupernetSettings

__all__ = ["SupernetEvaluator", "supernet_key", "train_supernet"]


def supernet_key(space: SearchSpace, dataset: str, width: float | None, settings: SupernetSettings) -> dict:
    """What a supernet was trained for: checked when its checkpoint is read back."""
    return {"space": space.to_dict(), "dataset": dataset, "width": width, "settings": settings.defining()}


def train_supernet(space: SearchSpace, width: float | None, data: ImageData, settings: SupernetSettings,
                   path: str | Path, on_epoch: Callable[[int, float, float], None] | None = None) -> Supernet:
    """The supernet of ``space`` at ``width`` (None: of every width, channels sliced) trained on ``data``, its checkpoint at ``path``: trained, continued
    from the last finished epoch, or read back when finished. ``on_epoch(epoch, mean_loss, seconds)`` follows each
    epoch trained."""
    if data.resolution != settings.resolution:
        raise ValueError(f"supernet: data is at {data.resolution}px but the supernet trains at {settings.resolution}px")
    path = Path(path)
    key = supernet_key(space, data.name, width, settings)
    device = runtime.resolve_device(settings.device, setting="supernet device")
    subset = data.with_train_subset(settings.train_subset, seed=settings.seed)
    images, labels = subset.train_images.to(device), subset.train_labels.to(device)
    mean, std = (stat.to(device) for stat in data.channel_stats())
    steps_per_epoch = max(1, len(labels) // settings.batch_size)
    with runtime.threads(settings.threads), runtime.seeded(settings.seed, device):
        supernet = Supernet(space, width, data.num_classes).to(device, memory_format=torch.channels_last).train()
        optimizer, scheduler = prepare_optimization(supernet, settings, steps_per_epoch * settings.epochs, partial=True)
        generator = torch.Generator().manual_seed(settings.seed)  # the epochs' orders
        done = 0
        if path.exists():
            state = load_checkpoint(path, map_location=device)
            stored = state.get("key") if isinstance(state.get("key"), dict) else {}
            if stored != key:
                raise ValueError(f"supernet: {path} was trained for space {stored.get('space', {}).get('name')!r} on "
                                 f"{stored.get('dataset')} at {_widths(stored.get('width'))}, not for space "
                                 f"{space.name!r} on {data.name} at {_widths(width)} with these settings; use another "
                                 "path or delete it")
            supernet.load_state_dict(state["model"])
            optimizer.load_state_dict(state["optimizer"])
            scheduler.load_state_dict(state["scheduler"])
            generator.set_state(state["order_rng"])
            torch.set_rng_state(state["torch_rng"])
            done = state["epoch"]
        for epoch in range(done + 1, settings.epochs + 1):
            supernet.sample_each_step(random.Random(f"{settings.seed}/{epoch}").getrandbits(32), settings.sampling)
            order = torch.randperm(len(labels), generator=generator)
            stats = train_one_epoch(supernet, images, labels, order, optimizer, scheduler, mean, std,
                                    batch_size=settings.batch_size, epoch=epoch,
                                    label_smoothing=settings.label_smoothing, max_grad_norm=settings.grad_clip,
                                    passes=settings.passes, distill=settings.distill)
            save_checkpoint({"key": key, "epoch": epoch, "model": supernet.state_dict(),
                             "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
                             "order_rng": generator.get_state(), "torch_rng": torch.get_rng_state()}, path)
            if on_epoch is not None:
                on_epoch(epoch, stats.mean_loss, stats.seconds)
    return supernet.eval()


def _widths(width: float | None) -> str:
    return "every width" if width is None else f"width {width}"


class SupernetEvaluator:
    """Scores a candidate with the weights it inherits: its child, BatchNorm recalibrated, evaluated on validation.

    The objective calls it as it calls the proxy (``config, seed, on_epoch``); ``supernets`` holds the supernet of
    each width (one supernet for all of them where channels are sliced).
    The seed chooses the ``recalibration_images`` training images that re-estimate the child's BatchNorm
    statistics (trials use the study's seed), and the study's noise runs (several seeds) measure how much the
    score moves with them. The supernet's own training seed is fixed: its noise is not in that measurement.
    Children are scored on ``settings.device``, in channels-last, as the proxy's networks are.
    """

    def __init__(self, supernets: dict[float, Supernet], data: ImageData, settings: SupernetSettings) -> None:
        self.supernets, self.data, self.settings = supernets, data, settings
        self._recalibration: dict[int, torch.Tensor] = {}
        self.device = runtime.resolve_device(settings.device, setting="supernet device")
        # once: a pass over every training image; on the device, where children are scored as the proxy scores
        self.mean, self.std = (stat.to(self.device) for stat in data.channel_stats())

    def recalibration_images(self, seed: int) -> torch.Tensor:
        """The training images that re-estimate BatchNorm for ``seed`` (the same for every child)."""
        if seed not in self._recalibration:
            generator = torch.Generator().manual_seed(self.settings.seed + seed)
            order = torch.randperm(len(self.data.train_labels), generator=generator)
            self._recalibration[seed] = self.data.train_images[order[: self.settings.recalibration_images]]
        return self._recalibration[seed]

    def __call__(self, config: ArchConfig, seed: int = 0,
                 on_epoch: Callable[[int, float], bool] | None = None) -> ProxyResult:
        started = time.perf_counter()
        if config.width not in self.supernets:
            raise ValueError(f"supernet: none trained at width {config.width} (trained: "
                             f"{', '.join(map(str, sorted(self.supernets)))})")
        child = self.supernets[config.width].child(config).to(self.device, memory_format=torch.channels_last)
        images = self.recalibration_images(seed)
        with runtime.threads(self.settings.threads):
            recalibrate_batchnorm(child, images, self.mean, self.std, count=len(images))
            accuracy = evaluate(child, self.data.val_images, self.data.val_labels, self.mean, self.std).top1
        return ProxyResult(accuracy=accuracy, curve=[accuracy], seconds=time.perf_counter() - started)
