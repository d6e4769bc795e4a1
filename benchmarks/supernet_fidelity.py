"""Supernet fidelity: do a supernet's inherited-weight scores rank networks like long stand-alone training?

    python -m benchmarks.supernet_fidelity --data /tmp/cifar5-dev [--epochs 20] [--sampling uniform|sandwich|sandwich-distill]
        [--widths separate|sliced] [--no-zero-init-residual] [--resolution 32] [--seeds 3] [--workers 2] [--threads 1] [--device cpu|cuda]
        [--results benchmarks/supernet/cifar5-dev-SAMPLING.json (its checkpoints: benchmarks/reference/runs/supernet-SAMPLING)]
        [--reference benchmarks/reference/cifar5-dev.json] [--ladder benchmarks/ladder/cifar5-dev.json] [--report]

One supernet per width of the bundled MobileNet-V2 space (``ulsam_nas/supernet.py``: Once-for-All's elastic
depth, one ULSAM per slot and subspace count, a uniformly drawn child per step) is trained with the shared recipe
at the reference's 32 px (``--resolution``) on all of cifar5-dev's training images, one single-threaded process per width
(``--workers`` side by side, resumable by epoch, each width stored the moment it is done). Every network of the
reference (``benchmarks/reference.py``, all in the space) is then scored as the search scores a candidate
(``training.supernet.SupernetEvaluator``: BatchNorm re-estimated on 2,000 training images, top-1 on validation),
with ``--seeds`` draws of those images. The report gives, against the reference's final top-1: Kendall tau with
its bootstrap interval, tau of a single draw, Spearman rho, top-3 recall (of the reference's best three, how many
are among the supernet's best five), depth bias, FLOPs-only and params-only beside it, and the cost: supernet
training plus scoring N children against training every one of them stand-alone at the reference's length
(N = 60 and 300), and the best rung of the proxy ladder (``benchmarks/proxy_fidelity.py``, ``--ladder``) whose N
trials cost no more. Below tau 0.6 the issue's next step is a small predictor fitted on the reference: top-1
linear in the supernet score, log FLOPs and blocks kept, scored leave-one-out. The supernets hold the whole
bundled space: a search at 32 px leaves out the ULSAM slots on
maps of 2x2 or less (issue 17, part 3) and so could not score the reference's late-ULSAM networks; its smaller
supernet may rank differently. ``--sampling sandwich`` trains four children per step (the largest, the smallest, two drawn)
instead of one, ``sandwich-distill`` the same with the three after the largest learning from its predictions;
``--widths sliced`` trains one supernet for all widths (channel slicing; one process) instead of one per width
(results in ``...-SAMPLING-sliced.json``); ``--no-zero-init-residual`` starts the residual blocks' last BatchNorm
at one instead of zero (``...-no-zero-init.json``): compare the files' tables at their costs.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import statistics
import time
from pathlib import Path

import numpy as np
import torch

from ulsam_nas.data import load_dataset
from ulsam_nas.ranks import kendall_tau, rank_agreement, spearman_rho, top_recall
from ulsam_nas.space import load_space
from ulsam_nas.training.settings import SAMPLING_RULES, WIDTH_SHARING, SupernetSettings
from ulsam_nas.training.supernet import SupernetEvaluator, train_supernet

from . import reference
from . import proxy_fidelity
from .proxy_fidelity import depth_bias
from .runstore import RunStore, spawn_workers

RESULTS = "benchmarks/supernet/cifar5-dev-{variant}.json"  # the sampling rule, and "-sliced" for sliced widths
SPACE = "mobilenet_v2"
CANDIDATES = (60, 300)  # children scored by a search, for the cost comparison


def variant_name(sampling: str, widths: str, zero_init_residual: bool, resolution: int = reference.RESOLUTION) -> str:
    """The results file's tag: the sampling rule, then what differs from one zero-initialised supernet per width
    at the reference's resolution."""
    return (sampling + ("" if widths == "separate" else f"-{widths}") + ("" if zero_init_residual else "-no-zero-init")
            + ("" if resolution == reference.RESOLUTION else f"-{resolution}px"))


