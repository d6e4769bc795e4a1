"""How fast a latency table is made and how well it predicts whole networks.

Makes the MobileNet-V2 space's table on this machine (every block at every
width, every ULSAM position x subspace count x width, the head), prints the
time it took, then measures ``--check`` random configs end to end and prints
the table's error: RMSPE and the share within ±10% (target: 90%).

    python -m benchmarks.latency_table [--check 30] [--runtime onnxruntime] [--out /tmp/v2.csv]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from ulsam_nas.latency import LatencySettings, check_table, make_table
from ulsam_nas.space import load_space


def run(check: int = 30, runtime: str = "onnxruntime", out: str | None = None) -> dict:
    space = load_space("mobilenet_v2")
    started = time.perf_counter()
    table = make_table(space, LatencySettings(runtime=runtime, threads=1))
    seconds = time.perf_counter() - started
    path = Path(out) if out else Path(tempfile.mkdtemp()) / "mobilenet_v2.csv"
    table.save(path)
    result = check_table(table, space, check, seed=1, num_classes=1000)
    errors = result.errors
    return {"runtime": runtime, "pieces": table.meta["pieces"], "seconds": seconds, "check": check, "path": str(path),
            "rmspe": result.rmspe, "within_10": result.within_10_percent, "target": 0.9,
            "worst": max(errors, key=abs), "correction": table.meta["correction"]}


def report(r: dict) -> str:
    verdict = "met" if r["within_10"] >= r["target"] else "MISSED"
    return (f"Latency table of space mobilenet_v2 ({r['runtime']}, 1 thread, 224x224): {r['pieces']} pieces timed in "
            f"{r['seconds']:.0f}s -> {r['path']}\n"
            f"  {r['check']} random configs measured end to end: RMSPE {r['rmspe']:.1%}, {r['within_10']:.0%} within ±10% "
            f"(target >= {r['target']:.0%}: {verdict}); worst {r['worst']:+.1%}; fitted correction per width (ms): "
            + ", ".join(f"w{w} {c:+.2f}" for w, c in r["correction"]["per_width_ms"].items()))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", type=int, default=30)
    parser.add_argument("--runtime", default="onnxruntime")
    parser.add_argument("--out")
    args = parser.parse_args()
    print(report(run(args.check, args.runtime, args.out)), flush=True)
