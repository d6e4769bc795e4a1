"""Repeatability of latency measurement: 5 measurements of one config, spread against their median,
with the plain method (median of single runs) and the interleaved one (ratio to the vanilla
reference network, run in alternation, times the reference's latency measured once), on each runtime.

    python -m benchmarks.latency_spread [--repeats 5]
"""

from __future__ import annotations

import argparse
import statistics

from ulsam_nas import ArchConfig, build_model
from ulsam_nas.latency import RUNTIMES, LatencyMeter, LatencySettings, direct, make_runner

CONFIG = ArchConfig(drop=[13, 16], ulsam=[{"after": 16, "subspaces": 4}])
REFERENCE = ArchConfig()  # the MobileNet-V2 space's vanilla network at its widest


def _spread(values: list[float]) -> float:
    return (max(values) - min(values)) / statistics.median(values)


def run(repeats: int = 5) -> dict:
    results = {}
    for runtime in RUNTIMES:
        settings = LatencySettings(runtime=runtime, threads=1)
        meter = LatencyMeter(settings, 224, REFERENCE)  # the reference's latency: measured once, as in a study
        old = [direct(make_runner(build_model(CONFIG), (1, 3, 224, 224), runtime, 1), warmup_s=1.0).ms
               for _ in range(repeats)]
        new = [meter.measure(CONFIG) for _ in range(repeats)]
        results[runtime] = {"old_ms": old, "new_ms": [m.ms for m in new], "old_spread": _spread(old),
                            "new_spread": _spread([m.ms for m in new]),
                            "new_uncertainty_ms": statistics.median(m.sigma_ms for m in new),
                            "reference_ms": meter.reference_ms}
    return {"config": CONFIG.summary(), "repeats": repeats, "target": 0.05, "runtimes": results}


def report(r: dict) -> str:
    lines = [f"Latency, {r['config']} at 224x224, batch 1, 1 thread, BatchNorm folded; {r['repeats']} repeated "
             f"measurements, spread = (max - min) / median (target < {r['target']:.0%} with the new method):"]
    for runtime, m in r["runtimes"].items():
        verdict = "met" if m["new_spread"] < r["target"] else "MISSED"
        lines.append(f"  {runtime:11s} old (median of single runs): {', '.join(f'{x:.2f}' for x in m['old_ms'])} ms; "
                     f"spread {m['old_spread']:.1%}")
        lines.append(f"  {runtime:11s} new (interleaved with the reference, {m['reference_ms']:.2f} ms): "
                     f"{', '.join(f'{x:.2f}' for x in m['new_ms'])} ms; spread {m['new_spread']:.1%} ({verdict}); "
                     f"median standard error {m['new_uncertainty_ms']:.2f} ms")
    return "\n".join(lines)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    print(report(run(parser.parse_args().repeats)))
