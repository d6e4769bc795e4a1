"""The ground truth every evaluator is measured against: canonical networks trained long, kept in the repository.

    python -m benchmarks.reference --data /tmp/cifar5-dev [--epochs 20] [--workers 2] [--device cpu|cuda] [--only NAME,...]
        [--results benchmarks/reference/cifar5-dev.json] [--report]

Each network of :data:`NETWORKS` (three widths, shallow to full depth, ULSAM early and late, the paper's
configuration, the vanilla networks) is trained by ``ulsam-nas train``'s training (``training.full.train``:
the shared recipe, random crop and flip, all the training images) at 32 px, with seed 0, and those of
:data:`SECOND_SEED` again with seed 1: the seed-to-seed agreement is the ceiling any evaluator can reach.
Every epoch's validation accuracy, training loss and validation loss are kept.

Built over several sittings: ``--workers N`` runs N single-threaded processes side by side (one per core is
fastest on a CPU); each claims the next network not yet stored, trains it with checkpoints in
``benchmarks/reference/runs/`` (a killed run resumes from its last epoch), and appends its result to
``--results`` the moment it finishes, under a file lock. ``--report`` prints, from whatever is stored, each
network's accuracy, the seed-to-seed Kendall tau, the tau of every epoch's ranking against the last one (where
rankings settle) and accuracy against blocks kept, per width.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import platform
from pathlib import Path

import numpy as np
import torch

from ulsam_nas import ArchConfig
from ulsam_nas.config import UlsamPlacement
from ulsam_nas.ranks import kendall_tau, rank_agreement, spearman_rho
from ulsam_nas.training.full import train
from ulsam_nas.training.settings import TrainSettings

from .runstore import RunStore, spawn_workers

RESOLUTION = 32  # CIFAR's own size
RESULTS = Path("benchmarks/reference/cifar5-dev.json")
RUNS = Path("benchmarks/reference/runs")  # checkpoints of runs in progress (git-ignored)


def _v2(width: float, drop: tuple[int, ...] = (), ulsam: tuple[tuple[int, int], ...] = ()) -> ArchConfig:
    return ArchConfig(width=width, num_classes=1000, drop=list(drop),
                      ulsam=[UlsamPlacement(after, subspaces) for after, subspaces in ulsam])


# Canonical networks: within a stage the first blocks are kept (Once-for-All's elastic depth), ULSAM sits on kept
# blocks, and every one is a network of the bundled space (so that every evaluator, the supernet's too, can score
# it). Stages of droppable blocks: 24 ch (2-3), 32 (4-6), 64 (7-10), 96 (11-13), 160 (14-16). Map sizes at 32 px:
# blocks 4-6 4x4, 7-13 2x2, 14-17 1x1.
NETWORKS: dict[str, ArchConfig] = {
    "w1.0 vanilla": _v2(1.0),
    "w1.0 paper drop 13,16 + ulsam 15:4": _v2(1.0, (13, 16), ((15, 4),)),
    "w1.0 drop 13,16": _v2(1.0, (13, 16)),
    "w1.0 drop 6,10,13,15,16 + ulsam 4:4": _v2(1.0, (6, 10, 13, 15, 16), ((4, 4),)),
    "w1.0 drop 6,10,13,15,16": _v2(1.0, (6, 10, 13, 15, 16)),
    "w1.0 drop all 10": _v2(1.0, (3, 5, 6, 8, 9, 10, 12, 13, 15, 16)),
    "w0.75 vanilla": _v2(0.75),
    "w0.75 vanilla + ulsam 6:8,10:4": _v2(0.75, (), ((6, 8), (10, 4))),
    "w0.75 drop 3,6,9,10,13,16 + ulsam 11:4": _v2(0.75, (3, 6, 9, 10, 13, 16), ((11, 4),)),
    "w0.75 drop 3,5,6,9,10,12,13,15,16 + ulsam 4:2": _v2(0.75, (3, 5, 6, 9, 10, 12, 13, 15, 16), ((4, 2),)),
    "w0.5 vanilla": _v2(0.5),
    "w0.5 drop 10,13,16 + ulsam 17:4": _v2(0.5, (10, 13, 16), ((17, 4),)),
    "w0.5 drop 3,6,9,10,16 + ulsam 4:2,11:4": _v2(0.5, (3, 6, 9, 10, 16), ((4, 2), (11, 4))),
    "w0.5 drop all 10": _v2(0.5, (3, 5, 6, 8, 9, 10, 12, 13, 15, 16)),
}
# Cheapest first: four second seeds are the minimum, and the deep w1.0 ones cost 35-40 core-minutes each.
SECOND_SEED = ("w0.5 drop all 10", "w1.0 drop all 10", "w0.5 vanilla", "w0.75 drop 3,6,9,10,13,16 + ulsam 11:4",
               "w1.0 paper drop 13,16 + ulsam 15:4", "w1.0 vanilla")


SPIKE = 2.0  # a gradient norm past this many times the recipe's clip is a spike


def spiked(run: dict, recipe: dict) -> bool:
    """Whether a run's training spiked: its largest gradient norm passed twice the clip in two or more epochs after
    the warm-up. The clip makes such runs rarer, not gone (``training/recipe.py``); one cost w0.5 drop all 10 eleven
    points against its GPU run of the same seed (66.2% against 77.5%, training loss 1.10 against 0.86)."""
    norms, clip = run.get("grad_norm_max") or [], recipe.get("grad_clip")
    if not clip:
        return False
    after_warmup = norms[math.ceil(recipe.get("warmup", 0) * len(norms)):]
    return sum(norm is not None and norm > SPIKE * clip for norm in after_warmup) >= 2


def truth(store: dict) -> dict[str, dict]:
    """Each network's reference run, the one every evaluator is ranked against: seed 0's, or seed 1's where seed 0
    spiked and seed 1 did not (a spike is the recipe failing, not the architecture)."""
    runs, recipe = store.get("runs", {}), store.get("recipe", {})
    chosen = {}
    for name in NETWORKS:
        first, second = runs.get(key(name, 0)), runs.get(key(name, 1))
        if first is not None:
            chosen[name] = second if spiked(first, recipe) and second and not spiked(second, recipe) else first
    return chosen


def expected_seed_tau(top1: list[float], sd: float, draws: int = 2000, seed: int = 0) -> float:
    """The mean Kendall tau of two replications of ``top1`` with independent Gaussian seed noise of ``sd``."""
    rng = np.random.default_rng(seed)
    values = np.asarray(top1, dtype=float)
    return float(np.mean([kendall_tau(values + rng.normal(0, sd, len(values)), values + rng.normal(0, sd, len(values)))
                          for _ in range(draws)]))


def runs_of(only: list[str] | None = None) -> list[str]:
    """The runs "network|seed" in the order they are trained: every network's first seed, then the second seeds."""
    names = [name for name in NETWORKS if only is None or name in only]
    return [key(name, 0) for name in names] + [key(name, 1) for name in SECOND_SEED if name in names]


