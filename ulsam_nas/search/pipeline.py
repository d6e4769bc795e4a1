"""One study, start to end: the noise runs, the search, then the refinement of its front.

``run_study`` is what ``ulsam-nas search`` runs: the search (``loop.run_search``, or ``workers.run_workers``
for several processes; a new study measures its noise first) and, unless the search was interrupted, the
refinement that follows it (``refine.refine_study``) with the settings' one :class:`RefineSettings`: the same
settings the study's estimate counted. Progress is reported through :class:`StudyEvents`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from ..record import RefinedRun
from ..refine import RefineEstimate, RefineReport, refine_study
from .estimate import StudyEstimate
from .loop import SearchOutcome, StudyStart, TrialEvent, run_search
from .objective import Trainer
from .settings import SearchSettings
from .supernets import SupernetEpoch
from .workers import run_workers

__all__ = ["StudyEvents", "StudyOutcome", "run_study"]


@dataclass(frozen=True)
class StudyEvents:
    """Who hears what, as a study runs (each may be None). With several workers ``on_estimate``, ``on_trial`` and
    ``on_supernet`` run in the worker processes, so they must be picklable (module-level functions)."""

    on_estimate: Callable[[StudyEstimate], None] | None = None
    on_supernet: Callable[[SupernetEpoch], None] | None = None
    on_start: Callable[[StudyStart], None] | None = None
    on_trial: Callable[[TrialEvent], None] | None = None
    on_refine_estimate: Callable[[RefineEstimate], None] | None = None
    on_refined: Callable[[RefinedRun], None] | None = None


@dataclass(frozen=True)
class StudyOutcome:
    search: SearchOutcome
    refinement: RefineReport | None = None  # None: not refined (off, interrupted, or accuracy is no objective)


def run_study(settings: SearchSettings, events: StudyEvents = StudyEvents(), workers: int = 1,
              trainer: Trainer | None = None) -> StudyOutcome:
    """Run or resume the study ``settings`` describe, then refine its front (``settings.refine``)."""
    if workers > 1:
        search = run_workers(settings, workers, on_trial=events.on_trial, on_supernet=events.on_supernet,
                             on_estimate=events.on_estimate)
    else:
        search = run_search(settings, on_start=events.on_start, on_trial=events.on_trial, trainer=trainer,
                            on_estimate=events.on_estimate, on_supernet=events.on_supernet)
    if not settings.refine.count or search.interrupted or not settings.trains:
        return StudyOutcome(search)
    refinement = refine_study(search.study, settings.refine, on_result=events.on_refined, data_dir=settings.data_dir,
                              download=settings.download, cache_dir=settings.cache_dir, cache=settings.cache,
                              threads=settings.proxy.threads, device=settings.proxy.device, processes=None,
                              on_estimate=events.on_refine_estimate)
    return StudyOutcome(search, refinement)
