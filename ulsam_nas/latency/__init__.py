"""Latency: measured on the runtime that ships, interleaved with a reference so it holds still, or
predicted from a table of pieces timed once on the target device.

``runtimes`` (ONNX Runtime, eager PyTorch), ``measure`` (direct and interleaved
timing, the per-study :class:`LatencyMeter`), ``reference`` (the reference
network's latency, kept per machine) and ``table`` (latency tables).
"""

from .measure import Latency, LatencyMeter, LatencySettings, describe_latency, direct, interleaved
from .runtimes import DEFAULT_RUNTIME, RUNTIMES, make_runner
from .table import LatencyTable, TableCheck, check_table, make_table

__all__ = ["DEFAULT_RUNTIME", "RUNTIMES", "Latency", "LatencyMeter", "LatencySettings", "LatencyTable", "TableCheck",
           "check_table", "describe_latency", "direct", "interleaved", "make_runner", "make_table"]
