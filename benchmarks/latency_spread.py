"""Repeatability of latency measurement: 5 measurements of the same config, spread against the median.

    python -m benchmarks.latency_spread
"""

from __future__ import annotations

import statistics

from ulsam_nas import ArchConfig, build_model
from ulsam_nas.costs import measure_latency


def run(repeats: int = 5) -> dict:
    config = ArchConfig(drop=[13, 16], ulsam=[{"after": 16, "subspaces": 4}])
    model = build_model(config)
    medians = [measure_latency(model, 224, threads=1).latency_ms for _ in range(repeats)]
    middle = statistics.median(medians)
    return {"config": config.summary(), "medians_ms": medians, "median_ms": middle,
            "spread": (max(medians) - min(medians)) / middle, "target": 0.05}


def report(r: dict) -> str:
    verdict = "met" if r["spread"] < r["target"] else "MISSED"
    return (f"Latency, {r['config']} at 224x224, batch 1, 1 thread, BatchNorm folded into the convolutions:\n"
            f"  5 measurements {', '.join(f'{m:.2f}' for m in r['medians_ms'])} ms; spread (max - min) / median "
            f"{r['spread']:.1%} (target < {r['target']:.0%}: {verdict})")


if __name__ == "__main__":
    print(report(run()))
