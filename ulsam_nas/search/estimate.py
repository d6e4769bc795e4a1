"""What a study will cost, measured before it is spent.

Before the first trial the search times the space's largest candidate (``space.largest``: widest width, no
block dropped, ULSAM at every allowed position with the largest subspace count that fits) with
``training/timing.py`` and reports the expected time of all the study has left (:class:`StudyEstimate`):
the trials left, a new study's noise runs (its vanilla network proxy-trained with ``noise_seeds`` seeds,
``study.measure_noise``) and the refinement after the search (``refine.py``: ``factor`` x the proxy's
training images, as epochs over refinement's training images, for each of ``seeds`` seeds of up to
``count`` networks), all scaled from the same measurement. It is an upper bound: every other candidate is
smaller, and candidates stopped early, over budget or evaluated before take less. With several workers
(``workers``) the trials are shared out between them, supernets of separate widths train side by side, and
refinement trains ``refine_processes`` runs at once where they run on the threads the trial was timed with.

With the supernet evaluator a trial is a child scored with inherited weights (BatchNorm re-estimation and
validation, :func:`time_supernet_trial`), the supernet epochs left come first (every width's, each step timed
as the largest candidate's), and the noise runs are scorings; refinement still scales from a proxy training.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Callable

from ..config import ArchConfig
from ..space import SearchSpace
from ..training.settings import ProxySettings, SupernetSettings, epochs_for
from ..training.timing import TrainingTime, time_training

__all__ = ["StudyEstimate", "time_supernet_trial", "time_trial"]


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
    supernet_epoch: TrainingTime | None = None  # one epoch of supernet training (None: the proxy evaluator)
    supernet_epochs: int = 0  # supernet epochs left to train, every supernet's (one per width, or one) together
    proxy_run: TrainingTime | None = None  # one proxy training, which refinement scales from (None: ``trial``)
    workers: int = 1  # processes claiming trials side by side, each on the threads ``trial`` was timed with
    supernets: int = 1  # supernets left to train (one per width, or one): up to ``workers`` of them train at once
    refine_processes: int = 1  # refinement runs trained side by side, each on the threads ``proxy_run`` was timed with

    @property
    def refinement(self) -> TrainingTime:
        """One refinement run: the proxy's measurement at refinement's epochs and training images."""
        proxy = self.proxy_run or self.trial
        images = self.refine_images or proxy.train_images
        epochs = epochs_for(self.refine_factor * proxy.epochs * proxy.train_images, images)
        return proxy.with_run(epochs=epochs, train_images=images)

    @property
    def supernet_seconds(self) -> float:
        if not self.supernet_epoch:
            return 0.0
        return self.supernet_epochs * self.supernet_epoch.epoch_seconds / min(self.workers, max(1, self.supernets))

    @property
    def refine_runs(self) -> int:
        return max(0, self.refine_networks * self.refine_seeds - self.refine_done)

    def trials_seconds(self, trials: int, trial: TrainingTime | None = None) -> float:
        """``trials`` trials (of ``trial``, default the study's), shared out between the workers."""
        return -(-trials // self.workers) * (trial or self.trial).trial_seconds

    def trials_that_fit(self, seconds: float) -> int:
        return int(seconds // max(self.trial.trial_seconds, 1e-9)) * self.workers if seconds > 0 else 0

    @property
    def search_seconds(self) -> float:
        return self.trials_seconds(self.remaining)

    @property
    def noise_seconds(self) -> float:
        return self.noise_runs * self.trial.training_seconds

    @property
    def refine_seconds(self) -> float:
        if not self.refine_runs:
            return 0.0
        return -(-self.refine_runs // self.refine_processes) * self.refinement.training_seconds

    @property
    def extra_seconds(self) -> float:
        """What is not the search's trials: supernet training, the noise runs and the refinement (taken out of a
        time budget first)."""
        return self.supernet_seconds + self.noise_seconds + self.refine_seconds

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



def time_supernet_trial(space: SearchSpace, settings: SupernetSettings, num_classes: int, train_images: int,
                        val_images: int, seed: int = 0,
                        measure: Callable[[ArchConfig], object] | None = None) -> tuple[TrainingTime, TrainingTime]:
    """(one trial: a child scored, costing included; one supernet epoch), both timed on the largest candidate."""
    images = min(train_images, settings.train_subset or train_images)
    timed = time_training(space.largest(num_classes), settings, num_classes, images, val_images, seed, measure,
                          batchnorm_images=settings.recalibration_images)
    scoring = dataclasses.replace(timed, step_seconds=0.0, steps_per_epoch=0, epochs=1)
    epoch = dataclasses.replace(timed, step_seconds=timed.step_seconds * settings.passes, eval_seconds=0.0,
                                other_seconds=0.0, epochs=1)
    return scoring, epoch
