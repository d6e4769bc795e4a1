"""Proxy training throughput (images/s) against a plain PyTorch loop on the same model and data.

The plain loop: default memory layout, a DataLoader over float32 tensors,
float32. Both train MobileNet-V2 1.0 on the bundled digits at 48 px for the
same number of steps from the same initial weights; both are then scored the
same way (BatchNorm re-estimated, validation top-1).

    python -m benchmarks.proxy_throughput [--epochs N]
"""

from __future__ import annotations

import argparse
import time

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, TensorDataset

from ulsam_nas import ArchConfig, build_model
from ulsam_nas.data import load_dataset
from ulsam_nas.training import ProxySettings, evaluate, recalibrate_batchnorm, train_proxy


def plain_loop(config, data, settings: ProxySettings, seed: int) -> tuple[float, float]:
    """Images/s and final accuracy of a textbook training loop."""
    mean, std = data.channel_stats()
    images = (data.train_images.float() / 255 - mean.view(1, 3, 1, 1)) / std.view(1, 3, 1, 1)
    loader = DataLoader(TensorDataset(images, data.train_labels), batch_size=settings.batch_size, shuffle=True,
                        drop_last=True, generator=torch.Generator().manual_seed(seed))
    torch.manual_seed(seed)
    model = build_model(config).train()
    optimizer = torch.optim.SGD(model.parameters(), lr=settings.lr, momentum=settings.momentum,
                                weight_decay=settings.weight_decay, nesterov=True)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=settings.lr, total_steps=len(loader) * settings.epochs,
                                                   pct_start=0.15, anneal_strategy="cos")
    seen, seconds = 0, 0.0
    for _ in range(settings.epochs):
        start = time.perf_counter()
        for batch, labels in loader:
            loss = F.cross_entropy(model(batch), labels, label_smoothing=settings.label_smoothing)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            schedule.step()
            seen += len(labels)
        seconds += time.perf_counter() - start
    recalibrate_batchnorm(model, data.train_images, mean, std)
    return seen / seconds, evaluate(model, data.val_images, data.val_labels, mean, std).top1


def run(epochs: int | None = None, seed: int = 0) -> dict:
    settings = ProxySettings() if epochs is None else ProxySettings(epochs=epochs)
    epochs = settings.epochs
    data = load_dataset("digits", settings.resolution)
    config = ArchConfig(num_classes=data.num_classes)
    plain_speed, plain_accuracy = plain_loop(config, data, settings, seed)
    ours = train_proxy(config, data, settings, seed=seed)
    return {"plain_images_per_s": plain_speed, "plain_accuracy": plain_accuracy, "ours_images_per_s": ours.images_per_second,
            "ours_accuracy": ours.accuracy, "ratio": ours.images_per_second / plain_speed, "target": 2.5, "epochs": epochs,
            "threads": torch.get_num_threads()}


def report(r: dict) -> str:
    verdict = "met" if r["ratio"] >= r["target"] else "MISSED"
    return (f"Proxy training, MobileNet-V2 1.0 on digits at 48 px, {r['epochs']} epochs, {r['threads']} threads:\n"
            f"  plain loop {r['plain_images_per_s']:.0f} img/s (accuracy {r['plain_accuracy']:.1%})  "
            f"ulsam-nas {r['ours_images_per_s']:.0f} img/s (accuracy {r['ours_accuracy']:.1%})  "
            f"ratio {r['ratio']:.2f}x (target {r['target']}x: {verdict})")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=None, help="default: the proxy's")
    print(report(run(parser.parse_args().epochs)))
