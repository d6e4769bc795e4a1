"""Where a search's time goes, and its peak memory.

Runs a search with the default settings (MobileNet-V2 space, digits, default
proxy) in a child process, with a second, tighter budget so that some
candidates are over budget, then reads the split from the storage: training
(including BatchNorm re-estimation and validation) against everything else
(building, counting, storage, sampler), and the training seconds spent on
over-budget and duplicate candidates (should be zero). Peak resident memory
is the child's.

    python -m benchmarks.search_overhead [--trials 12] [--budget 150M-flops]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time

CHILD = """
import json, sys, time
import optuna
optuna.logging.set_verbosity(optuna.logging.ERROR)
from ulsam_nas.search import SearchSettings, run_search
trials, budget, storage = int(sys.argv[1]), sys.argv[2], sys.argv[3]
start = time.perf_counter()
outcome = run_search(SearchSettings(budgets=("300M-flops", budget), trials=trials, storage=storage, study="overhead",
                                    evaluator="proxy"))
print(json.dumps({"wall": time.perf_counter() - start}))
"""


def run(trials: int = 12, budget: str = "150M-flops") -> dict:
    from ulsam_nas.search import open_study
    from ulsam_nas.report import trials_frame

    with tempfile.TemporaryDirectory() as folder:
        storage = f"sqlite:///{folder}/overhead.db"
        started = time.perf_counter()
        child = subprocess.run([sys.executable, "-c", CHILD, str(trials), budget, storage], capture_output=True, text=True)
        if child.returncode != 0:
            raise RuntimeError(child.stderr[-2000:])
        wall = time.perf_counter() - started
        peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        frame = trials_frame(open_study(storage, "overhead"))
    inside = float(frame["wall_seconds"].sum())
    training = float(frame["train_seconds"].sum())
    skipped = frame[frame["status"].isin(["infeasible", "reused"])]
    return {"trials": len(frame), "wall_s": wall, "inside_trials_s": inside, "training_s": training,
            "other_in_trials_s": inside - training, "outside_trials_s": wall - inside,
            "other_share": (inside - training) / inside, "target_share": 0.05,
            "skipped": len(skipped), "skipped_training_s": float(skipped["train_seconds"].sum()),
            "statuses": frame["status"].value_counts().to_dict(), "peak_rss_gib": peak_kib / 2**20, "memory_target_gib": 2.0}


def report(r: dict) -> str:
    share = "met" if r["other_share"] < r["target_share"] else "MISSED"
    memory = "met" if r["peak_rss_gib"] < r["memory_target_gib"] else "MISSED"
    return (f"Search at default settings, {r['trials']} trials ({json.dumps(r['statuses'])}):\n"
            f"  inside trials {r['inside_trials_s']:.1f}s = training {r['training_s']:.1f}s + other {r['other_in_trials_s']:.1f}s;"
            f" other share {r['other_share']:.1%} (target < 5%: {share})\n"
            f"  process start, data loading and baselines' costing outside trials: {r['outside_trials_s']:.1f}s\n"
            f"  training seconds on {r['skipped']} over-budget or duplicate candidates: {r['skipped_training_s']:.1f}\n"
            f"  peak resident memory {r['peak_rss_gib']:.2f} GiB (target < 2 GiB: {memory})")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=12)
    parser.add_argument("--budget", default="150M-flops")
    args = parser.parse_args()
    print(report(run(args.trials, args.budget)))
