"""How latency is obtained, and one measured latency: torch-free records the settings and reports share."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["DEFAULT_RUNTIME", "RUNTIMES", "Latency", "LatencySettings"]

RUNTIMES = ("onnxruntime", "torch")
DEFAULT_RUNTIME = "onnxruntime"  # what a model deployed on a CPU runs on; eager PyTorch is ~1.7x slower here


@dataclass(frozen=True)
class LatencySettings:
    """How latency is obtained: runtime, threads, device, or a latency table to predict from."""

    runtime: str = DEFAULT_RUNTIME
    threads: int = 1
    device: str = "cpu"
    table: str | None = None  # a latency table (ulsam-nas latency-table): predict, never measure
    seconds: float = 2.0  # timing window of one measurement (the reference's own, once per machine: 3x that)
    remeasure: bool = False  # measure the reference network again instead of using the one kept for this machine

    def __post_init__(self) -> None:
        if self.runtime not in RUNTIMES:
            raise ValueError(f"latency runtime: unknown runtime {self.runtime!r}; valid: {', '.join(RUNTIMES)}")
        if isinstance(self.threads, bool) or not isinstance(self.threads, int) or self.threads < 1:
            raise ValueError(f"latency threads: must be a positive integer, got {self.threads!r}")
        if self.runtime == "onnxruntime" and self.device != "cpu":
            raise ValueError("latency runtime: onnxruntime is timed on the CPU here; use --latency-runtime torch for cuda")

    def defining(self) -> dict[str, Any]:
        """What makes two studies' latencies comparable."""
        return {"runtime": self.runtime, "threads": self.threads, "device": self.device, "table": self.table}

    @classmethod
    def from_stored(cls, values: dict[str, Any]) -> "LatencySettings":
        return cls(**{key: values[key] for key in ("runtime", "threads", "device", "table") if key in values})


@dataclass(frozen=True)
class Latency:
    """One network's latency (batch 1, milliseconds) and how sure it is."""

    ms: float
    sigma_ms: float  # one standard error of the estimate
    runtime: str
    threads: int | None
    device: str
    method: str  # "interleaved", "direct" or "table"
    repeats: int = 0  # timed runs (pairs, for interleaved)
    iqr_ms: float = 0.0  # interquartile range of the runs (of the pairs' estimates, for interleaved)
    reference_ms: float | None = None  # interleaved: the reference network's latency the ratio was scaled by
