"""Full training of an architecture config: the step from a search result to a trained network.

The shared recipe (``recipe.py``: SGD with Nesterov momentum, warm-up then cosine
decay, weight decay, label smoothing) with random-crop (and flip) augmentation. Metrics go
to ``metrics.csv``/``metrics.json`` in the output folder each epoch, with
``last.pt`` (everything needed to resume exactly) and ``best.pt``. Runs on
several processes with ``torchrun`` (see ``distributed.py``).
"""

from __future__ import annotations

import csv
import dataclasses
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch
import torch.nn.functional as F

from .. import runtime
from ..builder import build_model
from ..config import ArchConfig
from ..costs import measure_costs
from ..data import load_dataset
from .checkpoint import load_checkpoint, save_checkpoint
from .distributed import join_process_group, process_device, rank_and_world_size, wrap_for_processes
from .loop import TrainingDiverged, evaluate, prepare_training, train_one_epoch
from .settings import TrainSettings

__all__ = ["TrainReport", "crop_and_flip", "TrainSettings", "load_trained", "train"]

@dataclass(frozen=True)
class TrainReport:
    out: Path
    epochs: int
    best_epoch: int
    top1: float  # best validation top-1
    top5: float  # top-5 at that epoch
    last_top1: float
    flops: int
    params: int
    resolution: int
    seconds: float
    resumed_from: int  # epochs done before this run
    num_classes_changed: bool
    world_size: int = 1  # processes that trained (torchrun)

    def to_dict(self) -> dict:
        return {k: (str(v) if isinstance(v, Path) else v) for k, v in dataclasses.asdict(self).items()}


