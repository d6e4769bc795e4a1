"""Refinement: retrain the front at higher fidelity, so that the study's final front is not a proxy's guess.

After a search, up to ``count`` networks are retrained with :class:`RefineSettings` (by default 3x the
proxy's training images, as whole epochs over all the training data, 2 seeds): the vanilla baseline, the noise-aware front's candidates
(evenly spread over cost when there are more than fit) and the other trained baselines. Each
(trial, seed) result is stored through ``record.py`` the moment it finishes, so an interrupted
refinement resumes where it stopped and never retrains a finished run. The refined accuracies (seed
mean ± uncertainty) become the study's final front (``report.study_front``); the proxy's stay beside
them. Every refinement reports how well the proxy ranked the networks (``ranks.py``): Kendall tau with
a bootstrap 95% interval, next to FLOPs alone and params alone.

Before it trains, a refinement says what it will cost (:class:`RefineEstimate`): the runs left (and those
found finished) times one run, timed on the costliest network left with ``search/estimate.py``'s timing.

``calibrate.py`` uses the same retraining (:func:`retrain`) and rank statistics.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from typing import Any, Callable, Iterable

import numpy as np
import optuna
import pandas as pd

from .config import ArchConfig
from .data import ImageData, check_cache_settings, load_dataset
from .metrics import METRICS
from .ranks import RankAgreement, beats, rank_agreement
from .record import EVALUATED, RefinedRun, StudyMeta
from .report import pareto_front, trials_frame
from .search.estimate import TrialEstimate, format_duration, time_training
from .training import ProxyResult, ProxySettings, train_proxy
from .training.parallel import Job, side_by_side, train_jobs
from .training.proxy import epochs_for

__all__ = ["RefineEstimate", "RefineReport", "RefineSettings", "RefinedPoint", "agreement_of", "describe_agreement",
           "describe_refinement", "pick_for_refinement", "refine_study", "retrain"]

_EVALUATED = [status.value for status in EVALUATED]


@dataclass(frozen=True)
class RefineSettings:
    """How refinement trains: several times the proxy's training (stored with the study; fixed once used).

    Defaults: 3x the proxy's training images (``factor``), as whole epochs over all the training data
    (at least one, so every image is seen; the proxy may use a subset): the digits' 4-epoch proxy on
    all its images becomes 12 epochs; a one-epoch proxy on 10,000 of 50,000 images becomes one epoch on
    all 50,000. 2 seeds (the fewest that show a spread; their mean halves the seed variance).
    Resolution, batch size and learning rate stay the proxy's.
    """

    factor: int = 3  # the refined training trains on about this many times the proxy's images per trial
    seeds: int = 2
    train_subset: int | None = None  # None: all the training data

    def __post_init__(self) -> None:
        if isinstance(self.factor, bool) or not isinstance(self.factor, int) or self.factor < 1:
            raise ValueError(f"refine factor: must be an integer >= 1, got {self.factor!r}")
        if isinstance(self.seeds, bool) or not isinstance(self.seeds, int) or self.seeds < 2:
            raise ValueError(f"refine seeds: must be an integer >= 2 (a spread needs two), got {self.seeds!r}")
        if self.train_subset is not None and (not isinstance(self.train_subset, int) or self.train_subset < 2):
            raise ValueError(f"refine train_subset: must be an integer >= 2 or empty (all), got {self.train_subset!r}")

    def training(self, proxy: ProxySettings, available: int) -> ProxySettings:
        """The refined training on ``available`` training images (the refinement's): the proxy's, longer, on more data."""
        proxy_images = min(proxy.train_subset or available, available)
        refined_images = min(self.train_subset or available, available)
        epochs = epochs_for(self.factor * proxy.epochs * proxy_images, refined_images)
        return dataclasses.replace(proxy, epochs=epochs, train_subset=self.train_subset)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class RefineEstimate:
    """What a refinement will cost, said before it trains: the runs left x one run, measured (an upper bound)."""

    networks: int  # chosen for refinement
    seeds: int
    done: int  # runs found finished (an earlier, interrupted refinement)
    run: TrialEstimate  # one run of the costliest network left (by FLOPs), timed; run.remaining: the runs to do
    processes: int = 1  # runs trained side by side

    @property
    def seconds(self) -> float:
        return -(-self.run.remaining // self.processes) * self.run.training_seconds

    def describe(self) -> str:
        """One line for the terminal."""
        run = self.run
        done = f"; {self.done} of {self.networks * self.seeds} done already" if self.done else ""
        side_by_side = f", {self.processes} side by side" if self.processes > 1 else ""
        return (f"refinement: {run.remaining} run(s) to do ({self.networks} networks x {self.seeds} seeds{done}) x up to "
                f"{format_duration(run.training_seconds)}{side_by_side} = up to {format_duration(self.seconds)} (costliest network "
                f"{run.candidate}: {run.epochs} epochs x {run.steps_per_epoch} steps of {run.step_seconds:.2f}s at "
                f"{run.resolution}px + {run.eval_seconds:.1f}s evaluation per epoch)")


@dataclass(frozen=True)
class RefinedPoint:
    trial: int
    summary: str
    baseline: str
    proxy_accuracy: float
    accuracy: float  # mean over seeds
    std: float  # the seeds' spread (sample standard deviation)
    seeds: int


@dataclass(frozen=True)
class RefineReport:
    """What a refinement did and found."""

    study: str
    settings: RefineSettings
    proxy_epochs: int
    epochs: int
    points: tuple[RefinedPoint, ...]  # every refined trial with all its seeds finished
    trained_runs: int  # by this call
    stored_runs: int  # found finished (an earlier, interrupted refinement)
    seconds: float
    not_refined: tuple[int, ...]  # front candidates left out: more than ``count``
    failed: tuple[str, ...]  # runs whose training diverged (not stored: a rerun retries them)
    agreement: tuple[RankAgreement, ...]  # proxy, FLOPs alone, params alone; empty below 3 networks

    @property
    def proxy_beats_flops(self) -> bool | None:
        return beats(self.agreement[0], self.agreement[1]) if self.agreement else None

    def describe(self) -> str:
        """The refinement's summary: what ran, and how well the proxy ranked."""
        lines = [f"Refinement of {self.study!r}: {len(self.points)} networks, {self.settings.seeds} seeds each, "
                 f"{self.epochs} epochs against the proxy's {self.proxy_epochs}, "
                 f"{'all the' if self.settings.train_subset is None else f'{self.settings.train_subset}'} training "
                 f"images; {self.trained_runs} run(s) trained in {self.seconds:.0f}s"
                 + (f", {self.stored_runs} found finished" if self.stored_runs else "")]
        if self.not_refined:
            lines.append(f"  front candidates not refined (more than --refine allows): trials "
                         f"{', '.join(map(str, self.not_refined))}")
        lines += [f"  failed: {failure}" for failure in self.failed]
        lines += describe_agreement(self.agreement)
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self) | {"proxy_beats_flops": self.proxy_beats_flops}


