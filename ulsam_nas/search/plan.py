"""Planning a study before it runs: its expected time, and a time budget turned into a trial count.

:func:`plan_search` measures one trial of the space's largest candidate (``estimate.py``) and says what
the study has left: its trials, a new study's noise runs and the refinement after the search.
``--time-budget`` takes a new study's noise runs and the refinement after the search out of the budget
first (``estimate.StudyEstimate``), then runs as many trials as fit the rest. When not even the baselines
and :data:`MIN_SEARCH_TRIALS` trials fit, it refuses in one line naming what the budget went to and the
settings that would fit (fewer proxy epochs, a training subset, a lower proxy resolution, each with its
time per trial, or a smaller ``--refine``).
"""

from __future__ import annotations

import math
from typing import Callable

import dataclasses

from ..baselines import baselines_for
from ..config import ArchConfig
from ..present.formats import format_duration
from ..present.estimates import study_extra_parts
from ..space import SearchSpace
from ..training.parallel import side_by_side
from ..training.timing import TrainingTime
from .estimate import StudyEstimate, time_supernet_trial, time_trial
from .settings import SearchSettings
from .study import StudyProgress

__all__ = ["MIN_SEARCH_TRIALS", "minimum_trials", "plan_search", "plan_trials"]

MIN_SEARCH_TRIALS = 10  # on top of the baselines: less than this is not a search
_LOWER_RESOLUTIONS = (40, 32, 24, 16)


def minimum_trials(space: SearchSpace, num_classes: int, target: int) -> int:
    """The smallest sensible search: the baselines the space can express and 10 trials (at most ``target``)."""
    expressible = [c for c in baselines_for(space.backbone, space.baseline_width, num_classes).values()
                   if space.params_for(c) is not None]
    return min(target, len(expressible) + MIN_SEARCH_TRIALS)


def plan_trials(study: StudyEstimate, budget: float, done: int, target: int, minimum: int,
                remeasure: Callable[[int], TrainingTime] | None = None) -> int:
    """The study total that fits ``budget`` seconds: at most ``target``, at least ``minimum``, else a ValueError.

    ``done`` trials are finished already; ``remeasure(resolution)`` measures a trial at a lower proxy
    resolution (None: resolutions are not suggested).
    """
    trial = study.trial
    fit = study.trials_that_fit(budget - study.extra_seconds)
    needed = max(1, minimum - done)
    if fit >= needed:
        return min(target, done + fit)
    search = study.trials_seconds(needed)
    if study.supernet_epoch is not None:
        _refuse_supernet_study(study, budget, needed, done)
    options = _options_that_fit(study, budget, needed, remeasure)
    fits_text = ", ".join(f"{flags} (up to {format_duration(option.trial_seconds)} per trial)" for flags, option in options)
    raise ValueError(
        f"time budget {format_duration(budget)}: not even {needed} trial(s) fit (the baselines and {MIN_SEARCH_TRIALS} "
        f"trials{f', {done} done' if done else ''}): up to {format_duration(trial.trial_seconds)} per trial with "
        f"{trial.epochs} proxy epoch(s) at {trial.resolution}px on {trial.train_images} images, "
        f"{format_duration(search)} in all"
        + (f", on top of {' and '.join(study_extra_parts(study))}" if study.extra_seconds else "") + "; "
        + (f"proxy settings that fit: {fits_text}" if fits_text else "no smaller proxy fits either")
        + _fewer_refined(study, budget - search - study.noise_seconds)
        + f"; or a time budget of at least {format_duration(search + study.extra_seconds)}")


