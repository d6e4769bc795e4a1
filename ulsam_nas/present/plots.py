"""Drawing with matplotlib: Pareto fronts and hypervolume histories.

Everything drawn comes from plain data computed first (:func:`front_plot_info`,
``report.hypervolume_history``); tests assert on that data, not on pixels. Front points carry error bars
(one standard uncertainty); points on the noise-aware front only (beaten, but by less than the noise)
are drawn apart from the strict front's step line. A refined study's front is drawn at its refined
accuracies, each linked to its proxy accuracy.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from ..budgets import parse_budget
from ..files import checked_output
from ..metrics import Metric, get_metric
from ..record import EVALUATED, Status
from ..report import SCORE_NAMES, StudyResults, pareto_front

__all__ = ["FrontPlotInfo", "front_plot_info", "hypervolume_histories", "plot_fronts", "plot_hypervolume"]


@dataclass
class FrontPlotInfo:
    """What one study contributes to a plot, in plot units (M FLOPs, M params, ms, %)."""

    study: str
    x: str
    y: str
    trained: pd.DataFrame  # trained or reused, feasible: columns trial, x, y (the proxy's accuracy), yerr
    stopped: pd.DataFrame  # stopped early: partial accuracy
    untrained: pd.DataFrame  # over budget or failed: x only (y is NaN)
    front: pd.DataFrame  # the strict Pareto front (of the final accuracies), sorted by x; yerr, proxy_y
    baselines: pd.DataFrame  # trial, x, y, label
    budget: float | None  # budget on the x metric, in plot units
    within_noise: pd.DataFrame = None  # on the noise-aware front only: beaten by less than the noise
    refined: bool = False  # front y values are refined accuracies (proxy_y: the proxy's)
    evaluator: str = "proxy"  # what scored the trials: "proxy" or "supernet"


def _points(trials, x: Metric, y: Metric) -> pd.DataFrame:
    """Trials as plot rows: trial, x and y in plot units, label, y's error bar and the proxy's y beside it."""
    rows = [{"trial": t.number, "x": t.value(x.name) * x.plot_scale, "y": t.value(y.name) * y.plot_scale,
             "label": t.record.baseline, "yerr": t.sigma * y.plot_scale, "proxy_y": t.proxy_accuracy * y.plot_scale}
            for t in trials]
    return pd.DataFrame(rows, columns=["trial", "x", "y", "label", "yerr", "proxy_y"])


def front_plot_info(results: StudyResults, x: str = "flops", y: str = "accuracy", strict: bool = False) -> FrontPlotInfo:
    x_metric, y_metric = get_metric(x, "--x"), get_metric(y, "--y")
    trials = results.trials
    evaluated = [t for t in trials if t.record.status in EVALUATED and t.record.feasible is not False]
    limits = [b.limit * x_metric.plot_scale for b in map(parse_budget, results.meta.budgets) if b.metric == x]
    objectives = list(dict.fromkeys([y, x]))
    final = results.final()
    strict_front = [p.trial for p in pareto_front(final, objectives, strict=True)]
    noisy = [] if strict else [p.trial for p in pareto_front(final, objectives) if not p.strict]
    return FrontPlotInfo(
        study=results.name, x=x, y=y,
        trained=_points(evaluated, x_metric, y_metric).dropna(subset=["x", "y"]),
        stopped=_points([t for t in trials if t.record.status == Status.STOPPED_EARLY], x_metric,
                        y_metric).dropna(subset=["x", "y"]),
        untrained=_points([t for t in trials if t.record.status in (Status.INFEASIBLE, Status.FAILED)], x_metric,
                          y_metric).dropna(subset=["x"]),
        front=_points(strict_front, x_metric, y_metric).sort_values("x").reset_index(drop=True),
        baselines=_points([t for t in evaluated if t.record.baseline], x_metric, y_metric).dropna(subset=["x", "y"]),
        budget=min(limits) if limits else None,
        within_noise=_points(noisy, x_metric, y_metric).sort_values("x").reset_index(drop=True),
        refined=results.refined,
        evaluator=results.evaluator,
    )


def _figure():
    """A figure on its own Agg canvas: no pyplot state, no process-wide backend switch."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(8, 5.5), dpi=120)
    FigureCanvasAgg(fig)
    return fig, fig.add_subplot()


