"""Full training of an architecture config: the step from a search result to a trained network.

Standard recipe: SGD with Nesterov momentum, linear warm-up then cosine decay,
weight decay, label smoothing, random-crop (and flip) augmentation. Metrics go
to ``metrics.csv``/``metrics.json`` in the output folder each epoch, with
``last.pt`` (everything needed to resume exactly) and ``best.pt``. Runs on
several processes with ``torchrun`` (DistributedDataParallel; gloo on CPU,
NCCL on GPUs).
"""

from __future__ import annotations

import csv
import dataclasses
import json
import math
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch
import torch.nn.functional as F

from .builder import build_model
from .config import ArchConfig
from .costs import _threads, measure_costs
from .data import DEFAULT_DATASET, ImageData, load_dataset
from .proxy import TrainingDiverged, _normalised, sgd_step

__all__ = ["TrainReport", "TrainSettings", "train"]

_NO_FLIP = ("digits", "mnist", "svhn")  # mirrored digits are other digits


@dataclass(frozen=True)
class TrainSettings:
    dataset: str = DEFAULT_DATASET
    data_dir: str | None = None
    download: bool = False
    epochs: int = 30
    resolution: int = 224
    batch_size: int = 64
    lr: float = 0.05
    momentum: float = 0.9
    weight_decay: float = 4e-5
    label_smoothing: float = 0.1
    warmup_epochs: int = 1
    train_subset: int | None = None
    flip: bool | None = None  # None: on, except for digit datasets
    seed: int = 0
    threads: int | None = None
    device: str = "cpu"

    def __post_init__(self) -> None:
        for name in ("epochs", "resolution", "batch_size"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name}: must be a positive integer, got {value!r}")
        if self.resolution < 32:  # the smallest input every config runs on (and costs are counted at)
            raise ValueError(f"resolution: must be >= 32 pixels, got {self.resolution}")
        if not (math.isfinite(self.lr) and self.lr > 0):
            raise ValueError(f"lr: must be a positive number, got {self.lr!r}")

    @property
    def uses_flip(self) -> bool:
        return self.flip if self.flip is not None else self.dataset not in _NO_FLIP

    def resumable_fields(self) -> dict:
        """Settings that must not change across a resume (threads and device may)."""
        return {k: v for k, v in dataclasses.asdict(self).items() if k not in ("threads", "device", "data_dir")}


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


def _distributed() -> tuple[int, int]:
    world = int(os.environ.get("WORLD_SIZE", "1"))
    return int(os.environ.get("RANK", "0")), world


def _augment(images: torch.Tensor, flip: bool, generator: torch.Generator) -> torch.Tensor:
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


@torch.inference_mode()
def _evaluate(model, data: ImageData, mean, std, batch_size: int = 256) -> dict[str, float]:
    model.eval()
    top1 = top5 = loss = 0.0
    k = min(5, data.num_classes)
    device = mean.device
    for start in range(0, len(data.val_labels), batch_size):
        labels = data.val_labels[start: start + batch_size].to(device)
        logits = model(_normalised(data.val_images[start: start + batch_size], mean, std)).float()
        loss += float(F.cross_entropy(logits, labels, reduction="sum"))
        best = logits.topk(k, dim=1).indices
        top1 += float((best[:, 0] == labels).sum())
        top5 += float((best == labels[:, None]).any(dim=1).sum())
    model.train()
    count = max(1, len(data.val_labels))
    return {"val_loss": loss / count, "top1": top1 / count, "top5": top5 / count}


def _schedule(settings: TrainSettings, steps_per_epoch: int) -> Callable[[int], float]:
    warmup = settings.warmup_epochs * steps_per_epoch
    total = settings.epochs * steps_per_epoch

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        return 0.5 * (1 + math.cos(math.pi * (step - warmup) / max(1, total - warmup)))

    return factor


