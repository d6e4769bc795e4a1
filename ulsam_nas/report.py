"""Study results as data: every trial as a pandas table, the feasible Pareto front, gains over baselines.

Every accuracy carries its uncertainty (``noise.py``): the trial table has an ``accuracy_sigma`` column,
fronts are noise-aware unless asked to be strict (a point leaves the front only when another is more
accurate by more than the noise margin and no worse on every cost), and a gain within the noise is
worded "on par (within noise)". Once a study is refined (``refine.py``), its final front and gains use
the refined accuracies, with the proxy's beside them.

Computing is kept apart from drawing and printing (see ``plots.py`` and the CLI).
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from .metrics import METRICS
from .noise import MARGIN_SIGMAS, ON_PAR, NoiseEstimate, difference_margin, format_accuracy, pooled_std, uncertainty, word_difference
from .record import EVALUATED, RefinedRun, StudyMeta, TrialRecord
from .text import format_count, format_table

__all__ = ["COLUMNS", "FRONT_COLUMNS", "baseline_gains", "final_view", "format_front", "front_table", "front_with_gains",
           "hypervolume", "hypervolume_history", "non_dominated", "pareto_front", "study_front", "study_noise",
           "study_objectives", "trials_frame", "with_uncertainty"]

# accuracy_sigma: the accuracy's standard uncertainty; refined_*: the seed mean, its uncertainty, the seeds' spread
# and their number, for trials that refinement retrained (NaN and 0 elsewhere).
COLUMNS = ["trial", "state", "status", "baseline", "feasible", "accuracy", "accuracy_sigma", "flops", "params",
           "latency_ms", "latency_sigma_ms", "summary", "config", "train_seconds", "wall_seconds", "reason",
           "refined_accuracy", "refined_sigma", "refined_std", "refined_seeds"]
# The front as a table (``pareto --csv/--json``), before the readable config columns. ``accuracy`` is the
# value the front stands on (refined once refined); ``proxy_accuracy`` the proxy's.
FRONT_COLUMNS = ["trial", "accuracy", "accuracy_sigma", "proxy_accuracy", "proxy_sigma", "refined_seeds", "basis",
                 "strict_front", "flops", "params", "latency_ms", "latency_sigma_ms", "baseline"]
_EVALUATED = [status.value for status in EVALUATED]


def study_noise(study) -> NoiseEstimate:
    """The study's stored noise estimate (only the validation size for a study made without one)."""
    meta = StudyMeta.from_study(study)
    return NoiseEstimate.from_dict(meta.noise, meta.validation_images)


def trials_frame(study) -> pd.DataFrame:
    """One row per trial of an Optuna study written by ulsam-nas, with each accuracy's uncertainty."""
    rows = [TrialRecord.from_trial(trial).row() for trial in study.get_trials(deepcopy=False)]
    meta = StudyMeta.from_study(study)
    return with_uncertainty(pd.DataFrame(rows, columns=COLUMNS),
                            NoiseEstimate.from_dict(meta.noise, meta.validation_images), meta.refined)


def with_uncertainty(frame: pd.DataFrame, noise: NoiseEstimate, refined: tuple[RefinedRun, ...] = ()) -> pd.DataFrame:
    """``frame`` with ``accuracy_sigma`` from ``noise`` and the refined columns from ``refined`` runs.

    A refined mean of k seeds has the uncertainty sqrt(s**2 / k + p (1 - p) / n), ``s`` the seed spread
    pooled over every refined network (two seeds alone say little about their own spread).
    """
    frame = frame.copy()
    frame["accuracy_sigma"] = noise.sigma_of(frame["accuracy"].to_numpy(dtype=float))
    by_trial: dict[int, list[float]] = {}
    for run in refined:
        by_trial.setdefault(run.trial, []).append(run.accuracy)
    spread = pooled_std(by_trial.values())
    spread = noise.seed_std if spread is None else spread
    frame["refined_seeds"] = frame["trial"].map(lambda t: len(by_trial.get(int(t), ()))).astype(int)
    frame["refined_accuracy"] = frame["trial"].map(lambda t: float(np.mean(by_trial[int(t)])) if int(t) in by_trial
                                                   else np.nan).astype(float)
    frame["refined_std"] = frame["trial"].map(lambda t: float(np.std(by_trial[int(t)], ddof=1))
                                              if len(by_trial.get(int(t), ())) >= 2 else np.nan).astype(float)
    frame["refined_sigma"] = uncertainty(frame["refined_accuracy"].to_numpy(dtype=float), spread,
                                         noise.validation_images, np.maximum(frame["refined_seeds"].to_numpy(), 1))
    return frame


