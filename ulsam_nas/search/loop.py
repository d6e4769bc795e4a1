"""The search loop: claim a trial under the study lock, evaluate it, tell Optuna, repeat.

Claiming (count, then ask) happens under the study lock, so several workers
together finish exactly ``settings.trials`` trials. A running trial beats its
heartbeat (database storages); Ctrl-C fails the running trial, which is then
not counted and is redone by the next run.
"""

from __future__ import annotations

import dataclasses
import os
import time
import warnings
from dataclasses import dataclass
from typing import Callable

import optuna
import pandas as pd
import torch

from ..data import load_dataset
from ..metrics import METRICS
from ..record import StudyMeta, TrialRecord
from ..report import StudyResults, study_results, trials_frame
from ..space import HiddenSlot, SearchSpace, load_space
from ..training.loop import TrainingDiverged
from ..training.settings import AUTO
from .estimate import StudyEstimate
from .ledger import Ledger
from .objective import Objective, Trainer
from .plan import plan_search
from .samplers import make_sampler
from .settings import SearchSettings
from .supernets import SupernetEpoch, prepare_supernets, supernet_folder, supernet_path, supernet_widths, trained_epochs
from .reconnect import StorageUnavailable
from .storage import (OrphanSweeper, StorageURL, StudyLock, cut_off_outcome, heartbeat_for, make_storage, stored_trial,
                      worker_id)
from .study import StudyProgress, check_budget_reachable, check_resumable, prepare_study, study_progress

__all__ = ["SearchOutcome", "StudyStart", "TrialEvent", "run_search"]


@dataclass(frozen=True)
class StudyStart:
    """What the progress display hears before the first trial: the study, where it is, how far it is."""

    study: str
    storage: str
    space: str
    target: int  # the study's total of trials
    done: int  # counted before this run
    meta: StudyMeta  # its skipped baselines and noise
    searched: SearchSpace  # the space as searched: ULSAM only where the proxy can see it
    hidden: tuple[HiddenSlot, ...] = ()  # the space file's ULSAM slots left out, with their map sizes
    proxy_resolution: int = 0


@dataclass(frozen=True)
class TrialEvent:
    """What the progress display hears after each trial."""

    record: TrialRecord
    finished: int  # trials counted towards the target so far
    target: int
    front_size: int
    best_feasible_accuracy: float | None
    accuracy_sigma: float | None = None  # the record's accuracy's uncertainty (noise.py)


@dataclass
class SearchOutcome:
    study: optuna.Study
    storage: str
    study_name: str
    settings: SearchSettings
    space: SearchSpace
    trials_run: int  # by this call
    interrupted: bool = False

    def frame(self) -> pd.DataFrame:
        return trials_frame(self.study)

    def results(self) -> StudyResults:
        return study_results(self.study)

    def hypervolume(self) -> float:
        """Of the strict front, against the study's reference point."""
        return self.results().hypervolume()