def train(
    config: ArchConfig,
    settings: TrainSettings,
    out: str | Path,
    resume: bool = False,
    on_epoch: Callable[[dict], None] | None = None,
    on_step: Callable[[int, int], None] | None = None,
) -> TrainReport:
    """Train ``config`` on ``settings.dataset``; write metrics and checkpoints to ``out``."""
    rank, world = _distributed()
    out = Path(out).expanduser()
    last_path = out / "last.pt"
    if resume and not last_path.exists():
        raise ValueError(f"--resume: no checkpoint {last_path} to resume from")
    if not resume and last_path.exists():
        raise ValueError(f"--out: {out} already holds a run; add --resume to continue it or choose another folder")
    if rank == 0:
        try:
            out.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise ValueError(f"--out: cannot create {out}: {error.strerror or error}") from None

    data = load_dataset(settings.dataset, settings.resolution, settings.data_dir, settings.download,
                        train_subset=settings.train_subset, seed=0)
    changed = config.num_classes != data.num_classes
    if changed:  # a config found on one dataset, trained on another: only the classifier changes
        config = dataclasses.replace(config, num_classes=data.num_classes)
    device = torch.device(settings.device)
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError("device: CUDA was asked for but torch.cuda.is_available() is False; use cpu")
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
    if world > 1 and not torch.distributed.is_initialized():
        torch.distributed.init_process_group("nccl" if device.type == "cuda" else "gloo")

    started = time.perf_counter()
    with _threads(settings.threads):
        torch.manual_seed(settings.seed)
        model = build_model(config).to(device, memory_format=torch.channels_last)
        mean, std = (stat.to(device) for stat in data.channel_stats())
        per_step = settings.batch_size * world
        steps_per_epoch = max(1, len(data.train_labels) // per_step)
        optimizer = torch.optim.SGD(model.parameters(), lr=settings.lr, momentum=settings.momentum,
                                    weight_decay=settings.weight_decay, nesterov=True)
        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, _schedule(settings, steps_per_epoch))
        generator = torch.Generator().manual_seed(settings.seed)
        history: list[dict] = []
        start_epoch = 0
        if resume:
            state = torch.load(last_path, map_location=device, weights_only=False)
            now = settings.resumable_fields() | {"config": config.to_dict()}
            before = state["settings"] | {"config": state["config"]}
            differing = [key for key in now if now[key] != before.get(key)]
            if differing:
                details = ", ".join(f"{key} {before.get(key)!r} -> {now[key]!r}" for key in differing)
                raise ValueError(f"--resume: {out} was started with other settings ({details}); "
                                 "resume with the same ones or choose another --out")
            model.load_state_dict(state["model"])
            optimizer.load_state_dict(state["optimizer"])
            scheduler.load_state_dict(state["scheduler"])
            generator.set_state(state["generator"])
            torch.set_rng_state(state["torch_rng"])
            history, start_epoch = state["history"], state["epoch"]
        trained = model
        if world > 1:
            trained = torch.nn.parallel.DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)
        if rank == 0:
            config.save(out / "config.yaml")
        best = max(history, key=lambda m: m["top1"]) if history else None
        for epoch in range(start_epoch + 1, settings.epochs + 1):
            epoch_start = time.perf_counter()
            order = torch.randperm(len(data.train_labels), generator=generator)
            running = 0.0
            for step in range(steps_per_epoch):
                batch = order[step * per_step: (step + 1) * per_step][rank::world]
                images = _normalised(_augment(data.train_images[batch], settings.uses_flip, generator), mean, std)
                try:
                    running += sgd_step(trained, images, data.train_labels[batch].to(device), optimizer, scheduler,
                                        settings.label_smoothing, f"epoch {epoch}, step {step + 1}")
                except TrainingDiverged as error:
                    raise ValueError(f"training diverged: {error}; lower --lr") from None
                if on_step is not None and rank == 0:
                    on_step(step + 1, steps_per_epoch)
            metrics = {"epoch": epoch, "train_loss": running / steps_per_epoch, **_evaluate(model, data, mean, std),
                       "lr": optimizer.param_groups[0]["lr"], "seconds": time.perf_counter() - epoch_start}
            history.append(metrics)
            if rank == 0:
                _write_metrics(out, history)
                state = {"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                         "scheduler": scheduler.state_dict(), "generator": generator.get_state(),
                         "torch_rng": torch.get_rng_state(), "history": history, "epoch": epoch,
                         "settings": settings.resumable_fields(), "config": config.to_dict()}
                _atomic_save(state, last_path)
                if best is None or metrics["top1"] > best["top1"]:
                    best = metrics
                    _atomic_save({"model": model.state_dict(), "config": config.to_dict(), "metrics": metrics},
                                 out / "best.pt")
            best = max(history, key=lambda m: m["top1"])
            if on_epoch is not None and rank == 0:
                on_epoch(metrics)
    costs = measure_costs(config, settings.resolution)
    report = TrainReport(out=out, epochs=settings.epochs, best_epoch=best["epoch"], top1=best["top1"], top5=best["top5"],
                         last_top1=history[-1]["top1"], flops=costs.flops, params=costs.params,
                         resolution=settings.resolution, seconds=time.perf_counter() - started,
                         resumed_from=start_epoch, num_classes_changed=changed, world_size=world)
    if rank == 0:
        (out / "report.json").write_text(json.dumps(report.to_dict(), indent=2) + "\n")
    return report


def _atomic_save(state: dict, path: Path) -> None:
    """Write then rename, so a crash mid-write never leaves a torn checkpoint."""
    partial = path.with_suffix(".partial")
    torch.save(state, partial)
    os.replace(partial, path)


def _write_metrics(out: Path, history: list[dict]) -> None:
    (out / "metrics.json").write_text(json.dumps(history, indent=2) + "\n")
    with open(out / "metrics.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(history[0]))
        writer.writeheader()
        writer.writerows(history)


def load_trained(out: str | Path, which: str = "best") -> tuple[ArchConfig, torch.nn.Module]:
    """The config and the trained model of a ``train`` output folder."""
    state = torch.load(Path(out).expanduser() / f"{which}.pt", map_location="cpu", weights_only=False)
    config = ArchConfig.from_dict(state["config"])
    model = build_model(config)
    model.load_state_dict(state["model"])
    return config, model.eval()
