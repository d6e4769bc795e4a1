"""The search: an Optuna study over a search space, under hard budgets.

Each trial maps to an architecture config (``space.py``), is costed first (``costs.py``), is never trained
when over a budget or when the same network was evaluated before, and is otherwise scored by the study's
evaluator (proxy training, stopping early when clearly dominated). Everything a trial learns is stored as
its :class:`~ulsam_nas.record.TrialRecord`, so the storage alone describes the results.

One job per module: ``settings`` (what defines a search, the study-file format), ``pipeline`` (noise,
search, refinement: ``run_study``), ``plan`` (the expected time, a time budget), ``estimate`` (its records),
``objective`` (config -> record; the evaluator seam), ``study`` (create or resume a study, baselines, noise),
``loop`` (claim, evaluate, tell), ``ledger`` (incremental counts, front and early-stopping peers),
``stopping``, ``samplers``, ``workers`` (processes on one machine) and ``storage`` (URLs, locks, heartbeats,
the one place that touches Optuna internals).
"""

from ..lazy import lazy_exports
from .settings import DEFAULT_SAMPLER, SAMPLERS, SearchSettings, parse_duration
from .urls import DEFAULT_STORAGE

_LAZY = {"Objective": ".objective", "ProxyEvaluator": ".objective", "SearchOutcome": ".loop", "StudyStart": ".loop",
         "TrialEvent": ".loop", "run_search": ".loop", "StudyEvents": ".pipeline", "StudyOutcome": ".pipeline",
         "run_study": ".pipeline", "StorageURL": ".storage", "open_study": ".storage", "run_workers": ".workers"}
__getattr__ = lazy_exports(__name__, _LAZY)

__all__ = ["DEFAULT_SAMPLER", "DEFAULT_STORAGE", "SAMPLERS", "Objective", "ProxyEvaluator", "SearchOutcome",
           "SearchSettings", "StorageURL", "StudyEvents", "StudyOutcome", "StudyStart", "TrialEvent", "open_study",
           "parse_duration", "run_search", "run_study", "run_workers"]
