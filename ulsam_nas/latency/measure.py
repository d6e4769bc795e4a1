"""Timing one network: directly, or interleaved with a fixed reference network so that it holds still.

On a shared VM one network's latency drifts by tens of percent from minute to
minute (other tenants, frequency changes). Here each candidate run alternates
with a run of a fixed reference network (the space's vanilla network) in the
same time window, and the candidate's latency is the median ratio of the
pairs times the reference's latency, measured once per study. Noise that hits
both networks cancels out of the ratio.

``direct`` is the plain method (median of single runs), kept for comparison
and for measuring the reference itself. The reference's latency is measured
once per machine, runtime and threads and kept (``reference.py``), so that
absolute figures repeat across processes too.
"""

from __future__ import annotations

import math
import statistics
import time

from .runtimes import Runner
from .settings import Latency

__all__ = ["direct", "interleaved"]

_MEDIAN_SE = 1.2533 / 1.349  # standard error of a median = this x IQR / sqrt(n), for roughly normal samples


def _timed(runner: Runner) -> float:
    start = time.perf_counter()
    runner.run()
    return (time.perf_counter() - start) * 1000


def _spread(values: list[float]) -> tuple[float, float]:
    """(interquartile range, standard error of the median)."""
    if len(values) < 4:
        return 0.0, 0.0
    quartiles = statistics.quantiles(values, n=4)
    iqr = quartiles[2] - quartiles[0]
    return iqr, _MEDIAN_SE * iqr / math.sqrt(len(values))


def _quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    position = q * (len(ordered) - 1)
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (position - low) * (ordered[high] - ordered[low])


def direct(runner: Runner, warmup_s: float = 0.5, measure_s: float = 2.0, min_runs: int = 20,
           quantile: float = 0.5) -> Latency:
    """The median (or another ``quantile``) of single runs after a warm-up: the plain method."""
    with runner.scope():
        warm = 0.0
        while warm < warmup_s:
            warm += _timed(runner) / 1000
        timings, spent = [], 0.0
        while spent < measure_s or len(timings) < min_runs:
            timings.append(_timed(runner))
            spent += timings[-1] / 1000
    iqr, error = _spread(timings)
    if quantile != 0.5:  # a quantile's standard error: half the distance between the quantiles one binomial sd away
        step = math.sqrt(quantile * (1 - quantile) / len(timings))
        error = (_quantile(timings, min(1.0, quantile + step)) - _quantile(timings, max(0.0, quantile - step))) / 2
    return Latency(_quantile(timings, quantile), error, runner.runtime, runner.threads, runner.device, "direct",
                   len(timings), iqr)


def interleaved(candidate: Runner, reference: Runner, reference_ms: float, warmup_s: float = 0.5,
                measure_s: float = 2.0, min_pairs: int = 20) -> Latency:
    """The candidate's latency as its median ratio to the reference, run in alternation, times ``reference_ms``."""
    ratios: list[float] = []
    with candidate.scope():
        warm = 0.0
        while warm < warmup_s:
            warm += (_timed(candidate) + _timed(reference)) / 1000
        spent = 0.0
        while spent < measure_s or len(ratios) < min_pairs:
            # Alternate which goes first, so that neither always runs on the other's warm caches.
            if len(ratios) % 2:
                ours, theirs = _timed(candidate), _timed(reference)
            else:
                theirs, ours = _timed(reference), _timed(candidate)
            ratios.append(ours / theirs)
            spent += (ours + theirs) / 1000
    estimates = [ratio * reference_ms for ratio in ratios]
    iqr, error = _spread(estimates)
    return Latency(statistics.median(estimates), error, candidate.runtime, candidate.threads, candidate.device,
                   "interleaved", len(ratios), iqr, reference_ms)
