"""The ``ulsam-nas`` command line: a thin layer over the library API.

Each command parses its options, calls one library function and prints.
Errors a user can fix end in one line on stderr and exit code 2.
"""

from __future__ import annotations

import functools
import json
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
) -> None:
    """Search where to insert ULSAM, how many subspaces each gets and which blocks to drop.

    Scores each candidate by short proxy training and its FLOPs (multiply-accumulates at the
    deployment resolution), params and latency; prints the Pareto front. Rerun to resume.
    """
    from ._progress import SearchProgress
    from .report import baseline_gains, format_front
    from .search import SearchSettings, run_search

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


def main() -> None:
    app()
