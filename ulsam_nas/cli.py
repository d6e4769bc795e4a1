"""The ``ulsam-nas`` command line: a thin layer over the library API.

Each command parses its options, calls one library function and prints.
Errors a user can fix end in one line on stderr and exit code 2.
"""

from __future__ import annotations

import functools
import json
import os
import sys
from pathlib import Path
from typing import Annotated, Callable, Optional

import typer

from ._text import format_count, format_table
from .backbones import backbone_blocks, feature_sizes, valid_subspaces
from .config import ArchConfig
from .costs import DEFAULT_RESOLUTION, measure_costs

app = typer.Typer(
    help="Neural architecture search for compact CNNs with ULSAM. FLOPs are multiply-accumulates (MACs), "
    "the MobileNet/ULSAM papers' convention.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)

USAGE_ERROR = 2


def fail(message: str, code: int = USAGE_ERROR) -> None:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def friendly_errors(command: Callable) -> Callable:
    """Turn the library's ValueErrors (bad input) into one line and exit code 2."""

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except ValueError as error:
            fail(str(error))
        except OSError as error:
            fail(f"{error.strerror or error}: {error.filename}" if error.filename else str(error), code=1)

    return wrapper


ResolutionOption = Annotated[int, typer.Option(help="Deployment input size in pixels (square); costs are those of this size.")]


@app.command()
@friendly_errors
def blocks(
    backbone: Annotated[str, typer.Argument(help="mobilenet_v1 or mobilenet_v2.")],
    width: Annotated[float, typer.Option(help="Width multiplier.")] = 1.0,
    resolution: ResolutionOption = DEFAULT_RESOLUTION,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """List the numbered blocks of a backbone: what can be dropped and where ULSAM fits."""
    specs = backbone_blocks(backbone, width)
    sizes = feature_sizes(specs, resolution)
    rows = [
        {
            "index": spec.index, "kind": spec.kind, "in_channels": spec.in_channels, "out_channels": spec.out_channels,
            "stride": spec.stride, "feature_size": size, "droppable": spec.droppable,
            "ulsam_subspaces": valid_subspaces(spec.out_channels),
        }
        for spec, size in zip(specs, sizes)
    ]
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    table = [
        [r["index"], r["kind"], r["in_channels"], r["out_channels"], r["stride"], f"{r['feature_size']}x{r['feature_size']}",
         "yes" if r["droppable"] else "", ",".join(str(g) for g in r["ulsam_subspaces"] if g <= 64)]
        for r in rows
    ]
    typer.echo(f"{backbone} width {width:g} at {resolution}x{resolution}")
    typer.echo(format_table(table, ["block", "kind", "in", "out", "stride", "output", "droppable", "ULSAM subspaces (<=64)"]))


@app.command()
@friendly_errors
def cost(
    config: Annotated[Path, typer.Argument(help="Architecture config file (YAML or JSON).")],
    resolution: ResolutionOption = DEFAULT_RESOLUTION,
    latency: Annotated[bool, typer.Option(help="Also measure latency (batch 1, inference, BatchNorm folded).")] = False,
    device: Annotated[str, typer.Option(help="Device for latency: cpu or cuda.")] = "cpu",
    threads: Annotated[int, typer.Option(help="CPU threads for latency.")] = 1,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON (keys flops, params, latency_ms, ...).")] = False,
) -> None:
    """FLOPs (multiply-accumulates), parameters and optionally measured latency of an architecture config."""
    arch = ArchConfig.load(config)
    report = measure_costs(arch, resolution=resolution, latency=latency, device=device, threads=threads)
    if as_json:
        typer.echo(json.dumps({"config": arch.to_dict(), **report.to_dict()}, indent=2))
        return
    rows = [
        ["architecture", arch.summary()],
        ["FLOPs (MACs)", f"{format_count(report.flops)} ({report.flops:,})"],
        ["params", f"{format_count(report.params)} ({report.params:,})"],
        ["resolution", f"{resolution}x{resolution}"],
    ]
    if report.latency_ms is not None:
        where = report.latency_device + (f", {report.latency_threads} thread(s)" if report.latency_threads else "")
        rows.append(["latency", f"{report.latency_ms:.2f} ms median (IQR {report.latency_iqr_ms:.2f} ms; "
                                f"{where}, batch 1, BatchNorm folded)"])
    typer.echo(format_table(rows, ["cost", "value"]))


@app.command()
@friendly_errors
def spaces() -> None:
    """List the bundled search spaces (use a name or a path to your own file with --space)."""
    from .space import list_spaces, load_space

    rows = []
    for name, path in list_spaces().items():
        space = load_space(path)
        rows.append([name, space.backbone, ",".join(f"{w:g}" for w in space.widths), ",".join(map(str, space.drop)),
                     ",".join(map(str, space.ulsam_after)), ",".join(map(str, space.subspaces)), space.resolution])
    typer.echo(format_table(rows, ["space", "backbone", "widths", "droppable", "ULSAM after", "subspaces", "resolution"]))


@app.command()
@friendly_errors
def search(
    budget: Annotated[Optional[list[str]], typer.Option(
        help="Hard budget, repeatable: <n><K|M|G>-flops (multiply-accumulates), <n><K|M|G>-params, <n>ms-latency.")] = None,
    objective: Annotated[Optional[list[str]], typer.Option(
        help="Objective, repeatable: accuracy (maximised), flops, params, latency (minimised). Default: accuracy, flops.")] = None,
    space: Annotated[Optional[str], typer.Option(help="Search space: a bundled name (see `ulsam-nas spaces`) or a YAML path.")] = None,
    dataset: Annotated[Optional[str], typer.Option(
        help="digits (bundled, default), a torchvision name (cifar10, flowers102, ...) or imagefolder:PATH.")] = None,
    data_dir: Annotated[Optional[str], typer.Option(help="Root folder of torchvision datasets.")] = None,
    download: Annotated[Optional[bool], typer.Option("--download", help="Let torchvision download the dataset.")] = None,
    sampler: Annotated[Optional[str], typer.Option(help="nsga2, tpe or random.")] = None,
    seed: Annotated[Optional[int], typer.Option(help="Seed of the sampler and the proxy training.")] = None,
    trials: Annotated[Optional[int], typer.Option(help="The study's total number of trials (a rerun completes the rest).")] = None,
    timeout: Annotated[Optional[str], typer.Option(help="Stop starting trials after this long: 90s, 30m, 2h.")] = None,
    proxy_epochs: Annotated[Optional[int], typer.Option(help="Proxy training epochs.")] = None,
    proxy_resolution: Annotated[Optional[int], typer.Option(help="Proxy training input size in pixels.")] = None,
    proxy_subset: Annotated[Optional[int], typer.Option(help="At most this many training images for the proxy.")] = None,
    proxy_lr: Annotated[Optional[float], typer.Option(help="Proxy peak learning rate.")] = None,
    proxy_batch_size: Annotated[Optional[int], typer.Option(help="Proxy batch size.")] = None,
    threads: Annotated[Optional[int], typer.Option(help="CPU threads for proxy training (default: PyTorch's).")] = None,
    device: Annotated[Optional[str], typer.Option(help="Proxy training device: cpu (default) or cuda.")] = None,
    latency_device: Annotated[Optional[str], typer.Option(help="Device latency is measured on: cpu (default) or cuda.")] = None,
    resolution: Annotated[Optional[int], typer.Option(
        help="Deployment input size in pixels (default: the space's, 224); costs are those of this size.")] = None,
    early_stopping: Annotated[Optional[bool], typer.Option(
        "--early-stopping/--no-early-stopping", help="Stop clearly dominated candidates early.")] = None,
    storage: Annotated[Optional[str], typer.Option(help="Optuna storage URL (default: sqlite:///ulsam-nas.db here).")] = None,
    study: Annotated[Optional[str], typer.Option(help="Study name (default: from space, dataset and budgets).")] = None,
    config: Annotated[Optional[Path], typer.Option(help="A study definition (studies/NAME.yaml, or its name); flags override it.")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", help="Log lines only, no progress bar.")] = False,
    workers: Annotated[int, typer.Option(help="Worker processes on this machine, cores split between them "
                                              "(needs a journal: or postgresql:// storage).")] = 1,
) -> None:
    """Search where to insert ULSAM, how many subspaces each gets and which blocks to drop.

    Scores each candidate by short proxy training and its FLOPs (multiply-accumulates at the
    deployment resolution), params and latency; prints the Pareto front. Rerun to resume.
    """
    from ._progress import SearchProgress
    from .report import baseline_gains, format_front
    from .search import SearchSettings, run_search, run_workers

    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)  # one line per trial comes from SearchProgress
    settings = SearchSettings.load(config) if config is not None else SearchSettings()
    settings = settings.with_overrides(
        budgets=budget or None, objectives=objective or None, space=space, dataset=dataset, data_dir=data_dir,
        download=download, sampler=sampler, seed=seed, trials=trials, timeout=timeout, resolution=resolution,
        early_stopping=early_stopping, storage=storage, study=study, proxy_epochs=proxy_epochs,
        proxy_resolution=proxy_resolution, proxy_train_subset=proxy_subset, proxy_lr=proxy_lr,
        proxy_batch_size=proxy_batch_size, proxy_threads=threads, proxy_device=device, latency_device=latency_device,
    )
    if workers > 1:
        outcome = run_workers(settings, workers)
    else:
        with SearchProgress(quiet=quiet) as progress:
            outcome = run_search(settings, on_start=progress.start, on_trial=progress.trial)
    frame = outcome.frame()
    front = outcome.front()
    resolution_px = settings.resolution or outcome.space.resolution
    typer.echo(f"\nPareto front of study {outcome.study_name!r}: {', '.join(settings.objectives)}; "
               f"FLOPs are multiply-accumulates at {resolution_px}x{resolution_px}; "
               f"accuracy is proxy validation top-1 on {settings.dataset} "
               f"({outcome.study.user_attrs.get('validation_images', '?')} held-out images).")
    if settings.budgets:
        typer.echo(f"Every point is within budget: {', '.join(settings.budgets)}.")
    typer.echo(format_front(front) if len(front) else "(no feasible trial finished yet)")
    gains = baseline_gains(frame, front)
    if gains:
        typer.echo("\nAgainst hand design:\n  " + "\n  ".join(gains))
    counts = frame["status"].value_counts().to_dict()
    typer.echo("\nTrials: " + ", ".join(f"{n} {status}" for status, n in sorted(counts.items())))
    typer.echo(f"Results stored in {outcome.storage} (study {outcome.study_name!r}).")
    if outcome.interrupted:
        typer.echo("Interrupted: the running trial was marked failed. Rerun the same command to resume.", err=True)
        raise typer.Exit(130)


StudyOption = Annotated[Optional[list[str]], typer.Option(
    "--study", help="Study name (repeatable for pareto); default: the most recent study in the storage.")]
StorageOption = Annotated[Optional[str], typer.Option(help="Optuna storage URL (default: sqlite:///ulsam-nas.db here).")]


def _studies(names: Optional[list[str]], storage: Optional[str]):
    from .search import open_study

    return [open_study(storage, name) for name in (names or [None])]


@app.command()
@friendly_errors
def pareto(
    study: StudyOption = None,
    storage: StorageOption = None,
    out: Annotated[Optional[Path], typer.Option(help="Plot file: .png, .svg or .pdf (default pareto.png).")] = None,
    x: Annotated[str, typer.Option(help="x axis: flops, params or latency.")] = "flops",
    y: Annotated[str, typer.Option(help="y axis: accuracy.")] = "accuracy",
    csv: Annotated[Optional[Path], typer.Option(help="Also write the front as CSV.")] = None,
    as_json: Annotated[Optional[Path], typer.Option("--json", help="Also write the front as JSON.")] = None,
    hypervolume: Annotated[Optional[Path], typer.Option(help="Also plot the hypervolume history to this file.")] = None,
) -> None:
    """Plot the Pareto front of one or more studies (FLOPs are multiply-accumulates) and export it as a table."""
    from .plots import front_plot_info, hypervolume_histories, plot_fronts, plot_hypervolume
    from .report import front_table

    studies = _studies(study, storage)
    infos = [front_plot_info(s, x, y) for s in studies]
    resolution = studies[0].user_attrs.get("settings", {}).get("resolution")
    written = []
    if out is not None or (csv is None and as_json is None and hypervolume is None):
        written.append(plot_fronts(infos, out or Path("pareto.png"), resolution))
    table = front_table(studies)
    for path, write in ((csv, lambda p: table.to_csv(p, index=False)),
                        (as_json, lambda p: table.to_json(p, orient="records", indent=2))):
        if path is not None:
            _write_checked(path, write)
            written.append(path)
    if hypervolume is not None:
        written.append(plot_hypervolume(hypervolume_histories(studies), hypervolume))
    typer.echo(f"front: {len(table)} point(s) from {len(studies)} study(ies); wrote {', '.join(map(str, written))}")


def _write_checked(path: Path, write: Callable[[Path], None]) -> None:
    path = Path(path).expanduser()
    if not path.parent.exists():
        raise ValueError(f"output: folder {path.parent} does not exist")
    try:
        write(path)
    except OSError as error:
        raise ValueError(f"output: cannot write {path}: {error.strerror or error}") from None


@app.command()
@friendly_errors
def show(study: StudyOption = None, storage: StorageOption = None) -> None:
    """Print a study's Pareto front with each point's gain over the baseline."""
    from .report import format_front, front_with_gains

    (chosen,) = _studies(study[:1] if study else None, storage)
    front, reference = front_with_gains(chosen)
    typer.echo(f"study {chosen.study_name!r}: {len(chosen.trials)} trials; FLOPs are multiply-accumulates")
    typer.echo(format_front(front, gains=reference))


@app.command()
@friendly_errors
def export(
    out: Annotated[Path, typer.Option(help="Where to write the config (YAML).")] = Path("winner.yaml"),
    trial: Annotated[Optional[int], typer.Option(help="Export this trial.")] = None,
    best: Annotated[bool, typer.Option("--best", help="Export the best point of the front.")] = False,
    under: Annotated[Optional[str], typer.Option(help="With --best: only points within this budget, e.g. 280M-flops.")] = None,
    objective: Annotated[str, typer.Option(help="With --best: the objective to optimise (accuracy is maximised).")] = "accuracy",
    study: StudyOption = None,
    storage: StorageOption = None,
) -> None:
    """Write a trial's architecture config, with provenance, for `cost`, `train` or build_model."""
    from .budgets import parse_budget
    from .export import export_trial, select_trial
    from .search import DEFAULT_STORAGE

    (chosen,) = _studies(study[:1] if study else None, storage)
    picked = select_trial(chosen, trial=trial, best=best, under=parse_budget(under) if under else None,
                          objective=objective)
    path = export_trial(chosen, picked, out, storage or DEFAULT_STORAGE)
    attrs = picked.user_attrs
    accuracy = f", accuracy {attrs['accuracy']:.1%}" if "accuracy" in attrs else ""
    typer.echo(f"trial {picked.number} of {chosen.study_name!r} ({attrs['summary']}{accuracy}, "
               f"{format_count(attrs['flops'])} FLOPs) -> {path}")


@app.command(name="train")
@friendly_errors
def train_command(
    config: Annotated[Path, typer.Argument(help="Architecture config (YAML/JSON), e.g. from `ulsam-nas export`.")],
    out: Annotated[Path, typer.Option(help="Output folder: metrics, checkpoints, report.")] = Path("runs/train"),
    dataset: Annotated[str, typer.Option(help="digits (default), a torchvision name, or imagefolder:PATH.")] = "digits",
    data_dir: Annotated[Optional[str], typer.Option(help="Root folder of torchvision datasets.")] = None,
    download: Annotated[bool, typer.Option("--download", help="Let torchvision download the dataset.")] = False,
    epochs: Annotated[int, typer.Option(help="Training epochs.")] = 30,
    resolution: Annotated[int, typer.Option(help="Input size in pixels (costs are reported at this size).")] = 224,
    batch_size: Annotated[int, typer.Option(help="Batch size per process.")] = 64,
    lr: Annotated[float, typer.Option(help="Peak learning rate (SGD, Nesterov; warm-up then cosine).")] = 0.05,
    weight_decay: Annotated[float, typer.Option(help="Weight decay.")] = 4e-5,
    label_smoothing: Annotated[float, typer.Option(help="Label smoothing.")] = 0.1,
    train_subset: Annotated[Optional[int], typer.Option(help="At most this many training images.")] = None,
    seed: Annotated[int, typer.Option(help="Seed of initialisation, order and augmentation.")] = 0,
    threads: Annotated[Optional[int], typer.Option(help="CPU threads.")] = None,
    device: Annotated[str, typer.Option(help="cpu or cuda.")] = "cpu",
    resume: Annotated[bool, typer.Option("--resume", help="Continue the run in --out exactly where it stopped.")] = False,
    export_format: Annotated[Optional[list[str]], typer.Option(
        "--export", help="Also write the best model as onnx and/or torchscript, checked against PyTorch.")] = None,
) -> None:
    """Train an architecture config fully; resume with --resume; run on several processes with torchrun."""
    from .train import TrainSettings, load_trained, train

    arch = ArchConfig.load(config)
    settings = TrainSettings(dataset=dataset, data_dir=data_dir, download=download, epochs=epochs, resolution=resolution,
                             batch_size=batch_size, lr=lr, weight_decay=weight_decay, label_smoothing=label_smoothing,
                             train_subset=train_subset, seed=seed, threads=threads, device=device)
    for fmt in export_format or []:
        from .deploy import FORMATS
        if fmt not in FORMATS:
            raise ValueError(f"--export: unknown format {fmt!r}; valid: {', '.join(FORMATS)}")
    from rich.progress import Progress

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
    for fmt in export_format or []:
        from .deploy import export_model

        _, model = load_trained(out)
        check = export_model(model, out / ("model.onnx" if fmt == "onnx" else "model.torchscript.pt"), fmt, resolution)
        agreement = (f"max |difference| from PyTorch {check.max_abs_difference:.2e}"
                     if check.max_abs_difference is not None else check.note)
        typer.echo(f"exported {check.path} ({agreement})")


@app.command()
@friendly_errors
def calibrate(
    study: StudyOption = None,
    storage: StorageOption = None,
    trials: Annotated[int, typer.Option(help="How many trials to retrain (front and off-front).")] = 6,
    epochs: Annotated[Optional[int], typer.Option(help="Epochs of the longer training (default 3x the proxy's).")] = None,
    threads: Annotated[Optional[int], typer.Option(help="CPU threads.")] = None,
) -> None:
    """Check the proxy: retrain some trials for longer and compare rankings (Kendall tau, Spearman rho) with FLOPs'."""
    from .calibrate import calibrate as run_calibration

    (chosen,) = _studies(study[:1] if study else None, storage)
    report = run_calibration(chosen, trials, epochs, threads,
                             on_trial=lambda n, short, long: typer.echo(f"trial {n}: proxy {short:.1%} -> longer {long:.1%}"))
    typer.echo(f"{len(report.trials)} trials, proxy {report.proxy_epochs} epochs vs {report.long_epochs} epochs:")
    typer.echo(format_table([["proxy accuracy", f"{report.kendall_proxy:+.2f}", f"{report.spearman_proxy:+.2f}"],
                             ["FLOPs alone", f"{report.kendall_flops:+.2f}", f"{report.spearman_flops:+.2f}"]],
                            ["predictor of the longer run", "Kendall tau", "Spearman rho"]))
    if not report.proxy_beats_flops:
        typer.echo("warning: the proxy ranks no better than FLOPs alone; train longer (--proxy-epochs) "
                   "or at a larger --proxy-resolution", err=True)


def main() -> None:
    app()
