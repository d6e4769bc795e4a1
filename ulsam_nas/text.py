"""Plain-text tables and number formats shared by the CLI and the reports."""

from __future__ import annotations

from typing import Any, Iterable, Sequence


def format_count(value: float, unit: str = "") -> str:
    """1234567 -> '1.23M' (K, M, G)."""
    for scale, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "K")):
        if abs(value) >= scale:
            return f"{value / scale:.2f}{suffix}{unit}"
    return f"{value:g}{unit}"


def format_table(rows: Iterable[Sequence[Any]], header: Sequence[str]) -> str:
    """Left-aligned text columns separated by two spaces."""
    cells = [[str(cell) for cell in header]] + [[("" if cell is None else str(cell)) for cell in row] for row in rows]
    widths = [max(len(row[column]) for row in cells) for column in range(len(header))]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip() for row in cells]
    lines.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(lines)
