"""Latency that holds still on a noisy machine: timed interleaved with a fixed reference network.

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

import datetime
import math
import os
import statistics
import time
from dataclasses import dataclass

from ..builder import build_model
from ..config import ArchConfig
from .reference import REFERENCE_QUANTILE, ReferenceStore, StoredReference, reference_key
from .runtimes import DEFAULT_RUNTIME, RUNTIMES, Runner, make_runner

__all__ = ["Latency", "LatencyMeter", "LatencySettings", "describe_latency", "direct", "interleaved"]

_MEDIAN_SE = 1.2533 / 1.349  # standard error of a median = this x IQR / sqrt(n), for roughly normal samples


@dataclass(frozen=True)
class LatencySettings:
    """How latency is obtained: runtime, threads, device, or a latency table to predict from."""

    runtime: str = DEFAULT_RUNTIME
    threads: int = 1
    device: str = "cpu"
    table: str | None = None  # a latency table (ulsam-nas latency-table): predict, never measure
    seconds: float = 2.0  # timing window of one measurement (the reference's own, once per machine: 3x that)
    remeasure: bool = False  # measure the reference network again instead of using the one stored for this machine

    def __post_init__(self) -> None:
        if self.runtime not in RUNTIMES:
            raise ValueError(f"latency runtime: unknown runtime {self.runtime!r}; valid: {', '.join(RUNTIMES)}")
        if isinstance(self.threads, bool) or not isinstance(self.threads, int) or self.threads < 1:
            raise ValueError(f"latency threads: must be a positive integer, got {self.threads!r}")
        if self.runtime == "onnxruntime" and self.device != "cpu":
            raise ValueError("latency runtime: onnxruntime is timed on the CPU here; use --latency-runtime torch for cuda")


@dataclass(frozen=True)
class Latency:
    """One network's latency (batch 1, milliseconds) and how sure it is."""

    ms: float
    uncertainty_ms: float  # one standard error of the estimate
    runtime: str
    threads: int | None
    device: str
    method: str  # "interleaved", "direct" or "table"
    repeats: int = 0  # timed runs (pairs, for interleaved)
    iqr_ms: float = 0.0  # interquartile range of the runs (of the pairs' estimates, for interleaved)
    reference_ms: float | None = None  # interleaved: the reference network's latency the ratio was scaled by

    def describe(self) -> str:
        return describe_latency(self.ms, self.uncertainty_ms, self.runtime, self.device, self.threads, self.method)


def describe_latency(ms: float, uncertainty_ms: float | None, runtime: str | None, device: str | None,
                     threads: int | None, method: str | None) -> str:
    """One line for people: value, uncertainty, and what it was measured on and how."""
    where = f"{runtime} on {device}" + (f", {threads} thread(s)" if threads else "")
    how = {"interleaved": "interleaved with the reference network, scaled by its kept latency",
           "direct": "median of single runs", "table": "predicted from a latency table"}.get(method or "", method or "")
    kind = "predicted" if method == "table" else "median"
    return f"{ms:.2f} ± {uncertainty_ms or 0:.2f} ms {kind} ({where}; {how}; batch 1, BatchNorm folded)"


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


class LatencyMeter:
    """Measures candidates of one study against its reference network, or predicts them from a table.

    The reference's own latency is measured once per machine, runtime and threads and kept
    (``reference.py``; ``reference_ms``, stored with the study too) so that every candidate of a study,
    and of every study and ``cost`` run on this machine, is on the same scale.
    """

    def __init__(self, settings: LatencySettings, resolution: int, reference: ArchConfig,
                 reference_ms: float | None = None) -> None:
        self.settings, self.resolution, self.reference = settings, resolution, reference
        self.table = None
        if settings.table is not None:
            from .table import LatencyTable

            self.table = LatencyTable.load(settings.table)
            self.table.check_usable(settings, resolution)
        self._reference_runner: Runner | None = None
        self._reference_ms = reference_ms
        self.stored_reference: StoredReference | None = None  # the kept measurement, when one was used

    def _runner(self, config: ArchConfig) -> Runner:
        shape = (1, 3, self.resolution, self.resolution)
        return make_runner(build_model(config), shape, self.settings.runtime, self.settings.threads, self.settings.device)

    @property
    def reference_runner(self) -> Runner:
        if self._reference_runner is None:
            self._reference_runner = self._runner(self.reference)
        return self._reference_runner

    @property
    def reference_ms(self) -> float:
        """The reference network's latency: the one kept for this machine, runtime and threads (measured, then
        kept, where there is none yet), unless given."""
        if self._reference_ms is None:
            if self.table is not None:
                self._reference_ms = self.table.predict(self.reference).ms
            else:
                key = reference_key(self.settings.runtime, self.settings.threads, self.settings.device, self.resolution,
                                    self.reference.to_json())
                self.stored_reference = ReferenceStore().get(key, self._measure_reference, self.settings.remeasure)
                self._reference_ms = self.stored_reference.ms
        return self._reference_ms

    def _measure_reference(self) -> StoredReference:
        load = os.getloadavg()[0]  # said with the figure: a reference kept from a busy moment is worth remeasuring
        measured = direct(self.reference_runner, warmup_s=self.settings.seconds / 2, measure_s=3 * self.settings.seconds,
                          quantile=REFERENCE_QUANTILE)
        return StoredReference(measured.ms, measured.uncertainty_ms,
                               datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
                               measured.repeats, f"{self.reference.summary()}, {REFERENCE_QUANTILE:.0%} quantile of "
                               f"{measured.repeats} single runs, at load average {load:.1f} on {os.cpu_count()} cores")

    @reference_ms.setter
    def reference_ms(self, value: float) -> None:
        self._reference_ms = float(value)

    def measure(self, config: ArchConfig) -> Latency:
        if self.table is not None:
            return self.table.predict(config)
        if config.to_json() == self.reference.to_json():
            candidate = self.reference_runner  # the reference against itself: ratio 1 by construction, still timed
        else:
            candidate = self._runner(config)
        return interleaved(candidate, self.reference_runner, self.reference_ms, warmup_s=self.settings.seconds / 4,
                           measure_s=self.settings.seconds)