def describe_agreement(agreement: Iterable[RankAgreement]) -> list[str]:
    """Lines on the proxy's rank agreement with the refined accuracy, with a warning where FLOPs do as well."""
    agreement = list(agreement)
    if not agreement:
        return ["  rank agreement: fewer than 3 refined networks, not computed"]
    lines = ["  rank agreement with the refined accuracy (n = %d):" % agreement[0].count]
    lines += [f"    {item.describe()}" for item in agreement]
    if not beats(agreement[0], agreement[1]):
        lines.append("warning: the proxy ranked these networks no better than counting FLOPs; train the proxy longer "
                     "(--proxy-epochs) or at a larger --proxy-resolution before trusting its front")
    return lines


def retrain(jobs: Iterable[Job], data: ImageData, training: ProxySettings,
            on_result: Callable[[int, int, ProxyResult], None], trainer: Callable[..., ProxyResult] = train_proxy,
            processes: int = 1) -> list[str]:
    """Train each (trial, config, seed) with ``training`` and hand each result to ``on_result`` as it finishes.

    ``processes`` > 1 trains that many side by side (``training.parallel``; ``trainer`` must then be a
    module-level function). Returns a line per run whose training diverged (those are skipped).
    """
    failed = []
    for number, seed, result in train_jobs(jobs, data, training, trainer, processes):
        if isinstance(result, str):
            failed.append(f"trial {number} seed {seed}: {result}")
        else:
            on_result(number, seed, result)
    return failed


