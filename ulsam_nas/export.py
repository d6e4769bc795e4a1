"""Taking results out of a study: a trial's config with provenance, and the fronts as plots and tables.

``--best`` picks from the study's final front: noise-aware, on refined accuracies once the study is refined.
"""

from __future__ import annotations

import datetime
import math
from importlib import metadata
from pathlib import Path

import optuna

from .budgets import Budget
from .files import checked_output
from .metrics import get_metric
from .present.plots import front_plot_info, hypervolume_histories, plot_fronts, plot_hypervolume
from .record import TrialRecord
from .report import front_table, study_results

__all__ = ["export_fronts", "export_trial", "select_trial"]


def select_trial(study: optuna.Study, trial: int | None = None, best: bool = False, under: Budget | None = None,
                 objective: str = "accuracy") -> TrialRecord:
    """Trial ``trial``, or with ``best`` the front point best in ``objective`` among those within ``under``."""
    if (trial is None) == (not best):
        raise ValueError("export: give either --trial N or --best")
    trials = study.get_trials(deepcopy=False)
    if trial is not None:
        found = [t for t in trials if t.number == trial]
        if not found:
            raise ValueError(f"trial: study {study.study_name!r} has no trial {trial}; it has trials 0-{len(trials) - 1}")
        record = TrialRecord.from_trial(found[0])
        record.arch_config()  # says so when the trial never started
        return record
    metric = get_metric(objective, "objective")
    front = [p.trial for p in study_results(study).front()]
    if under is not None:
        front = [t for t in front if t.value(under.metric) <= under.limit]
    front = [t for t in front if not math.isnan(t.value(metric.name))]
    if not front:
        where = f" within {under}" if under else ""
        raise ValueError(f"export: no evaluated trial on the front of {study.study_name!r}{where}")
    chosen = min(front, key=lambda t: (metric.as_loss(t.value(metric.name)), t.value("flops")))
    return chosen.record


def _versions() -> dict[str, str]:
    versions = {}
    for package in ("ulsam-nas", "torch", "torchvision", "optuna"):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = "not installed"
    return versions


def export_trial(study: optuna.Study, record: TrialRecord, out: str | Path, storage: str) -> Path:
    """Write the trial's config as YAML plus provenance that ``ArchConfig.load`` ignores."""
    config = record.arch_config()
    results = study_results(study)
    definition = results.meta.definition
    metrics = {key: value for key in ("accuracy", "flops", "params", "latency_ms")
               if (value := getattr(record, key)) is not None and not (isinstance(value, float) and math.isnan(value))}
    scored = results.trial(record.number)
    if not math.isnan(scored.accuracy):  # accuracy: what the front stands on (refined once refined), ± and the proxy's
        known = {"basis": scored.basis, "accuracy": scored.accuracy, "accuracy_sigma": scored.sigma,
                 "proxy_accuracy": scored.proxy_accuracy, "proxy_sigma": scored.proxy_sigma,
                 "refined_seeds": scored.refined_seeds}
        metrics |= {key: value for key, value in known.items() if not (isinstance(value, float) and math.isnan(value))}
    provenance = {
        "study": study.study_name, "storage": storage, "trial": record.number, "status": record.status.value,
        "baseline": record.baseline or None, "metrics": metrics, "resolution": results.meta.resolution,
        "dataset": definition.dataset if definition else None,
        "proxy": definition.proxy.defining() if definition else None, "seed": definition.seed if definition else None,
        "sampler": results.meta.sampler or None, "versions": _versions(),
        "exported_at": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }
    provenance = {k: v for k, v in provenance.items() if v is not None}
    return checked_output(out, lambda path: config.save(path, provenance=provenance), "--out")


def export_fronts(studies: list[optuna.Study], plot: str | Path | None = None, x: str = "flops", y: str = "accuracy",
                  csv: str | Path | None = None, json: str | Path | None = None,
                  hypervolume: str | Path | None = None, strict: bool = False) -> tuple[int, list[Path]]:
    """Plot and tabulate the fronts of ``studies`` (noise-aware unless ``strict``); returns the front's size and
    the files written.

    With no file asked for, the plot goes to ``pareto.png``.
    """
    every = [study_results(study) for study in studies]
    infos = [front_plot_info(results, x, y, strict=strict) for results in every]
    written = []
    if plot is not None or (csv is None and json is None and hypervolume is None):
        written.append(plot_fronts(infos, plot or Path("pareto.png"), every[0].meta.resolution))
    table = front_table(studies, strict=strict)
    if csv is not None:
        written.append(checked_output(csv, lambda path: table.to_csv(path, index=False)))
    if json is not None:
        written.append(checked_output(json, lambda path: table.to_json(path, orient="records", indent=2)))
    if hypervolume is not None:
        written.append(plot_hypervolume(hypervolume_histories(every), hypervolume))
    return len(table), written