def final_view(frame: pd.DataFrame) -> pd.DataFrame:
    """The accuracies the study's results stand on: the refined trials with their refined accuracy once
    anything was refined (mixing fidelities would compare unlike values), else every trial's proxy accuracy.

    Adds ``proxy_accuracy``/``proxy_sigma`` (the proxy's values) and ``basis`` ("refined" or "proxy").
    """
    frame = frame.copy()
    frame["proxy_accuracy"], frame["proxy_sigma"] = frame["accuracy"], frame["accuracy_sigma"]
    refined = frame["refined_seeds"].fillna(0) > 0 if "refined_seeds" in frame else pd.Series(False, frame.index)
    if not refined.any():
        frame["basis"] = "proxy"
        return frame
    view = frame[refined].copy()
    view["accuracy"], view["accuracy_sigma"] = view["refined_accuracy"], view["refined_sigma"]
    view["basis"] = "refined"
    return view


def study_objectives(study) -> tuple[str, ...]:
    return StudyMeta.from_study(study).objectives


def non_dominated(losses: np.ndarray, margins: np.ndarray | None = None, column: int = 0) -> np.ndarray:
    """Boolean mask of the rows no other row dominates (every column a loss: smaller is better).

    With ``margins`` ([j, i]: how much row j must beat row i in ``column``, the accuracy), j dominates i
    only when it is no worse everywhere and better in ``column`` by more than the margin; a zero margin
    is plain dominance.
    """
    if len(losses) == 0:
        return np.zeros(0, dtype=bool)
    no_worse = (losses[:, None, :] <= losses[None, :, :]).all(axis=2)  # [j, i]: j is no worse than i everywhere
    better = (losses[:, None, :] < losses[None, :, :]).any(axis=2)
    dominates = no_worse & better
    if margins is not None:
        gain = losses[None, :, column] - losses[:, None, column]  # [j, i]: how much j beats i in the column
        dominates &= (gain > margins) | (margins == 0)
    return ~dominates.any(axis=0)


def _candidates(frame: pd.DataFrame, columns: list[str]) -> pd.Series:
    """Which rows may be on a front: complete, feasible, evaluated trials with every objective measured."""
    return ((frame["state"] == "COMPLETE") & (frame["feasible"] != False)  # noqa: E712 (None: no budgets)
            & frame["status"].isin(_EVALUATED) & frame[columns].notna().all(axis=1))


def pareto_front(frame: pd.DataFrame, objectives: list[str] | tuple[str, ...], strict: bool = False) -> pd.DataFrame:
    """Feasible, fully evaluated trials that no other such trial dominates.

    Noise-aware unless ``strict`` (or without an ``accuracy_sigma`` column): a trial leaves the front only
    when another is more accurate by more than the noise margin (``noise.difference_margin``) and no
    worse on every cost. The strict front is a subset of it.
    Points with identical objective values (a config evaluated twice) appear once, as the earliest trial.
    """
    metrics = [METRICS[name] for name in objectives]
    columns = [metric.column for metric in metrics]
    done = frame[_candidates(frame, columns)].sort_values("trial").drop_duplicates(subset=columns, keep="first")
    losses = np.stack([done[m.column].to_numpy(dtype=float) * (-1 if m.maximise else 1) for m in metrics], axis=1) \
        if len(done) else np.zeros((0, len(metrics)))
    margins = None
    if not strict and "accuracy" in objectives and "accuracy_sigma" in done and done["accuracy_sigma"].notna().any():
        sigma = done["accuracy_sigma"].to_numpy(dtype=float)
        margins = difference_margin(sigma[:, None], sigma[None, :])
    front = done[non_dominated(losses, margins, list(objectives).index("accuracy") if margins is not None else 0)]
    sort_by = [m.column for m in metrics if not m.maximise][:1] or [columns[0]]
    return front.sort_values(sort_by).reset_index(drop=True)


