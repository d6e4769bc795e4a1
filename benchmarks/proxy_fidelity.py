"""Proxy fidelity: which proxy settings rank architectures like a long reference training, and at what cost.

    python -m benchmarks.proxy_fidelity --data /tmp/cifar5-dev [--reference-epochs 30] [--seeds 2]
        [--device cpu|cuda] [--threads N] [--only ref,A,B] [--results benchmarks/proxy_fidelity.json]
        [--merge OTHER.json ...] [--report-only]

A ladder of proxy settings (training images x epochs; resolution and schedule as the proxy's) is run
on a fixed set of architectures spread across the MobileNet-V2 space (widths 0.5-1.0, 0 to 10 of the
10 droppable blocks dropped, ULSAM placements), each with several seeds, and compared with a
reference: ``ulsam-nas train``'s training (random crop and flip, warm-up and cosine schedule) on all
the training images for ``--reference-epochs``. For each setting it prints Kendall tau (bootstrap
95% interval) and Spearman rho of the seed-mean proxy accuracy against the reference, the proxy's
seed-to-seed spread, its cost per trial (seconds and images) against the reference's, and the depth
bias: the slope of (proxy - reference) accuracy over the number of dropped blocks, in points per
block, with its standard error. FLOPs-only and params-only rankings are printed beside them.

Every run is stored in ``--results`` the moment it ends, so the benchmark resumes where it stopped
and can be run in parts (``--only``); the report uses whatever runs are stored.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import platform
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from ulsam_nas import ArchConfig
from ulsam_nas.config import UlsamPlacement
from ulsam_nas.costs import measure_costs
from ulsam_nas.data import load_dataset
from ulsam_nas.ranks import kendall_tau, rank_agreement, spearman_rho
from ulsam_nas.training.parallel import train_each
from ulsam_nas.training import ProxyResult, ProxySettings, train_proxy
from ulsam_nas.training.full import TrainSettings, train

RESOLUTION = 32  # CIFAR's own size: the reference and every rung train at it


def _v2(width: float, drop: tuple[int, ...] = (), ulsam: tuple[tuple[int, int], ...] = ()) -> ArchConfig:
    return ArchConfig(backbone="mobilenet_v2", width=width, num_classes=1000, drop=list(drop),
                      ulsam=[UlsamPlacement(after, subspaces) for after, subspaces in ulsam])


ALL_DROPPABLE = (3, 5, 6, 8, 9, 10, 12, 13, 15, 16)

# Spread over the space: three widths, 0 to 10 dropped blocks, ULSAM early, late, several at once.
ARCHITECTURES: dict[str, ArchConfig] = {
    "w1.0 vanilla": _v2(1.0),
    "w1.0 paper drop 13,16 + ulsam 16:4": _v2(1.0, (13, 16), ((16, 4),)),
    "w1.0 drop 3,6,9,12,15 + ulsam 13:8": _v2(1.0, (3, 6, 9, 12, 15), ((13, 8),)),
    "w1.0 drop all 10": _v2(1.0, ALL_DROPPABLE),
    "w0.75 vanilla": _v2(0.75),
    "w0.75 drop 5,8,10 + ulsam 10:2,17:16": _v2(0.75, (5, 8, 10), ((10, 2), (17, 16))),
    "w0.75 drop 8 + ulsam 6:1": _v2(0.75, (3, 5, 6, 8, 9, 10, 12, 13), ((6, 1),)),
    "w0.5 vanilla + ulsam 17:4": _v2(0.5, (), ((17, 4),)),
    "w0.5 drop 9,10,12,13,15,16": _v2(0.5, (9, 10, 12, 13, 15, 16)),
    "w0.5 drop all 10 + ulsam 12:4": _v2(0.5, ALL_DROPPABLE, ((12, 4),)),
}

@dataclasses.dataclass(frozen=True)
class Rung:
    images: int  # training images (a seeded subset of the training set)
    epochs: int
    resolution: int = RESOLUTION

    def describe(self) -> str:
        return (f"{self.images} images x {self.epochs} epoch{'s' if self.epochs > 1 else ''}"
                + (f" at {self.resolution} px" if self.resolution != RESOLUTION else ""))


# The ladder. One-cycle schedule, lr 0.1, batch 64, as the proxy's defaults.
LADDER: dict[str, Rung] = {
    "A": Rung(2_500, 1),
    "B": Rung(5_000, 1),
    "C": Rung(5_000, 2),
    "D": Rung(10_000, 1),
    "D48": Rung(10_000, 1, resolution=48),
    "E": Rung(10_000, 2),
    "F": Rung(25_000, 1),
}


def proxy_settings(rung: str, device: str) -> ProxySettings:
    step = LADDER[rung]
    return ProxySettings(epochs=step.epochs, resolution=step.resolution, train_subset=step.images, device=device)


def reference_trainer(dataset: str, epochs: int, device: str, cache_dir: str | None):
    """``ulsam-nas train``'s training as a ``retrain`` trainer: augmentation, warm-up + cosine, all the data."""

    def run(config: ArchConfig, data, training: ProxySettings, seed: int) -> ProxyResult:
        settings = TrainSettings(dataset=dataset, epochs=epochs, resolution=RESOLUTION, seed=seed, device=device,
                                 cache_dir=cache_dir)
        started = time.perf_counter()
        with tempfile.TemporaryDirectory() as out:
            curve: list[float] = []
            report = train(dataclasses.replace(config, num_classes=data.num_classes), settings, out,
                           on_epoch=lambda metrics: curve.append(metrics["top1"]))
        seconds = time.perf_counter() - started
        images = epochs * (len(data.train_labels) // settings.batch_size) * settings.batch_size
        return ProxyResult(accuracy=report.last_top1, curve=curve, seconds=seconds, images_per_second=images / seconds)

    return run


def run_ladder(data_path: str, reference_epochs: int, seeds: int, device: str, only: list[str], results_path: Path,
               cache_dir: str | None = None) -> dict:
    dataset = f"imagefolder:{data_path}"
    data = load_dataset(dataset, RESOLUTION, cache_dir=cache_dir)
    resolutions = {RESOLUTION: data}
    store = json.loads(results_path.read_text()) if results_path.exists() else {}
    store.setdefault("runs", {})
    store.update(machine=f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} threads, "
                         f"{'GPU ' + torch.cuda.get_device_name() if device == 'cuda' else 'CPU'}, torch {torch.__version__}",
                 train_images=len(data.train_labels), val_images=len(data.val_labels))
    reference = f"ref{reference_epochs}"
    names = list(ARCHITECTURES)
    for rung in only:
        if rung == "ref":
            key, seed_count = reference, 1
            training = ProxySettings(epochs=reference_epochs, resolution=RESOLUTION, device=device)
            trainer = reference_trainer(dataset, reference_epochs, device, cache_dir)
        else:
            key, seed_count, training = rung, seeds, proxy_settings(rung, device)
            trainer = None
        jobs = [(index, dataclasses.replace(ARCHITECTURES[name], num_classes=data.num_classes), seed)
                for index, name in enumerate(names) for seed in range(seed_count)
                if f"{key}|{name}|{seed}" not in store["runs"]]
        print(f"{key}: {len(jobs)} runs to go", flush=True)

        def keep(index: int, seed: int, result: ProxyResult, key=key) -> None:
            store["runs"][f"{key}|{names[index]}|{seed}"] = {
                "accuracy": result.accuracy, "curve": result.curve, "seconds": result.seconds,
                "images_per_second": result.images_per_second}
            results_path.write_text(json.dumps(store, indent=1) + "\n")
            print(f"  {key} {names[index]:<40} seed {seed}: {result.accuracy:.1%} in {result.seconds:.0f} s "
                  f"({result.images_per_second:.0f} img/s)", flush=True)

        if training.resolution not in resolutions:
            resolutions[training.resolution] = load_dataset(dataset, training.resolution, cache_dir=cache_dir)
        failed = train_each(jobs, resolutions[training.resolution], training, keep, trainer or train_proxy)
        for line in failed:
            print(f"  diverged: {line}", flush=True)
    return store


