"""Several worker processes on this machine, sharing one study through a journal or database storage."""

from __future__ import annotations

import dataclasses
import multiprocessing
import os
import sys
from typing import Callable

from ..runtime import spread_over_gpus
from ..space import load_space
from .ledger import Ledger
from .estimate import StudyEstimate
from .loop import SearchOutcome, TrialEvent, run_search
from .journal import JournalDamaged
from .reconnect import StorageUnavailable
from .settings import SearchSettings
from .supernets import SupernetEpoch
from .storage import StorageURL, open_study

__all__ = ["run_workers"]


def _worker(settings: SearchSettings, on_trial: Callable[[TrialEvent], None] | None,
            on_supernet: Callable[[SupernetEpoch], None] | None = None,
            on_estimate: Callable[[StudyEstimate], None] | None = None, workers: int = 1) -> None:
    """One worker process: the search loop, with Optuna's own log lines off (``on_trial`` reports instead)."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.ERROR)  # this process is ours alone
    try:
        run_search(settings, on_trial=on_trial, on_supernet=on_supernet, on_estimate=on_estimate, workers=workers)
    except KeyboardInterrupt:
        pass
    except (StorageUnavailable, JournalDamaged) as error:
        sys.exit(f"error: {error}")  # one line, as the command itself prints errors


def _finished(storage: str, name: str) -> int:
    ledger = Ledger(())
    ledger.refresh(open_study(storage, name))
    return ledger.finished


def run_workers(settings: SearchSettings, workers: int,
                on_trial: Callable[[TrialEvent], None] | None = None,
                on_supernet: Callable[[SupernetEpoch], None] | None = None,
                on_estimate: Callable[[StudyEstimate], None] | None = None) -> SearchOutcome:
    """Run ``workers`` processes on one study, the cores split between them.

    With ``proxy.device`` ``cuda`` the workers are spread round-robin over the visible GPUs, so that
    several trials share each GPU. ``on_trial`` and ``on_supernet`` run in the worker processes, so they must
    be picklable (module-level functions), as must ``on_estimate``: the first worker times the study on its own
    threads and says what it expects of all of them together before anything trains. With the supernet evaluator
    the workers train different widths' supernets side by side (``supernets.prepare_supernets``).
    """
    storage = StorageURL.parse(settings.storage)
    if workers < 1:
        raise ValueError(f"workers: must be >= 1, got {workers}")
    if workers > 1 and storage.single_writer:
        raise ValueError("workers: several processes must not write one SQLite file; use --storage journal:ulsam-nas.journal "
                         "or a postgresql:// URL")
    threads = max(1, (os.cpu_count() or 1) // workers)
    space = load_space(settings.space)
    name = settings.study_name(space)
    # The study is created under its lock by whichever worker comes first.
    devices = spread_over_gpus(settings.proxy.device, workers)
    per_worker = [dataclasses.replace(settings, study=name, storage=str(storage),
                                      proxy=dataclasses.replace(settings.proxy, threads=settings.proxy.threads or threads,
                                                                device=device)) for device in devices]
    try:
        done_before = _finished(str(storage), name)
    except ValueError:  # a new study
        done_before = 0
    context = multiprocessing.get_context("spawn")
    processes = [context.Process(target=_worker, args=(worker_settings, on_trial, on_supernet,
                                                       on_estimate if index == 0 else None, workers))
                 for index, worker_settings in enumerate(per_worker)]
    for process in processes:
        process.start()
    interrupted = False
    try:
        for process in processes:
            process.join()
    except KeyboardInterrupt:
        interrupted = True
        for process in processes:
            process.join()
    done = _finished(str(storage), name)
    return SearchOutcome(open_study(str(storage), name), str(storage), name, dataclasses.replace(settings, study=name),
                         space, done - done_before, interrupted)
