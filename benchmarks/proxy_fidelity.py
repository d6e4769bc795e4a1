"""Proxy fidelity: which evaluator ranks networks like long training, and at what cost.

    python -m benchmarks.proxy_fidelity --data /tmp/cifar5-dev [--seeds 2] [--only A,B,...] [--device cpu|cuda]
        [--results benchmarks/ladder/cifar5-dev.json] [--reference benchmarks/reference/cifar5-dev.json]
        [--report-only]

A ladder of proxy settings (training images x epochs; the proxy's recipe and resolution) is run on the networks
of the long-trained reference (``benchmarks/reference.py``: the same canonical networks, trained for 20+ epochs
with ``ulsam-nas train``'s training), each with several seeds. Each rung gives three predictors:

- its validation accuracy (the proxy's score, the seed mean);
- the sum of its training losses (negated: lower loss ranks higher), free with every proxy run;
- its learning curve extrapolated: top-1 fitted linearly in log(images seen) over the epochs and read at the
  reference's images seen (rungs of 2+ epochs).

For each it prints Kendall tau (bootstrap 95% interval) and Spearman rho against the reference's final top-1,
the tau of a single seed (what one search gets), top-3 recall (how many of the reference's best three are among
the predictor's best five), the depth bias (slope of predictor minus reference accuracy over blocks dropped, in
points per block, with its standard error; accuracy predictors only) and the cost per network against the
reference's. FLOPs-only and params-only rankings are printed beside them, and the reference's own seed-to-seed
tau, the ceiling any evaluator can reach. Every run is stored the moment it ends (resumable, ``--only`` in
parts). The ladder of 2026-11-23 (the old recipe, its own 5-epoch reference) is kept in
``benchmarks/proxy_fidelity-2026-11-23.json``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import platform
import statistics
from pathlib import Path

import numpy as np
import torch

from ulsam_nas.data import load_dataset
from ulsam_nas.ranks import kendall_tau, rank_agreement, spearman_rho, top_recall
from ulsam_nas.training import ProxyResult, ProxySettings, train_proxy
from ulsam_nas.training.parallel import side_by_side, train_each

from . import reference

RESOLUTION = reference.RESOLUTION  # CIFAR's own size: the reference and every rung train at it
NETWORKS = reference.NETWORKS
RESULTS = Path("benchmarks/ladder/cifar5-dev.json")


@dataclasses.dataclass(frozen=True)
class Rung:
    images: int  # training images (a seeded subset of the training set)
    epochs: int
    resolution: int = RESOLUTION

    def describe(self) -> str:
        return (f"{self.images} images x {self.epochs} epoch{'s' if self.epochs > 1 else ''}"
                + (f" at {self.resolution} px" if self.resolution != RESOLUTION else ""))


# The ladder, each rung with the proxy's recipe (training/recipe.py).
LADDER: dict[str, Rung] = {
    "A": Rung(2_500, 1),
    "B": Rung(5_000, 1),
    "C": Rung(5_000, 2),
    "D": Rung(10_000, 1),
    "D48": Rung(10_000, 1, resolution=48),
    "E": Rung(10_000, 2),
    "F": Rung(25_000, 1),
    "G": Rung(10_000, 4),
}


def proxy_settings(rung: str, device: str) -> ProxySettings:
    step = LADDER[rung]
    return ProxySettings(epochs=step.epochs, resolution=step.resolution, train_subset=step.images, device=device)


def run_ladder(data_path: str, seeds: int, device: str, only: list[str], results_path: Path,
               threads: int | None = None) -> dict:
    """Train every rung of ``only`` on every network, ``seeds`` times, storing each run as it ends. On a CPU the runs
    go one single-threaded process per core (``threads`` None), as a search runs its trials, so that a run's
    seconds are a trial's."""
    dataset = f"imagefolder:{data_path}"
    store = json.loads(results_path.read_text()) if results_path.exists() else {}
    store.setdefault("runs", {})
    names = list(NETWORKS)
    for rung in only:
        training = proxy_settings(rung, device)
        data = load_dataset(dataset, training.resolution)
        processes, run_threads = side_by_side(device, threads or (1 if device == "cpu" else None), len(names) * seeds)
        training = dataclasses.replace(training, threads=run_threads)
        store.update(machine=f"{platform.processor() or platform.machine()}, {processes} process(es) of "
                             f"{run_threads or torch.get_num_threads()} thread(s), "
                             f"{'GPU ' + torch.cuda.get_device_name() if device == 'cuda' else 'CPU'}, "
                             f"torch {torch.__version__}", train_images=len(data.train_labels),
                     val_images=len(data.val_labels))
        jobs = [(index, dataclasses.replace(NETWORKS[name], num_classes=data.num_classes), seed)
                for index, name in enumerate(names) for seed in range(seeds) if f"{rung}|{name}|{seed}" not in store["runs"]]
        print(f"{rung} ({LADDER[rung].describe()}): {len(jobs)} runs to go", flush=True)

        def keep(index: int, seed: int, result: ProxyResult, rung=rung) -> None:
            store["runs"][f"{rung}|{names[index]}|{seed}"] = {
                "accuracy": result.accuracy, "curve": result.curve, "losses": result.losses,
                "seconds": result.seconds, "images_per_second": result.images_per_second}
            results_path.parent.mkdir(parents=True, exist_ok=True)
            results_path.write_text(json.dumps(store, indent=1) + "\n")
            print(f"  {rung} {names[index]:<45} seed {seed}: {result.accuracy:.1%} in {result.seconds:.0f} s", flush=True)

        for line in train_each(jobs, data, training, keep, train_proxy, processes=processes):
            print(f"  diverged: {line}", flush=True)
    return store


