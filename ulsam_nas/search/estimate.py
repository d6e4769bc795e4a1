"""What a study will cost, said before it is spent; and a time budget turned into a trial count.

Before the first trial the search builds the space's largest candidate (widest
width, no block dropped, ULSAM at every allowed position with the largest
subspace count that fits), times a few proxy training steps after a warm-up
step, adds the per-epoch BatchNorm re-estimation and validation and the
per-trial costing, and reports the expected time per trial and for all the
study has left (:class:`StudyEstimate`): the trials left, a new study's noise
runs (its vanilla network proxy-trained with ``noise_seeds`` seeds, see
``study.measure_noise``) and the refinement after the search (``refine.py``:
``factor`` x the proxy's training images, as epochs over refinement's training images, for
each of ``seeds`` seeds of up to ``refine`` networks), both scaled from the
same measurement. It is an upper bound: every other candidate is smaller, and
candidates stopped early, over budget or evaluated before take less.

``--time-budget`` takes the noise runs and the refinement out of the budget,
then chooses the study's trial count from what is left, or refuses in one
line, naming what the budget went to and proxy settings that would fit, when
not even the baselines and 10 trials fit. :func:`time_training` is the timing
itself; ``refine.py`` uses it for its own estimate.
"""

from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable

import torch

from .. import runtime
from ..baselines import baselines_for
from ..builder import build_model
from ..config import ArchConfig
from ..space import SearchSpace
from ..training import ProxySettings
from ..training.loop import (BATCHNORM_BATCH, BATCHNORM_IMAGES, evaluation_batch_size, make_optimizer,
                             mixed_precision, normalise, one_cycle_schedule, train_one_epoch)
from ..training.proxy import epochs_for
from .settings import SearchSettings

if TYPE_CHECKING:
    from ..refine import RefineSettings

__all__ = ["MIN_SEARCH_TRIALS", "StudyEstimate", "StudyProgress", "TrialEstimate", "estimate_trial_time", "format_duration",
           "largest_candidate", "minimum_trials", "plan_search", "plan_trials", "study_progress", "time_training"]

MIN_SEARCH_TRIALS = 10  # on top of the baselines: less than this is not a search
_UPPER_BOUND = "an upper bound: smaller, early-stopped, reused and over-budget candidates take less"


def format_duration(seconds: float) -> str:
    """42s, 3m 05s, 2h 10m."""
    seconds = max(0, round(seconds))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m {seconds % 60:02d}s"
    return f"{seconds // 3600}h {seconds % 3600 // 60:02d}m"


