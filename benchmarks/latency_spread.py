"""Repeatability of latency measurement: 5 measurements of one config, spread against their median,
with the plain method (median of single runs) and the interleaved one (ratio to the vanilla
reference network, run in alternation, times the reference's latency measured once), on each runtime.

``--processes``: 5 separate ``ulsam-nas cost --latency`` processes instead, each figure with its ±:
first each re-timing the reference (``--remeasure-reference``, what every process did before the
reference was kept per machine), then each using the reference kept for this machine.

    python -m benchmarks.latency_spread [--repeats 5] [--processes]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

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


def across_processes(repeats: int = 5) -> dict:
    """``repeats`` separate ``cost --latency`` processes re-timing the reference, then as many reusing the kept one."""
    with tempfile.TemporaryDirectory() as folder:
        config = Path(folder) / "c.yaml"
        CONFIG.save(config)
        env = dict(os.environ, ULSAM_NAS_CACHE_DIR=str(Path(folder) / "cache"))  # starts with no kept reference

        def cost(*extra: str) -> dict:
            command = [sys.executable, "-m", "ulsam_nas", "cost", str(config), "--latency", "--json", *extra]
            return json.loads(subprocess.run(command, capture_output=True, text=True, check=True, env=env).stdout)

        retimed = [cost("--remeasure-reference") for _ in range(repeats)]
        kept = [cost() for _ in range(repeats)]
    # The kept reference is a low quantile: how far below the median of the same network that puts the scale.
    reference = make_runner(build_model(REFERENCE), (1, 3, 224, 224), "onnxruntime", 1)
    low = direct(reference, warmup_s=1.0, measure_s=6.0, quantile=0.1).ms
    median = direct(reference, warmup_s=0.0, measure_s=6.0).ms
    results = {}
    for name, runs in (("re-timed in each process", retimed), ("kept for this machine", kept)):
        values = [run["latency_ms"] for run in runs]
        results[name] = {"ms": values, "sigma_ms": [run["latency_sigma_ms"] for run in runs],
                         "reference_ms": [run["latency_reference_ms"] for run in runs], "spread": _spread(values)}
    return {"config": CONFIG.summary(), "repeats": repeats, "target": 0.05, "load": os.getloadavg(), "modes": results,
            "reference_low_ms": low, "reference_median_ms": median}


def report_processes(r: dict) -> str:
    lines = [f"Latency across {r['repeats']} separate `ulsam-nas cost --latency` processes, {r['config']}, 224x224, "
             f"onnxruntime, 1 thread; load average {r['load'][0]:.1f} / {r['load'][1]:.1f} / {r['load'][2]:.1f}:"]
    for name, m in r["modes"].items():
        figures = ", ".join(f"{ms:.2f} ± {sigma:.2f}" for ms, sigma in zip(m["ms"], m["sigma_ms"]))
        references = ", ".join(f"{ms:.2f}" for ms in m["reference_ms"])
        verdict = "met" if m["spread"] < r["target"] else "MISSED"
        lines.append(f"  reference {name}: {figures} ms; spread {m['spread']:.1%} of the median (target < "
                     f"{r['target']:.0%}: {verdict}); reference {references} ms")
    lines.append(f"  the reference's 10% quantile, {r['reference_low_ms']:.2f} ms, is "
                 f"{1 - r['reference_low_ms'] / r['reference_median_ms']:.1%} below its median, "
                 f"{r['reference_median_ms']:.2f} ms (two 6 s windows back to back): the scale of every figure above")
    return "\n".join(lines)


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
    parser.add_argument("--processes", action="store_true", help="separate cost processes (the cross-run target)")
    args = parser.parse_args()
    print(report_processes(across_processes(args.repeats)) if args.processes else report(run(args.repeats)))