def _refuse_supernet_study(study: StudyEstimate, budget: float, needed: int, done: int) -> None:
    """A ValueError saying why a supernet study does not fit, and how many supernet epochs would."""
    epoch = study.supernet_epoch
    search = study.trials_seconds(needed)
    room = budget - search - study.noise_seconds - study.refine_seconds
    side_by_side = min(study.workers, max(1, study.supernets))
    fewer = int(room // epoch.epoch_seconds) * side_by_side if epoch.epoch_seconds > 0 and room > 0 else 0
    raise ValueError(f"time budget {format_duration(budget)}: not even {needed} trial(s) fit (the baselines and "
                     f"{MIN_SEARCH_TRIALS} trials{f', {done} done' if done else ''}, "
                     f"{format_duration(search)})"
                     + "".join(f" after {part}" for part in [" and ".join(study_extra_parts(study))] if part)
                     + (f"; at most {fewer} supernet epochs fit, every supernet's together (--supernet-epochs counts "
                        "one supernet's; there is one per width with --supernet-widths separate)" if fewer
                        else "; no supernet training fits")
                     + f"; or a time budget of at least "
                       f"{format_duration(search + study.extra_seconds)}")


def _options_that_fit(study: StudyEstimate, budget: float, needed: int,
                      remeasure: Callable[[int], TrainingTime] | None) -> list[tuple[str, TrainingTime]]:
    """Proxy settings (as flags) with which ``needed`` trials, the noise runs and the refinement fit ``budget``."""
    trial = study.trial

    def fits(option: TrainingTime) -> bool:
        return study.trials_seconds(needed, option) + study.with_trial(option).extra_seconds <= budget

    options = []
    epochs = next((e for e in range(trial.epochs - 1, 0, -1) if fits(trial.with_run(epochs=e))), None)
    if epochs is not None:
        options.append((f"--proxy-epochs {epochs}", trial.with_run(epochs=epochs)))
    subset = _subset_that_fits(study, budget, needed)
    if subset is not None:
        options.append((f"--proxy-subset {subset}", trial.with_run(train_images=subset)))
    lower = [r for r in _LOWER_RESOLUTIONS if r < trial.resolution] if remeasure is not None else []
    for resolution in lower:
        smaller = remeasure(resolution)
        if fits(smaller):
            options.append((f"--proxy-resolution {resolution}", smaller))
            break
    if not options and lower:  # nothing alone: all three together
        smallest = remeasure(lower[-1]).with_run(epochs=1)
        subset = _subset_that_fits(study.with_trial(smallest), budget, needed)
        if subset is not None:
            options.append((f"--proxy-epochs 1 --proxy-resolution {lower[-1]} --proxy-subset {subset}",
                            smallest.with_run(train_images=subset)))
    return options


def _fewer_refined(study: StudyEstimate, room: float) -> str:
    """``; or --refine N (...)`` when refining fewer networks makes the rest fit ``room`` seconds, else nothing."""
    per_network = study.refine_seeds * study.refinement.training_seconds
    if not study.refine_runs or room < 0 or per_network <= 0:
        return ""
    networks = min(study.refine_networks - 1, int(room // per_network))
    if networks < 1:
        return "; or --refine 0 (no refinement)"
    return f"; or --refine {networks} (refinement up to {format_duration(networks * per_network)})"


def _subset_that_fits(study: StudyEstimate, budget: float, needed: int) -> int | None:
    """The most training images (2 significant digits, at least 2 batches) with which ``needed`` trials, the noise
    runs (trained on the same subset) and the refinement (whose epochs shrink with the proxy's images) fit ``budget``."""
    trial = study.trial
    if trial.epochs == 0 or trial.step_seconds <= 0:
        return None

    def fits(images: int) -> bool:
        option = study.with_trial(trial.with_run(train_images=images))
        return option.trials_seconds(needed) + option.extra_seconds <= budget

    batch = trial.batch_size
    low, high = 2, (trial.train_images - 1) // batch  # in whole batches: the loop drops a last partial one
    if high < low or not fits(low * batch):
        return None
    while low < high:  # the most batches that fit: every part's time grows with the images
        middle = (low + high + 1) // 2
        low, high = (middle, high) if fits(middle * batch) else (low, middle - 1)
    images = low * batch
    scale = 10 ** max(0, int(math.log10(images)) - 1)
    rounded = images // scale * scale
    return rounded if rounded >= 2 * batch else None


def _refine_processes(settings: SearchSettings, runs: int, workers: int) -> int:
    """Refinement runs trained side by side on the threads a trial was timed with (else 1, an upper bound).

    After several workers, whose threads split the cores, refinement runs one process per core unless
    ``--threads`` was given (``refine.refine_study``, ``training.parallel.side_by_side``)."""
    timed = settings.proxy.threads
    processes, threads_each = side_by_side(settings.proxy.device, None if workers > 1 else timed, max(1, runs))
    return processes if threads_each == timed else 1


def plan_search(settings: SearchSettings, space: SearchSpace, num_classes: int, train_images: int, val_images: int,
                progress: Callable[[], StudyProgress], measure: Callable[[ArchConfig], object] | None = None,
                wanted: bool = True, available_images: int | None = None, supernet_epochs: int = 0,
                supernets: int = 1, workers: int = 1) -> tuple[StudyEstimate | None, SearchSettings]:
    """The estimate (when ``wanted`` or a time budget is set, and anything is left to do) and the settings to run.

    ``progress()`` reads what the study has done (asked only when an estimate is made): a new study measures
    its noise first (``settings.noise_seeds`` proxy trainings, none below 2 or without an accuracy objective),
    and when accuracy is an objective up to ``settings.refine.count`` networks are refined after the search
    with ``settings.refine`` on ``available_images`` training images (the dataset before the proxy's subset;
    None: counted as the proxy's ``train_images``). With the supernet evaluator ``supernet_epochs`` are left to
    train (every supernet's together, ``supernets`` of them) before the first trial, which is then a scoring, not a
    training. ``workers`` processes (each on ``settings.proxy.threads``) share the trials out.

    With a time budget (and trials left) the noise runs and the refinement are taken out of the budget, the
    settings' trial count becomes what fits the rest (at most ``settings.trials``; a ValueError when not even
    :func:`minimum_trials` fit), and the timeout at most the rest.
    """
    if not (wanted or settings.time_budget):
        return None, settings
    state = progress()
    done, refine = state.finished, settings.refine
    noise_runs = settings.noise_seeds if settings.trains and not state.created and settings.noise_seeds >= 2 else 0
    networks = min(refine.count, settings.trials) if settings.trains else 0
    images = available_images or train_images
    if done >= settings.trials and not noise_runs and networks * refine.seeds <= state.refined_runs:
        return None, settings

    def measured(proxy_resolution: int | None = None) -> TrainingTime:
        proxy = settings.proxy if proxy_resolution is None else dataclasses.replace(settings.proxy,
                                                                                    resolution=proxy_resolution)
        return time_trial(space, proxy, num_classes, train_images, val_images, settings.seed, measure, settings.trains)

    supernet = {}
    if settings.uses_supernet:
        trial, epoch = time_supernet_trial(space, settings.supernet_run, num_classes, images, val_images, settings.seed,
                                           measure)
        supernet = {"supernet_epoch": epoch, "supernet_epochs": supernet_epochs,
                    "proxy_run": measured() if networks else None}
    else:
        trial = measured()
    estimate = StudyEstimate(trial, max(0, settings.trials - done), noise_runs, networks, refine.seeds,
                             state.refined_runs, refine.factor, min(refine.train_subset or images, images), **supernet,
                             workers=workers, supernets=supernets,
                             refine_processes=_refine_processes(settings, networks * refine.seeds, workers))
    if settings.time_budget is None or done >= settings.trials:
        return estimate, settings
    target = plan_trials(estimate, settings.time_budget, done, settings.trials,
                         minimum_trials(space, num_classes, settings.trials),
                         remeasure=None if settings.uses_supernet else measured)
    left = settings.time_budget - estimate.extra_seconds  # the search's share: the noise runs before, refinement after
    timeout = min(settings.timeout or left, left)
    return (estimate.with_trial(estimate.trial, remaining=target - done),
            dataclasses.replace(settings, trials=target, timeout=timeout))
