"""``ulsam-nas train``: full training of an architecture config, with resume and deployable exports."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from ..config import ArchConfig
from ..present.formats import format_count
from ..training.settings import TrainSettings
from .app import CacheDirOption, DataDirOption, DownloadOption, NoCacheOption, app, friendly_errors

_TRAIN = TrainSettings()


@app.command(name="train")
@friendly_errors
def train_command(
    config: Annotated[Path, typer.Argument(help="Architecture config (YAML/JSON), e.g. from `ulsam-nas export`.")],
    out: Annotated[Path, typer.Option(help="Output folder: metrics, checkpoints, report.")] = Path("runs/train"),
    dataset: Annotated[str, typer.Option(help="digits, a torchvision name, or imagefolder:PATH.")] = _TRAIN.dataset,
    data_dir: DataDirOption = _TRAIN.data_dir,
    download: DownloadOption = _TRAIN.download,
    cache_dir: CacheDirOption = _TRAIN.cache_dir,
    no_cache: NoCacheOption = False,
    epochs: Annotated[int, typer.Option(help="Training epochs.")] = _TRAIN.epochs,
    resolution: Annotated[int, typer.Option(help="Input size in pixels (costs are reported at this size).")] = _TRAIN.resolution,
    batch_size: Annotated[int, typer.Option(help="Batch size per process.")] = _TRAIN.batch_size,
    lr: Annotated[float, typer.Option(help="Peak learning rate (SGD, Nesterov; warm-up then cosine).")] = _TRAIN.lr,
    weight_decay: Annotated[float, typer.Option(help="Weight decay.")] = _TRAIN.weight_decay,
    label_smoothing: Annotated[float, typer.Option(help="Label smoothing.")] = _TRAIN.label_smoothing,
    warmup: Annotated[float, typer.Option(help="Share of the steps spent warming the learning rate up.")] = _TRAIN.warmup,
    zero_init_residual: Annotated[bool, typer.Option(
        "--zero-init-residual/--no-zero-init-residual",
        help="Start each residual block as the identity (its last BatchNorm's scale at zero).")] = _TRAIN.zero_init_residual,
    grad_clip: Annotated[float, typer.Option(
        help="Largest gradient norm per step; 0 turns clipping off.")] = _TRAIN.grad_clip or 0.0,
    train_subset: Annotated[Optional[int], typer.Option(help="At most this many training images.")] = _TRAIN.train_subset,
    seed: Annotated[int, typer.Option(help="Seed of initialisation, order and augmentation.")] = _TRAIN.seed,
    threads: Annotated[Optional[int], typer.Option(help="CPU threads.")] = _TRAIN.threads,
    device: Annotated[str, typer.Option(help="cpu or cuda.")] = _TRAIN.device,
    resume: Annotated[bool, typer.Option("--resume", help="Continue the run in --out exactly where it stopped.")] = False,
    export_format: Annotated[Optional[list[str]], typer.Option(
        "--export", help="Also write the best model as onnx and/or torchscript, checked against PyTorch.")] = None,
) -> None:
    """Train an architecture config fully; resume with --resume; run on several processes with torchrun."""
    from rich.progress import Progress

    from ..deploy import check_formats, export_trained
    from ..training.full import train

    arch = ArchConfig.load(config)
    settings = TrainSettings(dataset=dataset, data_dir=data_dir, download=download, cache_dir=cache_dir,
                             cache=not no_cache, epochs=epochs, resolution=resolution,
                             batch_size=batch_size, lr=lr, weight_decay=weight_decay, label_smoothing=label_smoothing,
                             warmup=warmup, zero_init_residual=zero_init_residual, grad_clip=grad_clip or None,
                             train_subset=train_subset, seed=seed, threads=threads, device=device)
    check_formats(export_format or [])
    with Progress(transient=True, disable=not sys.stderr.isatty()) as bar:
        task = bar.add_task("epoch", total=None)

        def on_step(step: int, total: int) -> None:
            bar.update(task, completed=step, total=total)

        def on_epoch(m: dict) -> None:
            bar.console.print(f"epoch {m['epoch']}/{epochs}: loss {m['train_loss']:.3f}, top-1 {m['top1']:.1%}, "
                              f"top-5 {m['top5']:.1%}, lr {m['lr']:.4f}, {m['seconds']:.1f}s", highlight=False)

        try:
            report = train(arch, settings, out, resume=resume, on_epoch=on_epoch, on_step=on_step)
        except KeyboardInterrupt:
            typer.echo(f"interrupted: the last finished epoch is saved in {out}/last.pt; "
                       f"continue with the same command and --resume", err=True)
            raise typer.Exit(130)
    if int(os.environ.get("RANK", "0")) != 0:
        return
    if report.num_classes_changed:
        typer.echo("note: classifier resized to the dataset's classes")
    typer.echo(f"best top-1 {report.top1:.1%} (top-5 {report.top5:.1%}) at epoch {report.best_epoch}; "
               f"last {report.last_top1:.1%}; {format_count(report.flops)} FLOPs (MACs) and "
               f"{format_count(report.params)} params at {resolution}x{resolution}; metrics, checkpoints in {report.out}")
    for check in export_trained(out, export_format or [], resolution):
        agreement = (f"max |difference| from PyTorch {check.max_abs_difference:.2e}"
                     if check.max_abs_difference is not None else check.note)
        typer.echo(f"exported {check.path} ({agreement})")
