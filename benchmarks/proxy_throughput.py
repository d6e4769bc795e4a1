"""Proxy training throughput (images/s) against a plain PyTorch loop on the same model and data.

The plain loop: default memory layout, a DataLoader over float32 tensors (batches
moved to the device each step), float32. Both train MobileNet-V2 1.0 for the
same number of steps from the same initial weights; both are then scored the
same way (BatchNorm re-estimated, validation top-1). On a GPU the run also
reports the GPU's mean utilisation during ulsam-nas's training (nvidia-smi) and
the seconds of one 4-epoch proxy trial on a CIFAR-10-sized set (50,000 images at
32 px: 200,000 images trained).

    python -m benchmarks.proxy_throughput [--epochs N] [--data digits|imagefolder:PATH] [--resolution 32]
        [--device cuda]
    python -m benchmarks.proxy_throughput --thread-split   # whole-study throughput: 1 trial x N threads or N x 1
"""

from __future__ import annotations

import argparse
import time

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, TensorDataset

from ulsam_nas import ArchConfig, build_model
from ulsam_nas.data import load_dataset
from ulsam_nas.data import ImageData
from ulsam_nas.training import ProxySettings, evaluate, recalibrate_batchnorm, train_proxy

from .common import GpuUtilisation


def plain_loop(config, data, settings: ProxySettings, seed: int) -> tuple[float, float]:
    """Images/s and final accuracy of a textbook training loop."""
    device = torch.device(settings.device)
    mean, std = data.channel_stats()
    images = (data.train_images.float() / 255 - mean.view(1, 3, 1, 1)) / std.view(1, 3, 1, 1)
    loader = DataLoader(TensorDataset(images, data.train_labels), batch_size=settings.batch_size, shuffle=True,
                        drop_last=True, generator=torch.Generator().manual_seed(seed))
    torch.manual_seed(seed)
    model = build_model(config).to(device).train()
    optimizer = torch.optim.SGD(model.parameters(), lr=settings.lr, momentum=settings.momentum,
                                weight_decay=settings.weight_decay, nesterov=True)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=settings.lr, total_steps=len(loader) * settings.epochs,
                                                   pct_start=0.15, anneal_strategy="cos")
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


def _one_trial(args: tuple) -> tuple[int, float]:
    """A worker process's trial: (images trained, training seconds)."""
    dataset, resolution, epochs, threads = args
    data = load_dataset(dataset, resolution)
    result = train_proxy(ArchConfig(num_classes=data.num_classes), data,
                         ProxySettings(epochs=epochs, resolution=resolution, threads=threads))
    images = epochs * (len(data.train_labels) // 64) * 64
    return images, images / result.images_per_second


def thread_split(dataset: str = "digits", resolution: int = 32, epochs: int = 4, cores: int | None = None) -> dict:
    """Study throughput on ``cores`` cores: one trial on all of them, against one single-threaded trial per core at once."""
    import multiprocessing
    import os

    cores = cores or os.cpu_count() or 1
    images, seconds = _one_trial((dataset, resolution, epochs, cores))
    together = images / seconds
    with multiprocessing.get_context("spawn").Pool(cores) as pool:  # the trainings overlap all but their first second
        split = sum(images / seconds for images, seconds in pool.map(_one_trial, [(dataset, resolution, epochs, 1)] * cores))
    return {"cores": cores, "together": together, "split": split, "ratio": split / together, "dataset": dataset,
            "resolution": resolution, "epochs": epochs}


def report_split(r: dict) -> str:
    return (f"Thread split on {r['cores']} cores, MobileNet-V2 1.0 on {r['dataset']} at {r['resolution']} px, "
            f"{r['epochs']} epochs per trial (training steps' images/s, summed over the trials at once):\n"
            f"  one trial on {r['cores']} threads {r['together']:.0f} img/s  {r['cores']} single-threaded trials at once "
            f"{r['split']:.0f} img/s in all  ratio {r['ratio']:.2f}x")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=None, help="default: the proxy's")
    parser.add_argument("--data", default="digits", help="digits, or imagefolder:PATH for natural images")
    parser.add_argument("--resolution", type=int, default=None, help="default: 48 and 32, one after the other")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--thread-split", action="store_true",
                        help="instead: one trial on every core against one single-threaded trial per core at once")
    args = parser.parse_args()
    if args.thread_split:
        print(report_split(thread_split(args.data, args.resolution or 32, args.epochs or 4)))
        raise SystemExit
    for resolution in [args.resolution] if args.resolution else [48, 32]:
        print(report(run(args.epochs, dataset=args.data, resolution=resolution, device=args.device)), flush=True)
