"""Commands on finished studies: ``pareto``, ``show``, ``export``, ``refine``, ``calibrate``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from ..search.urls import DEFAULT_STORAGE
from .app import (CacheDirOption, DataDirOption, DownloadOption, NoCacheOption, StorageOption, StudyOption, app,
                  friendly_errors, open_studies)

StrictOption = Annotated[bool, typer.Option(
    "--strict", help="The strict Pareto front: also drop points beaten by less than the noise.")]


_WORKERS_HELP = ("Runs trained side by side, each in its own process (default: on a CPU one single-threaded run per "
                 "core, or cores / --threads; on a GPU one).")


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
    strict: StrictOption = False,
) -> None:
    """Plot the Pareto front of one or more studies (FLOPs are multiply-accumulates) and export it as a table.

    The front is noise-aware and, once a study is refined, on its refined accuracies; the table has each
    accuracy's uncertainty (accuracy_sigma) and the proxy's accuracy beside it.
    """
    from ..export import export_fronts

    studies = open_studies(study, storage)
    points, written = export_fronts(studies, plot=out, x=x, y=y, csv=csv, json=as_json, hypervolume=hypervolume,
                                    strict=strict)
    typer.echo(f"front: {points} point(s) from {len(studies)} study(ies); wrote {', '.join(map(str, written))}")


@app.command()
@friendly_errors
def show(study: StudyOption = None, storage: StorageOption = None, strict: StrictOption = False) -> None:
    """Print a study's Pareto front, each accuracy ± its uncertainty, with each point's gain over the baseline."""
    from ..present.study import show_text
    from ..report import study_results

    (chosen,) = open_studies(study, storage, one=True)
    typer.echo(show_text(study_results(chosen), strict=strict))


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
    from ..present.formats import format_accuracy, format_count
    from ..report import study_results

    (chosen,) = open_studies(study, storage, one=True)
    record = select_trial(chosen, trial=trial, best=best, under=parse_budget(under) if under else None, objective=objective)
    path = export_trial(chosen, record, out, storage or DEFAULT_STORAGE)
    known = study_results(chosen).trial(record.number)
    accuracy = "" if known.accuracy != known.accuracy else \
        f", {known.basis} accuracy {format_accuracy(known.accuracy, known.sigma)}"
    typer.echo(f"trial {record.number} of {chosen.study_name!r} ({record.summary}{accuracy}, "
               f"{format_count(record.flops)} FLOPs) -> {path}")


@app.command()
@friendly_errors
def refine(
    study: StudyOption = None,
    storage: StorageOption = None,
    count: Annotated[int, typer.Option("--refine", help="How many front points and baselines to retrain, at most.")] = 8,
    data_dir: DataDirOption = None,
    download: DownloadOption = False,
    cache_dir: CacheDirOption = None,
    no_cache: NoCacheOption = False,
    threads: Annotated[Optional[int], typer.Option(help="CPU threads.")] = None,
    device: Annotated[Optional[str], typer.Option(help="Training device: cpu or cuda.")] = None,
    workers: Annotated[Optional[int], typer.Option(min=1, help=_WORKERS_HELP)] = None,
) -> None:
    """Retrain a study's front and baselines longer (3x the proxy's images, all the data, 2 seeds); resumable.

    The refined accuracies become the study's front for show, pareto and export --best; prints how well
    the proxy ranked them (Kendall tau, next to FLOPs and params alone).
    """
    from ..present.runs import refine_report_text
    from ..present.study import show_text
    from ..refine import RefineSettings, refine_study
    from ..report import study_results

    (chosen,) = open_studies(study, storage, one=True)
    report = refine_study(chosen, RefineSettings(count=count), on_result=echo_refined_run, data_dir=data_dir,
                          download=download, cache_dir=cache_dir, cache=not no_cache, threads=threads, device=device,
                          processes=workers, on_estimate=echo_refine_estimate)
    typer.echo(refine_report_text(report))
    typer.echo(show_text(study_results(chosen)))


def echo_refine_estimate(estimate) -> None:
    """The refinement's runs to do, those done and its expected time, before the first run (``on_estimate``)."""
    from ..present.estimates import refine_estimate_line

    typer.echo(refine_estimate_line(estimate), err=True)


def echo_refined_run(run) -> None:
    """One line per finished refinement run (``refine_study``'s ``on_result``)."""
    typer.echo(f"refined trial {run.trial} seed {run.seed}: {run.accuracy:.1%} in {run.seconds:.1f}s", err=True)


@app.command()
@friendly_errors
def calibrate(
    study: StudyOption = None,
    storage: StorageOption = None,
    trials: Annotated[int, typer.Option(help="How many trials to retrain (front and off-front).")] = 6,
    epochs: Annotated[Optional[int], typer.Option(help=(
        "Epochs of the longer training, on all the training data (default: refinement's, 3x the proxy's images)."))] = None,
    threads: Annotated[Optional[int], typer.Option(help="CPU threads.")] = None,
    workers: Annotated[Optional[int], typer.Option(min=1, help=_WORKERS_HELP)] = None,
) -> None:
    """Check the proxy: retrain some trials for longer and compare rankings (Kendall tau, Spearman rho) with FLOPs'."""
    from ..calibrate import calibrate as run_calibration
    from ..present.runs import calibration_text

    (chosen,) = open_studies(study, storage, one=True)
    report = run_calibration(chosen, trials, epochs, threads, processes=workers,
                             on_trial=lambda n, short, long: typer.echo(f"trial {n}: proxy {short:.1%} -> longer {long:.1%}"))
    text, warning = calibration_text(report)
    typer.echo(text)
    if warning:
        typer.echo(warning, err=True)
