"""How well a latency table predicts whole networks, and ``ulsam-nas latency-table``'s make-or-check of a file.

``check_table`` measures random configs of the space end to end, interleaved with the table's reference
network and on its scale, and compares them with the table's predictions (RMSPE, share within ±10%).
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from ..builder import build_model
from ..space import SearchSpace
from .measure import interleaved
from .runtimes import make_runner
from .settings import Latency, LatencySettings
from .table import LatencyTable, Piece, make_table, reference_runner

__all__ = ["TableCheck", "TableOutcome", "check_table", "make_or_check_table"]


@dataclass(frozen=True)
class TableCheck:
    """How well a table predicts whole networks measured end to end on this machine."""

    configs: list[str]
    predicted_ms: list[float]
    measured_ms: list[float]

    @property
    def errors(self) -> list[float]:
        return [p / m - 1 for p, m in zip(self.predicted_ms, self.measured_ms)]

    @property
    def rmspe(self) -> float:
        return math.sqrt(sum(e * e for e in self.errors) / len(self.errors))

    @property
    def within_10_percent(self) -> float:
        return sum(abs(e) <= 0.10 for e in self.errors) / len(self.errors)

    def to_dict(self) -> dict:
        return {"configs": len(self.configs), "rmspe": self.rmspe, "within_10_percent": self.within_10_percent}


def check_table(table: LatencyTable, space: SearchSpace, count: int, seed: int = 0, num_classes: int = 1000,
                on_config: Callable[[int, int, str, float, float], None] | None = None) -> TableCheck:
    """Measure ``count`` random configs of ``space`` end to end and compare with the table's predictions."""
    table.check_space(space)
    settings = LatencySettings(runtime=table.meta["runtime"], threads=table.meta["threads"],
                               device=table.meta.get("device", "cpu"))
    rng = random.Random(seed)
    resolution = table.meta["resolution"]
    shape = (1, 3, resolution, resolution)
    reference = reference_runner(space, settings, resolution)
    summaries, predicted, measured = [], [], []
    for index in range(count):
        config = space.sample(rng, num_classes)
        runner = make_runner(build_model(config), shape, settings.runtime, settings.threads, settings.device)
        summaries.append(config.summary())
        predicted.append(table.predict(config).ms)
        # On the table's scale: interleaved with its reference network, times the reference's latency in the table.
        measured.append(interleaved(runner, reference, table.meta["reference_ms"], warmup_s=0.2, measure_s=1.0).ms)
        if on_config is not None:
            on_config(index + 1, count, summaries[-1], predicted[-1], measured[-1])
    return TableCheck(summaries, predicted, measured)


@dataclass(frozen=True)
class TableOutcome:
    """What ``ulsam-nas latency-table`` did: the table, whether it was made now, and its check if one ran."""

    table: LatencyTable
    made: bool
    check: TableCheck | None = None


def make_or_check_table(out: str | Path, space: SearchSpace, settings: LatencySettings, resolution: int | None = None,
                        check: int = 0, remake: bool = False,
                        on_piece: Callable[[int, int, Piece, Latency], None] | None = None,
                        on_config: Callable[[int, int, str, float, float], None] | None = None) -> TableOutcome:
    """Make the table at ``out`` (unless it exists and ``remake`` is off), then, with ``check``, measure that many
    random configs end to end and record the table's error in it."""
    path = Path(out).expanduser()
    made = remake or not path.exists()
    if made:
        table = make_table(space, settings, resolution, on_piece=on_piece)
        table.save(path)
    else:
        table = LatencyTable.load(path)
    report = None
    if check:
        report = check_table(table, space, check, on_config=on_config)
        table.meta["check"] = report.to_dict()
        table.save(path)
    return TableOutcome(table, made, report)