def blocks_kept(config: ArchConfig) -> int:
    return sum(1 for block in config.blocks if block.index not in config.drop)


def size_predictors(names: list[str]) -> dict[str, list[float]]:
    """Rankings that need no training, the bar every evaluator must clear: FLOPs, params and width alone."""
    from ulsam_nas.costs import measure_costs

    costs = [measure_costs(NETWORKS[n], 224) for n in names]
    return {"FLOPs alone": [c.flops for c in costs], "params alone": [c.params for c in costs],
            "width alone": [NETWORKS[n].width for n in names]}


def spread_within_width(names: list[str], scores: list[float]) -> float:
    """The mean over widths of the range of ``scores`` among ``names`` of one width: how far an evaluator (or the
    reference) tells depths and placements apart."""
    by_width: dict[float, list[float]] = {}
    for name, score in zip(names, scores):
        by_width.setdefault(NETWORKS[name].width, []).append(score)
    return float(np.mean([max(group) - min(group) for group in by_width.values()]))


def key(name: str, seed: int) -> str:
    return f"{name}|{seed}"


def recipe(settings: TrainSettings) -> dict:
    """The training the runs share (a file holds runs of one recipe only)."""
    values = dataclasses.asdict(settings)
    return {k: values[k] for k in ("epochs", "resolution", "batch_size", "lr", "momentum", "weight_decay",
                                   "label_smoothing", "warmup", "zero_init_residual", "grad_clip")}


