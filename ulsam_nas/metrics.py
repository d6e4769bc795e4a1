"""The one table of metrics: what each objective, budget, column and plot axis means.

Budgets, search objectives, trial tables, reports and plots all read this
table, so a metric's column, direction, unit and label are defined once.
FLOPs are multiply-accumulates (MACs), the MobileNet/ULSAM papers' convention.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["COST_METRICS", "DEFAULT_OBJECTIVES", "METRICS", "Metric", "get_metric"]


@dataclass(frozen=True)
class Metric:
    name: str  # as users write it: --objective, --budget, --x
    column: str  # in trial records, trial tables and cost reports
    maximise: bool
    unit: str  # of the stored value
    plot_scale: float  # stored value -> plot units
    axis_label: str

    @property
    def direction(self) -> str:
        """Optuna's word for it."""
        return "maximize" if self.maximise else "minimize"

    def as_loss(self, value: float) -> float:
        """Smaller is better for every metric."""
        return -value if self.maximise else value


METRICS: dict[str, Metric] = {metric.name: metric for metric in (
    Metric("accuracy", "accuracy", True, "fraction", 100.0, "proxy validation top-1 [%]"),
    Metric("flops", "flops", False, "MACs", 1e-6, "FLOPs (multiply-accumulates, papers' convention) [M]"),
    Metric("params", "params", False, "parameters", 1e-6, "parameters [M]"),
    Metric("latency", "latency_ms", False, "ms", 1.0, "latency, batch 1 [ms]"),
)}

COST_METRICS = ("flops", "params", "latency")
DEFAULT_OBJECTIVES = ("accuracy", "flops")


def get_metric(name: str, what: str = "metric") -> Metric:
    """The metric called ``name``; a ValueError naming the valid ones otherwise."""
    if name not in METRICS:
        raise ValueError(f"{what}: unknown metric {name!r}; valid: {', '.join(METRICS)}")
    return METRICS[name]