def train(
    config: ArchConfig,
    settings: TrainSettings,
    out: str | Path,
    resume: bool = False,
    on_epoch: Callable[[dict], None] | None = None,
    on_step: Callable[[int, int], None] | None = None,
) -> TrainReport:
    """Train ``config`` on ``settings.dataset``; write metrics and checkpoints to ``out``."""
    rank, world_size = rank_and_world_size()
    out = Path(out).expanduser()
    last_path = out / "last.pt"
    if resume and not last_path.exists():
        raise ValueError(f"--resume: no checkpoint {last_path} to resume from")
    if not resume and last_path.exists():
        raise ValueError(f"--out: {out} already holds a run; add --resume to continue it or choose another folder")
    checkpoint = load_checkpoint(last_path) if resume else None  # first: a damaged or unsafe one stops everything
    if rank == 0:
        try:
            out.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise ValueError(f"--out: cannot create {out}: {error.strerror or error}") from None

    data = load_dataset(settings.dataset, settings.resolution, settings.data_dir, settings.download,
                        train_subset=settings.train_subset, seed=0, cache_dir=settings.cache_dir, cache=settings.cache)
    changed = config.num_classes != data.num_classes
    if changed:  # a config found on one dataset, trained on another: only the classifier changes
        config = dataclasses.replace(config, num_classes=data.num_classes)
    device = process_device(runtime.resolve_device(settings.device))
    join_process_group(device, world_size)

    started = time.perf_counter()
    with runtime.threads(settings.threads), runtime.seeded(settings.seed, device):
        steps_per_epoch = max(1, len(data.train_labels) // (settings.batch_size * world_size))
        model, optimizer, scheduler = prepare_training(config, settings, device, settings.epochs * steps_per_epoch)
        mean, std = (stat.to(device) for stat in data.channel_stats())
        generator = torch.Generator().manual_seed(settings.seed)  # the epochs' orders and augmentations
        history: list[dict] = []
        if resume:
            history = _restore(checkpoint, last_path, settings, config, model, optimizer, scheduler, generator)
        start_epoch = len(history)
        trained = wrap_for_processes(model, device, world_size)
        if rank == 0:
            config.save(out / "config.yaml")

        def augment(images: torch.Tensor) -> torch.Tensor:
            return crop_and_flip(images, settings.uses_flip, generator)

        best = max(history, key=lambda m: m["top1"]) if history else None
        for epoch in range(start_epoch + 1, settings.epochs + 1):
            epoch_start = time.perf_counter()
            order = torch.randperm(len(data.train_labels), generator=generator)
            try:
                stats = train_one_epoch(trained, data.train_images, data.train_labels, order, optimizer, scheduler,
                                        mean, std, batch_size=settings.batch_size, epoch=epoch,
                                        label_smoothing=settings.label_smoothing, augment=augment, rank=rank,
                                        world_size=world_size, on_step=on_step if rank == 0 else None,
                                        max_grad_norm=settings.grad_clip)
            except TrainingDiverged as error:
                raise ValueError(f"training diverged: {error}; lower --lr") from None
            scores = evaluate(model, data.val_images, data.val_labels, mean, std)
            metrics = {"epoch": epoch, "train_loss": stats.mean_loss, **dataclasses.asdict(scores),
                       "lr": optimizer.param_groups[0]["lr"], "seconds": time.perf_counter() - epoch_start,
                       "grad_norm_max": stats.grad_norm_max, "clipped_share": stats.clipped_share}
            history.append(metrics)
            if rank == 0:
                _write_metrics(out, history)
                save_checkpoint({"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                                 "scheduler": scheduler.state_dict(), "generator": generator.get_state(),
                                 "torch_rng": torch.get_rng_state(), "history": history, "epoch": epoch,
                                 "settings": settings.resumable_fields(), "config": config.to_dict()}, last_path)
                if best is None or metrics["top1"] > best["top1"]:
                    save_checkpoint({"model": model.state_dict(), "config": config.to_dict(), "metrics": metrics},
                                    out / "best.pt")
            best = max(history, key=lambda m: m["top1"])
            if on_epoch is not None and rank == 0:
                on_epoch(metrics)
        costs = measure_costs(config, settings.resolution)  # builds a model: draws initial weights from the seeded state
    report = TrainReport(out=out, epochs=settings.epochs, best_epoch=best["epoch"], top1=best["top1"], top5=best["top5"],
                         last_top1=history[-1]["top1"], flops=costs.flops, params=costs.params,
                         resolution=settings.resolution, seconds=time.perf_counter() - started,
                         resumed_from=start_epoch, num_classes_changed=changed, world_size=world_size)
    if rank == 0:
        (out / "report.json").write_text(json.dumps(report.to_dict(), indent=2) + "\n")
    return report


def _restore(state: dict, last_path: Path, settings: TrainSettings, config: ArchConfig, model, optimizer,
             scheduler, generator: torch.Generator) -> list[dict]:
    """Put a loaded ``last.pt`` into the run's objects and torch's generator; returns the epochs' metrics so far."""
    _check_holds(state, last_path, ("settings", "config", "model", "optimizer", "scheduler", "generator", "torch_rng",
                                    "history"))
    now = settings.resumable_fields() | {"config": config.to_dict()}
    before = state["settings"] | {"config": state["config"]}
    differing = [key for key in now if now[key] != before.get(key)]
    if differing:
        details = ", ".join(f"{key} {before.get(key)!r} -> {now[key]!r}" for key in differing)
        raise ValueError(f"--resume: {last_path.parent} was started with other settings ({details}); "
                         "resume with the same ones or choose another --out")
    model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    scheduler.load_state_dict(state["scheduler"])
    generator.set_state(state["generator"])
    torch.set_rng_state(state["torch_rng"])  # dropout's draws; runtime.seeded restores the caller's state after
    return state["history"]


def _check_holds(state: dict, path: Path, keys: tuple[str, ...]) -> None:
    missing = [key for key in keys if key not in state]
    if missing:
        raise ValueError(f"checkpoint {path}: not one that `ulsam-nas train` wrote here (no {', '.join(missing)})")


def crop_and_flip(images: torch.Tensor, flip: bool, generator: torch.Generator) -> torch.Tensor:
    """Random crop after reflection padding by 1/8 of the size, and optional horizontal flip (uint8 in, uint8 out)."""
    size = images.shape[-1]
    pad = max(1, size // 8)
    padded = F.pad(images.float(), (pad, pad, pad, pad), mode="reflect").to(torch.uint8)
    offsets = torch.randint(0, 2 * pad + 1, (len(images), 2), generator=generator)
    crops = torch.stack([padded[i, :, y: y + size, x: x + size] for i, (y, x) in enumerate(offsets.tolist())])
    if flip:
        mirrored = torch.rand(len(images), generator=generator) < 0.5
        crops[mirrored] = crops[mirrored].flip(-1)
    return crops


def _write_metrics(out: Path, history: list[dict]) -> None:
    (out / "metrics.json").write_text(json.dumps(history, indent=2) + "\n")
    with open(out / "metrics.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(history[0]))
        writer.writeheader()
        writer.writerows(history)


def load_trained(out: str | Path, which: str = "best") -> tuple[ArchConfig, torch.nn.Module]:
    """The config and the trained model of a ``train`` output folder."""
    path = Path(out).expanduser() / f"{which}.pt"
    state = load_checkpoint(path)
    _check_holds(state, path, ("config", "model"))
    config = ArchConfig.from_dict(state["config"])
    model = build_model(config)
    model.load_state_dict(state["model"])
    return config, model.eval()
