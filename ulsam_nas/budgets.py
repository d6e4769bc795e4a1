"""Hard budgets: ``300M-flops``, ``2.5M-params``, ``15ms-latency``.

A candidate over any budget is never trained; the sampler is told it is
infeasible through Optuna's trial constraints (``Trial.set_constraint``).

Latency is measured, so it is uncertain: a candidate is over a latency budget
only when its latency exceeds the limit by more than twice the measurement's
standard error (``CostReport.latency.sigma_ms``). A config is then not
feasible in one trial and infeasible in the next because of timing noise.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .metrics import COST_METRICS, METRICS
from .present.formats import format_count

if TYPE_CHECKING:  # annotations only: budgets are read without loading PyTorch
    from .costs import CostReport

__all__ = ["Budget", "parse_budget"]

_SCALES = {"": 1, "K": 1e3, "M": 1e6, "G": 1e9}
_PATTERN = re.compile(r"^\s*(?P<number>\d+(?:\.\d*)?|\.\d+)\s*(?P<unit>[KMG]?|ms)-(?P<metric>flops|params|latency)\s*$", re.I)
_FORMAT_HELP = "use <number><K|M|G>-flops, <number><K|M|G>-params or <number>ms-latency, e.g. 300M-flops"


LATENCY_ALLOWANCE_ERRORS = 2.0  # standard errors of a latency measurement allowed over a latency budget


@dataclass(frozen=True)
class Budget:
    """An upper limit on one cost: FLOPs (multiply-accumulates), params, or latency in ms."""

    metric: str
    limit: float

    def __post_init__(self) -> None:
        if self.metric not in COST_METRICS:
            raise ValueError(f"budget: unknown metric {self.metric!r}; valid: {', '.join(COST_METRICS)}")
        if not (isinstance(self.limit, (int, float)) and math.isfinite(self.limit) and self.limit > 0):
            raise ValueError(f"budget: limit must be a positive number, got {self.limit!r}")

    def value(self, costs: CostReport) -> float:
        value = getattr(costs, METRICS[self.metric].column)
        if value is None:
            raise ValueError(f"budget {self}: the cost report has no {self.metric} (latency was not measured)")
        return float(value)

    def allowance(self, costs: CostReport) -> float:
        """How far over the limit a value may be and still count as within it: the measurement's noise."""
        if self.metric != "latency" or costs.latency is None or not costs.latency.sigma_ms:
            return 0.0
        return LATENCY_ALLOWANCE_ERRORS * costs.latency.sigma_ms

    def violation(self, costs: CostReport) -> float:
        """Relative excess over the limit beyond the allowance: <= 0 means within budget (Optuna's convention)."""
        return (self.value(costs) - self.allowance(costs) - self.limit) / self.limit

    def describe_excess(self, costs: CostReport) -> str:
        allowance = self.allowance(costs)
        noise = f" ± {costs.latency.sigma_ms:.2f}ms, over by more than 2 standard errors" if allowance else ""
        return f"{self.metric} {self._format(self.value(costs))}{noise} > {self} budget"

    def _format(self, value: float) -> str:
        return f"{value:.3g}ms" if self.metric == "latency" else format_count(value)

    def __str__(self) -> str:
        if self.metric == "latency":
            return f"{self.limit:g}ms-latency"
        scale, suffix = next(((v, k) for k, v in sorted(_SCALES.items(), key=lambda kv: -kv[1]) if self.limit >= v), (1, ""))
        return f"{self.limit / scale:g}{suffix}-{self.metric}"


def parse_budget(text: str) -> Budget:
    """Parse ``<number><K|M|G>-flops``, ``<number><K|M|G>-params`` or ``<number>ms-latency``."""
    match = _PATTERN.match(str(text))
    if not match:
        raise ValueError(f"budget: cannot read {text!r}; {_FORMAT_HELP}")
    number, unit, metric = float(match["number"]), match["unit"], match["metric"].lower()
    if metric == "latency":
        if unit.lower() != "ms":
            raise ValueError(f"budget: latency budgets are in milliseconds, e.g. 15ms-latency; got {text!r}")
        scale = 1.0
    elif unit.lower() == "ms":
        raise ValueError(f"budget: ms is a latency unit; {metric} takes K, M or G, e.g. 300M-{metric}; got {text!r}")
    else:
        scale = _SCALES[unit.upper()]
    if number <= 0:
        raise ValueError(f"budget: limit must be positive, got {text!r}")
    return Budget(metric, number * scale)