def runs_folder(results: Path) -> Path:
    """Where a results file's supernet checkpoints are kept: named after it, so that another ``--results`` (say, the
    same variant trained for other epochs) trains its own supernets."""
    return Path("benchmarks/reference/runs") / ("supernet-" + results.stem.removeprefix("cifar5-dev-"))


def networks_of(width: float | None) -> dict:
    """The reference's networks at ``width`` (None: all of them)."""
    return {name: config for name, config in reference.NETWORKS.items() if width in (None, config.width)}


def train_width(store: RunStore, run: str, data_path: str, settings: SupernetSettings, seeds: int) -> None:
    """Train (or continue) the supernet of one width ("wall": of every width, channels sliced), score the
    reference's networks it holds, store it."""
    width = None if run == "wall" else float(run.lstrip("w"))
    space = load_space(SPACE)
    data = load_dataset(f"imagefolder:{data_path}", settings.resolution)
    folder = store.folder(run)
    folder.mkdir(parents=True, exist_ok=True)
    seconds_log = folder / "epoch_seconds.json"  # survives a resume: the training's whole cost
    seconds = json.loads(seconds_log.read_text()) if seconds_log.exists() else {}

    def heard(epoch: int, loss: float, epoch_seconds: float) -> None:
        seconds[str(epoch)] = epoch_seconds
        seconds_log.write_text(json.dumps(seconds))
        print(f"  supernet {run} epoch {epoch}/{settings.epochs}: loss {loss:.3f}, {epoch_seconds:.0f}s", flush=True)

    supernet = train_supernet(space, width, data, settings, folder / "supernet.pt", on_epoch=heard)
    evaluator = SupernetEvaluator({w: supernet for w in supernet.widths}, data, settings)
    scores, score_seconds = {}, []
    for name, config in networks_of(width).items():
        child = dataclasses.replace(config, num_classes=data.num_classes)
        results = [evaluator(child, seed=seed) for seed in range(seeds)]
        scores[name] = [r.accuracy for r in results]
        score_seconds += [r.seconds for r in results]
        print(f"  {name}: {statistics.mean(scores[name]):.1%}", flush=True)
    store.store(run, {"width": width, "scores": scores, "train_seconds": sum(seconds.values()),
                      "score_seconds": statistics.mean(score_seconds)},
                settings=settings.defining(), dataset=f"cifar5-dev ({data_path})", machine=reference.machine(settings.device))


def fitted(scores: np.ndarray, names: list[str], flops: list[float], truth: np.ndarray) -> np.ndarray:
    """A small predictor fitted on the reference: top-1 linear in the supernet score, log FLOPs and blocks kept,
    each network predicted by the fit on the others (leave-one-out, so no network scores itself)."""
    features = np.column_stack([np.ones(len(names)), scores, np.log(flops),
                                [reference.blocks_kept(reference.NETWORKS[n]) for n in names]])
    predicted = np.empty(len(names))
    for held in range(len(names)):
        rest = np.arange(len(names)) != held
        coef, *_ = np.linalg.lstsq(features[rest], truth[rest], rcond=None)
        predicted[held] = features[held] @ coef
    return predicted


