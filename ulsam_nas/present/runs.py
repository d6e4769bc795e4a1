"""Runs in words: a trial's line, a search's and a refinement's summary, a calibration, a latency figure.

Everything here takes the records that ``search/``, ``refine.py``, ``calibrate.py`` and ``latency/`` compute
and returns text.
"""

from __future__ import annotations

from ..latency.settings import Latency
from ..record import Status, TrialRecord
from ..study_records import Calibration
from ..refine import RefineReport
from ..search.pipeline import StudyOutcome
from .formats import format_accuracy, format_count, format_table
from .study import FLOPS_WARNING, agreement_lines, comparison_lines, front_text, noise_line

__all__ = ["calibration_text", "latency_line", "refine_report_text", "search_text", "trial_line"]

def trial_line(record: TrialRecord, finished: int, target: int, accuracy_sigma: float | None) -> str:
    """One line per finished trial of a search."""
    accuracy = "" if record.accuracy is None else f" acc {format_accuracy(record.accuracy, accuracy_sigma)}"
    costs = "" if record.flops is None else f" {format_count(record.flops)} FLOPs {format_count(record.params)} params"
    reason = f" ({record.reason})" if record.reason and record.status != Status.TRAINED else ""
    seconds = 0.0 if record.wall_seconds != record.wall_seconds else record.wall_seconds
    return (f"[{finished}/{target}] trial {record.number} {record.status}: {record.summary}"
            f"{accuracy}{costs} in {seconds:.1f}s{reason}")


def refine_report_text(report: RefineReport) -> str:
    """The refinement's summary: what ran, and how well the proxy (or the supernet) ranked."""
    settings = report.settings
    against = (f"against the proxy's {report.proxy_epochs}" if report.evaluator == "proxy"
               else "(the trials were scored with the supernet's weights)")
    images = "all the" if settings.train_subset is None else f"{settings.train_subset}"
    lines = [f"Refinement of {report.study!r}: {len(report.points)} networks, {settings.seeds} seeds each, "
             f"{report.epochs} epochs {against}, {images} training images; {report.trained_runs} run(s) trained in "
             f"{report.seconds:.0f}s" + (f", {report.stored_runs} found finished" if report.stored_runs else "")]
    if report.not_refined:
        lines.append(f"  front candidates not refined (more than --refine allows): trials "
                     f"{', '.join(map(str, report.not_refined))}")
    lines += [f"  failed: {failure}" for failure in report.failed]
    lines += agreement_lines(report.agreement)
    return "\n".join(lines)


def latency_line(latency: Latency) -> str:
    """Value, uncertainty, and what it was measured on and how."""
    where = f"{latency.runtime} on {latency.device}" + (f", {latency.threads} thread(s)" if latency.threads else "")
    how = {"interleaved": "interleaved with the reference network, scaled by its kept latency",
           "direct": "median of single runs", "table": "predicted from a latency table"}.get(latency.method, latency.method)
    kind = "predicted" if latency.method == "table" else "median"
    return f"{latency.ms:.2f} ± {latency.sigma_ms or 0:.2f} ms {kind} ({where}; {how}; batch 1, BatchNorm folded)"


def calibration_text(report: Calibration) -> tuple[str, str | None]:
    """The calibration's table, and a warning where the proxy ranks no better than FLOPs (None otherwise)."""
    rho = {"proxy accuracy": report.spearman_proxy, "FLOPs alone": report.spearman_flops}
    table = format_table([[a.predictor, f"{a.tau:+.2f}", f"{a.low:+.2f} to {a.high:+.2f}",
                           f"{rho[a.predictor]:+.2f}" if a.predictor in rho else ""] for a in report.agreement],
                         ["predictor of the longer run", "Kendall tau", "95% interval (bootstrap)", "Spearman rho"])
    text = f"{len(report.trials)} trials, proxy {report.proxy_epochs} epochs vs {report.long_epochs} epochs:\n{table}"
    return text, None if report.proxy_beats_flops else FLOPS_WARNING


def search_text(outcome: StudyOutcome) -> str:
    """The end of ``ulsam-nas search``: the final front, the gains over hand design, trial counts, where results are."""
    search = outcome.search
    results, settings = search.results(), search.settings
    front = results.front()
    meta = results.meta
    resolution = settings.deployment_resolution(search.space)
    seeds = max((t.refined_seeds for t in results.trials), default=0)
    what = (f"refined validation top-1 ({seeds} seeds, {meta.refinement.epochs if meta.refinement else '?'} epochs; "
            f"the {results.evaluator}'s beside it)" if results.refined else
            "supernet score (validation top-1 with inherited weights)" if results.evaluator == "supernet" else
            "proxy validation top-1")
    lines = [f"\nPareto front of study {search.study_name!r}: {', '.join(settings.objectives)}; "
             f"FLOPs are multiply-accumulates at {resolution}x{resolution}; accuracy is {what} on {settings.dataset} "
             f"({meta.validation_images if meta.validation_images is not None else '?'} held-out images); noise-aware."]
    if settings.budgets:
        lines.append(f"Every point is within budget: {', '.join(settings.budget_texts)}.")
    lines.append(noise_line(results.noise, results.evaluator))
    if outcome.refinement is not None:
        lines.append(refine_report_text(outcome.refinement))
    lines.append(front_text(front, evaluator=results.evaluator) if front else "(no feasible trial finished yet)")
    gains = comparison_lines(results.comparisons(front))
    if gains:
        lines.append("\nAgainst hand design:\n  " + "\n  ".join(gains))
    counts: dict[str, int] = {}
    for trial in results.trials:
        counts[trial.record.status.value] = counts.get(trial.record.status.value, 0) + 1
    lines.append("\nTrials: " + ", ".join(f"{n} {status}" for status, n in sorted(counts.items())))
    lines.append(f"Results stored in {search.storage} (study {search.study_name!r}).")
    return "\n".join(lines)