def run_search(
    settings: SearchSettings,
    on_start: Callable[[StudyStart], None] | None = None,
    on_trial: Callable[[TrialEvent], None] | None = None,
    trainer: Trainer | None = None,
    on_estimate: Callable[[StudyEstimate], None] | None = None,
    on_supernet: Callable[[SupernetEpoch], None] | None = None,
    workers: int = 1,
) -> SearchOutcome:
    """Create or resume the study ``settings`` describe and run it up to ``settings.trials`` trials.

    ``on_estimate`` hears, before a new study's noise runs and the first trial, the expected time per
    trial and of all the study has left: the trials, a new study's noise runs, and the refinement of up
    to ``settings.refine.count`` networks that follows the search (run by ``pipeline.run_study``). With
    ``settings.time_budget`` the noise runs and the refinement are taken out of the budget and the trial
    count is chosen from the rest. With the supernet evaluator the study's supernets are trained (or read back,
    ``supernets.py``) after the estimate and before the study opens; ``on_supernet`` hears each epoch trained.
    ``workers``: how many processes run this search side by side (``workers.run_workers``), for the estimate and
    for the trial count a time budget allows.
    """
    space = load_space(settings.space)
    if settings.deployment_resolution(space) < 32:
        raise ValueError(f"resolution: must be >= 32 pixels, got {settings.deployment_resolution(space)}")
    # ULSAM slots the proxy cannot see, or that are 1x1 where the network ships, are not searched.
    space, hidden = space.visible(settings.deployment_resolution(space), settings.proxy.resolution)
    proxy = settings.proxy
    # A supernet trains on all the training images: then they are loaded once and the proxy's subset taken from them.
    data = load_dataset(settings.dataset, proxy.resolution, settings.data_dir, settings.download,
                        train_subset=None if proxy.train_subset == AUTO or settings.uses_supernet else proxy.train_subset,
                        seed=0, cache_dir=settings.cache_dir, cache=settings.cache)
    all_data = data if settings.uses_supernet else None
    if not proxy.is_resolved:  # "auto" proxy settings: chosen by the dataset's size, stored with the study as numbers
        proxy = proxy.resolve(data.train_available or len(data.train_labels))
        settings = dataclasses.replace(settings, proxy=proxy)
    data = data.with_train_subset(proxy.train_subset, seed=0)
    objective = Objective(settings, space, data, **({"trainer": trainer} if trainer else {}))
    check_budget_reachable(space, settings, data.num_classes)

    storage = StorageURL.parse(settings.storage)
    name = settings.study_name(space)
    # Workers sharing a server or journal storage must not all draw the same candidates: mix in the process id.
    # A single worker on SQLite (the default) is repeatable from --seed.
    sampler_seed = settings.seed if storage.single_writer else settings.seed + worker_id()["pid"]
    sampler = make_sampler(settings.sampler, sampler_seed, settings.trials)
    backend = make_storage(storage, settings.heartbeat_seconds, 3 * settings.heartbeat_seconds, settings.reconnect_seconds)
    epochs_left = []  # of each supernet with epochs left to train
    if all_data is not None and _scores_anything(study_progress(backend, name, settings.objectives), settings):
        folder = supernet_folder(storage, settings.cache_dir)
        epochs_left = [left for width in supernet_widths(space, settings.supernet)
                       if (left := settings.supernet.epochs - trained_epochs(
                           supernet_path(folder, space, all_data.name, width, settings.supernet_run))) > 0]
    else:
        all_data = None  # a finished study needs no supernet (refinement trains stand-alone)
    # Before the study exists: a time budget that cannot fit must not leave a study with these settings behind.
    estimate, planned = plan_search(settings, space, data.num_classes, len(data.train_labels), len(data.val_labels),
                                    lambda: study_progress(backend, name, settings.objectives), objective.measure,
                                    wanted=on_estimate is not None, available_images=data.train_available,
                                    supernet_epochs=sum(epochs_left), supernets=len(epochs_left), workers=workers)
    if on_estimate and estimate:
        on_estimate(estimate)  # before the noise runs and baselines' costing of a new study: say the cost first
    if all_data is not None:  # before the study lock: workers wait for one another on each supernet's own lock
        check_resumable(backend, name, settings.definition(space, data.num_classes))  # not after an hour's training
        objective.evaluator = prepare_supernets(space, all_data, settings.supernet_run, folder, on_supernet,
                                                sole_threads=_every_workers_threads(settings, workers))
    lock = StudyLock(storage, name, settings.reconnect_seconds)
    # Several workers may start at once: one creates the study, measures its noise (a few proxy trainings, see
    # study.prepare_study) and queues the baselines; the others wait here for the lock meanwhile.
    with lock.held():
        study = optuna.create_study(storage=backend, study_name=name, sampler=sampler, load_if_exists=True,
                                    directions=[METRICS[o].direction for o in settings.objectives])
        stored_reference = StudyMeta.from_study(study).latency_reference_ms
        if objective.latency is not None and stored_reference is not None:
            objective.latency.reference_ms = stored_reference  # one scale for every worker and resume
        meta = prepare_study(study, settings, objective, name)
        if objective.latency is not None and stored_reference is None:
            StudyMeta.write_latency_reference(study, objective.latency.reference_ms)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            study.set_metric_names(list(settings.objectives))  # optuna-dashboard shows them

    ledger = Ledger(settings.objectives)
    ledger.refresh(study)
    done_before = ledger.finished
    if on_start:
        on_start(StudyStart(name, str(storage), space.name, planned.trials, done_before, meta, space, hidden,
                            settings.proxy.resolution))
    interrupted = _run_trials(study, objective, ledger, lock, planned, on_trial)
    return SearchOutcome(study, str(storage), name, planned, space, ledger.finished - done_before, interrupted)


