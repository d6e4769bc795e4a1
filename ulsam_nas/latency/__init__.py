"""Latency: measured on the runtime that ships, interleaved with a reference so it holds still, or
predicted from a table of pieces timed once on the target device.

``settings`` (the torch-free records), ``runtimes`` (ONNX Runtime, eager PyTorch), ``measure`` (direct and
interleaved timing), ``reference`` (the reference network's latency, kept per machine), ``table`` (latency
tables), ``table_check`` (a table's error, measured) and ``meter`` (a study's :class:`LatencyMeter`, over
measure, reference and table).
"""

from ..lazy import lazy_exports
from .settings import DEFAULT_RUNTIME, RUNTIMES, Latency, LatencySettings

_LAZY = {"LatencyMeter": ".meter", "LatencyTable": ".table", "TableCheck": ".table_check", "check_table": ".table_check",
         "make_table": ".table", "make_or_check_table": ".table_check", "TableOutcome": ".table_check",
         "direct": ".measure", "interleaved": ".measure", "make_runner": ".runtimes"}
__getattr__ = lazy_exports(__name__, _LAZY)

__all__ = ["DEFAULT_RUNTIME", "RUNTIMES", "Latency", "LatencyMeter", "LatencySettings", "LatencyTable", "TableCheck",
           "TableOutcome", "check_table", "direct", "interleaved", "make_or_check_table", "make_runner", "make_table"]
