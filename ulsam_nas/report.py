"""Study results as data: every trial as a pandas table, the feasible Pareto front, gains over baselines.

Computing is kept apart from drawing and printing (see ``plots.py`` and the CLI).
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from .metrics import METRICS
from .record import EVALUATED, StudyMeta, TrialRecord
from .text import format_count, format_table

__all__ = ["COLUMNS", "baseline_gains", "format_front", "front_table", "front_with_gains", "hypervolume",
           "hypervolume_history", "non_dominated", "pareto_front", "study_objectives", "trials_frame"]

COLUMNS = ["trial", "state", "status", "baseline", "feasible", "accuracy", "flops", "params", "latency_ms",
           "summary", "config", "train_seconds", "wall_seconds", "reason"]
_EVALUATED = [status.value for status in EVALUATED]


def trials_frame(study) -> pd.DataFrame:
    """One row per trial of an Optuna study written by ulsam-nas."""
    rows = [TrialRecord.from_trial(trial).row() for trial in study.get_trials(deepcopy=False)]
    return pd.DataFrame(rows, columns=COLUMNS)


def study_objectives(study) -> tuple[str, ...]:
    return StudyMeta.from_study(study).objectives


def non_dominated(losses: np.ndarray) -> np.ndarray:
    """Boolean mask of the rows no other row dominates (every column a loss: smaller is better)."""
    if len(losses) == 0:
        return np.zeros(0, dtype=bool)
    no_worse = (losses[:, None, :] <= losses[None, :, :]).all(axis=2)  # [j, i]: j is no worse than i everywhere
    better = (losses[:, None, :] < losses[None, :, :]).any(axis=2)
    return ~(no_worse & better).any(axis=0)


def pareto_front(frame: pd.DataFrame, objectives: list[str] | tuple[str, ...]) -> pd.DataFrame:
    """Feasible, fully evaluated trials that no other such trial dominates.

    Points with identical objective values (a config evaluated twice) appear once, as the earliest trial.
    """
    metrics = [METRICS[name] for name in objectives]
    columns = [metric.column for metric in metrics]
    done = frame[(frame["state"] == "COMPLETE") & (frame["feasible"] != False)  # noqa: E712 (None: no budgets)
                 & frame["status"].isin(_EVALUATED)]
    done = done.dropna(subset=columns).sort_values("trial").drop_duplicates(subset=columns, keep="first")
    losses = np.stack([done[m.column].to_numpy(dtype=float) * (-1 if m.maximise else 1) for m in metrics], axis=1) \
        if len(done) else np.zeros((0, len(metrics)))
    front = done[non_dominated(losses)]
    sort_by = [m.column for m in metrics if not m.maximise][:1] or [columns[0]]
    return front.sort_values(sort_by).reset_index(drop=True)


def baseline_gains(frame: pd.DataFrame, front: pd.DataFrame) -> list[str]:
    """For each trained baseline: the front's most accurate point that costs no more FLOPs, and the difference."""
    lines = []
    baselines = frame[(frame["baseline"] != "") & frame["status"].isin(_EVALUATED)]
    for _, base in baselines.iterrows():
        cheaper = front[front["flops"] <= base["flops"]]
        if cheaper.empty:
            continue
        best = cheaper.sort_values(["accuracy", "flops"], ascending=[False, True]).iloc[0]
        if int(best["trial"]) == int(base["trial"]):
            lines.append(f"{base['baseline']} (trial {base['trial']}) is itself on the front")
            continue
        lines.append(
            f"vs {base['baseline']} (trial {base['trial']}, {base['accuracy']:.1%}, {format_count(base['flops'])} FLOPs): "
            f"trial {best['trial']} reaches {best['accuracy']:.1%} ({(best['accuracy'] - base['accuracy']) * 100:+.1f} points) at "
            f"{format_count(best['flops'])} FLOPs ({best['flops'] / base['flops'] - 1:+.1%}), "
            f"{format_count(best['params'])} params ({best['params'] / base['params'] - 1:+.1%})"
        )
    return lines


def format_front(front: pd.DataFrame, gains: pd.Series | None = None) -> str:
    """The front as a text table; with ``gains`` (a baseline's row), each point's difference from it."""
    rows, header = [], ["trial", "accuracy", "FLOPs (MACs)", "params", "latency ms", "baseline", "architecture"]
    for _, r in front.iterrows():
        row = [r["trial"], f"{r['accuracy']:.1%}", format_count(r["flops"]), format_count(r["params"]),
               "" if pd.isna(r["latency_ms"]) else f"{r['latency_ms']:.2f}", r["baseline"] or "", r["summary"]]
        if gains is not None:
            row[1:2] = [row[1], f"{(r['accuracy'] - gains['accuracy']) * 100:+.1f}"]
            row[3:4] = [row[3], f"{r['flops'] / gains['flops'] - 1:+.1%}"]
        rows.append(row)
    if gains is not None:
        header[1:2] = ["accuracy", f"vs {gains['baseline']} (points)"]
        header[3:4] = [header[3], "FLOPs vs it"]
    return format_table(rows, header)


