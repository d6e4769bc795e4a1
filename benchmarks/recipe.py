"""The training recipe before and after the fix, side by side: deep and shallow networks, several seeds.

    python -m benchmarks.recipe --data /tmp/cifar5-dev [--epochs 12] [--seeds 2] [--workers 2] [--report]

Each network of :data:`NETWORKS` (three deep, three shallow) is trained by ``ulsam-nas train``'s training at
32 px on all the training images with the recipe before the fix (:data:`BEFORE`: ``train``'s defaults until
then) and with today's defaults (``TrainSettings()``), each with ``--seeds`` seeds. Runs are stored in
``benchmarks/recipe.json`` as they finish (``runstore.py``: resumable, one single-threaded process per core).
The report gives each network's final top-1 before and after (seed mean and spread), the difference with its
uncertainty (binomial error and the recipe's own seed-to-seed sd) and whether it exceeds the noise
(``noise.difference_margin``), and the final training losses.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import platform
import statistics
from pathlib import Path

import torch

from ulsam_nas import ArchConfig
from ulsam_nas.noise import difference_margin
from ulsam_nas.training.full import train
from ulsam_nas.training.settings import TrainSettings

from .runstore import RunStore, spawn_workers

RESOLUTION = 32
VALIDATION_IMAGES = 5000  # cifar5-dev's test/ folder


def binomial_sd(accuracy: float, images: int) -> float:
    return math.sqrt(accuracy * (1 - accuracy) / images)
ALL_DROPPABLE = [3, 5, 6, 8, 9, 10, 12, 13, 15, 16]
NETWORKS: dict[str, tuple[str, ArchConfig]] = {
    "w1.0 vanilla": ("deep", ArchConfig(width=1.0)),
    "w0.75 vanilla": ("deep", ArchConfig(width=0.75)),
    "w1.0 paper drop 13,16 + ulsam 16:4": ("deep", ArchConfig(drop=[13, 16], ulsam=[{"after": 16, "subspaces": 4}])),
    "w1.0 drop all 10": ("shallow", ArchConfig(drop=ALL_DROPPABLE)),
    "w0.5 drop 9 of 10 (block 3 kept)": ("shallow", ArchConfig(width=0.5, drop=ALL_DROPPABLE[1:])),
    # the 60-trial cifar5-dev study's `export --best` (benchmarks/RESULTS.md), as that study stored it
    "w0.75 cifar5-dev study's best": ("shallow", ArchConfig(width=0.75, drop=[3, 8, 10, 12, 15, 16], ulsam=[
        {"after": a, "subspaces": g} for a, g in ((10, 4), (12, 2), (13, 4), (15, 2), (16, 8), (17, 4))])),
}
# Each recipe as changes to today's (``TrainSettings()``, "after"). "before": train's recipe before the fix (lr 0.05
# at batch 64, one epoch of warm-up, no zero-initialised residual BatchNorm, no clip); "zero-init": the first fix
# (a246e0e: lr 0.025, 10% warm-up, zero-initialised residual BatchNorm), today's without the gradient clip; "clip5":
# the gradient norm clipped at 5 instead of today's 10 (a69c9ff).
RECIPES: dict[str, dict] = {
    "before": {"lr": 0.05, "zero_init_residual": False, "weight_decay": 4e-5, "label_smoothing": 0.1,
               "batch_size": 64, "grad_clip": None},
    "zero-init": {"grad_clip": None},
    "clip5": {"grad_clip": 5.0},
    "after": {},
}
RECIPE_FIELDS = ("lr", "warmup", "zero_init_residual", "grad_clip", "weight_decay", "batch_size", "label_smoothing")


def settings_of(recipe: str, data: str, epochs: int, seed: int) -> TrainSettings:
    common = TrainSettings(dataset=f"imagefolder:{data}", epochs=epochs, resolution=RESOLUTION, seed=seed, threads=1)
    warmup = {"warmup": 1 / epochs} if recipe == "before" else {}
    return dataclasses.replace(common, **RECIPES[recipe], **warmup)


def runs_of(seeds: int, recipes: tuple[str, ...] = ("before", "after")) -> list[str]:
    return [f"{recipe}|{name}|{seed}" for seed in range(seeds) for name in NETWORKS for recipe in recipes]


def train_run(store: RunStore, run: str, data: str, epochs: int) -> None:
    recipe, name, seed = run.split("|")
    settings = settings_of(recipe, data, epochs, int(seed))
    out = store.folder(run)
    train(NETWORKS[name][1], settings, out, resume=(out / "last.pt").exists(),
          on_epoch=lambda m: print(f"  {run} epoch {m['epoch']}/{epochs}: top-1 {m['top1']:.1%}, loss "
                                   f"{m['train_loss']:.3f}, {m['seconds']:.0f}s", flush=True))
    history = json.loads((out / "metrics.json").read_text())
    values = dataclasses.asdict(settings)
    store.store(run, {"top1": [m["top1"] for m in history], "train_loss": [m["train_loss"] for m in history],
                      "recipe": {k: values[k] for k in RECIPE_FIELDS}},
                epochs=epochs, resolution=RESOLUTION, dataset=f"cifar5-dev ({data})",
                machine=f"{platform.processor() or platform.machine()}, 1 thread per run, torch {torch.__version__}")
    print(f"stored {run}: {history[-1]['top1']:.1%}", flush=True)


COMPARED = (("after", "before"), ("after", "zero-init"), ("after", "clip5"), ("clip5", "zero-init"))


def report(data: dict) -> str:
    """The table: each network's final top-1 per recipe, today's against the others with their uncertainty."""
    runs = data["runs"]
    recipes = [recipe for recipe in RECIPES if any(key.startswith(f"{recipe}|") for key in runs)]
    compared = [(a, b) for a, b in COMPARED if a in recipes and b in recipes]
    header = ["network", "kind", *(f"{r}: top-1 (seeds)" for r in recipes), *(f"{a} - {b}" for a, b in compared),
              f"final training loss {' / '.join(recipes)}"]
    lines = [f"Recipes on {data.get('dataset')}, {data.get('epochs')} epochs at {RESOLUTION} px; {data.get('machine')}",
             "| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    validation = data.get("validation_images", VALIDATION_IMAGES)
    rows = []
    for name, (kind, _) in NETWORKS.items():
        of = {r: [runs[k] for k in runs if k.startswith(f"{r}|{name}|")] for r in recipes}
        rows.append((name, kind, {r: [run["top1"][-1] for run in v] for r, v in of.items()},
                     {r: [run["train_loss"][-1] for run in v] for r, v in of.items()}))
    # Each recipe's own seed noise (the old recipe's, where deep networks fail at random, is not today's), pooled
    # over its networks with 2+ seeds; a recipe with fewer than 2 such networks takes the pool of all of them.
    spreads = {r: [statistics.stdev(finals[r]) for _, _, finals, _ in rows if len(finals[r]) >= 2] for r in recipes}
    everything = [x for values in spreads.values() for x in values]
    overall = _pooled(everything)
    sds = {r: _pooled(spreads[r]) if len(spreads[r]) >= 2 else overall for r in recipes}

    def difference(finals: dict, a: str, b: str) -> str:
        if not finals[a] or not finals[b]:
            return ""
        gap = statistics.mean(finals[a]) - statistics.mean(finals[b])
        # each final top-1 carries the binomial error of the validation images and its recipe's seed spread
        sigmas = [math.sqrt((binomial_sd(statistics.mean(finals[r]), validation) ** 2
                             + (0.0 if math.isnan(sds[r]) else sds[r] ** 2)) / len(finals[r])) for r in (a, b)]
        verdict = "beyond noise" if abs(gap) > difference_margin(*sigmas) else "within noise"
        return f"{gap * 100:+.1f} ± {math.hypot(*sigmas) * 100:.1f} ({verdict})"

    for name, kind, finals, losses in rows:
        loss = " / ".join(f"{statistics.mean(losses[r]):.2f}" if losses[r] else "-" for r in recipes)
        cells = [name, kind, *(_cell(finals[r]) for r in recipes), *(difference(finals, a, b) for a, b in compared),
                 loss]
        lines.append("| " + " | ".join(cells) + " |")
    if math.isnan(overall):
        noise = "seed-to-seed sd not measured (one seed per network)"
    else:
        noise = "seed-to-seed sd per recipe, pooled over its networks with 2+ seeds: " + ", ".join(
            f"{r} {sds[r]:.1%} ({len(spreads[r])})" if len(spreads[r]) >= 2 else
            f"{r} {sds[r]:.1%} (all recipes' pool: {len(spreads[r])} of its own)" for r in recipes)
    lines.append(f"{noise}; binomial error of {validation} validation images included; a difference counts beyond "
                 f"2 x its uncertainty (noise.MARGIN_SIGMAS)")
    return "\n".join(lines)


def _pooled(spreads: list[float]) -> float:
    return math.sqrt(statistics.mean(x * x for x in spreads)) if spreads else math.nan


def _cell(values: list[float]) -> str:
    return ("" if not values else f"{statistics.mean(values):.1%} ({', '.join(f'{v:.1%}' for v in values)})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", help="an image folder with train/ and test/ (or val/) class folders")
    parser.add_argument("--epochs", type=int, default=12)
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--recipes", default="before,after",
                        help=f"which to train, comma-separated: {', '.join(RECIPES)}")
    parser.add_argument("--results", type=Path, default=Path("benchmarks/recipe.json"))
    parser.add_argument("--only", default="", help="train only the runs whose name contains this text")
    parser.add_argument("--report", action="store_true")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    store = RunStore(args.results, Path("benchmarks/reference/runs/recipe"))
    if not args.report:
        if not args.data:
            parser.error("--data is needed to train")
        runs = [run for run in runs_of(args.seeds, tuple(args.recipes.split(","))) if args.only in run]
        if not args.worker:
            left = [run for run in runs if run not in store.load()["runs"]]
            print(f"{len(left)} runs to go of {len(runs)}, {args.workers} at a time (4-20 min each on one core)",
                  flush=True)
        if args.worker or args.workers == 1:
            torch.set_num_threads(1)
            store.work(runs, lambda run: train_run(store, run, args.data, args.epochs))
        else:
            spawn_workers("benchmarks.recipe", ["--data", args.data, "--epochs", str(args.epochs), "--seeds",
                                                str(args.seeds), "--recipes", args.recipes, "--only", args.only, "--results",
                                                str(args.results)], args.workers)
    if not args.worker:
        print(report(store.load()))


if __name__ == "__main__":
    main()
