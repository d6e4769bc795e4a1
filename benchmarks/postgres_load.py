"""Load: 3 worker processes on one PostgreSQL study with cheap trials.

Reports trials per minute, the time per trial spent outside training and
costing (storage, lock, sampler), and that nothing was lost: exactly the
requested trials finished, none left RUNNING, no config trained twice.

    python -m benchmarks.postgres_load [--url postgresql://ulsam:ulsam@localhost/ulsam_test] [--trials 45]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from pathlib import Path

WORKER = """
import sys, optuna
optuna.logging.set_verbosity(optuna.logging.ERROR)
from ulsam_nas.training import ProxySettings
from ulsam_nas.search import SearchSettings, run_search
run_search(SearchSettings(space=sys.argv[1], storage=sys.argv[2], study=sys.argv[3], trials=int(sys.argv[4]),
           evaluator="proxy",
           proxy=ProxySettings(epochs=1, resolution=16, train_subset=64, batch_size=32, threads=1)))
"""

SPACE = """name: load
backbone: mobilenet_v2
resolution: 64
widths: [0.35, 0.5]
drop: [3, 5, 6, 15, 16]
ulsam_after: [13, 16]
subspaces: [2, 4]
"""


def run(url: str, trials: int = 45, workers: int = 3) -> dict:
    import optuna

    from ulsam_nas.record import TrialRecord
    from ulsam_nas.search import open_study

    study = f"load-{uuid.uuid4().hex[:8]}"
    with tempfile.TemporaryDirectory() as folder:
        space = Path(folder) / "load.yaml"
        space.write_text(SPACE)
        env = dict(os.environ, OMP_NUM_THREADS="1")
        started = time.perf_counter()
        processes = [subprocess.Popen([sys.executable, "-c", WORKER, str(space), url, study, str(trials)], env=env,
                                      stderr=subprocess.PIPE, text=True) for _ in range(workers)]
        errors = [p.communicate()[1] for p in processes]
        wall = time.perf_counter() - started
    if any(p.returncode for p in processes):
        raise RuntimeError("\n".join(e[-1000:] for e in errors))
    loaded = open_study(url, study)
    counted = [t for t in loaded.trials if TrialRecord.from_trial(t).counted]
    trained = Counter(t.user_attrs["config_key"] for t in counted if t.user_attrs["status"] == "trained")
    outside = [(t.datetime_complete - t.datetime_start).total_seconds() - t.user_attrs["train_seconds"]
               - t.user_attrs.get("cost_seconds", 0.0) for t in counted]
    return {"workers": workers, "trials": len(counted), "requested": trials, "wall_s": wall,
            "trials_per_min": len(counted) / wall * 60, "storage_s_per_trial": sum(outside) / len(outside),
            "running_left": sum(t.state == optuna.trial.TrialState.RUNNING for t in loaded.trials),
            "trained_twice": sum(1 for n in trained.values() if n > 1), "all_records": len(loaded.trials)}


def report(r: dict) -> str:
    lost = r["trials"] != r["requested"] or r["running_left"] or r["trained_twice"]
    return (f"PostgreSQL, {r['workers']} workers, cheap trials: {r['trials']}/{r['requested']} trials in {r['wall_s']:.1f}s = "
            f"{r['trials_per_min']:.1f} trials/min; storage, lock and sampler {r['storage_s_per_trial'] * 1000:.0f} ms per trial "
            f"(inside the trial, outside training and costing); left RUNNING {r['running_left']}, configs trained twice "
            f"{r['trained_twice']}, records {r['all_records']}: {'LOST SOMETHING' if lost else 'nothing lost'}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default=os.environ.get("ULSAM_NAS_TEST_POSTGRES",
                                                       "postgresql://ulsam:ulsam@localhost/ulsam_test"))
    parser.add_argument("--trials", type=int, default=45)
    args = parser.parse_args()
    print(report(run(args.url, args.trials)))