def extrapolated(curve: list[float], images_per_epoch: int, images: float) -> float:
    """Top-1 fitted linearly in log(images seen) over the epochs of ``curve``, read at ``images`` images seen."""
    seen = np.log(images_per_epoch * np.arange(1, len(curve) + 1))
    slope, intercept = np.polyfit(seen, np.asarray(curve, dtype=float), 1)
    return float(intercept + slope * math.log(images))


def complete_seeds(runs: dict, rung: str, names: list[str]) -> list[int]:
    """The seeds of ``rung`` run on every one of ``names``."""
    seeds = sorted({int(k.split("|")[2]) for k in runs if k.startswith(f"{rung}|")})
    return [s for s in seeds if all(f"{rung}|{n}|{s}" in runs for n in names)]


def predictors(runs: dict, rung: str, names: list[str], seeds: list[int], reference_images: float) -> dict:
    """Each predictor of ``rung``: a (seeds x networks) array of scores, higher ranking higher."""
    cells = [[runs[f"{rung}|{n}|{s}"] for n in names] for s in seeds]
    step = LADDER[rung]
    scores = {"accuracy": np.array([[c["accuracy"] for c in row] for row in cells])}
    if all(c.get("losses") for row in cells for c in row):
        scores["training-loss sum"] = -np.array([[sum(c["losses"]) for c in row] for row in cells])
    if step.epochs >= 2:
        scores["curve extrapolated"] = np.array([[extrapolated(c["curve"], step.images, reference_images)
                                                  for c in row] for row in cells])
    return scores


def depth_bias(drops: np.ndarray, predicted: np.ndarray, truth: np.ndarray) -> str:
    """The slope of predicted minus true accuracy over blocks dropped, in points per block, with its SE."""
    slope, error = _slope(drops, (predicted - truth) * 100)
    return f"{slope:+.2f} +- {error:.2f}" + (" (significant)" if abs(slope) > 2 * error else "")


