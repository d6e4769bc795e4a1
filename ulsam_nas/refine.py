"""Refinement: retrain the front at higher fidelity, so that the study's final front is not a proxy's guess.

After a search, up to ``settings.count`` networks are retrained with :class:`RefineSettings` (by default 3x
the proxy's training images, as whole epochs over all the training data, 2 seeds): the vanilla baseline,
the noise-aware front's candidates (evenly spread over cost when there are more than fit) and the other
trained baselines. Each (trial, seed) result is stored through ``record.py`` the moment it finishes, so an
interrupted refinement resumes where it stopped and never retrains a finished run. The refined accuracies
(seed mean ± uncertainty) become the study's final front (``report.StudyResults.final``); the proxy's stay
beside them. Every refinement reports how well the proxy ranked the networks (``ranks.py``): Kendall tau
with a bootstrap 95% interval, next to FLOPs alone and params alone.

Before it trains, a refinement says what it will cost (:class:`RefineEstimate`): the runs left (and those
found finished) times one run, timed on the costliest network left (``training/timing.py``).
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from typing import Callable

import numpy as np
import optuna

from .data import ImageData, check_cache_settings, load_dataset
from .ranks import RankAgreement
from .record import RefinedRun, StudyMeta
from .study_records import Refinement
from .report import ScoredTrial, StudyResults, pareto_front, study_results
from .training import ProxyResult, ProxySettings, RefineSettings
from .training.proxy import train_final_only
from .training.parallel import Job, side_by_side, train_each
from .training.timing import TrainingTime, time_training

__all__ = ["RefineEstimate", "RefineReport", "RefineSettings", "RefinedPoint", "pick_for_refinement", "refine_study"]


@dataclass(frozen=True)
class RefineEstimate:
    """What a refinement will cost, said before it trains: the runs left x one run, measured (an upper bound)."""

    networks: int  # chosen for refinement
    seeds: int
    done: int  # runs found finished (an earlier, interrupted refinement)
    run: TrainingTime  # one run of the costliest network left (by FLOPs), timed
    runs: int  # runs to do
    processes: int = 1  # runs trained side by side

    @property
    def seconds(self) -> float:
        return -(-self.runs // self.processes) * self.run.training_seconds


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
    not_refined: tuple[int, ...]  # front candidates left out: more than ``settings.count``
    failed: tuple[str, ...]  # runs whose training diverged (not stored: a rerun retries them)
    agreement: tuple[RankAgreement, ...]  # proxy (or supernet), FLOPs alone, params alone; empty below 3 networks
    evaluator: str = "proxy"  # what scored the trials before: "proxy" or "supernet"

    @property
    def proxy_beats_flops(self) -> bool | None:
        return self.agreement[0].beats(self.agreement[1]) if self.agreement else None

    def to_dict(self) -> dict:
        return dataclasses.asdict(self) | {"proxy_beats_flops": self.proxy_beats_flops}


def pick_for_refinement(results: StudyResults, count: int) -> tuple[list[int], list[int]]:
    """Up to ``count`` trials: the vanilla baseline, the noise-aware front (of the proxy's accuracy), the other
    trained baselines. Where the front has more points than fit, an even spread over its first cost is kept
    (cheapest and costliest included). Returns (chosen, front candidates left out)."""
    baselines = [t.number for t in results.trials if t.record.baseline and t.record.evaluated
                 and not np.isnan(t.proxy_accuracy)]
    vanilla = [t.number for t in results.trials if t.record.baseline == "vanilla" and t.number in baselines][:1]
    front = [p.trial.number for p in pareto_front(results.trials, results.objectives) if p.trial.number not in vanilla]
    slots = max(0, count - len(vanilla))
    if len(front) > slots:
        keep = np.unique(np.linspace(0, len(front) - 1, slots).round().astype(int)) if slots else []
        kept = [front[i] for i in keep]
        left_out = [t for t in front if t not in kept]
    else:
        kept, left_out = front, []
    chosen = (vanilla + kept)[:count]
    chosen += [t for t in baselines if t not in chosen][: max(0, count - len(chosen))]
    return chosen, left_out


def _refinement_of(study: optuna.Study, meta: StudyMeta, settings: RefineSettings, proxy: ProxySettings,
                   load: Callable[[], ImageData]) -> tuple[ProxySettings, ImageData | None]:
    """The refined training: fixed by the data the first refinement found, reused exactly by later ones."""
    if meta.refinement is None:
        data = load()
        training = settings.training(proxy, len(data.train_labels))
        StudyMeta.write_refinement(study, Refinement(settings, training.epochs, training.train_subset))
        return training, data
    if not meta.refinement.matches(settings):
        raise ValueError(f"refine: study {study.study_name!r} was refined with other settings "
                         f"({meta.refinement.settings.defining()}, now {settings.defining()}); its runs would not compare")
    return dataclasses.replace(proxy, epochs=meta.refinement.epochs, train_subset=meta.refinement.train_subset), None


def refine_study(study: optuna.Study, settings: RefineSettings = RefineSettings(),
                 on_result: Callable[[RefinedRun], None] | None = None, *,
                 trainer: Callable[..., ProxyResult] = train_final_only, data: ImageData | None = None,
                 data_dir: str | None = None, download: bool = False, cache_dir: str | None = None,
                 cache: bool = True, threads: int | None = None, device: str | None = None, processes: int | None = 1,
                 on_estimate: Callable[[RefineEstimate], None] | None = None) -> RefineReport:
    """Retrain up to ``settings.count`` of the study's front points and baselines at higher fidelity; resumable.

    ``on_result`` hears each (trial, seed) run as it is stored. ``trainer`` defaults to the proxy's loop
    evaluated after its last epoch only (``train_final_only``); ``data`` to the study's dataset with
    ``settings.train_subset`` training images.
    ``on_estimate`` hears, before the first run, the runs left, those found finished and the time they
    will take (a few training steps of the costliest network left are timed for it; not without it).
    ``processes`` trains that many runs side by side (None: ``training.parallel.side_by_side`` chooses: on a
    CPU one single-threaded run per core; ``trainer`` must then be a module-level function).
    """
    if settings.count < 1:
        raise ValueError(f"refine: count must be a positive integer, got {settings.count!r}")
    check_cache_settings(cache_dir, cache)
    meta = StudyMeta.from_study(study)
    if not meta.written:
        raise ValueError(f"refine: study {study.study_name!r} was not written by ulsam-nas search")
    if "accuracy" not in meta.objectives:
        raise ValueError(f"refine: accuracy is not an objective of study {study.study_name!r}: nothing to refine")
    machine = {key: value for key, value in (("threads", threads), ("device", device)) if value is not None}
    proxy = dataclasses.replace(meta.definition.proxy, **machine)

    def load() -> ImageData:
        return data if data is not None else load_dataset(
            meta.definition.dataset, proxy.resolution, data_dir, download, train_subset=settings.train_subset, seed=0,
            cache_dir=cache_dir, cache=cache)

    training, loaded = _refinement_of(study, meta, settings, proxy, load)
    results = study_results(study)
    chosen, left_out = pick_for_refinement(results, settings.count)
    base_seed = meta.definition.seed
    seeds = range(base_seed, base_seed + settings.seeds)
    done = {(run.trial, run.seed) for run in results.meta.refined}
    by_number = {t.number: t for t in results.trials}
    jobs = [(number, by_number[number].record.arch_config(), seed)
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
        data = loaded or load()
        if on_estimate is not None:
            on_estimate(_estimate(jobs, by_number, data, training, len(chosen), settings.seeds, stored, base_seed,
                                  processes))
        failed = train_each(jobs, data, training, store, trainer, processes)
    return _report(study, settings, proxy.epochs, training.epochs, chosen, left_out, len(jobs) - len(failed), stored,
                   time.perf_counter() - started, failed)


def _estimate(jobs: list[Job], trials: dict[int, ScoredTrial], data: ImageData, training: ProxySettings, networks: int,
              seeds: int, stored: int, seed: int, processes: int) -> RefineEstimate:
    """Time a few training steps of the costliest network left (by FLOPs), on one process's threads: every run
    left takes at most that long."""
    _, config, _ = max(jobs, key=lambda job: np.nan_to_num(trials[job[0]].value("flops")))
    run = time_training(config, training, data.num_classes, len(data.train_labels), len(data.val_labels), seed=seed)
    return RefineEstimate(networks, seeds, stored, run, len(jobs), processes)


def _report(study, settings, proxy_epochs, epochs, chosen, left_out, trained, stored, seconds, failed) -> RefineReport:
    results = study_results(study)
    by_number = {t.number: t for t in results.trials}
    points = [RefinedPoint(number, t.record.summary, t.record.baseline, t.proxy_accuracy, t.refined_accuracy,
                           t.refined_std, t.refined_seeds)
              for number in chosen if (t := by_number[number]).refined_seeds >= settings.seeds]
    agreement = results.agreement([point.trial for point in points], min_seeds=settings.seeds)
    return RefineReport(study.study_name, settings, proxy_epochs, epochs, tuple(points), trained, stored, seconds,
                        tuple(left_out), tuple(failed), tuple(agreement), results.evaluator)