def machine(device: str) -> str:
    """What a run trained on: the processor and PyTorch's threads now, or the GPU that runs side by side shared."""
    if device == "cuda":
        return f"{torch.cuda.get_device_name()} (bf16 autocast; runs side by side on it), torch {torch.__version__}"
    threads = torch.get_num_threads()
    return (f"{platform.processor() or platform.machine()}, {threads} thread{'s' if threads > 1 else ''} per run, "
            f"torch {torch.__version__}")


def train_run(store: RunStore, run: str, data: str, epochs: int, device: str = "cpu") -> None:
    name, seed = run.rsplit("|", 1)[0], int(run.rsplit("|", 1)[1])
    settings = TrainSettings(dataset=f"imagefolder:{data}", epochs=epochs, resolution=RESOLUTION, seed=seed, threads=1,
                             device=device)
    out = store.folder(run)
    train(NETWORKS[name], settings, out, resume=(out / "last.pt").exists(),
          on_epoch=lambda m: print(f"  {name} seed {seed} epoch {m['epoch']}/{epochs}: top-1 {m['top1']:.1%}, "
                                   f"loss {m['train_loss']:.3f}, {m['seconds']:.0f}s", flush=True))
    history = json.loads((out / "metrics.json").read_text())
    config = NETWORKS[name]
    result = {"config": config.to_dict(), "width": config.width, "seed": seed,
              "blocks_kept": blocks_kept(config),
              "top1": [m["top1"] for m in history], "train_loss": [m["train_loss"] for m in history],
              "val_loss": [m["val_loss"] for m in history], "epoch_seconds": [m["seconds"] for m in history],
              "grad_norm_max": [m.get("grad_norm_max") for m in history]}
    store.store(run, result, recipe=recipe(settings), dataset=f"cifar5-dev ({data})", resolution=RESOLUTION,
                machine=machine(device))
    print(f"stored {run}: {result['top1'][-1]:.1%}", flush=True)