def _every_workers_threads(settings: SearchSettings, workers: int) -> int | None:
    """The CPU threads of all ``workers`` together (None: one worker, or not on a CPU): a supernet that every worker
    waits for trains on them."""
    if workers < 2 or not settings.proxy.threads or torch.device(settings.proxy.device).type != "cpu":
        return None
    return min(os.cpu_count() or 1, settings.proxy.threads * workers)


def _scores_anything(progress: StudyProgress, settings: SearchSettings) -> bool:
    """Whether a run of the study has trials left or (a new study) noise runs to score."""
    return progress.finished < settings.trials or not progress.created


def _run_trials(study: optuna.Study, objective: Objective, ledger: Ledger, lock: StudyLock, settings: SearchSettings,
                on_trial: Callable[[TrialEvent], None] | None) -> bool:
    """Claim and evaluate trials until the study's total is reached; True if interrupted (Ctrl-C)."""
    started = time.monotonic()
    noise = StudyMeta.from_study(study).noise_estimate
    sweep = OrphanSweeper(study)

    def locked(job):
        with lock.held():
            return job()

    while settings.timeout is None or time.monotonic() - started < settings.timeout:
        with lock.held():
            sweep()
            trials = study.get_trials(deepcopy=False)
            ledger.update(trials)
            running = sum(t.state == optuna.trial.TrialState.RUNNING for t in trials)
            if ledger.finished + running >= settings.trials:
                if ledger.finished >= settings.trials:
                    return False
                trial = None  # the rest are running elsewhere: see whether they finish or their worker dies
            else:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", UserWarning)  # "heartbeat is meant for optimize": ours runs below
                    trial = study.ask()
                heartbeat = heartbeat_for(study, trial)
                heartbeat.beat()  # before the lock is let go: a claimed trial always has a heartbeat to go stale
                config, twin = objective.claim(trial, worker_id())
        if trial is None:
            time.sleep(min(settings.heartbeat_seconds, 5))
            continue
        state, values = optuna.trial.TrialState.COMPLETE, None
        try:
            with heartbeat:
                values = objective(trial, config, ledger, twin, locked, sweep)
        except optuna.TrialPruned:
            state = optuna.trial.TrialState.PRUNED
        except TrainingDiverged:
            state = optuna.trial.TrialState.FAIL
        except optuna.exceptions.UpdateFinishedTrialError:
            continue  # another worker's sweep took this worker for dead (a late heartbeat) and queued the trial again
        except StorageUnavailable:
            raise  # nothing can be told now; the next run sweeps the trial
        except KeyboardInterrupt:  # counted if its record was complete, else redone by the next run
            _tell_cut_off(study, trial)
            return True
        except BaseException:
            _tell_cut_off(study, trial)
            raise
        frozen = study.tell(trial, values if state == optuna.trial.TrialState.COMPLETE else None, state=state,
                            skip_if_finished=True)  # finished by a sweep that took this worker for dead: as stored
        (record,) = ledger.update([frozen]) or [TrialRecord.from_trial(frozen)]
        if on_trial is not None:
            on_trial(TrialEvent(record, ledger.finished, settings.trials, len(ledger.front), ledger.best_accuracy(),
                                None if record.accuracy is None else noise.sigma_of(record.accuracy)))
    return False


def _tell_cut_off(study: optuna.Study, trial: optuna.Trial) -> None:
    """Tell a trial that an interrupt or error cut off: with its recorded result if its record was complete
    (it is not trained again), else failed (it does not count and is redone)."""
    state, values = cut_off_outcome(TrialRecord.from_trial(stored_trial(study, trial.number)))
    study.tell(trial, values, state=state, skip_if_finished=True)