def pick_for_refinement(frame: pd.DataFrame, objectives, count: int) -> tuple[list[int], list[int]]:
    """Up to ``count`` trials: the vanilla baseline, the noise-aware front, the other trained baselines.

    Where the front has more points than fit, an even spread over its first cost is kept (cheapest and
    costliest included). Returns (chosen, front candidates left out).
    """
    baselines = frame[(frame["baseline"] != "") & frame["status"].isin(_EVALUATED) & (frame["state"] == "COMPLETE")
                      & (frame["feasible"] != False) & frame["accuracy"].notna()]  # noqa: E712
    vanilla = [int(t) for t in baselines.loc[baselines["baseline"] == "vanilla", "trial"]][:1]
    front = [int(t) for t in pareto_front(frame, objectives)["trial"] if int(t) not in vanilla]
    slots = max(0, count - len(vanilla))
    if len(front) > slots:
        keep = np.unique(np.linspace(0, len(front) - 1, slots).round().astype(int)) if slots else []
        kept = [front[i] for i in keep]
        left_out = [t for t in front if t not in kept]
    else:
        kept, left_out = front, []
    chosen = (vanilla + kept)[:count]
    others = [int(t) for t in baselines["trial"] if int(t) not in chosen]
    chosen += others[: max(0, count - len(chosen))]
    return chosen, left_out


def refine_study(study: optuna.Study, count: int = 8, settings: RefineSettings = RefineSettings(),
                 on_result: Callable[[RefinedRun], None] | None = None, *,
                 trainer: Callable[..., ProxyResult] = train_proxy, data: ImageData | None = None,
                 data_dir: str | None = None, download: bool = False, cache_dir: str | None = None,
                 cache: bool = True, threads: int | None = None,
                 device: str | None = None, processes: int | None = 1,
                 on_estimate: Callable[[RefineEstimate], None] | None = None) -> RefineReport:
    """Retrain up to ``count`` of the study's front points and baselines at higher fidelity; resumable.

    ``on_result`` hears each (trial, seed) run as it is stored. ``trainer`` defaults to the proxy's loop
    (``train_proxy``); ``data`` to the study's dataset with ``settings.train_subset`` training images.
    ``on_estimate`` hears, before the first run, the runs left, those found finished and the time they
    will take (a few training steps of the costliest network left are timed for it; not without it).
    ``processes`` trains that many runs side by side (None: ``training.parallel.side_by_side`` chooses: on a
    CPU one single-threaded run per core; ``trainer`` must then be a module-level function).
    """
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise ValueError(f"refine: count must be a positive integer, got {count!r}")
    check_cache_settings(cache_dir, cache)
    meta = StudyMeta.from_study(study)
    if not meta.written:
        raise ValueError(f"refine: study {study.study_name!r} was not written by ulsam-nas search")
    if "accuracy" not in meta.objectives:
        raise ValueError(f"refine: accuracy is not an objective of study {study.study_name!r}: nothing to refine")
    proxy = ProxySettings(**meta.settings["proxy"], **{k: v for k, v in (("threads", threads), ("device", device))
                                                        if v is not None})

    def load() -> ImageData:
        return data if data is not None else load_dataset(
            meta.settings["dataset"], proxy.resolution, data_dir, download, train_subset=settings.train_subset, seed=0,
            cache_dir=cache_dir, cache=cache)

    if meta.refinement is None:  # the first refinement of the study: its epochs are fixed by the data it finds
        data = load()
        training = settings.training(proxy, len(data.train_labels))
        StudyMeta.write_refinement(study, {"settings": settings.to_dict(), "epochs": training.epochs,
                                           "train_subset": training.train_subset})
    elif not _same_refinement(meta.refinement, settings):
        raise ValueError(f"refine: study {study.study_name!r} was refined with other settings "
                         f"({meta.refinement.get('settings')}, now {settings.to_dict()}); its runs would not compare")
    else:  # resumed: trained exactly as the runs already stored
        training = dataclasses.replace(proxy, epochs=int(meta.refinement["epochs"]),
                                       train_subset=meta.refinement.get("train_subset"))
    frame = trials_frame(study)
    chosen, left_out = pick_for_refinement(frame, meta.objectives, count)
    base_seed = int(meta.settings.get("seed", 0))
    seeds = range(base_seed, base_seed + settings.seeds)
    done = {(run.trial, run.seed) for run in meta.refined}
    rows = frame.set_index("trial")
    jobs = [(number, ArchConfig.from_json(rows.loc[number, "config"]), seed)
            for number in chosen for seed in seeds if (number, seed) not in done]
    stored = sum((number, seed) in done for number in chosen for seed in seeds)
    processes, threads_each = side_by_side(training.device, training.threads, len(jobs), processes)
    training = dataclasses.replace(training, threads=threads_each)

    def store(number: int, seed: int, result: ProxyResult) -> None:
        run = RefinedRun(number, seed, result.accuracy, result.seconds, tuple(result.curve))
        StudyMeta.write_refined_run(study, run)
        if on_result is not None:
            on_result(run)

    started = time.perf_counter()
    failed: list[str] = []
    if jobs:
        data = load()
        if on_estimate is not None:
            on_estimate(_estimate(jobs, rows, data, training, len(chosen), settings.seeds, stored, base_seed, processes))
        failed = retrain(jobs, data, training, store, trainer, processes)
    seconds = time.perf_counter() - started
    return _report(study, settings, proxy.epochs, training.epochs, chosen, left_out, len(jobs) - len(failed), stored,
                   seconds, failed)


