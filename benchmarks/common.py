"""Timing helpers shared by the benchmarks: median of repeated timings, measured side by side."""

from __future__ import annotations

import statistics
import time
from typing import Callable


def median_seconds(run: Callable[[], object], repeats: int = 7, min_seconds: float = 0.2) -> float:
    """Median over ``repeats`` of the mean time of one call (each repeat runs long enough to time well)."""
    run()  # warm-up
    start = time.perf_counter()
    run()
    once = max(time.perf_counter() - start, 1e-6)
    number = max(1, int(min_seconds / once))
    timings = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(number):
            run()
        timings.append((time.perf_counter() - start) / number)
    return statistics.median(timings)