def _sigma(row) -> float:
    value = row.get("accuracy_sigma", np.nan)
    return np.nan if value is None or pd.isna(value) else float(value)


def _costs(point, base) -> str:
    return (f"{format_count(point['flops'])} FLOPs ({point['flops'] / base['flops'] - 1:+.1%}), "
            f"{format_count(point['params'])} params ({point['params'] / base['params'] - 1:+.1%})")


def baseline_gains(frame: pd.DataFrame, front: pd.DataFrame) -> list[str]:
    """For each trained baseline: the front's most accurate point that costs no more FLOPs, and the difference.

    A difference within the noise is never a gain: then the line names the cheapest front point that is
    on par with the baseline (within noise) and costs no more.
    """
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
        head = (f"vs {base['baseline']} (trial {base['trial']}, {format_accuracy(base['accuracy'], _sigma(base))}, "
                f"{format_count(base['flops'])} FLOPs): ")
        difference = best["accuracy"] - base["accuracy"]
        known = not (np.isnan(_sigma(base)) and np.isnan(_sigma(best)))
        if known and difference <= difference_margin(_sigma(best), _sigma(base)):
            margins = difference_margin(cheaper["accuracy_sigma"].fillna(0).to_numpy(dtype=float), _sigma(base))
            on_par = cheaper[(cheaper["accuracy"] - base["accuracy"]).to_numpy() >= -margins].sort_values(["flops", "trial"])
            if len(on_par):
                par = on_par.iloc[0]
                if int(par["trial"]) == int(base["trial"]):
                    lines.append(head + f"no front point that costs no more is clearly more accurate; the most "
                                        f"accurate, trial {best['trial']}, is {ON_PAR}")
                else:
                    lines.append(head + f"trial {par['trial']} is {ON_PAR} at "
                                        f"{format_accuracy(par['accuracy'], _sigma(par))}, {_costs(par, base)}")
                continue
        lines.append(head + f"trial {best['trial']} reaches {format_accuracy(best['accuracy'], _sigma(best))} "
                            f"({word_difference(difference, _sigma(best), _sigma(base))}) at {_costs(best, base)}")
    return lines


def _latency_cell(row: pd.Series) -> str:
    """Latency with its standard error where it was measured or predicted with one."""
    if pd.isna(row["latency_ms"]):
        return ""
    sigma = row.get("latency_sigma_ms")
    return f"{row['latency_ms']:.2f}" + ("" if sigma is None or pd.isna(sigma) else f" ± {sigma:.2f}")


def format_front(front: pd.DataFrame, gains: pd.Series | None = None) -> str:
    """The front as a text table; with ``gains`` (a baseline's row), each point's difference from it.

    Accuracies carry ``±`` (one standard uncertainty, in points); a refined front shows the proxy's
    accuracy beside the refined one; with a ``strict_front`` column, "~" marks points that are on the
    front only because the noise hides the difference.
    """
    refined = "basis" in front and (front["basis"] == "refined").any()
    marked = "strict_front" in front and not front["strict_front"].fillna(True).all()

    def versus(r) -> str:
        if int(r["trial"]) == int(gains["trial"]):
            return "(itself)"
        return word_difference(r["accuracy"] - gains["accuracy"], _sigma(r), _sigma(gains)).removesuffix(" points")

    columns = [("trial", lambda r: r["trial"])]
    if marked:
        columns.append(("front", lambda r: "" if r["strict_front"] else "~"))
    columns.append(("refined accuracy" if refined else "accuracy", lambda r: format_accuracy(r["accuracy"], _sigma(r))))
    if refined:
        columns.append(("proxy accuracy", lambda r: format_accuracy(r["proxy_accuracy"], r["proxy_sigma"])))
    if gains is not None:
        columns.append((f"vs {gains['baseline']} (points)", versus))
    columns.append(("FLOPs (MACs)", lambda r: format_count(r["flops"])))
    if gains is not None:
        columns.append(("FLOPs vs it", lambda r: f"{r['flops'] / gains['flops'] - 1:+.1%}"))
    columns += [("params", lambda r: format_count(r["params"])),
                ("latency ms", _latency_cell),
                ("baseline", lambda r: r["baseline"] or ""), ("architecture", lambda r: r["summary"])]
    rows = [[cell(r) for _, cell in columns] for _, r in front.iterrows()]
    table = format_table(rows, [name for name, _ in columns])
    if marked:
        table += ("\n~: another point is better on every objective, but by less than the noise "
                  f"({MARGIN_SIGMAS:g} x the difference's uncertainty); --strict leaves these out")
    return table