def report(store: dict) -> str:
    runs, recipe_ = store["runs"], store.get("recipe", {})
    chosen = truth(store)
    first = list(chosen)
    if not first:
        return "reference: nothing stored yet"
    final = {name: chosen[name]["top1"][-1] for name in first}
    epochs = min(len(chosen[name]["top1"]) for name in first)
    lines = [f"Reference on {store.get('dataset')}: {len(first)} networks x {epochs} epochs at {RESOLUTION} px, recipe "
             f"{recipe_}; {store.get('machine')}",
             "| network | width | blocks kept | MFLOPs (224 px) | top-1 seed 0 | top-1 seed 1 |", "| --- | --- | --- | --- | --- | --- |"]
    predictors = size_predictors(first)  # the networks are costed once, for the table and the rankings
    flops = dict(zip(first, predictors["FLOPs alone"]))

    def cell(run: dict | None) -> str:
        if run is None:
            return ""
        return f"{run['top1'][-1]:.1%}" + (" (spiked)" if spiked(run, recipe_) else "")

    for name in first:
        lines.append(f"| {name} | {NETWORKS[name].width:g} | {chosen[name]['blocks_kept']} | {flops[name] / 1e6:.0f} "
                     f"| {cell(runs[key(name, 0)])} | {cell(runs.get(key(name, 1)))} |")
    replaced = [name for name in first if chosen[name] is not runs[key(name, 0)]]
    if replaced:
        lines.append(f"ranked by seed 1 where seed 0 spiked (gradient norm past {SPIKE:g}x the clip in 2+ epochs after "
                     f"the warm-up): {', '.join(replaced)}")
    twice = [name for name in first if key(name, 1) in runs]
    calm = [n for n in twice if not any(spiked(runs[key(n, seed)], recipe_) for seed in (0, 1))]
    for label, pairs in (("", twice), (", spiked pairs left out", calm)):
        if len(pairs) < 3 or (label and pairs == twice):
            continue
        a = [runs[key(n, 0)]["top1"][-1] for n in pairs]
        b = [runs[key(n, 1)]["top1"][-1] for n in pairs]
        (agreement,) = rank_agreement(b, {"seed 0": a})
        sd = float(np.sqrt(np.mean([(x - y) ** 2 for x, y in zip(a, b)]) / 2))
        lines.append(f"seed-to-seed on {len(pairs)} networks{label}: Kendall tau {agreement.tau:+.2f} (95% interval "
                     f"{agreement.low:+.2f} to {agreement.high:+.2f}), Spearman rho {spearman_rho(a, b):+.2f}; "
                     f"seed sd {sd:.1%} (root mean square of the pairs' differences over root 2)")
        if label or len(calm) == len(twice):
            lines.append(f"with that sd on all {len(first)} networks, two seeds would agree with Kendall tau about "
                         f"{expected_seed_tau([final[n] for n in first], sd):+.2f} (simulated: each network's top-1 "
                         f"plus Gaussian seed noise, twice): the ceiling of one-seed ranking")
    target = [final[name] for name in first]
    taus = [kendall_tau([chosen[name]["top1"][k] for name in first], target) for k in range(epochs)]
    lines.append("Kendall tau of epoch k's ranking against the last epoch's: "
                 + ", ".join(f"{k + 1}: {tau:+.2f}" for k, tau in enumerate(taus)))
    for label, values in predictors.items():
        (agreement,) = rank_agreement(target, {label: values})
        lines.append(f"{label}: Kendall tau {agreement.tau:+.2f} ({agreement.low:+.2f} to {agreement.high:+.2f})")
    for width in sorted({NETWORKS[n].width for n in first}, reverse=True):
        points = sorted((chosen[n]["blocks_kept"], final[n]) for n in first if NETWORKS[n].width == width)
        lines.append(f"width {width:g}, top-1 against blocks kept: "
                     + ", ".join(f"{kept} blocks {accuracy:.1%}" for kept, accuracy in points))
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", help="an image folder with train/ and test/ (or val/) class folders")
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--workers", type=int, default=1, help="single-threaded training processes side by side")
    parser.add_argument("--device", default="cpu", choices=("cpu", "cuda"), help="cuda: the workers share one GPU")
    parser.add_argument("--only", default=None, help="comma-separated network names (default: all)")
    parser.add_argument("--results", type=Path, default=RESULTS)
    parser.add_argument("--report", action="store_true", help="print the report from stored runs, train nothing")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    only = [name.strip() for name in args.only.split(",")] if args.only else None
    unknown = [name for name in only or [] if name not in NETWORKS]
    if unknown:
        parser.error(f"--only: unknown network(s) {', '.join(unknown)}")
    store = RunStore(args.results, RUNS)
    if not args.report:
        if not args.data:
            parser.error("--data is needed to train")
        runs = runs_of(only)
        left = [run for run in runs if run not in store.load()["runs"]]
        if not args.worker:
            print(f"{len(left)} runs to go of {len(runs)}, {args.workers} at a time; each about 10-40 min on one core "
                  f"at {args.epochs} epochs (vanilla MobileNet-V2 about 80 s per epoch of 25,000 images)", flush=True)
        if args.worker or args.workers == 1:
            torch.set_num_threads(1)
            store.work(runs, lambda run: train_run(store, run, args.data, args.epochs, args.device))
        else:
            spawn_workers("benchmarks.reference", ["--data", args.data, "--epochs", str(args.epochs), "--results",
                                                   str(args.results), "--device", args.device]
                          + (["--only", args.only] if args.only else []), args.workers)
    if not args.worker:
        print(report(store.load()))


if __name__ == "__main__":
    main()
