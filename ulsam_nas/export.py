"""Choosing a trial of a study and exporting its architecture config with provenance."""

from __future__ import annotations

import datetime
import math
from importlib import metadata
from pathlib import Path

import optuna

from .budgets import Budget
from .config import ArchConfig
from .report import OBJECTIVES, pareto_front, trials_frame

__all__ = ["export_trial", "select_trial"]


def select_trial(study: optuna.Study, trial: int | None = None, best: bool = False, under: Budget | None = None,
                 objective: str = "accuracy") -> optuna.trial.FrozenTrial:
    """Trial ``trial``, or with ``best`` the front point best in ``objective`` among those within ``under``."""
    if (trial is None) == (not best):
        raise ValueError("export: give either --trial N or --best")
    trials = study.get_trials(deepcopy=False)
    if trial is not None:
        found = [t for t in trials if t.number == trial]
        if not found:
            raise ValueError(f"trial: study {study.study_name!r} has no trial {trial}; it has trials 0-{len(trials) - 1}")
        if "config" not in found[0].user_attrs:
            raise ValueError(f"trial: trial {trial} of {study.study_name!r} has no architecture config (it never started)")
        return found[0]
    if objective not in OBJECTIVES:
        raise ValueError(f"objective: unknown objective {objective!r}; valid: {', '.join(OBJECTIVES)}")
    objectives = study.user_attrs.get("objectives", ["accuracy", "flops"])
    front = pareto_front(trials_frame(study), objectives)
    if under is not None:
        front = front[front[OBJECTIVES[under.metric][0]] <= under.limit]
    column, maximise = OBJECTIVES[objective]
    front = front.dropna(subset=[column])
    if front.empty:
        where = f" within {under}" if under else ""
        raise ValueError(f"export: no evaluated trial on the front of {study.study_name!r}{where}")
    chosen = front.sort_values([column, "flops"], ascending=[not maximise, True]).iloc[0]
    return trials[int(chosen["trial"])]


def _versions() -> dict[str, str]:
    versions = {}
    for package in ("ulsam-nas", "torch", "torchvision", "optuna", "fvcore"):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = "not installed"
    return versions


def export_trial(study: optuna.Study, trial: optuna.trial.FrozenTrial, out: str | Path, storage: str) -> Path:
    """Write the trial's config as YAML plus provenance that ``ArchConfig.load`` ignores."""
    config = ArchConfig.from_dict(trial.user_attrs["config"])
    attrs = trial.user_attrs
    settings = study.user_attrs.get("settings", {})
    metrics = {key: attrs[key] for key in ("accuracy", "flops", "params", "latency_ms") if key in attrs
               and not (isinstance(attrs[key], float) and math.isnan(attrs[key]))}
    provenance = {
        "study": study.study_name, "storage": storage, "trial": trial.number, "status": attrs.get("status"),
        "baseline": attrs.get("baseline"), "metrics": metrics, "resolution": settings.get("resolution"),
        "dataset": settings.get("dataset"), "proxy": settings.get("proxy"), "seed": settings.get("seed"),
        "sampler": study.user_attrs.get("sampler"), "versions": _versions(),
        "exported_at": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }
    out = Path(out).expanduser()
    if not out.parent.exists():
        raise ValueError(f"--out: folder {out.parent} does not exist")
    try:
        return config.save(out, provenance={k: v for k, v in provenance.items() if v is not None})
    except OSError as error:
        raise ValueError(f"--out: cannot write {out}: {error.strerror or error}") from None