def study_front(study, strict: bool = False) -> pd.DataFrame:
    """The study's final front: on refined accuracies once refined, else the proxy's; noise-aware unless ``strict``.

    Columns are ``COLUMNS`` plus ``proxy_accuracy``, ``proxy_sigma``, ``basis`` and ``strict_front``.
    """
    return _front_of(final_view(trials_frame(study)), study_objectives(study), strict)


def _front_of(view: pd.DataFrame, objectives, strict: bool) -> pd.DataFrame:
    front = pareto_front(view, objectives, strict=strict)
    strict_trials = set(front["trial"]) if strict else set(pareto_front(view, objectives, strict=True)["trial"])
    front["strict_front"] = front["trial"].isin(strict_trials)
    return front


def front_with_gains(study, strict: bool = False) -> tuple[pd.DataFrame, pd.Series | None]:
    """The study's final front and the baseline to compare with: vanilla if evaluated, else the first baseline."""
    view = final_view(trials_frame(study))
    front = _front_of(view, study_objectives(study), strict)
    baselines = view[(view["baseline"] != "") & view["status"].isin(_EVALUATED)]
    if baselines.empty:
        return front, None
    vanilla = baselines[baselines["baseline"] == "vanilla"]
    return front, (vanilla if len(vanilla) else baselines).iloc[0]


def summarise_config(config_json: str) -> dict:
    """Readable columns of a config: width, dropped blocks, ULSAM positions and subspace counts."""
    config = json.loads(config_json)
    return {"width": config["width"], "dropped": " ".join(map(str, config["drop"])),
            "ulsam": " ".join(f"{u['after']}:{u['subspaces']}" for u in config["ulsam"])}