def proxy_at_equal_cost(ladder: dict, names: list[str], truth: np.ndarray, budget: float, count: int) -> str:
    """The best ladder rung whose ``count`` trials cost no more than ``budget`` seconds, and the tau of one seed
    of it (a search runs each trial once)."""
    runs = ladder.get("runs", {})
    affordable = []
    for rung in proxy_fidelity.LADDER:
        complete = proxy_fidelity.complete_seeds(runs, rung, names)
        if not complete:
            continue
        seconds = statistics.mean(runs[f"{rung}|{n}|{s}"]["seconds"] for n in names for s in complete)
        single = statistics.mean(kendall_tau([runs[f"{rung}|{n}|{s}"]["accuracy"] for n in names], truth)
                                 for s in complete)
        if count * seconds <= budget:
            affordable.append((single, rung, seconds))
    if not affordable:
        return f"no ladder rung of {count} trials fits in that cost"
    single, rung, seconds = max(affordable)
    return (f"the best proxy that fits in it, rung {rung} ({proxy_fidelity.LADDER[rung].describe()}, "
            f"{seconds:.0f} s a trial), ranks with tau {single:+.2f} (one seed)")


def report(store: dict, truth_store: dict, ladder: dict | None = None) -> str:
    runs, truth = store.get("runs", {}), truth_store.get("runs", {})
    scored = {name: values for run in runs.values() for name, values in run["scores"].items()}
    chosen = reference.truth(truth_store)
    names = [n for n in chosen if n in scored]
    if len(names) < 3:
        return (f"Supernet fidelity: {len(names)} networks both scored and in the reference; nothing to compare yet "
                f"(3 or more needed; {len(scored)} scored, {len(truth)} reference runs stored).")
    ref = np.array([chosen[n]["top1"][-1] for n in names])
    draws = np.array([scored[n] for n in names]).T  # (draws x networks)
    mean = draws.mean(axis=0)
    drops = np.array([len(reference.NETWORKS[n].drop) for n in names], dtype=float)
    (agreement,) = rank_agreement(ref, {"supernet": mean})
    single = statistics.mean(kendall_tau(row, ref) for row in draws)
    train_seconds = sum(run["train_seconds"] for run in runs.values())
    score_seconds = statistics.mean(run["score_seconds"] for run in runs.values())
    standalone = statistics.mean(sum(chosen[n]["epoch_seconds"]) for n in names)
    settings = store.get("settings", {})
    widths = ", ".join("all (channels sliced)" if r["width"] is None else str(r["width"]) for r in runs.values())
    lines = [f"Supernet fidelity against the reference ({len(names)} networks; supernets of widths "
             f"{widths}, {settings.get('epochs')} epochs at "
             f"{settings.get('resolution')} px; {store.get('machine')})",
             "| predictor | Kendall tau (95% interval) | tau of one draw | Spearman rho | top-3 recall (of 3, in the best 5) "
             "| depth bias (points per dropped block, +-SE) |", "| --- | --- | --- | --- | --- | --- |",
             f"| supernet score | {agreement.tau:+.2f} ({agreement.low:+.2f} to {agreement.high:+.2f}) | {single:+.2f} | "
             f"{spearman_rho(mean, ref):+.2f} | {top_recall(mean, ref)} | {depth_bias(drops, mean, ref)} |"]
    sizes = reference.size_predictors(names)
    if len(names) >= 6:  # four coefficients fitted on the others
        predicted = fitted(mean, names, sizes["FLOPs alone"], ref)
        (fit,) = rank_agreement(ref, {"fitted": predicted})
        lines.append(f"| supernet score + log FLOPs + blocks kept, linear fit on the reference (leave-one-out) | "
                     f"{fit.tau:+.2f} ({fit.low:+.2f} to {fit.high:+.2f}) | - | {spearman_rho(predicted, ref):+.2f} | "
                     f"{top_recall(predicted, ref)} | {depth_bias(drops, predicted, ref)} |")
    for label, values in sizes.items():
        (other,) = rank_agreement(ref, {label: values})
        lines.append(f"| {label} | {other.tau:+.2f} ({other.low:+.2f} to {other.high:+.2f}) | - | "
                     f"{spearman_rho(values, ref):+.2f} | {top_recall(values, ref)} | - |")
    lines.append(f"within one width the supernet's scores span {reference.spread_within_width(names, list(mean)):.1%} "
                 f"on average, the reference's {reference.spread_within_width(names, list(ref)):.1%}: what it sees of "
                 "depth and ULSAM")
    for count in CANDIDATES:
        total = train_seconds + count * score_seconds
        lines.append(f"cost for {count} children: supernets {train_seconds / 3600:.2f} h + {count} x {score_seconds:.1f} s "
                     f"scoring = {total / 3600:.2f} h, against {count} x {standalone / 60:.0f} min stand-alone = "
                     f"{count * standalone / 3600:.0f} h: 1/{count * standalone / total:.0f} of it"
                     + (f"; {proxy_at_equal_cost(ladder, names, ref, total, count)}" if ladder else ""))
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", help="an image folder with train/ and test/ (or val/) class folders")
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--sampling", default="uniform", choices=SAMPLING_RULES)
    parser.add_argument("--widths", default="separate", choices=WIDTH_SHARING,
                        help="a supernet per width, or one for all (channels sliced: one run, one process)")
    parser.add_argument("--zero-init-residual", action=argparse.BooleanOptionalAction,
                        default=SupernetSettings.zero_init_residual,
                        help="start each residual block as the identity, as the recipe does (off: results in ...-no-zero-init.json)")
    parser.add_argument("--resolution", type=int, default=reference.RESOLUTION,
                        help="training and scoring input size (a search's supernet trains at its proxy's, 48 px for "
                             "CIFAR-sized sets); the reference stays at its own")
    parser.add_argument("--seeds", type=int, default=3, help="draws of the BatchNorm re-estimation images")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--threads", type=int, default=1, help="CPU threads of each worker (one sliced supernet: "
                                                                 "one process, which may use every core)")
    parser.add_argument("--device", default="cpu", choices=("cpu", "cuda"), help="cuda: the workers share one GPU")
    parser.add_argument("--results", type=Path, default=None)
    parser.add_argument("--reference", type=Path, default=reference.RESULTS)
    parser.add_argument("--ladder", type=Path, default=proxy_fidelity.RESULTS,
                        help="the proxy ladder's runs, for the proxy at equal cost")
    parser.add_argument("--report", action="store_true", help="print the table from stored runs, train nothing")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    variant = variant_name(args.sampling, args.widths, args.zero_init_residual, args.resolution)
    results = args.results or Path(RESULTS.format(variant=variant))
    store = RunStore(results, runs_folder(results))
    settings = SupernetSettings(epochs=args.epochs, resolution=args.resolution, threads=args.threads,
                                sampling=args.sampling,
                                width_sharing=args.widths, zero_init_residual=args.zero_init_residual,
                                device=args.device)
    runs = (["wall"] if args.widths == "sliced" else
            [f"w{width}" for width in sorted({c.width for c in reference.NETWORKS.values()}, reverse=True)])
    if not args.report:
        if not args.data:
            parser.error("--data is needed to train")
        if args.worker or args.workers == 1:
            torch.set_num_threads(args.threads)
            started = time.perf_counter()
            store.work(runs, lambda run: train_width(store, run, args.data, settings, args.seeds))
            print(f"done in {time.perf_counter() - started:.0f}s", flush=True)
        else:
            spawn_workers("benchmarks.supernet_fidelity", ["--data", args.data, "--epochs", str(args.epochs), "--seeds",
                                                           str(args.seeds), "--sampling", args.sampling, "--widths", args.widths, "--device", args.device,
                                                           "--resolution", str(args.resolution), "--threads", str(args.threads), "--results",
                                                           str(results), "--zero-init-residual" if args.zero_init_residual
                                                           else "--no-zero-init-residual"], args.workers)
    if not args.worker:
        truth = json.loads(args.reference.read_text()) if args.reference.exists() else {}
        ladder = json.loads(args.ladder.read_text()) if args.ladder.exists() else None
        print(report(store.load(), truth, ladder))


if __name__ == "__main__":
    main()
