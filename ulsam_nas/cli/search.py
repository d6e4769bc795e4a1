"""``ulsam-nas search``: flags over a study definition, then the search, then its summary."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Annotated, Optional

import typer

from ..search.settings import SearchSettings
from ..training.settings import AUTO, AUTO_IMAGES, AUTO_MAX_EPOCHS, AUTO_SUBSET, ProxySettings
from .app import CacheDirOption, DataDirOption, NoCacheOption, StorageOption, app, default_help, friendly_errors, given

_SEARCH, _PROXY = SearchSettings(), ProxySettings()


@app.command()
@friendly_errors
def search(
    budget: Annotated[Optional[list[str]], typer.Option(
        help="Hard budget, repeatable: <n><K|M|G>-flops (multiply-accumulates), <n><K|M|G>-params, <n>ms-latency.")] = None,
    objective: Annotated[Optional[list[str]], typer.Option(help=default_help(
        "Objective, repeatable: accuracy (maximised), flops, params, latency (minimised).",
        ", ".join(_SEARCH.objectives)))] = None,
    space: Annotated[Optional[str], typer.Option(help=default_help(
        "Search space: a bundled name (see `ulsam-nas spaces`) or a YAML path.", _SEARCH.space))] = None,
    dataset: Annotated[Optional[str], typer.Option(help=default_help(
        "digits (bundled), a torchvision name (cifar10, flowers102, ...) or imagefolder:PATH.", _SEARCH.dataset))] = None,
    data_dir: DataDirOption = None,
    download: Annotated[Optional[bool], typer.Option("--download", help="Let torchvision download the dataset.")] = None,
    cache_dir: CacheDirOption = None,
    no_cache: NoCacheOption = False,
    sampler: Annotated[Optional[str], typer.Option(help=default_help("nsga2, tpe or random.", _SEARCH.sampler))] = None,
    seed: Annotated[Optional[int], typer.Option(help=default_help(
        "Seed of the sampler and the proxy training.", _SEARCH.seed))] = None,
    trials: Annotated[Optional[int], typer.Option(help=default_help(
        "The study's total number of trials (a rerun completes the rest).", _SEARCH.trials))] = None,
    timeout: Annotated[Optional[str], typer.Option(help="Stop starting trials after this long: 90s, 30m, 2h.")] = None,
    time_budget: Annotated[Optional[str], typer.Option(help=(
        "Choose the trial count (at most --trials) from the estimated time per trial so the search fits this long: "
        "30m, 2h; refused, naming proxy settings that fit, when not even the baselines and 10 trials fit."))] = None,
    proxy_epochs: Annotated[Optional[str], typer.Option(help=default_help(
        f"Proxy training epochs, or auto: enough to train on about {AUTO_IMAGES:,} images, at most {AUTO_MAX_EPOCHS} "
        "(one epoch of a large dataset's subset).", _PROXY.epochs))] = None,
    proxy_resolution: Annotated[Optional[int], typer.Option(help=default_help(
        "Proxy training input size in pixels.", _PROXY.resolution))] = None,
    proxy_subset: Annotated[Optional[str], typer.Option(help=default_help(
        f"At most this many training images for the proxy; all; or auto: {AUTO_SUBSET:,} of a larger dataset, "
        "else all. Chosen on the proxy-fidelity ladder (benchmarks/RESULTS.md).", _PROXY.train_subset))] = None,
    proxy_lr: Annotated[Optional[float], typer.Option(help=default_help("Proxy peak learning rate.", _PROXY.lr))] = None,
    proxy_batch_size: Annotated[Optional[int], typer.Option(help=default_help(
        "Proxy batch size.", _PROXY.batch_size))] = None,
    evaluator: Annotated[Optional[str], typer.Option(help=default_help(
        "How candidates are scored: proxy (each trained alone, briefly) or supernet (one supernet of every width trained "
        "first, kept beside the study; each candidate scored with its weights in seconds).", _SEARCH.evaluator))] = None,
    supernet_epochs: Annotated[Optional[int], typer.Option(help=default_help(
        "Supernet training epochs on all the training images (--evaluator supernet).", _SEARCH.supernet.epochs))] = None,
    supernet_sampling: Annotated[Optional[str], typer.Option(help=default_help(
        "Children trained per supernet step: uniform (one drawn, SPOS), sandwich (the largest, the smallest and "
        "two drawn: four times the compute, BigNAS) or sandwich-distill (the sandwich, the three after the largest "
        "learning from its predictions: in-place distillation).", _SEARCH.supernet.sampling))] = None,
    supernet_widths: Annotated[Optional[str], typer.Option(help=default_help(
        "Supernets by width: separate (one per width of the space) or sliced (one for all, the narrower children "
        "using the first channels of every layer, Once-for-All).", _SEARCH.supernet.width_sharing))] = None,
    threads: Annotated[Optional[int], typer.Option(help="CPU threads for proxy training (default: PyTorch's).")] = None,
    device: Annotated[Optional[str], typer.Option(help=default_help(
        "Proxy training device: cpu or cuda.", _PROXY.device))] = None,
    latency_device: Annotated[Optional[str], typer.Option(help=default_help(
        "Device latency is measured on: cpu or cuda.", _SEARCH.latency.device))] = None,
    latency_runtime: Annotated[Optional[str], typer.Option(help=default_help(
        "Runtime latency is timed on: onnxruntime (what ships on CPUs) or torch (eager).", _SEARCH.latency.runtime))] = None,
    latency_threads: Annotated[Optional[int], typer.Option(help=default_help(
        "CPU threads latency is timed with (as the device will run it).", _SEARCH.latency.threads))] = None,
    latency_table: Annotated[Optional[str], typer.Option(
        help="Predict latency from this table (`ulsam-nas latency-table`): nothing is timed during the search.")] = None,
    resolution: Annotated[Optional[int], typer.Option(
        help="Deployment input size in pixels (default: the space's, 224); costs are those of this size.")] = None,
    early_stopping: Annotated[Optional[bool], typer.Option(
        "--early-stopping/--no-early-stopping", help=default_help(
            "Stop clearly dominated candidates early (from the proxy's epoch 2: proxies of 3 or more epochs).", "on"))] = None,
    storage: StorageOption = None,
    study: Annotated[Optional[str], typer.Option(help="Study name (default: from space, dataset and budgets).")] = None,
    config: Annotated[Optional[Path], typer.Option(help="A study definition (studies/NAME.yaml, or its name); flags override it.")] = None,
    noise_seeds: Annotated[Optional[int], typer.Option(help=default_help(
        "A new study proxy-trains its vanilla baseline with this many seeds to measure the noise (< 2: not measured).",
        _SEARCH.noise_seeds))] = None,
    refine: Annotated[Optional[int], typer.Option(help=default_help(
        "After the search, retrain up to this many front points and baselines longer (3x the proxy's training images, "
        "as whole epochs over all the data; 2 seeds; on a CPU one single-threaded run per core side by side); their "
        "accuracies become the front (0: off).", _SEARCH.refine.count))] = None,
    quiet: Annotated[bool, typer.Option("--quiet", help="Log lines instead of the live progress bar.")] = False,
    workers: Annotated[int, typer.Option(help="Worker processes on this machine, cores split between them "
                                              "(needs a journal: or postgresql:// storage).")] = 1,
) -> None:
    """Search where to insert ULSAM, how many subspaces each gets and which blocks to drop.

    Scores each candidate with the weights of a supernet trained once (or by short proxy training
    of its own, --evaluator proxy) and by its FLOPs (multiply-accumulates at the
    deployment resolution), params and latency; prints the Pareto front. Rerun to resume.
    """
    import optuna

    from ..present.runs import search_text
    from ..search.pipeline import StudyEvents, run_study
    from .progress import SearchProgress, supernet_worker_line, worker_estimate, worker_line
    from .results import echo_refine_estimate, echo_refined_run

    optuna.logging.set_verbosity(optuna.logging.WARNING)  # this process is the CLI's: one line per trial is ours

    base = SearchSettings.load(config) if config is not None else _SEARCH
    proxy = dataclasses.replace(base.proxy, **given(
        epochs=_count_or_auto("--proxy-epochs", proxy_epochs), resolution=proxy_resolution,
        train_subset=_count_or_auto("--proxy-subset", proxy_subset, all_ok=True), lr=proxy_lr,
        batch_size=proxy_batch_size, threads=threads, device=device))
    latency = dataclasses.replace(base.latency, **given(device=latency_device, runtime=latency_runtime,
                                                         threads=latency_threads, table=latency_table))
    supernet = dataclasses.replace(base.supernet, **given(epochs=supernet_epochs, sampling=supernet_sampling,
                                                          width_sharing=supernet_widths))
    settings = dataclasses.replace(base, proxy=proxy, latency=latency, supernet=supernet, **given(
        evaluator=evaluator,
        budgets=budget or None, objectives=objective or None, space=space, dataset=dataset, data_dir=data_dir,
        download=download, cache_dir=cache_dir, cache=False if no_cache else None, sampler=sampler, seed=seed,
        trials=trials, timeout=timeout, time_budget=time_budget, resolution=resolution, early_stopping=early_stopping,
        storage=storage, study=study, noise_seeds=noise_seeds,
        refine=dataclasses.replace(base.refine, count=refine) if refine is not None else None))
    with SearchProgress(quiet=quiet or workers > 1) as progress:
        events = StudyEvents(on_estimate=worker_estimate if workers > 1 else progress.estimate, on_start=progress.start,
                             on_supernet=supernet_worker_line if workers > 1 else progress.supernet,
                             on_trial=worker_line if workers > 1 else progress.trial,
                             on_refine_estimate=echo_refine_estimate, on_refined=echo_refined_run)
        outcome = run_study(settings, events, workers=workers)
    typer.echo(search_text(outcome))
    if outcome.search.interrupted:
        typer.echo("Interrupted: the running trial was marked failed. Rerun the same command to resume.", err=True)
        raise typer.Exit(130)


def _count_or_auto(option: str, text: str | None, all_ok: bool = False):
    """An option's text as a count, "auto", or (where ``all_ok``) "all"; None when not given."""
    if text is None:
        return None
    word = text.strip().lower()
    if word == AUTO:
        return AUTO
    if all_ok and word == "all":
        return "all"
    try:
        return int(word)
    except ValueError:
        raise ValueError(f"{option}: expected a whole number{', all' if all_ok else ''} or auto, got {text!r}") from None
