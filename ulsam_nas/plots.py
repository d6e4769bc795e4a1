"""Drawing with matplotlib: Pareto fronts and hypervolume histories.

Everything drawn comes from plain data computed first (:func:`front_plot_info`,
``report.hypervolume_history``); tests assert on that data, not on pixels.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from .budgets import parse_budget
from .report import OBJECTIVES, hypervolume_history, pareto_front, trials_frame

__all__ = ["FrontPlotInfo", "front_plot_info", "plot_fronts", "plot_hypervolume"]

AXIS_LABELS = {
    "flops": "FLOPs (multiply-accumulates, papers' convention) [M]",
    "params": "parameters [M]",
    "latency": "latency, batch 1 [ms]",
    "accuracy": "proxy validation top-1 [%]",
}
_SCALE = {"flops": 1e-6, "params": 1e-6, "latency": 1.0, "accuracy": 100.0}


@dataclass
class FrontPlotInfo:
    """What one study contributes to a plot, in plot units (M FLOPs, M params, ms, %)."""

    study: str
    x: str
    y: str
    trained: pd.DataFrame  # trained or reused, feasible: columns trial, x, y
    stopped: pd.DataFrame  # stopped early: partial accuracy
    untrained: pd.DataFrame  # over budget or failed: x only (y is NaN)
    front: pd.DataFrame  # the feasible Pareto front, sorted by x
    baselines: pd.DataFrame  # trial, x, y, label
    budget: float | None  # budget on the x metric, in plot units


def front_plot_info(study, x: str = "flops", y: str = "accuracy") -> FrontPlotInfo:
    for name, axis in ((x, "x"), (y, "y")):
        if name not in OBJECTIVES:
            raise ValueError(f"--{axis}: unknown metric {name!r}; valid: {', '.join(OBJECTIVES)}")
    frame = trials_frame(study)
    x_column, y_column = OBJECTIVES[x][0], OBJECTIVES[y][0]

    def pick(rows: pd.DataFrame) -> pd.DataFrame:
        return pd.DataFrame({"trial": rows["trial"], "x": rows[x_column] * _SCALE[x], "y": rows[y_column] * _SCALE[y],
                             "label": rows["baseline"]}).reset_index(drop=True)

    objectives = list(dict.fromkeys([y, x]))
    evaluated = frame["status"].isin(["trained", "reused"]) & (frame["feasible"] != False)  # noqa: E712
    budgets = [parse_budget(text) for text in study.user_attrs.get("settings", {}).get("budgets", [])]
    limits = [b.limit * _SCALE[x] for b in budgets if b.metric == x]
    front = pick(pareto_front(frame, objectives)).sort_values("x")
    return FrontPlotInfo(
        study=study.study_name, x=x, y=y,
        trained=pick(frame[evaluated]).dropna(subset=["x", "y"]),
        stopped=pick(frame[frame["status"] == "stopped_early"]).dropna(subset=["x", "y"]),
        untrained=pick(frame[frame["status"].isin(["infeasible", "failed"])]).dropna(subset=["x"]),
        front=front.reset_index(drop=True),
        baselines=pick(frame[(frame["baseline"] != "") & evaluated]).dropna(subset=["x", "y"]),
        budget=min(limits) if limits else None,
    )


def _figure():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt, *plt.subplots(figsize=(8, 5.5), dpi=120)


def _save(plt, fig, out: str | Path) -> Path:
    out = Path(out).expanduser()
    if out.suffix.lower() not in (".png", ".svg", ".pdf"):
        raise ValueError(f"--out: {out.name} is not .png, .svg or .pdf")
    if not out.parent.exists():
        raise ValueError(f"--out: folder {out.parent} does not exist")
    fig.tight_layout()
    try:
        fig.savefig(out)
    except OSError as error:
        raise ValueError(f"--out: cannot write {out}: {error.strerror or error}") from None
    finally:
        plt.close(fig)
    return out


def plot_fronts(infos: list[FrontPlotInfo], out: str | Path, resolution: int | None = None) -> Path:
    """Every evaluated trial, each study's front as a step line, baselines labelled, budgets as lines."""
    plt, fig, ax = _figure()
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    lowest = min([info.trained["y"].min() for info in infos if len(info.trained)] + [0.0])
    for index, info in enumerate(infos):
        color = colors[index % len(colors)]
        tag = f"{info.study}: " if len(infos) > 1 else ""
        ax.scatter(info.trained["x"], info.trained["y"], s=22, color=color, alpha=0.45, label=f"{tag}trained")
        if len(info.stopped):
            ax.scatter(info.stopped["x"], info.stopped["y"], s=18, facecolors="none", edgecolors="0.6",
                       label=f"{tag}stopped early (partial accuracy)")
        if len(info.untrained):
            ax.scatter(info.untrained["x"], [lowest] * len(info.untrained), marker="x", s=18, color="0.6",
                       label=f"{tag}over budget or failed (not trained)")
        if len(info.front):
            ax.step(info.front["x"], info.front["y"], where="post", color=color, linewidth=2, label=f"{tag}Pareto front")
            ax.scatter(info.front["x"], info.front["y"], s=40, color=color, edgecolors="black", zorder=3)
        for position, (_, base) in enumerate(info.baselines.iterrows()):
            ax.scatter([base["x"]], [base["y"]], marker="*", s=160, color=color, edgecolors="black", zorder=4)
            # staggered, so that neighbouring baselines' labels do not overprint each other
            ax.annotate(base["label"], (base["x"], base["y"]), textcoords="offset points",
                        xytext=(6, -12 - 9 * (position % 3)), fontsize=7)
        if info.budget is not None:
            ax.axvline(info.budget, color=color, linestyle="--", linewidth=1, label=f"{tag}budget {info.budget:g}{' ms' if info.x == 'latency' else 'M'}")
    x = infos[0].x
    label = AXIS_LABELS[x] + (f" at {resolution}x{resolution}" if resolution and x in ("flops", "latency") else "")
    ax.set_xlabel(label)
    ax.set_ylabel(AXIS_LABELS[infos[0].y])
    ax.set_title("Pareto front" + ("s: " + " vs ".join(i.study for i in infos) if len(infos) > 1 else f": {infos[0].study}"),
                 fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="lower right")
    return _save(plt, fig, out)


def hypervolume_histories(studies) -> dict[str, pd.DataFrame]:
    histories = {}
    for study in studies:
        reference = study.user_attrs.get("reference_point")
        objectives = study.user_attrs.get("objectives")
        if not reference or not objectives:
            raise ValueError(f"study {study.study_name!r} has no recorded reference point (not written by ulsam-nas?)")
        histories[study.study_name] = hypervolume_history(trials_frame(study), objectives, reference)
    return histories


def plot_hypervolume(histories: dict[str, pd.DataFrame], out: str | Path) -> Path:
    plt, fig, ax = _figure()
    for name, history in histories.items():
        ax.step(history["trials"], history["hypervolume"], where="post", label=name)
    ax.set_xlabel("trials")
    ax.set_ylabel("hypervolume (accuracy x cost relative to the study's reference point)")
    ax.set_title("How the front improved", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return _save(plt, fig, out)
