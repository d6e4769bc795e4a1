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
from .record import StudyMeta, TrialRecord
from .report import final_view, front_table, study_front, trials_frame

__all__ = ["export_fronts", "export_trial", "select_trial", "trial_accuracy"]


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
    front = study_front(study)
    if under is not None:
        front = front[front[get_metric(under.metric).column] <= under.limit]
    front = front.dropna(subset=[metric.column])
    if front.empty:
        where = f" within {under}" if under else ""
        raise ValueError(f"export: no evaluated trial on the front of {study.study_name!r}{where}")
    chosen = front.sort_values([metric.column, "flops"], ascending=[not metric.maximise, True]).iloc[0]
    return TrialRecord.from_trial(trials[int(chosen["trial"])])


def trial_accuracy(study: optuna.Study, number: int) -> dict[str, float | str] | None:
    """The accuracy the study's results stand on for trial ``number`` (refined once refined), its uncertainty,
    the proxy's beside it and the basis ("refined" or "proxy"); None for a trial without one."""
    frame = trials_frame(study)
    view = final_view(frame)
    row = view[view["trial"] == number]
    if row.empty:  # not refined while others were: its proxy value only
        row = final_view(frame[frame["trial"] == number].assign(refined_seeds=0))
    row = row.iloc[0]
    if row["accuracy"] != row["accuracy"]:
        return None
    return {"basis": row["basis"], "accuracy": float(row["accuracy"]), "accuracy_sigma": float(row["accuracy_sigma"]),
            "proxy_accuracy": float(row["proxy_accuracy"]), "proxy_sigma": float(row["proxy_sigma"]),
            "refined_seeds": int(row["refined_seeds"])}


def _versions() -> dict[str, str]:
    versions = {}
    for package in ("ulsam-nas", "torch", "torchvision", "optuna", "fvcore"):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = "not installed"
    return versions


def export_trial(study: optuna.Study, record: TrialRecord, out: str | Path, storage: str) -> Path:
    """Write the trial's config as YAML plus provenance that ``ArchConfig.load`` ignores."""
    config = record.arch_config()
    meta = StudyMeta.from_study(study)
    metrics = {key: value for key in ("accuracy", "flops", "params", "latency_ms")
               if (value := getattr(record, key)) is not None and not (isinstance(value, float) and math.isnan(value))}
    known = trial_accuracy(study, record.number)
    if known is not None:  # accuracy: what the front stands on (refined once refined), ± and the proxy's beside it
        metrics |= {key: value for key, value in known.items() if not (isinstance(value, float) and math.isnan(value))}
    provenance = {
        "study": study.study_name, "storage": storage, "trial": record.number, "status": record.status.value,
        "baseline": record.baseline or None, "metrics": metrics, "resolution": meta.resolution,
        "dataset": meta.settings.get("dataset"), "proxy": meta.settings.get("proxy"), "seed": meta.settings.get("seed"),
        "sampler": meta.sampler or None, "versions": _versions(),
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
    from .plots import front_plot_info, hypervolume_histories, plot_fronts, plot_hypervolume

    infos = [front_plot_info(study, x, y, strict=strict) for study in studies]
    written = []
    if plot is not None or (csv is None and json is None and hypervolume is None):
        written.append(plot_fronts(infos, plot or Path("pareto.png"), StudyMeta.from_study(studies[0]).resolution))
    table = front_table(studies, strict=strict)
    if csv is not None:
        written.append(checked_output(csv, lambda path: table.to_csv(path, index=False)))
    if json is not None:
        written.append(checked_output(json, lambda path: table.to_json(path, orient="records", indent=2)))
    if hypervolume is not None:
        written.append(plot_hypervolume(hypervolume_histories(studies), hypervolume))
    return len(table), written