def _save(fig, out: str | Path) -> Path:
    out = Path(out).expanduser()
    if out.suffix.lower() not in (".png", ".svg", ".pdf"):
        raise ValueError(f"--out: {out.name} is not .png, .svg or .pdf")
    fig.tight_layout()
    return checked_output(out, fig.savefig, "--out")


def plot_fronts(infos: list[FrontPlotInfo], out: str | Path, resolution: int | None = None) -> Path:
    """Every evaluated trial, each study's front as a step line, baselines labelled, budgets as lines."""
    import matplotlib

    fig, ax = _figure()
    colors = matplotlib.rcParams["axes.prop_cycle"].by_key()["color"]
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
            what = "Pareto front (refined accuracy)" if info.refined else "Pareto front"
            ax.step(info.front["x"], info.front["y"], where="post", color=color, linewidth=2, label=f"{tag}{what}")
            ax.errorbar(info.front["x"], info.front["y"], yerr=info.front.get("yerr"), fmt="o", markersize=6,
                        color=color, markeredgecolor="black", ecolor="black", elinewidth=1, capsize=3, zorder=3)
        if info.within_noise is not None and len(info.within_noise):
            ax.errorbar(info.within_noise["x"], info.within_noise["y"], yerr=info.within_noise.get("yerr"), fmt="o",
                        markersize=6, markerfacecolor="white", color=color, ecolor=color, elinewidth=1, capsize=3,
                        zorder=3, label=f"{tag}on the front within noise (beaten by less than the noise)")
        if info.refined:
            refined = pd.concat([info.front, info.within_noise if info.within_noise is not None else info.front.iloc[:0]])
            for _, point in refined.iterrows():  # each refined point linked to where the proxy put it
                ax.plot([point["x"], point["x"]], [point["proxy_y"], point["y"]], color=color, linestyle=":", linewidth=1)
            ax.scatter(refined["x"], refined["proxy_y"], marker="_", s=60, color=color, label=f"{tag}{SCORE_NAMES[info.evaluator]} of refined points")
        for position, (_, base) in enumerate(info.baselines.iterrows()):
            ax.scatter([base["x"]], [base["y"]], marker="*", s=160, color=color, edgecolors="black", zorder=4)
            # staggered, so that neighbouring baselines' labels do not overprint each other
            ax.annotate(base["label"], (base["x"], base["y"]), textcoords="offset points",
                        xytext=(6, -12 - 9 * (position % 3)), fontsize=7)
        if info.budget is not None:
            ax.axvline(info.budget, color=color, linestyle="--", linewidth=1, label=f"{tag}budget {info.budget:g}{' ms' if info.x == 'latency' else 'M'}")
    x = infos[0].x
    label = get_metric(x).axis_label + (f" at {resolution}x{resolution}" if resolution and x in ("flops", "latency") else "")
    ax.set_xlabel(label)
    y_label = get_metric(infos[0].y).axis_label
    if infos[0].y == "accuracy":
        scorers = " or ".join(dict.fromkeys(i.evaluator for i in infos))  # "proxy", "supernet" or both
        y_label = (y_label.replace("proxy ", "") + f" (front: refined, the rest: {scorers}; error bars: one standard "
                   "uncertainty)" if any(i.refined for i in infos)
                   else y_label.replace("proxy", scorers) + " (error bars: one standard uncertainty)")
    ax.set_ylabel(y_label, fontsize=8)
    ax.set_title("Pareto front" + ("s: " + " vs ".join(i.study for i in infos) if len(infos) > 1 else f": {infos[0].study}"),
                 fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="lower right")
    return _save(fig, out)


def hypervolume_histories(studies: list[StudyResults]) -> dict[str, pd.DataFrame]:
    histories = {}
    for results in studies:
        if not results.meta.reference_point or not results.meta.written:
            raise ValueError(f"study {results.name!r} has no recorded reference point (not written by ulsam-nas?)")
        histories[results.name] = results.hypervolume_history()
    return histories


def plot_hypervolume(histories: dict[str, pd.DataFrame], out: str | Path) -> Path:
    fig, ax = _figure()
    for name, history in histories.items():
        ax.step(history["trials"], history["hypervolume"], where="post", label=name)
    ax.set_xlabel("trials")
    ax.set_ylabel("hypervolume (accuracy x cost relative to the study's reference point)")
    ax.set_title("How the front improved", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return _save(fig, out)