def front_table(studies, strict: bool = False) -> pd.DataFrame:
    """The final fronts of ``studies`` as one table: ``FRONT_COLUMNS`` and a compact readable config."""
    tables = []
    for study in studies:
        front = study_front(study, strict=strict)
        readable = pd.DataFrame([summarise_config(c) for c in front["config"]], columns=["width", "dropped", "ulsam"])
        table = pd.concat([front[FRONT_COLUMNS].reset_index(drop=True),
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


def _dominated_volume(losses: np.ndarray, is_front: bool = False) -> float:
    """Volume dominated by ``losses`` (all < 1) inside the unit reference box: exact, by slicing the last axis.

    Two objectives cost one sort (O(n log n)), three a sort per slice (O(n^2 log n)). ``is_front``: no row
    dominates another already (skips that check).
    """
    if losses.shape[1] == 1:
        return float(1.0 - losses[:, 0].min())
    if losses.shape[1] == 2:
        return _area(losses)
    losses = losses if is_front else losses[non_dominated(losses)]
    losses = losses[losses[:, -1].argsort()]
    widths = np.append(losses[1:, -1], 1.0) - losses[:, -1]
    return float(sum(width * _dominated_volume(losses[: i + 1, :-1]) for i, width in enumerate(widths) if width > 0))


def _area(losses: np.ndarray) -> float:
    """Two objectives: sorted by the second loss, the staircase keeps each point whose first loss beats all before it."""
    losses = losses[np.lexsort((losses[:, 0], losses[:, 1]))]
    losses = losses[losses[:, 0] < np.minimum.accumulate(np.append(np.inf, losses[:-1, 0]))]
    widths = np.append(losses[1:, 1], 1.0) - losses[:, 1]
    return float(sum((widths * (1.0 - losses[:, 0])).tolist()))  # summed in order, as slab after slab


def hypervolume_history(frame: pd.DataFrame, objectives, reference: dict[str, float]) -> pd.DataFrame:
    """Hypervolume of the (strict) front of the first n trials, for every n.

    Incremental: the front is kept as the trials arrive, and the volume is recomputed over it only when a
    trial lands outside the volume already dominated; the values are those of ``hypervolume`` on each
    prefix's ``pareto_front(..., strict=True)``.
    """
    frame = frame.sort_values("trial")
    columns = [METRICS[name].column for name in objectives]
    losses = _normalised_losses(frame, objectives, reference)
    usable = _candidates(frame, columns).to_numpy() & (losses < 1.0).all(axis=1)
    front, volume, volumes = np.zeros((0, len(objectives))), 0.0, []
    for point, use in zip(losses, usable):
        if use and not (front <= point).all(axis=1).any():  # otherwise inside what the front dominates already
            front = np.vstack([front[~(point <= front).all(axis=1)], point])
            volume = _dominated_volume(front, is_front=True)
        volumes.append(volume)
    return pd.DataFrame({"trials": np.arange(1, len(frame) + 1), "trial": frame["trial"].to_numpy(),
                         "hypervolume": volumes}, columns=["trials", "trial", "hypervolume"])


def describe_front(study, strict: bool = False) -> str:
    """``ulsam-nas show``: the study's final front, each point against the vanilla (or first) baseline.

    Starts with the study's noise and, once refined, the proxy's rank agreement with the refined accuracy.
    """
    from .refine import describe_refinement

    front, reference = front_with_gains(study, strict)
    kind = "strict" if strict else "noise-aware"
    lines = [f"study {study.study_name!r}: {len(study.trials)} trials; FLOPs are multiply-accumulates; {kind} front",
             study_noise(study).describe(), *describe_refinement(study)]
    return "\n".join(lines + [format_front(front, gains=reference)])


def describe_search(outcome, refinement=None) -> str:
    """The end of ``ulsam-nas search``: the final front, the gains over hand design, trial counts, where results are.

    ``refinement``: the ``refine.RefineReport`` of a refinement run after the search.
    """
    frame, settings = outcome.frame(), outcome.settings
    view = final_view(frame)
    front = _front_of(view, settings.objectives, strict=False)
    meta = StudyMeta.from_study(outcome.study)
    resolution = settings.deployment_resolution(outcome.space)
    what = (f"refined validation top-1 ({view['refined_seeds'].max()} seeds, "
            f"{(meta.refinement or {}).get('epochs', '?')} epochs; the proxy's beside it)"
            if (view["basis"] == "refined").any() else "proxy validation top-1")
    lines = [f"\nPareto front of study {outcome.study_name!r}: {', '.join(settings.objectives)}; "
             f"FLOPs are multiply-accumulates at {resolution}x{resolution}; "
             f"accuracy is {what} on {settings.dataset} "
             f"({meta.validation_images if meta.validation_images is not None else '?'} held-out images); noise-aware."]
    if settings.budgets:
        lines.append(f"Every point is within budget: {', '.join(settings.budget_texts)}.")
    lines.append(study_noise(outcome.study).describe())
    if refinement is not None:
        lines.append(refinement.describe())
    lines.append(format_front(front) if len(front) else "(no feasible trial finished yet)")
    gains = baseline_gains(view, front)
    if gains:
        lines.append("\nAgainst hand design:\n  " + "\n  ".join(gains))
    counts = frame["status"].value_counts().to_dict()
    lines.append("\nTrials: " + ", ".join(f"{n} {status}" for status, n in sorted(counts.items())))
    lines.append(f"Results stored in {outcome.storage} (study {outcome.study_name!r}).")
    return "\n".join(lines)
