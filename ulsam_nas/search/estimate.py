"""What a search will cost, said before it is spent; and a time budget turned into a trial count.

Before the first trial the search builds the space's largest candidate (widest
width, no block dropped, ULSAM at every allowed position with the largest
subspace count that fits), times a few proxy training steps after a warm-up
step, adds the per-epoch BatchNorm re-estimation and validation and the
per-trial costing, and reports the expected time per trial and for the trials
left. It is an upper bound: every other candidate is smaller, and candidates
stopped early, over budget or evaluated before take less.

``--time-budget`` chooses the study's trial count from the estimate, or
refuses in one line, naming proxy settings that would fit, when not even the
baselines and 10 trials fit.
"""

from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import dataclass
from typing import Callable

import torch

from .. import runtime
from ..baselines import baselines_for
from ..builder import build_model
from ..config import ArchConfig
from ..space import SearchSpace
from ..training.loop import make_optimizer, normalise, one_cycle_schedule
from .settings import SearchSettings

__all__ = ["MIN_SEARCH_TRIALS", "TrialEstimate", "estimate_trial_time", "format_duration", "largest_candidate",
           "minimum_trials", "plan_trials"]

MIN_SEARCH_TRIALS = 10  # on top of the baselines: less than this is not a search
_BN_IMAGES, _BN_BATCH, _EVAL_BATCH = 512, 128, 256  # training/loop.py's recalibrate_batchnorm and evaluate


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
    def trial_seconds(self) -> float:
        return self.other_seconds + self.epochs * self.epoch_seconds

    @property
    def remaining_seconds(self) -> float:
        return self.trial_seconds * self.remaining

    def with_proxy(self, epochs: int | None = None, train_images: int | None = None) -> "TrialEstimate":
        """The same measurement for fewer epochs or training images (resolutions need a new measurement)."""
        images = self.train_images if train_images is None else min(train_images, self.train_images)
        return dataclasses.replace(self, epochs=epochs or self.epochs, train_images=images,
                                   steps_per_epoch=max(1, images // self.batch_size))

    def describe(self) -> str:
        """One line for the terminal."""
        return (f"estimate: up to {format_duration(self.trial_seconds)} per trial (largest candidate {self.candidate}: "
                f"{self.epochs} epochs x {self.steps_per_epoch} steps of {self.step_seconds:.2f}s at {self.resolution}px "
                f"+ {self.eval_seconds:.1f}s evaluation per epoch + {self.other_seconds:.1f}s costing); "
                f"{self.remaining} trials left: up to {format_duration(self.remaining_seconds)} "
                f"(an upper bound: smaller, early-stopped, reused and over-budget candidates take less)")


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
    config = largest_candidate(space, num_classes)
    images = min(train_images, proxy.train_subset or train_images)
    trains = "accuracy" in settings.objectives
    device = runtime.resolve_device(proxy.device, setting="proxy device")
    started = time.perf_counter()
    if measure is not None:
        measure(config)
    with runtime.threads(proxy.threads), runtime.seeded(settings.seed, device):
        model = build_model(config).to(device, memory_format=torch.channels_last).train()
        other = time.perf_counter() - started
        step = eval_seconds = 0.0
        if trains:
            step = _time_steps(model, proxy, num_classes, device, steps)
            eval_seconds = _time_evaluation(model, proxy.resolution, device, images, val_images)
    return TrialEstimate(
        candidate=config.summary(), step_seconds=step, steps_per_epoch=max(1, images // proxy.batch_size),
        epochs=proxy.epochs if trains else 0, eval_seconds=eval_seconds, other_seconds=other, remaining=remaining,
        resolution=proxy.resolution, batch_size=proxy.batch_size, train_images=images, val_images=val_images)


def _random_batch(count: int, resolution: int) -> torch.Tensor:
    return torch.randint(0, 256, (count, 3, resolution, resolution), dtype=torch.uint8)


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _time_steps(model: torch.nn.Module, proxy, num_classes: int, device: torch.device, steps: int) -> float:
    """Mean seconds of one training step, as training/loop.py's train_one_epoch takes it, after one warm-up step."""
    optimizer = make_optimizer(model, proxy.lr, proxy.momentum, proxy.weight_decay)
    scheduler = one_cycle_schedule(optimizer, proxy.lr, steps + 1)
    mean, std = torch.full((3,), 0.5, device=device), torch.full((3,), 0.25, device=device)
    images, labels = _random_batch(proxy.batch_size, proxy.resolution), torch.randint(0, num_classes, (proxy.batch_size,))
    timings = []
    for _ in range(steps + 1):
        _synchronize(device)
        started = time.perf_counter()
        loss = torch.nn.functional.cross_entropy(model(normalise(images, mean, std)), labels.to(device),
                                                 label_smoothing=proxy.label_smoothing)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        scheduler.step()
        loss.item()
        _synchronize(device)
        timings.append(time.perf_counter() - started)
    return sum(timings[1:]) / steps


def _time_evaluation(model: torch.nn.Module, resolution: int, device: torch.device, train_images: int,
                     val_images: int) -> float:
    """Seconds per epoch of BatchNorm re-estimation and validation, from one timed batch of each."""
    mean, std = torch.full((3,), 0.5, device=device), torch.full((3,), 0.25, device=device)
    bn_images = min(_BN_IMAGES, train_images)
    with torch.no_grad():
        batch = normalise(_random_batch(min(_BN_BATCH, bn_images), resolution), mean, std)
        _synchronize(device)
        started = time.perf_counter()
        model.train()(batch)
        _synchronize(device)
        bn = (time.perf_counter() - started) / len(batch) * bn_images
    with torch.inference_mode():
        batch = normalise(_random_batch(max(1, min(_EVAL_BATCH, val_images)), resolution), mean, std)
        _synchronize(device)
        started = time.perf_counter()
        model.eval()(batch)
        _synchronize(device)
        evaluation = (time.perf_counter() - started) / len(batch) * val_images
    model.train()
    return bn + evaluation


def plan_trials(estimate: TrialEstimate, budget: float, done: int, target: int, minimum: int,
                remeasure: Callable[[int], TrialEstimate] | None = None) -> int:
    """The study total that fits ``budget`` seconds: at most ``target``, at least ``minimum``, else a ValueError.

    ``done`` trials are finished already. The refusal is one line naming proxy settings that
    would fit, each with its estimated time per trial; ``remeasure(resolution)`` measures the
    same estimate at a lower proxy resolution (None: resolutions are not suggested).
    """
    fit = int(budget // max(estimate.trial_seconds, 1e-9))
    needed = max(1, minimum - done)
    if fit >= needed:
        return min(target, done + fit)
    per_trial = budget / needed
    options = []
    epochs = next((e for e in range(estimate.epochs - 1, 0, -1)
                   if estimate.with_proxy(epochs=e).trial_seconds <= per_trial), None)
    if epochs is not None:
        options.append((f"--proxy-epochs {epochs}", estimate.with_proxy(epochs=epochs)))
    subset = _subset_that_fits(estimate, per_trial)
    if subset is not None:
        options.append((f"--proxy-subset {subset}", estimate.with_proxy(train_images=subset)))
    lower = [r for r in (40, 32, 24, 16) if r < estimate.resolution] if remeasure is not None else []
    for resolution in lower:
        smaller = remeasure(resolution)
        if smaller.trial_seconds <= per_trial:
            options.append((f"--proxy-resolution {resolution}", smaller))
            break
    if not options and lower:  # nothing alone: all three together
        smallest = remeasure(lower[-1]).with_proxy(epochs=1)
        subset = _subset_that_fits(smallest, per_trial)
        if subset is not None:
            options.append((f"--proxy-epochs 1 --proxy-resolution {lower[-1]} --proxy-subset {subset}",
                            smallest.with_proxy(train_images=subset)))
    fits = ", ".join(f"{flags} (up to {format_duration(option.trial_seconds)} per trial)" for flags, option in options)
    raise ValueError(
        f"time budget {format_duration(budget)}: not even {needed} trial(s) fit (the baselines and {MIN_SEARCH_TRIALS} "
        f"trials{f', {done} done' if done else ''}): up to {format_duration(estimate.trial_seconds)} per trial with "
        f"{estimate.epochs} proxy epoch(s) at {estimate.resolution}px on {estimate.train_images} images, "
        f"{format_duration(needed * estimate.trial_seconds)} in all; "
        + (f"proxy settings that fit: {fits}" if fits else "no smaller proxy fits either")
        + f"; or a time budget of at least {format_duration(needed * estimate.trial_seconds)}")


def _subset_that_fits(estimate: TrialEstimate, per_trial: float) -> int | None:
    """The most training images (2 significant digits, at least 2 batches) whose trial fits ``per_trial`` seconds."""
    if estimate.epochs == 0 or estimate.step_seconds <= 0:
        return None
    steps = ((per_trial - estimate.other_seconds) / estimate.epochs - estimate.eval_seconds) / estimate.step_seconds
    images = int(steps) * estimate.batch_size
    if images < 2 * estimate.batch_size or images >= estimate.train_images:
        return None
    scale = 10 ** max(0, int(math.log10(images)) - 1)
    return images // scale * scale


def finished_trials(backend, name: str, objectives: tuple[str, ...]) -> int:
    """Trials the study ``name`` has finished already (0 if it does not exist yet); creates nothing."""
    import optuna

    from .ledger import Ledger

    try:
        study = optuna.load_study(study_name=name, storage=backend)
    except KeyError:
        return 0
    ledger = Ledger(objectives)
    ledger.refresh(study)
    return ledger.finished


def plan_search(settings: SearchSettings, space: SearchSpace, num_classes: int, train_images: int, val_images: int,
                count_done: Callable[[], int], measure: Callable[[ArchConfig], object] | None = None,
                wanted: bool = True) -> tuple[TrialEstimate | None, SearchSettings]:
    """The estimate (when ``wanted`` or a time budget is set, and trials are left) and the settings to run.

    ``count_done()`` counts the study's finished trials (asked only when an estimate is made).

    With a time budget the settings' trial count becomes what fits (at most ``settings.trials``;
    a ValueError when not even :func:`minimum_trials` fit), and the timeout at most the budget.
    """
    if not (wanted or settings.time_budget):
        return None, settings
    done = count_done()
    if done >= settings.trials:
        return None, settings

    def measured(proxy_resolution: int | None = None) -> TrialEstimate:
        run = settings if proxy_resolution is None else dataclasses.replace(
            settings, proxy=dataclasses.replace(settings.proxy, resolution=proxy_resolution))
        return estimate_trial_time(run, space, num_classes, train_images, val_images, settings.trials - done, measure)

    estimate = measured()
    if settings.time_budget is None:
        return estimate, settings
    target = plan_trials(estimate, settings.time_budget, done, settings.trials,
                         minimum_trials(space, num_classes, settings.trials), remeasure=measured)
    timeout = min(settings.timeout or settings.time_budget, settings.time_budget)
    return dataclasses.replace(estimate, remaining=target - done), dataclasses.replace(settings, trials=target,
                                                                                         timeout=timeout)