@dataclass(frozen=True)
class TrialEstimate:
    """Expected time of one trial, measured on the largest candidate: an upper bound."""

    candidate: str  # summary of the largest candidate
    step_seconds: float  # one training step of batch_size images, after a warm-up step
    steps_per_epoch: int
    epochs: int
    eval_seconds: float  # per epoch: BatchNorm re-estimation and validation
    other_seconds: float  # per trial: building the model, counting its costs
    remaining: int  # trials left to run
    resolution: int  # proxy resolution
    batch_size: int
    train_images: int  # after the proxy subset
    val_images: int

    @property
    def epoch_seconds(self) -> float:
        return self.steps_per_epoch * self.step_seconds + self.eval_seconds

    @property
    def training_seconds(self) -> float:
        """One training run alone (no costing): what a noise run or a refinement run takes."""
        return self.epochs * self.epoch_seconds

    @property
    def trial_seconds(self) -> float:
        return self.other_seconds + self.training_seconds

    @property
    def remaining_seconds(self) -> float:
        return self.trial_seconds * self.remaining

    def with_proxy(self, epochs: int | None = None, train_images: int | None = None) -> "TrialEstimate":
        """The same measurement for other epochs or training images (resolutions need a new measurement)."""
        images = self.train_images if train_images is None else train_images
        return dataclasses.replace(self, epochs=epochs or self.epochs, train_images=images,
                                   steps_per_epoch=max(1, images // self.batch_size))

    def describe_trial(self) -> str:
        """The time per trial and what it is made of."""
        return (f"estimate: up to {format_duration(self.trial_seconds)} per trial (largest candidate {self.candidate}: "
                f"{self.epochs} epochs x {self.steps_per_epoch} steps of {self.step_seconds:.2f}s at {self.resolution}px "
                f"+ {self.eval_seconds:.1f}s evaluation per epoch + {self.other_seconds:.1f}s costing)")

    def describe(self) -> str:
        """One line for the terminal: per trial and for the trials left (the search alone; see StudyEstimate)."""
        return (f"{self.describe_trial()}; {self.remaining} trials left: up to {format_duration(self.remaining_seconds)} "
                f"({_UPPER_BOUND})")


@dataclass(frozen=True)
class StudyEstimate:
    """Expected time of all a study has left: the search's trials, a new study's noise runs, the refinement after.

    All three come from one measurement (``search``, the largest candidate): a noise run is one proxy
    training, a refinement run one training at refinement's epochs and training images. An upper bound.
    """

    search: TrialEstimate  # search.remaining: the trials left (0: the search is finished)
    noise_runs: int = 0  # proxy trainings of the vanilla network that measure a new study's noise
    refine_networks: int = 0  # refined after the search (at most; 0: no refinement)
    refine_seeds: int = 0  # runs per refined network
    refine_done: int = 0  # refinement runs stored already (an interrupted refinement)
    refine_factor: int = 1  # a refinement run trains on this many times the proxy's images (refine.RefineSettings)
    refine_images: int | None = None  # training images of a refinement run (None: the proxy's)

    @property
    def refinement(self) -> TrialEstimate:
        """One refinement run: the proxy's measurement at refinement's epochs and training images."""
        images = self.refine_images or self.search.train_images
        epochs = epochs_for(self.refine_factor * self.search.epochs * self.search.train_images, images)
        return self.search.with_proxy(epochs=epochs, train_images=images)

    @property
    def refine_runs(self) -> int:
        return max(0, self.refine_networks * self.refine_seeds - self.refine_done)

    @property
    def search_seconds(self) -> float:
        return self.search.remaining_seconds

    @property
    def noise_seconds(self) -> float:
        return self.noise_runs * self.search.training_seconds

    @property
    def refine_seconds(self) -> float:
        return self.refine_runs * self.refinement.training_seconds if self.refine_runs else 0.0

    @property
    def extra_seconds(self) -> float:
        """What is not the search's trials: the noise runs and the refinement (taken out of a time budget first)."""
        return self.noise_seconds + self.refine_seconds

    @property
    def total_seconds(self) -> float:
        return self.search_seconds + self.extra_seconds

    def with_search(self, search: TrialEstimate) -> "StudyEstimate":
        """The same study with another measurement of its trials (other proxy settings); refinement scales with it."""
        return dataclasses.replace(self, search=search)

    def parts(self) -> list[str]:
        """What the study's time goes to, each as count x time = total; parts not run are left out."""
        parts = []
        if self.search.remaining:
            parts.append(f"search {self.search.remaining} trials x {format_duration(self.search.trial_seconds)} = "
                         f"{format_duration(self.search_seconds)}")
        return parts + self.extra_parts()

    def extra_parts(self) -> list[str]:
        parts = []
        if self.noise_runs:
            parts.append(f"noise runs {self.noise_runs} x {format_duration(self.search.training_seconds)} = "
                         f"{format_duration(self.noise_seconds)}")
        if self.refine_runs:
            run = self.refinement
            runs = (f"{self.refine_networks} networks x {self.refine_seeds} seeds" if not self.refine_done else
                    f"{self.refine_runs} runs ({self.refine_networks} networks x {self.refine_seeds} seeds, "
                    f"{self.refine_done} done)")
            parts.append(f"refinement {runs} x {format_duration(run.training_seconds)} ({run.epochs} epochs on "
                         f"{run.train_images} images) = {format_duration(self.refine_seconds)}")
        return parts

    def describe(self) -> str:
        """For the terminal: the time per trial (while trials are left) and the study's expected time, broken down."""
        lines = [self.search.describe_trial()] if self.search.remaining else []
        lines.append(f"expected study time: up to {format_duration(self.total_seconds)} ({', '.join(self.parts())}; "
                     f"{_UPPER_BOUND if self.search.remaining else 'an upper bound'})")
        return "\n".join(lines)


@dataclass(frozen=True)
class StudyProgress:
    """What a study has done already, read before the search opens it (all nothing for a new study)."""

    finished: int = 0  # trials counted towards the total
    created: bool = False  # made by ulsam-nas search: its noise is measured (or was not wanted) already
    refined_runs: int = 0  # refinement runs stored


def largest_candidate(space: SearchSpace, num_classes: int) -> ArchConfig:
    """Widest width, no block dropped, ULSAM at every allowed position with the largest subspace count that fits."""
    params = ({"width": max(space.widths)} | {f"drop_{block}": False for block in space.drop}
              | {f"ulsam_{block}": max(space.subspaces) for block in space.ulsam_after})
    return space.config_from_params(params, num_classes)


def minimum_trials(space: SearchSpace, num_classes: int, target: int) -> int:
    """The smallest sensible search: the baselines the space can express and 10 trials (at most ``target``)."""
    width = 1.0 if 1.0 in space.widths else max(space.widths)
    expressible = [c for c in baselines_for(space.backbone, width, num_classes).values() if space.params_for(c) is not None]
    return min(target, len(expressible) + MIN_SEARCH_TRIALS)


def estimate_trial_time(settings: SearchSettings, space: SearchSpace, num_classes: int, train_images: int,
                        val_images: int, remaining: int, measure: Callable[[ArchConfig], object] | None = None,
                        steps: int = 3) -> TrialEstimate:
    """Time ``steps`` proxy training steps (after a warm-up step) of the largest candidate on random images.

    ``train_images`` and ``val_images`` are the counts the proxy trains and validates on;
    ``measure(config)`` is the per-trial costing (timed once; None: not counted).
    """
    proxy = settings.proxy
    return time_training(largest_candidate(space, num_classes), proxy, num_classes,
                         min(train_images, proxy.train_subset or train_images), val_images, remaining, settings.seed,
                         measure, trains="accuracy" in settings.objectives, steps=steps)


def time_training(config: ArchConfig, training: ProxySettings, num_classes: int, train_images: int, val_images: int,
                  remaining: int, seed: int = 0, measure: Callable[[ArchConfig], object] | None = None,
                  trains: bool = True, steps: int = 3) -> TrialEstimate:
    """Time ``steps`` training steps (after a warm-up step) of ``config`` trained as ``training`` says, on random images.

    ``train_images`` (``training.train_subset`` already taken) and ``val_images`` are the counts it trains and
    validates on; ``remaining`` the runs left; ``measure(config)`` is the per-run costing (timed once; None: not
    counted); ``trains=False`` times no training (epochs 0).
    """
    device = runtime.resolve_device(training.device, setting="proxy device")
    started = time.perf_counter()
    if measure is not None:
        measure(config)
    with runtime.threads(training.threads), runtime.seeded(seed, device):
        model = build_model(config).to(device, memory_format=torch.channels_last).train()
        other = time.perf_counter() - started
        step = eval_seconds = 0.0
        if trains:
            step = _time_steps(model, training, num_classes, device, steps)
            eval_seconds = _time_evaluation(model, training.resolution, device, train_images, val_images)
    return TrialEstimate(
        candidate=config.summary(), step_seconds=step, steps_per_epoch=max(1, train_images // training.batch_size),
        epochs=training.epochs if trains else 0, eval_seconds=eval_seconds, other_seconds=other, remaining=remaining,
        resolution=training.resolution, batch_size=training.batch_size, train_images=train_images, val_images=val_images)


def _random_batch(count: int, resolution: int) -> torch.Tensor:
    return torch.randint(0, 256, (count, 3, resolution, resolution), dtype=torch.uint8)


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _time_steps(model: torch.nn.Module, proxy, num_classes: int, device: torch.device, steps: int) -> float:
    """Mean seconds of one step of training/loop.py's train_one_epoch (the real loop), after one warm-up step."""
    optimizer = make_optimizer(model, proxy.lr, proxy.momentum, proxy.weight_decay)
    scheduler = one_cycle_schedule(optimizer, proxy.lr, steps + 1)
    mean, std = torch.full((3,), 0.5, device=device), torch.full((3,), 0.25, device=device)
    images = _random_batch(proxy.batch_size * (steps + 1), proxy.resolution).to(device)  # resident, as the proxy's
    labels = torch.randint(0, num_classes, (len(images),), device=device)
    order = torch.arange(len(images))

    def train(part: torch.Tensor) -> None:
        train_one_epoch(model, images, labels, part, optimizer, scheduler, mean, std, batch_size=proxy.batch_size,
                        epoch=1, label_smoothing=proxy.label_smoothing)

    with runtime.gpu_kernels(device):
        train(order[: proxy.batch_size])  # warm-up
        _synchronize(device)
        started = time.perf_counter()
        train(order[proxy.batch_size:])
        _synchronize(device)
    return (time.perf_counter() - started) / steps


def _time_evaluation(model: torch.nn.Module, resolution: int, device: torch.device, train_images: int,
                     val_images: int) -> float:
    """Seconds per epoch of BatchNorm re-estimation and validation, from one timed batch of each (as the loop
    batches them; on a GPU after an untimed pass, which pays for cuDNN's choice of kernels)."""
    bn_images = min(BATCHNORM_IMAGES, train_images)
    bn_batch, eval_batch = min(BATCHNORM_BATCH, bn_images), max(1, min(evaluation_batch_size(device), val_images))
    with runtime.gpu_kernels(device):
        with torch.no_grad():
            bn = _seconds_per_image(model.train(), bn_batch, resolution, device) * bn_images
        with torch.inference_mode():
            evaluation = _seconds_per_image(model.eval(), eval_batch, resolution, device) * val_images
    model.train()
    return bn + evaluation


def _seconds_per_image(model: torch.nn.Module, count: int, resolution: int, device: torch.device) -> float:
    """One timed forward pass of ``count`` random images, in the mode ``model`` is in, per image."""
    mean, std = torch.full((3,), 0.5, device=device), torch.full((3,), 0.25, device=device)
    batch = normalise(_random_batch(count, resolution), mean, std)
    if device.type == "cuda":
        with mixed_precision(device):
            model(batch)
    _synchronize(device)
    started = time.perf_counter()
    with mixed_precision(device):
        model(batch)
    _synchronize(device)
    return (time.perf_counter() - started) / count


def plan_trials(estimate: StudyEstimate | TrialEstimate, budget: float, done: int, target: int, minimum: int,
                remeasure: Callable[[int], TrialEstimate] | None = None) -> int:
    """The study total that fits ``budget`` seconds: at most ``target``, at least ``minimum``, else a ValueError.

    ``done`` trials are finished already. A :class:`StudyEstimate`'s noise runs and refinement are taken
    out of the budget first (a bare TrialEstimate: the search alone). The refusal is one line naming what
    the budget went to and proxy settings that would fit (the noise runs and refinement shrink with them),
    each with its estimated time per trial, and a smaller ``--refine`` where that fits;
    ``remeasure(resolution)`` measures the same estimate at a lower proxy resolution (None: resolutions
    are not suggested).
    """
    study = estimate if isinstance(estimate, StudyEstimate) else StudyEstimate(estimate)
    trial = study.search
    left = budget - study.extra_seconds
    fit = int(left // max(trial.trial_seconds, 1e-9)) if left > 0 else 0
    needed = max(1, minimum - done)
    if fit >= needed:
        return min(target, done + fit)

    def fits(option: TrialEstimate) -> bool:
        return needed * option.trial_seconds + study.with_search(option).extra_seconds <= budget

    options = []
    epochs = next((e for e in range(trial.epochs - 1, 0, -1) if fits(trial.with_proxy(epochs=e))), None)
    if epochs is not None:
        options.append((f"--proxy-epochs {epochs}", trial.with_proxy(epochs=epochs)))
    subset = _subset_that_fits(study, budget, needed)
    if subset is not None:
        options.append((f"--proxy-subset {subset}", trial.with_proxy(train_images=subset)))
    lower = [r for r in (40, 32, 24, 16) if r < trial.resolution] if remeasure is not None else []
    for resolution in lower:
        smaller = remeasure(resolution)
        if fits(smaller):
            options.append((f"--proxy-resolution {resolution}", smaller))
            break
    if not options and lower:  # nothing alone: all three together
        smallest = remeasure(lower[-1]).with_proxy(epochs=1)
        subset = _subset_that_fits(study.with_search(smallest), budget, needed)
        if subset is not None:
            options.append((f"--proxy-epochs 1 --proxy-resolution {lower[-1]} --proxy-subset {subset}",
                            smallest.with_proxy(train_images=subset)))
    fits_text = ", ".join(f"{flags} (up to {format_duration(option.trial_seconds)} per trial)" for flags, option in options)
    search = needed * trial.trial_seconds
    raise ValueError(
        f"time budget {format_duration(budget)}: not even {needed} trial(s) fit (the baselines and {MIN_SEARCH_TRIALS} "
        f"trials{f', {done} done' if done else ''}): up to {format_duration(trial.trial_seconds)} per trial with "
        f"{trial.epochs} proxy epoch(s) at {trial.resolution}px on {trial.train_images} images, "
        f"{format_duration(search)} in all"
        + (f", on top of {' and '.join(study.extra_parts())}" if study.extra_seconds else "") + "; "
        + (f"proxy settings that fit: {fits_text}" if fits_text else "no smaller proxy fits either")
        + _fewer_refined(study, budget - search - study.noise_seconds)
        + f"; or a time budget of at least {format_duration(search + study.extra_seconds)}")


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
    trial = study.search
    if trial.epochs == 0 or trial.step_seconds <= 0:
        return None

    def fits(images: int) -> bool:
        option = study.with_search(trial.with_proxy(train_images=images))
        return needed * option.search.trial_seconds + option.extra_seconds <= budget

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


def study_progress(backend, name: str, objectives: tuple[str, ...]) -> StudyProgress:
    """What the study ``name`` has done already (nothing if it does not exist yet); creates nothing."""
    import optuna

    from ..record import StudyMeta
    from .ledger import Ledger

    try:
        study = optuna.load_study(study_name=name, storage=backend)
    except KeyError:
        return StudyProgress()
    ledger = Ledger(objectives)
    ledger.refresh(study)
    meta = StudyMeta.from_study(study)
    return StudyProgress(ledger.finished, meta.written, len(meta.refined))


def plan_search(settings: SearchSettings, space: SearchSpace, num_classes: int, train_images: int, val_images: int,
                progress: Callable[[], StudyProgress], measure: Callable[[ArchConfig], object] | None = None,
                wanted: bool = True, available_images: int | None = None,
                refine: RefineSettings | None = None) -> tuple[StudyEstimate | None, SearchSettings]:
    """The estimate (when ``wanted`` or a time budget is set, and anything is left to do) and the settings to run.

    ``progress()`` reads what the study has done (asked only when an estimate is made): a new study
    measures its noise first (``settings.noise_seeds`` proxy trainings, none below 2 or without an
    accuracy objective), and when accuracy is an objective up to ``settings.refine`` networks are
    refined after the search with ``refine`` (a :class:`~ulsam_nas.refine.RefineSettings`; None: its
    defaults, as ``ulsam-nas search`` runs it) on ``available_images`` training images (the dataset
    before the proxy's subset; None: counted as the proxy's ``train_images``).

    With a time budget (and trials left) the noise runs and the refinement are taken out of the budget,
    the settings' trial count becomes what fits the rest (at most ``settings.trials``; a ValueError
    when not even :func:`minimum_trials` fit), and the timeout at most the rest.
    """
    if not (wanted or settings.time_budget):
        return None, settings
    if refine is None:
        from ..refine import RefineSettings  # not at the top: refine.py times its runs with this module

        refine = RefineSettings()
    state = progress()
    done = state.finished
    trains = "accuracy" in settings.objectives
    noise_runs = settings.noise_seeds if trains and not state.created and settings.noise_seeds >= 2 else 0
    networks = min(settings.refine, settings.trials) if trains else 0
    images = available_images or train_images
    if done >= settings.trials and not noise_runs and networks * refine.seeds <= state.refined_runs:
        return None, settings

    def measured(proxy_resolution: int | None = None) -> TrialEstimate:
        run = settings if proxy_resolution is None else dataclasses.replace(
            settings, proxy=dataclasses.replace(settings.proxy, resolution=proxy_resolution))
        return estimate_trial_time(run, space, num_classes, train_images, val_images, max(0, settings.trials - done),
                                   measure)

    estimate = StudyEstimate(measured(), noise_runs, networks, refine.seeds, state.refined_runs, refine.factor,
                             min(refine.train_subset or images, images))
    if settings.time_budget is None or done >= settings.trials:
        return estimate, settings
    target = plan_trials(estimate, settings.time_budget, done, settings.trials,
                         minimum_trials(space, num_classes, settings.trials), remeasure=measured)
    left = settings.time_budget - estimate.extra_seconds  # the search's share: the noise runs before, refinement after
    timeout = min(settings.timeout or left, left)
    return (estimate.with_search(dataclasses.replace(estimate.search, remaining=target - done)),
            dataclasses.replace(settings, trials=target, timeout=timeout))
