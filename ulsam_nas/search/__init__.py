"""The search: an Optuna study over a search space, under hard budgets.

Each trial maps to an architecture config (``space.py``), is costed first
(``costs.py``), is never trained when over a budget or when the same config
was evaluated before, and is otherwise scored by proxy training, stopping
early when clearly dominated. Everything a trial learns is stored as its
:class:`~ulsam_nas.record.TrialRecord`, so the storage alone describes the
results.

One job per module: ``settings`` (what defines a search, the study-file
format), ``objective`` (config -> record), ``study`` (create or resume a
study, baselines), ``loop`` (claim, evaluate, tell), ``ledger`` (incremental
counts, front and early-stopping peers), ``stopping``, ``samplers``,
``workers`` (processes on one machine) and ``storage`` (URLs, locks,
heartbeats, the one place that touches Optuna internals).
"""

from .loop import SearchOutcome, TrialEvent, run_search
from .objective import Objective
from .samplers import DEFAULT_SAMPLER, SAMPLERS
from .settings import SearchSettings, parse_duration
from .storage import DEFAULT_STORAGE, StorageURL, open_study
from .workers import run_workers

__all__ = ["DEFAULT_SAMPLER", "DEFAULT_STORAGE", "SAMPLERS", "Objective", "SearchOutcome", "SearchSettings", "StorageURL",
           "TrialEvent", "open_study", "parse_duration", "run_search", "run_workers"]