def _slope(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Least-squares slope of y on x and its standard error."""
    design = np.column_stack([np.ones_like(x), x])
    coef, *_ = np.linalg.lstsq(design, y, rcond=None)
    dof = max(1, len(x) - 2)
    sigma2 = float(((y - design @ coef) ** 2).sum()) / dof
    covariance = sigma2 * np.linalg.inv(design.T @ design)
    return float(coef[1]), float(np.sqrt(covariance[1, 1]))


def report(store: dict, reference_store: dict) -> str:
    runs, truth, chosen = store.get("runs", {}), reference_store.get("runs", {}), reference.truth(reference_store)
    names = list(chosen)
    if len(names) < 3:
        return f"Proxy fidelity: {len(names)} reference networks stored; nothing to compare yet (3 or more needed)."
    ref = np.array([chosen[n]["top1"][-1] for n in names])
    ref_epochs = min(len(chosen[n]["top1"]) for n in names)
    ref_seconds = statistics.mean(sum(chosen[n]["epoch_seconds"]) for n in names)
    train_images = store.get("train_images") or 25_000
    ref_images = ref_epochs * train_images
    drops = np.array([len(NETWORKS[n].drop) for n in names], dtype=float)
    lines = [f"Proxy fidelity against the reference ({reference_store.get('dataset')}, {len(names)} networks x "
             f"{ref_epochs} epochs at {RESOLUTION} px, {ref_seconds:.0f} s per network; top-1 {ref.min():.1%} to "
             f"{ref.max():.1%}); ladder on {store.get('machine', '-')}",
             "| predictor | cost vs reference | s per network | seeds | Kendall tau of the seed mean (95% interval) | "
             "tau of one seed | Spearman rho | top-3 recall (of 3, in the best 5) | depth bias (points per dropped "
             "block, +-SE) |", "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    twice = [n for n in names if reference.key(n, 1) in truth]
    if len(twice) >= 3:
        (ceiling,) = rank_agreement([truth[reference.key(n, 1)]["top1"][-1] for n in twice],
                                    {"seed 0": [truth[reference.key(n, 0)]["top1"][-1] for n in twice]})
        lines.append(f"| reference seed 0 against seed 1 ({len(twice)} networks: the ceiling) | 1 | {ref_seconds:.0f} | 1 "
                     f"| {ceiling.tau:+.2f} ({ceiling.low:+.2f} to {ceiling.high:+.2f}) | - | - | - | - |")
    for label, values in reference.size_predictors(names).items():
        (agreement,) = rank_agreement(ref, {label: values})
        lines.append(f"| {label} | 0 | 0 | - | {agreement.tau:+.2f} ({agreement.low:+.2f} to {agreement.high:+.2f}) | - | "
                     f"{spearman_rho(values, ref):+.2f} | {top_recall(values, ref)} | - |")
    spreads = []
    for rung, step in LADDER.items():
        complete = complete_seeds(runs, rung, names)
        if not complete:
            continue
        seconds = statistics.mean(runs[f"{rung}|{n}|{s}"]["seconds"] for n in names for s in complete)
        for label, scores in predictors(runs, rung, names, complete, ref_images).items():
            mean = scores.mean(axis=0)
            (agreement,) = rank_agreement(ref, {label: mean})
            single = statistics.mean(kendall_tau(row, ref) for row in scores)
            bias = "-" if label == "training-loss sum" else depth_bias(drops, mean, ref)
            lines.append(f"| {rung}: {step.describe()}, {label} | 1/{ref_images / (step.images * step.epochs):.0f} | "
                         f"{seconds:.0f} | {len(complete)} | {agreement.tau:+.2f} ({agreement.low:+.2f} to "
                         f"{agreement.high:+.2f}) | {single:+.2f} | {spearman_rho(mean, ref):+.2f} | "
                         f"{top_recall(mean, ref)} | {bias} |")
            if label == "accuracy":
                spreads.append(f"{rung} {reference.spread_within_width(names, list(mean)):.1%}")
    if spreads:
        lines.append(f"within one width the proxy's accuracies span on average: {', '.join(spreads)}; the "
                     f"reference's {reference.spread_within_width(names, list(ref)):.1%} (what each sees of depth and ULSAM)")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", help="an image folder with train/ and test/ (or val/) class folders")
    parser.add_argument("--seeds", type=int, default=2, help="proxy seeds per network")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=None,
                        help="CPU threads per run (default: 1, one process per core)")
    parser.add_argument("--only", default=",".join(LADDER), help="comma-separated rungs of " + ",".join(LADDER))
    parser.add_argument("--results", type=Path, default=RESULTS)
    parser.add_argument("--reference", type=Path, default=reference.RESULTS)
    parser.add_argument("--report-only", action="store_true", help="print the table from stored runs, train nothing")
    args = parser.parse_args()
    only = [part.strip() for part in args.only.split(",") if part.strip()]
    unknown = [part for part in only if part not in LADDER]
    if unknown:
        parser.error(f"--only: unknown rung(s) {', '.join(unknown)}; valid: {', '.join(LADDER)}")
    if args.report_only:
        store = json.loads(args.results.read_text()) if args.results.exists() else {}
    elif not args.data:
        parser.error("--data is needed to train")
    else:
        store = run_ladder(args.data, args.seeds, args.device, only, args.results, args.threads)
    truth = json.loads(args.reference.read_text()) if args.reference.exists() else {}
    print(report(store, truth))


if __name__ == "__main__":
    main()
