"""Number formats and plain-text tables: how every figure the tool prints is written."""

from __future__ import annotations

import math
from typing import Any, Iterable, Sequence

import numpy as np

from ..noise import is_on_par

__all__ = ["ON_PAR", "format_accuracy", "format_count", "format_duration", "format_table", "word_difference"]

ON_PAR = "on par (within noise)"


def format_count(value: float, unit: str = "") -> str:
    """1234567 -> '1.23M' (K, M, G)."""
    for scale, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "K")):
        if abs(value) >= scale:
            return f"{value / scale:.2f}{suffix}{unit}"
    return f"{value:g}{unit}"


def format_duration(seconds: float) -> str:
    """42s, 3m 05s, 2h 10m."""
    seconds = max(0, round(seconds))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m {seconds % 60:02d}s"
    return f"{seconds // 3600}h {seconds % 3600 // 60:02d}m"


def format_accuracy(accuracy: float | None, sigma: float | None) -> str:
    """``93.0% ± 1.0`` (sigma in points); ``93.0%`` where the uncertainty is unknown."""
    if accuracy is None or math.isnan(accuracy):
        return ""
    return f"{accuracy:.1%}" if sigma is None or math.isnan(sigma) else f"{accuracy:.1%} ± {sigma * 100:.1f}"


def word_difference(difference: float, sigma_a: float, sigma_b: float) -> str:
    """A difference of accuracies (fractions) in points: ``+3.1 ± 1.2 points``, or ``on par (within noise)``.

    With unknown uncertainties (NaN) the bare difference, ``+3.1 points``.
    """
    if math.isnan(sigma_a) and math.isnan(sigma_b):
        return f"{difference * 100:+.1f} points"
    if is_on_par(difference, sigma_a, sigma_b):
        return ON_PAR
    spread = math.sqrt(np.nan_to_num(sigma_a) ** 2 + np.nan_to_num(sigma_b) ** 2)
    return f"{difference * 100:+.1f} ± {spread * 100:.1f} points"


def format_table(rows: Iterable[Sequence[Any]], header: Sequence[str]) -> str:
    """Left-aligned text columns separated by two spaces."""
    cells = [[str(cell) for cell in header]] + [[("" if cell is None else str(cell)) for cell in row] for row in rows]
    widths = [max(len(row[column]) for row in cells) for column in range(len(header))]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip() for row in cells]
    lines.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(lines)
