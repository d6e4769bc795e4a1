"""Timing helpers shared by the benchmarks: median of repeated timings, measured side by side."""

from __future__ import annotations

import statistics
import subprocess
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


class GpuUtilisation:
    """Mean GPU utilisation (%) over a ``with`` block, sampled by nvidia-smi every 100 ms.

    ``mean`` stays None on the CPU, where nvidia-smi is missing, or when the block was too short to sample.
    """

    def __init__(self, device: str) -> None:
        self.device, self.mean, self._sampler = device, None, None

    def __enter__(self) -> "GpuUtilisation":
        if self.device.startswith("cuda"):
            import torch

            index = torch.device(self.device).index or 0
            try:
                self._sampler = subprocess.Popen(
                    ["nvidia-smi", "--query-gpu=utilization.gpu", "--format=csv,noheader,nounits", "-lms", "100",
                     "-i", str(index)], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
            except OSError:
                self._sampler = None
        return self

    def __exit__(self, *exc) -> None:
        if self._sampler is None:
            return
        self._sampler.terminate()
        output, _ = self._sampler.communicate()
        samples = [float(line) for line in output.split() if line.strip().replace(".", "", 1).isdigit()]
        self.mean = statistics.mean(samples) if samples else None
