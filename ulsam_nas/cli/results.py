"""Commands on finished studies: ``pareto``, ``show``, ``export``, ``calibrate``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from ..search import DEFAULT_STORAGE
from ..text import format_count, format_table
from .app import StorageOption, StudyOption, app, friendly_errors, open_studies


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
    from ..export import export_fronts

    studies = open_studies(study, storage)
    points, written = export_fronts(studies, plot=out, x=x, y=y, csv=csv, json=as_json, hypervolume=hypervolume)
    typer.echo(f"front: {points} point(s) from {len(studies)} study(ies); wrote {', '.join(map(str, written))}")


@app.command()
@friendly_errors
def show(study: StudyOption = None, storage: StorageOption = None) -> None:
    """Print a study's Pareto front with each point's gain over the baseline."""
    from ..report import describe_front

    (chosen,) = open_studies(study, storage, one=True)
    typer.echo(describe_front(chosen))


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
    from ..budgets import parse_budget
    from ..export import export_trial, select_trial

    (chosen,) = open_studies(study, storage, one=True)
    record = select_trial(chosen, trial=trial, best=best, under=parse_budget(under) if under else None, objective=objective)
    path = export_trial(chosen, record, out, storage or DEFAULT_STORAGE)
    accuracy = f", accuracy {record.accuracy:.1%}" if record.accuracy is not None else ""
    typer.echo(f"trial {record.number} of {chosen.study_name!r} ({record.summary}{accuracy}, "
               f"{format_count(record.flops)} FLOPs) -> {path}")


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
    from ..calibrate import calibrate as run_calibration

    (chosen,) = open_studies(study, storage, one=True)
    report = run_calibration(chosen, trials, epochs, threads,
                             on_trial=lambda n, short, long: typer.echo(f"trial {n}: proxy {short:.1%} -> longer {long:.1%}"))
    typer.echo(f"{len(report.trials)} trials, proxy {report.proxy_epochs} epochs vs {report.long_epochs} epochs:")
    typer.echo(format_table([["proxy accuracy", f"{report.kendall_proxy:+.2f}", f"{report.spearman_proxy:+.2f}"],
                             ["FLOPs alone", f"{report.kendall_flops:+.2f}", f"{report.spearman_flops:+.2f}"]],
                            ["predictor of the longer run", "Kendall tau", "Spearman rho"]))
    if not report.proxy_beats_flops:
        typer.echo("warning: the proxy ranks no better than FLOPs alone; train longer (--proxy-epochs) "
                   "or at a larger --proxy-resolution", err=True)
