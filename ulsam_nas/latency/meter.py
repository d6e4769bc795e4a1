"""A study's latency: every candidate measured against one reference network, or predicted from a table.

The reference's own latency is measured once per machine, runtime and threads and kept (``reference.py``;
``reference_ms``, stored with the study too) so that every candidate of a study, and of every study and
``cost`` run on this machine, is on the same scale; each candidate is then timed interleaved with the
reference (``measure.interleaved``). With a latency table (``table.py``) nothing is timed: candidates are
predicted.
"""

from __future__ import annotations

import datetime
import os

from ..builder import build_model
from ..config import ArchConfig
from .measure import direct, interleaved
from .reference import REFERENCE_QUANTILE, ReferenceStore, StoredReference, reference_key
from .runtimes import Runner, make_runner
from .settings import Latency, LatencySettings
from .table import LatencyTable

__all__ = ["LatencyMeter"]


class LatencyMeter:
    """Measures candidates of one study against its reference network, or predicts them from a table."""

    def __init__(self, settings: LatencySettings, resolution: int, reference: ArchConfig,
                 reference_ms: float | None = None) -> None:
        self.settings, self.resolution, self.reference = settings, resolution, reference
        self.table = None
        if settings.table is not None:
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
        return StoredReference(measured.ms, measured.sigma_ms,
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