def front_with_gains(study) -> tuple[pd.DataFrame, pd.Series | None]:
    """The study's front and the baseline to compare with: vanilla if trained, else the first trained baseline."""
    frame = trials_frame(study)
    front = pareto_front(frame, study_objectives(study))
    baselines = frame[(frame["baseline"] != "") & frame["status"].isin(_EVALUATED)]
    if baselines.empty:
        return front, None
    vanilla = baselines[baselines["baseline"] == "vanilla"]
    return front, (vanilla if len(vanilla) else baselines).iloc[0]


def summarise_config(config_json: str) -> dict:
    """Readable columns of a config: width, dropped blocks, ULSAM positions and subspace counts."""
    config = json.loads(config_json)
    return {"width": config["width"], "dropped": " ".join(map(str, config["drop"])),
            "ulsam": " ".join(f"{u['after']}:{u['subspaces']}" for u in config["ulsam"])}


def front_table(studies) -> pd.DataFrame:
    """The fronts of ``studies`` as one table: trial, metrics and a compact readable config."""
    tables = []
    for study in studies:
        front = pareto_front(trials_frame(study), study_objectives(study))
        readable = pd.DataFrame([summarise_config(c) for c in front["config"]], columns=["width", "dropped", "ulsam"])
        table = pd.concat([front[["trial", "accuracy", "flops", "params", "latency_ms", "baseline"]].reset_index(drop=True),
                           readable, front[["summary", "config"]].reset_index(drop=True)], axis=1)
        table.insert(0, "study", study.study_name)
        tables.append(table)
    return pd.concat(tables, ignore_index=True)


def _normalised_losses(front: pd.DataFrame, objectives, reference: dict[str, float]):
    """Each objective as a loss in reference units: 1 - accuracy, cost / reference cost."""
    columns = []
    for name in objectives:
        metric = METRICS[name]
        values = front[metric.column].to_numpy(dtype=float)
        columns.append(1.0 - values if metric.maximise else values / reference[name])
    return np.stack(columns, axis=1) if columns else np.zeros((0, 0))


def hypervolume(front: pd.DataFrame, objectives, reference: dict[str, float]) -> float:
    """Hypervolume of the front against ``reference`` (accuracy 0 and a cost per cost objective).

    Costs are divided by their reference and accuracy is used as is, so a perfect network that costs nothing
    scores 1.0. Points outside the reference box add nothing.
    """
    if front.empty:
        return 0.0
    losses = _normalised_losses(front, objectives, reference)
    inside = losses[(losses < 1.0).all(axis=1)]
    if len(inside) == 0:
        return 0.0
    return _dominated_volume(inside)


def _dominated_volume(losses: np.ndarray) -> float:
    """Volume dominated by ``losses`` (all < 1) inside the unit reference box: exact, by slicing the last axis."""
    losses = losses[non_dominated(losses)]
    if losses.shape[1] == 1:
        return float(1.0 - losses[:, 0].min())
    losses = losses[losses[:, -1].argsort()]
    uppers = np.append(losses[1:, -1], 1.0)
    return float(sum((upper - losses[i, -1]) * _dominated_volume(losses[: i + 1, :-1])
                     for i, upper in enumerate(uppers) if upper > losses[i, -1]))


def hypervolume_history(frame: pd.DataFrame, objectives, reference: dict[str, float]) -> pd.DataFrame:
    """Hypervolume of the front of the first n trials, for every n."""
    rows = []
    frame = frame.sort_values("trial")
    for count, number in enumerate(frame["trial"], start=1):
        so_far = frame[frame["trial"] <= number]
        rows.append({"trials": count, "trial": number,
                     "hypervolume": hypervolume(pareto_front(so_far, objectives), objectives, reference)})
    return pd.DataFrame(rows, columns=["trials", "trial", "hypervolume"])


def describe_front(study) -> str:
    """``ulsam-nas show``: the study's front, each point against the vanilla (or first) baseline."""
    front, reference = front_with_gains(study)
    return (f"study {study.study_name!r}: {len(study.trials)} trials; FLOPs are multiply-accumulates\n"
            + format_front(front, gains=reference))


def describe_search(outcome) -> str:
    """The end of ``ulsam-nas search``: the front, the gains over hand design, trial counts, where results are."""
    frame, front, settings = outcome.frame(), outcome.front(), outcome.settings
    meta = StudyMeta.from_study(outcome.study)
    resolution = settings.deployment_resolution(outcome.space)
    lines = [f"\nPareto front of study {outcome.study_name!r}: {', '.join(settings.objectives)}; "
             f"FLOPs are multiply-accumulates at {resolution}x{resolution}; "
             f"accuracy is proxy validation top-1 on {settings.dataset} "
             f"({meta.validation_images if meta.validation_images is not None else '?'} held-out images)."]
    if settings.budgets:
        lines.append(f"Every point is within budget: {', '.join(settings.budget_texts)}.")
    lines.append(format_front(front) if len(front) else "(no feasible trial finished yet)")
    gains = baseline_gains(frame, front)
    if gains:
        lines.append("\nAgainst hand design:\n  " + "\n  ".join(gains))
    counts = frame["status"].value_counts().to_dict()
    lines.append("\nTrials: " + ", ".join(f"{n} {status}" for status, n in sorted(counts.items())))
    lines.append(f"Results stored in {outcome.storage} (study {outcome.study_name!r}).")
    return "\n".join(lines)
