"""What a study will cost, measured before it is spent.

Before the first trial the search times the space's largest candidate (``space.largest``: widest width, no
block dropped, ULSAM at every allowed position with the largest subspace count that fits) with
``training/timing.py`` and reports the expected time of all the study has left (:class:`StudyEstimate`):
the trials left, a new study's noise runs (its vanilla network proxy-trained with ``noise_seeds`` seeds,
``study.measure_noise``) and the refinement after the search (``refine.py``: ``factor`` x the proxy's
training images, as epochs over refinement's training images, for each of ``seeds`` seeds of up to
``count`` networks), all scaled from the same measurement. It is an upper bound: every other candidate is
smaller, and candidates stopped early, over budget or evaluated before take less.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Callable

from ..config import ArchConfig
from ..space import SearchSpace
from ..training.settings import ProxySettings, epochs_for
from ..training.timing import TrainingTime, time_training

__all__ = ["StudyEstimate", "time_trial"]


@dataclass(frozen=True)
class StudyEstimate:
    """Expected time of all a study has left: the search's trials, a new study's noise runs, the refinement after.

    All three come from one measurement (``trial``, the largest candidate): a noise run is one proxy training,
    a refinement run one training at refinement's epochs and training images. An upper bound.
    """

    trial: TrainingTime  # one trial of the largest candidate
    remaining: int  # trials left (0: the search is finished)
    noise_runs: int = 0  # proxy trainings of the vanilla network that measure a new study's noise
    refine_networks: int = 0  # refined after the search (at most; 0: no refinement)
    refine_seeds: int = 0  # runs per refined network
    refine_done: int = 0  # refinement runs stored already (an interrupted refinement)
    refine_factor: int = 1  # a refinement run trains on this many times the proxy's images
    refine_images: int | None = None  # training images of a refinement run (None: the proxy's)

    @property
    def refinement(self) -> TrainingTime:
        """One refinement run: the proxy's measurement at refinement's epochs and training images."""
        images = self.refine_images or self.trial.train_images
        epochs = epochs_for(self.refine_factor * self.trial.epochs * self.trial.train_images, images)
        return self.trial.with_run(epochs=epochs, train_images=images)

    @property
    def refine_runs(self) -> int:
        return max(0, self.refine_networks * self.refine_seeds - self.refine_done)

    @property
    def search_seconds(self) -> float:
        return self.remaining * self.trial.trial_seconds

    @property
    def noise_seconds(self) -> float:
        return self.noise_runs * self.trial.training_seconds

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

    def with_trial(self, trial: TrainingTime, remaining: int | None = None) -> "StudyEstimate":
        """The same study with another measurement of its trials (other proxy settings); refinement scales with it."""
        return dataclasses.replace(self, trial=trial, remaining=self.remaining if remaining is None else remaining)


def time_trial(space: SearchSpace, proxy: ProxySettings, num_classes: int, train_images: int, val_images: int,
               seed: int = 0, measure: Callable[[ArchConfig], object] | None = None, trains: bool = True) -> TrainingTime:
    """One trial of the space's largest candidate, timed: ``train_images`` the proxy's (before its subset)."""
    return time_training(space.largest(num_classes), proxy, num_classes,
                         min(train_images, proxy.train_subset or train_images), val_images, seed, measure, trains)

