"""Proxy training throughput (images/s) against a plain PyTorch loop on the same model and data.

The plain loop: default memory layout, a DataLoader over float32 tensors (batches
moved to the device each step), float32, PyTorch's own convolutions. Both train MobileNet-V2 1.0 for the
same number of steps from the same initial weights; both are then scored the
same way (BatchNorm re-estimated, validation top-1). On a GPU the run also
reports the GPU's mean utilisation during ulsam-nas's training (nvidia-smi) and
the seconds of one 4-epoch proxy trial on a CIFAR-10-sized set (50,000 images at
32 px: 200,000 images trained).

    python -m benchmarks.proxy_throughput [--epochs N] [--data digits|imagefolder:PATH] [--resolution 32]
        [--device cuda]
    python -m benchmarks.proxy_throughput --thread-split   # N runs one after another on N threads, or side by side
    python -m benchmarks.proxy_throughput --profile        # where a training step's CPU time goes
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import os
import time

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, TensorDataset

from ulsam_nas import ArchConfig, build_model
from ulsam_nas.builder import DepthwiseConv2d
from ulsam_nas.data import load_dataset
from ulsam_nas.data import ImageData
from ulsam_nas.training import ProxySettings, evaluate, recalibrate_batchnorm, train_proxy
from ulsam_nas.training.parallel import train_jobs

from .common import GpuUtilisation


def plain_loop(config, data, settings: ProxySettings, seed: int) -> tuple[float, float]:
    """Images/s and final accuracy of a textbook training loop."""
    device = torch.device(settings.device)
    mean, std = data.channel_stats()
    images = (data.train_images.float() / 255 - mean.view(1, 3, 1, 1)) / std.view(1, 3, 1, 1)
    loader = DataLoader(TensorDataset(images, data.train_labels), batch_size=settings.batch_size, shuffle=True,
                        drop_last=True, generator=torch.Generator().manual_seed(seed))
    torch.manual_seed(seed)
    model = plain_model(config).to(device).train()
    optimizer = torch.optim.SGD(model.parameters(), lr=settings.lr, momentum=settings.momentum,
                                weight_decay=settings.weight_decay, nesterov=True)
    total = len(loader) * settings.epochs
    warmup = round(settings.warmup * total)  # the recipe's schedule, written out as a textbook loop would
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: (step + 1) / warmup if step < warmup else
                                                 0.5 * (1 + math.cos(math.pi * (step - warmup) / max(1, total - warmup))))
    seen, seconds = 0, 0.0
    for _ in range(settings.epochs):
        start = time.perf_counter()
        for batch, labels in loader:
            batch, labels = batch.to(device), labels.to(device)
            loss = F.cross_entropy(model(batch), labels, label_smoothing=settings.label_smoothing)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            schedule.step()
            seen += len(labels)
        if device.type == "cuda":
            torch.cuda.synchronize()
        seconds += time.perf_counter() - start
    mean, std = mean.to(device), std.to(device)
    recalibrate_batchnorm(model, data.train_images, mean, std)
    return seen / seconds, evaluate(model, data.val_images, data.val_labels, mean, std).top1


def plain_model(config: ArchConfig) -> torch.nn.Module:
    """The same network and initial weights with PyTorch's own depthwise convolutions throughout (ulsam-nas computes
    those on maps of up to 2x2 pixels as products when training on a CPU: ``builder.DepthwiseConv2d``)."""
    model = build_model(config)
    for module in model.modules():
        if isinstance(module, DepthwiseConv2d):
            module.__class__ = torch.nn.Conv2d
    return model


def cifar_sized(resolution: int = 32, images: int = 50_000, classes: int = 10) -> ImageData:
    """Random uint8 images the size of CIFAR-10: speed does not depend on what the pixels show."""
    generator = torch.Generator().manual_seed(0)
    pixels = torch.randint(0, 256, (images + 1000, 3, resolution, resolution), dtype=torch.uint8, generator=generator)
    labels = torch.randint(0, classes, (images + 1000,), generator=generator)
    return ImageData("cifar-sized", [str(c) for c in range(classes)], pixels[:images], labels[:images],
                     pixels[images:], labels[images:])


def run(epochs: int | None = None, seed: int = 0, dataset: str = "digits", resolution: int = 48,
        device: str = "cpu") -> dict:
    settings = ProxySettings(resolution=resolution, device=device)
    if epochs is not None:
        settings = ProxySettings(epochs=epochs, resolution=resolution, device=device)
    data = load_dataset(dataset, settings.resolution)
    settings = settings.resolve(len(data.train_labels))  # the search's default proxy for this dataset
    config = ArchConfig(num_classes=data.num_classes)
    plain_speed, plain_accuracy = plain_loop(config, data, settings, seed)
    with GpuUtilisation(device) as utilisation:
        ours = train_proxy(config, data, settings, seed=seed)
    result = {"plain_images_per_s": plain_speed, "plain_accuracy": plain_accuracy,
              "ours_images_per_s": ours.images_per_second, "ours_accuracy": ours.accuracy,
              "ratio": ours.images_per_second / plain_speed, "target": 5.0 if device != "cpu" else 2.5,
              "epochs": settings.epochs, "threads": torch.get_num_threads(), "dataset": dataset,
              "resolution": resolution, "device": device, "gpu_utilisation": utilisation.mean}
    if device != "cpu":  # the GPU target: a 4-epoch CIFAR-sized proxy trial in <= 10 s
        trial = train_proxy(ArchConfig(num_classes=10), cifar_sized(),
                            ProxySettings(epochs=4, resolution=32, train_subset=None, device=device))
        result["cifar_trial_seconds"] = trial.seconds
    return result


def report(r: dict) -> str:
    verdict = "met" if r["ratio"] >= r["target"] else "MISSED"
    where = f"{r['threads']} threads" if r["device"] == "cpu" else r["device"]
    lines = [f"Proxy training, MobileNet-V2 1.0 on {r['dataset']} at {r['resolution']} px, {r['epochs']} epochs, {where}:",
             f"  plain loop {r['plain_images_per_s']:.0f} img/s (accuracy {r['plain_accuracy']:.1%})  "
             f"ulsam-nas {r['ours_images_per_s']:.0f} img/s (accuracy {r['ours_accuracy']:.1%})  "
             f"ratio {r['ratio']:.2f}x (target {r['target']}x: {verdict})"]
    if r.get("gpu_utilisation") is not None:
        lines.append(f"  GPU utilisation during ulsam-nas's training: {r['gpu_utilisation']:.0f}% (nvidia-smi, mean)")
    if "cifar_trial_seconds" in r:
        verdict = "met" if r["cifar_trial_seconds"] <= 10 else "MISSED"
        lines.append(f"  one 4-epoch proxy trial on 50,000 CIFAR-sized images at 32 px: {r['cifar_trial_seconds']:.1f} s "
                     f"(target <= 10 s: {verdict})")
    return "\n".join(lines)


def thread_split(dataset: str = "digits", resolution: int = 32, epochs: int = 4, cores: int | None = None) -> dict:
    """Refinement's split on ``cores`` cores: ``cores`` runs one after another on all of them, against the same runs
    side by side, one single-threaded process each (``training.parallel``, process start-up and evaluation included)."""
    cores = cores or os.cpu_count() or 1
    data = load_dataset(dataset, resolution)
    config = ArchConfig(num_classes=data.num_classes)
    settings = ProxySettings(epochs=epochs, resolution=resolution, train_subset=None)
    jobs = [(run, config, run) for run in range(cores)]
    seconds = {}
    for name, processes, threads in (("together", 1, cores), ("split", cores, 1)):
        started = time.perf_counter()
        outcomes = list(train_jobs(jobs, data, dataclasses.replace(settings, threads=threads), train_proxy, processes))
        seconds[name] = time.perf_counter() - started
        assert all(not isinstance(result, str) for _, _, result in outcomes), outcomes
    images = cores * epochs * (len(data.train_labels) // settings.batch_size) * settings.batch_size
    return {"cores": cores, "together": images / seconds["together"], "split": images / seconds["split"],
            "ratio": seconds["together"] / seconds["split"], "dataset": dataset, "resolution": resolution,
            "epochs": epochs, "seconds": seconds}


def report_split(r: dict) -> str:
    return (f"Thread split on {r['cores']} cores, MobileNet-V2 1.0 on {r['dataset']} at {r['resolution']} px, "
            f"{r['cores']} runs of {r['epochs']} epochs (wall clock, evaluation and process start-up included):\n"
            f"  one after another on {r['cores']} threads {r['seconds']['together']:.0f} s ({r['together']:.0f} img/s)  "
            f"side by side, single-threaded {r['seconds']['split']:.0f} s ({r['split']:.0f} img/s)  "
            f"ratio {r['ratio']:.2f}x")


def profile_steps(resolution: int, steps: int = 20, batch_size: int = 64, classes: int = 10, rows: int = 12) -> str:
    """Where a proxy training step's CPU time goes: PyTorch's profiler over ``steps`` steps of the real loop."""
    from torch.profiler import ProfilerActivity, profile

    from ulsam_nas.training.loop import make_optimizer, train_one_epoch, warmup_cosine_schedule

    torch.manual_seed(0)
    model = build_model(ArchConfig(num_classes=classes)).to(memory_format=torch.channels_last).train()
    images = torch.randint(0, 256, (batch_size * (steps + 2), 3, resolution, resolution), dtype=torch.uint8)
    labels = torch.randint(0, classes, (len(images),))
    optimizer = make_optimizer(model, 0.1, 0.9, 4e-5)
    schedule = warmup_cosine_schedule(optimizer, 2, steps + 2)
    mean, std = torch.full((3,), 0.5), torch.full((3,), 0.25)

    def train(order: torch.Tensor) -> None:
        train_one_epoch(model, images, labels, order, optimizer, schedule, mean, std, batch_size=batch_size, epoch=1)

    order = torch.arange(len(images))
    train(order[: 2 * batch_size])  # warm-up
    with profile(activities=[ProfilerActivity.CPU]) as profiler:
        train(order[2 * batch_size:])
    total = sum(event.self_cpu_time_total for event in profiler.key_averages())
    top = sorted(profiler.key_averages(), key=lambda event: event.self_cpu_time_total, reverse=True)[:rows]
    lines = [f"Profile of {steps} training steps, MobileNet-V2 1.0 at {resolution} px, batch {batch_size}, "
             f"{torch.get_num_threads()} threads ({total / 1e6 / steps * 1000:.0f} ms of self CPU time per step):"]
    lines += [f"  {event.key:<44} {event.self_cpu_time_total / total:6.1%}  ({event.count // steps} calls per step)"
              for event in top]
    return "\n".join(lines)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=None, help="default: the proxy's")
    parser.add_argument("--data", default="digits", help="digits, or imagefolder:PATH for natural images")
    parser.add_argument("--resolution", type=int, default=None, help="default: 48 and 32, one after the other")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--thread-split", action="store_true",
                        help="instead: one trial on every core against one single-threaded trial per core at once")
    parser.add_argument("--profile", action="store_true",
                        help="instead: where a training step's time goes, at 48 and 32 px (or --resolution)")
    args = parser.parse_args()
    if args.thread_split:
        print(report_split(thread_split(args.data, args.resolution or 32, args.epochs or 4)))
        raise SystemExit
    if args.profile:
        for resolution in [args.resolution] if args.resolution else [48, 32]:
            print(profile_steps(resolution), flush=True)
        raise SystemExit
    for resolution in [args.resolution] if args.resolution else [48, 32]:
        print(report(run(args.epochs, dataset=args.data, resolution=resolution, device=args.device)), flush=True)