def _same_refinement(stored: dict, settings: RefineSettings) -> bool:
    """Whether a study's stored refinement was made with ``settings``. One stored by an earlier version (its
    ``epochs_factor`` meant 3x the proxy's epochs) resumes with the epochs it stored, whatever the factor."""
    before, now = dict(stored.get("settings") or {}), settings.to_dict()
    if "epochs_factor" in before:
        before.pop("epochs_factor")
        now.pop("factor")
    return before == now


def _estimate(jobs, rows: pd.DataFrame, data: ImageData, training: ProxySettings, networks: int, seeds: int,
              stored: int, seed: int, processes: int) -> RefineEstimate:
    """Time a few training steps of the costliest network left (by FLOPs), on one process's threads: every run
    left takes at most that long."""
    flops = rows[METRICS["flops"].column]
    _, config, _ = max(jobs, key=lambda job: float(flops[job[0]]) if pd.notna(flops[job[0]]) else 0.0)
    run = time_training(config, training, data.num_classes, len(data.train_labels), len(data.val_labels),
                        remaining=len(jobs), seed=seed)
    return RefineEstimate(networks, seeds, stored, run, processes)


def _report(study, settings, proxy_epochs, epochs, chosen, left_out, trained, stored, seconds, failed) -> RefineReport:
    frame = trials_frame(study)
    rows = frame.set_index("trial")
    points = []
    for number in chosen:
        row = rows.loc[number]
        if row["refined_seeds"] < settings.seeds:
            continue
        points.append(RefinedPoint(number, row["summary"], row["baseline"], float(row["accuracy"]),
                                   float(row["refined_accuracy"]), float(row["refined_std"]), int(row["refined_seeds"])))
    agreement = agreement_of(frame[frame["trial"].isin([point.trial for point in points])])
    return RefineReport(study.study_name, settings, proxy_epochs, epochs, tuple(points), trained, stored, seconds,
                        tuple(left_out), tuple(failed), tuple(agreement))


def agreement_of(refined: pd.DataFrame) -> list[RankAgreement]:
    """Rank agreement of proxy accuracy, FLOPs and params with the refined accuracy of ``refined`` (3+ rows)."""
    refined = refined.dropna(subset=["refined_accuracy", "accuracy"])
    if len(refined) < 3:
        return []
    target = refined["refined_accuracy"].astype(float).tolist()
    predictors = {"proxy accuracy": refined["accuracy"], "FLOPs alone": refined[METRICS["flops"].column],
                  "params alone": refined[METRICS["params"].column]}
    return rank_agreement(target, {name: values.astype(float).tolist() for name, values in predictors.items()})


def describe_refinement(study) -> list[str]:
    """For ``show``: what the stored refinement says (nothing when the study was not refined)."""
    meta = StudyMeta.from_study(study)
    if not meta.refined:
        return []
    frame = trials_frame(study)
    refined = frame[frame["refined_seeds"] > 0]
    settings = (meta.refinement or {}).get("settings", {})
    header = (f"refined: {len(refined)} networks retrained with {settings.get('seeds', '?')} seeds, "
              f"{(meta.refinement or {}).get('epochs', '?')} epochs (proxy: {meta.settings['proxy']['epochs']}); "
              "the front below uses the refined accuracy, the proxy's beside it")
    return [header] + describe_agreement(agreement_of(refined[refined["refined_seeds"] >= 2]))

