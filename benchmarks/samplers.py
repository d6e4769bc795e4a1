"""Which sampler reaches the better front at the default trial count?

Runs the default search (MobileNet-V2 space, bundled digits, 300M-FLOPs budget,
default proxy) with each sampler and several seeds, and prints the hypervolume
of each final front (accuracy x FLOPs, FLOPs relative to the budget; higher is
better). Searches run as parallel processes, one thread each unless told.

    python -m benchmarks.samplers --seeds 0 1 2 [--trials 60] [--device cuda] [--jobs 9]
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor


def one_search(sampler: str, seed: int, trials: int, device: str, threads: int, folder: str) -> dict:
    import optuna
    import torch

    torch.set_num_threads(threads)
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    from ulsam_nas.search import SearchSettings, run_search
    from ulsam_nas.training import ProxySettings

    settings = SearchSettings(budgets=("300M-flops",), sampler=sampler, seed=seed, trials=trials, refine=0,
                              evaluator="proxy",
                              storage=f"sqlite:///{folder}/{sampler}-{seed}.db",
                              proxy=dataclasses.replace(ProxySettings(), device=device))
    started = time.perf_counter()
    outcome = run_search(settings)
    frame = outcome.frame()
    front = outcome.results().front()
    return {"sampler": sampler, "seed": seed, "hypervolume": outcome.hypervolume(), "front": len(front),
            "best_accuracy": max(point.trial.accuracy for point in front), "seconds": time.perf_counter() - started,
            "trained": int((frame["status"] == "trained").sum()), "infeasible": int((frame["status"] == "infeasible").sum()),
            "reused": int((frame["status"] == "reused").sum()), "stopped": int((frame["status"] == "stopped_early").sum())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samplers", nargs="+", default=["nsga2", "tpe", "random"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--trials", type=int, default=None, help="default: the search's default")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--jobs", type=int, default=3)
    args = parser.parse_args()
    from ulsam_nas.search import SearchSettings

    trials = args.trials or SearchSettings().trials
    with tempfile.TemporaryDirectory() as folder, ProcessPoolExecutor(args.jobs) as pool:
        futures = [pool.submit(one_search, s, seed, trials, args.device, args.threads, folder)
                   for s in args.samplers for seed in args.seeds]
        results = []
        for future in futures:
            results.append(future.result())
            print(results[-1], flush=True)
    print(f"\nhypervolume after {trials} trials (accuracy x FLOPs/300M; higher is better)")
    for sampler in args.samplers:
        values = [r["hypervolume"] for r in results if r["sampler"] == sampler]
        print(f"{sampler:7s} mean {statistics.mean(values):.4f}  per seed {', '.join(f'{v:.4f}' for v in values)}")


if __name__ == "__main__":
    main()
