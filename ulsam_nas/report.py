"""Study results as data: every trial as a pandas table, the feasible Pareto front, gains over baselines.

Computing is kept apart from drawing and printing (see ``plots.py`` and the CLI).
"""

from __future__ import annotations

import json
import math

import pandas as pd

from ._text import format_count, format_table

__all__ = ["OBJECTIVES", "baseline_gains", "format_front", "hypervolume", "hypervolume_history", "pareto_front",
           "trials_frame"]

# objective -> (column, maximise?)
OBJECTIVES = {"accuracy": ("accuracy", True), "flops": ("flops", False), "params": ("params", False),
              "latency": ("latency_ms", False)}

COLUMNS = ["trial", "state", "status", "baseline", "feasible", "accuracy", "flops", "params", "latency_ms",
           "summary", "config", "train_seconds", "wall_seconds", "reason"]


def trials_frame(study) -> pd.DataFrame:
    """One row per trial of an Optuna study written by ulsam-nas."""
    rows = []
    for trial in study.get_trials(deepcopy=False):
        attrs = trial.user_attrs
        wall = (trial.datetime_complete - trial.datetime_start).total_seconds() \
            if trial.datetime_complete and trial.datetime_start else math.nan
        fallback = {"RUNNING": "running", "WAITING": "queued"}.get(trial.state.name, "interrupted")
        status = attrs.get("status") or fallback
        rows.append({
            "trial": trial.number, "state": trial.state.name, "status": status,
            "baseline": attrs.get("baseline", ""),
            "feasible": all(v <= 0 for v in trial.constraints.values()) if trial.constraints else None,
            "accuracy": attrs.get("accuracy", math.nan), "flops": attrs.get("flops", math.nan),
            "params": attrs.get("params", math.nan), "latency_ms": attrs.get("latency_ms", math.nan),
            "summary": attrs.get("summary", ""), "config": json.dumps(attrs["config"]) if "config" in attrs else "",
            "train_seconds": attrs.get("train_seconds", 0.0), "wall_seconds": wall, "reason": attrs.get("reason", ""),
        })
    return pd.DataFrame(rows, columns=COLUMNS)


def pareto_front(frame: pd.DataFrame, objectives: list[str] | tuple[str, ...]) -> pd.DataFrame:
    """Feasible, fully evaluated trials that no other such trial dominates.

    Points with identical objective values (a config evaluated twice) appear once, as the earliest trial.
    """
    columns = [OBJECTIVES[name] for name in objectives]
    done = frame[(frame["state"] == "COMPLETE") & (frame["feasible"] != False)  # noqa: E712 (None: no budgets)
                 & frame["status"].isin(["trained", "reused"])]
    done = done.dropna(subset=[column for column, _ in columns]).sort_values("trial")
    done = done.drop_duplicates(subset=[column for column, _ in columns], keep="first")
    # Maximised columns are negated so that smaller is better everywhere.
    points = [[(-row[c] if maximise else row[c]) for c, maximise in columns] for _, row in done.iterrows()]
    keep = [
        not any(all(o <= p for o, p in zip(other, point)) and other != point for other in points)
        for point in points
    ]
    front = done.loc[pd.Series(keep, index=done.index, dtype=bool)]
    sort_by = [c for c, maximise in columns if not maximise][:1] or [columns[0][0]]
    return front.sort_values(sort_by).reset_index(drop=True)


def baseline_gains(frame: pd.DataFrame, front: pd.DataFrame) -> list[str]:
    """For each trained baseline: the front's most accurate point that costs no more FLOPs, and the difference."""
    lines = []
    baselines = frame[(frame["baseline"] != "") & frame["status"].isin(["trained", "reused"])]
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
    front = pareto_front(frame, study.user_attrs.get("objectives", ["accuracy", "flops"]))
    baselines = frame[(frame["baseline"] != "") & frame["status"].isin(["trained", "reused"])]
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
        front = pareto_front(trials_frame(study), study.user_attrs.get("objectives", ["accuracy", "flops"]))
        readable = pd.DataFrame([summarise_config(c) for c in front["config"]], columns=["width", "dropped", "ulsam"])
        table = pd.concat([front[["trial", "accuracy", "flops", "params", "latency_ms", "baseline"]].reset_index(drop=True),
                           readable, front[["summary", "config"]].reset_index(drop=True)], axis=1)
        table.insert(0, "study", study.study_name)
        tables.append(table)
    return pd.concat(tables, ignore_index=True)


def _normalised_losses(front: pd.DataFrame, objectives, reference: dict[str, float]):
    """Each objective as a loss in reference units: 1 - accuracy, cost / reference cost."""
    import numpy as np

    columns = []
    for name in objectives:
        column, maximise = OBJECTIVES[name]
        values = front[column].to_numpy(dtype=float)
        columns.append(1.0 - values if maximise else values / reference[name])
    return np.stack(columns, axis=1) if columns else np.zeros((0, 0))


def hypervolume(front: pd.DataFrame, objectives, reference: dict[str, float]) -> float:
    """Hypervolume of the front against ``reference`` (accuracy 0 and a cost per cost objective).

    Costs are divided by their reference and accuracy is used as is, so a perfect network that costs nothing
    scores 1.0. Points outside the reference box add nothing.
    """
    import numpy as np
    from optuna._hypervolume import compute_hypervolume

    if front.empty:
        return 0.0
    losses = _normalised_losses(front, objectives, reference)
    inside = losses[(losses < 1.0).all(axis=1)]
    if len(inside) == 0:
        return 0.0
    return float(compute_hypervolume(inside, np.ones(losses.shape[1])))


def hypervolume_history(frame: pd.DataFrame, objectives, reference: dict[str, float]) -> pd.DataFrame:
    """Hypervolume of the front of the first n trials, for every n."""
    rows = []
    frame = frame.sort_values("trial")
    for count, number in enumerate(frame["trial"], start=1):
        so_far = frame[frame["trial"] <= number]
        rows.append({"trials": count, "trial": number,
                     "hypervolume": hypervolume(pareto_front(so_far, objectives), objectives, reference)})
    return pd.DataFrame(rows, columns=["trials", "trial", "hypervolume"])