def _slope(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Least-squares slope of y on x and its standard error."""
    design = np.column_stack([np.ones_like(x), x])
    coef, residual, *_ = np.linalg.lstsq(design, y, rcond=None)
    dof = max(1, len(x) - 2)
    sigma2 = float(((y - design @ coef) ** 2).sum()) / dof
    covariance = sigma2 * np.linalg.inv(design.T @ design)
    return float(coef[1]), float(np.sqrt(covariance[1, 1]))


def report(store: dict, reference_epochs: int) -> str:
    runs = store["runs"]
    reference = f"ref{reference_epochs}"
    names = [n for n in ARCHITECTURES if f"{reference}|{n}|0" in runs]
    if len(names) < 3:
        return f"Proxy fidelity: only {len(names)} reference runs stored ({reference}); nothing to compare yet."
    ref = np.array([runs[f"{reference}|{n}|0"]["accuracy"] for n in names])
    ref_seconds = statistics.mean(runs[f"{reference}|{n}|0"]["seconds"] for n in names)
    ref_images = reference_epochs * store["train_images"]
    costs = {n: measure_costs(ARCHITECTURES[n], 224) for n in names}
    drops = np.array([len(ARCHITECTURES[n].drop) for n in names], dtype=float)
    flops = [costs[n].flops for n in names]
    params = [costs[n].params for n in names]
    lines = [f"Proxy fidelity on {store['train_images']} training / {store['val_images']} validation images, "
             f"{len(names)} architectures, {RESOLUTION} px; {store['machine']}",
             f"reference: `ulsam-nas train` for {reference_epochs} epochs on all the training images (crop + flip, "
             f"warm-up + cosine), 1 seed; {ref_seconds:.0f} s per network on average; accuracy "
             f"{ref.min():.1%} to {ref.max():.1%}",
             "| predictor | images per trial | cost vs reference | s per trial | seeds | seed-to-seed sd | Kendall tau "
             "of the seed mean (95% interval) | tau of one seed | Spearman rho | depth bias (points per dropped block, "
             "+-SE) |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
             f"| reference: all images x {reference_epochs} epochs | {ref_images} | 1 | {ref_seconds:.0f} | 1 | - | "
             "(itself) | - | - | - |"]
    for label, values in (("FLOPs alone", flops), ("params alone", params)):
        agreement = rank_agreement(ref, {label: values})[0]
        lines.append(f"| {label} | none | - | - | - | - | {agreement.tau:+.2f} ({agreement.low:+.2f} to {agreement.high:+.2f}) "
                     f"| - | {spearman_rho(values, ref):+.2f} | - |")
    for rung, step in LADDER.items():
        images, epochs = step.images, step.epochs
        seeds = sorted({int(k.split("|")[2]) for k in runs if k.startswith(f"{rung}|")})
        complete = [s for s in seeds if all(f"{rung}|{n}|{s}" in runs for n in names)]
        if not complete:
            continue
        accuracy = np.array([[runs[f"{rung}|{n}|{s}"]["accuracy"] for n in names] for s in complete])
        mean = accuracy.mean(axis=0)
        seconds = statistics.mean(runs[f"{rung}|{n}|{s}"]["seconds"] for n in names for s in complete)
        spread = float(accuracy.std(axis=0, ddof=1).mean()) if len(complete) > 1 else float("nan")
        agreement = rank_agreement(ref, {rung: mean})[0]
        single = statistics.mean(kendall_tau(row, ref) for row in accuracy)  # what a search's one seed gets
        slope, error = _slope(drops, (mean - ref) * 100)
        flag = " (significant)" if abs(slope) > 2 * error else ""
        lines.append(f"| {rung}: {step.describe()} | {images * epochs} | "
                     f"1/{ref_images / (images * epochs):.0f} | {seconds:.0f} | {len(complete)} | {spread:.1%} | "
                     f"{agreement.tau:+.2f} ({agreement.low:+.2f} to {agreement.high:+.2f}) | {single:+.2f} | "
                     f"{spearman_rho(mean, ref):+.2f} | "
                     f"{slope:+.2f} +- {error:.2f}{flag} |")
    lines.append("per network (reference, then each rung's seed mean):")
    for index, name in enumerate(names):
        cells = [f"{ref[index]:.1%}"]
        for rung in LADDER:
            values = [runs[k]["accuracy"] for k in runs if k.startswith(f"{rung}|{name}|")]
            cells.append(f"{rung} {statistics.mean(values):.1%}" if values else f"{rung} -")
        lines.append(f"  {name:<40} {costs[name].flops / 1e6:6.0f}M MACs  drop {int(drops[index]):2d}  " + "  ".join(cells))
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, help="an image folder with train/ and test/ (or val/) class folders")
    parser.add_argument("--reference-epochs", type=int, default=30)
    parser.add_argument("--seeds", type=int, default=2, help="proxy seeds per architecture")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=None, help="CPU threads (default: PyTorch's)")
    parser.add_argument("--only", default="ref," + ",".join(LADDER), help="comma-separated: ref and/or rungs " + ",".join(LADDER))
    parser.add_argument("--results", type=Path, default=Path("benchmarks/proxy_fidelity.json"))
    parser.add_argument("--merge", type=Path, nargs="*", default=[], help="result files whose runs are added to --results")
    parser.add_argument("--report-only", action="store_true", help="print the table from stored runs, train nothing")
    args = parser.parse_args()
    only = [part.strip() for part in args.only.split(",") if part.strip()]
    unknown = [part for part in only if part != "ref" and part not in LADDER]
    if unknown:
        parser.error(f"--only: unknown rung(s) {', '.join(unknown)}; valid: ref, {', '.join(LADDER)}")
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.merge:  # runs made by another process (say, one per core) into their own file
        store = json.loads(args.results.read_text())
        for other in args.merge:
            store["runs"].update(json.loads(other.read_text())["runs"])
        args.results.write_text(json.dumps(store, indent=1) + "\n")
    if args.report_only:
        store = json.loads(args.results.read_text())
    else:
        store = run_ladder(args.data, args.reference_epochs, args.seeds, args.device, only, args.results)
    print(report(store, args.reference_epochs))


if __name__ == "__main__":
    main()
