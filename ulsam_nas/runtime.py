"""The process-wide state a run touches, touched only for the run: device, CPU threads, random seeds.

Training and latency measurement need a device that exists, a thread count and
a fixed seed. These helpers check the device and set the other two for the
length of a ``with`` block, then put them back, so a library call leaves the
process (thread count, torch's global random state) as it found it.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

import torch

__all__ = ["gpu_kernels", "resolve_device", "seeded", "spread_over_gpus", "threads"]


def resolve_device(name: str, setting: str = "device") -> torch.device:
    """The torch device called ``name``; a ValueError naming ``setting`` if it is unknown or absent here."""
    try:
        device = torch.device(name)
    except (RuntimeError, TypeError):
        raise ValueError(f"{setting}: unknown device {name!r}; use cpu or cuda") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"{setting}: CUDA was asked for but torch.cuda.is_available() is False; use cpu")
    return device


def spread_over_gpus(device: str, workers: int, gpu_count: int | None = None) -> list[str]:
    """Each of ``workers`` processes' device: ``cuda`` spreads them round-robin over the visible GPUs.

    With more workers than GPUs, several share a GPU: small proxy networks leave most of one idle.
    An explicit ``cuda:N`` or ``cpu`` is every worker's.
    """
    if device != "cuda":
        return [device] * workers
    count = torch.cuda.device_count() if gpu_count is None else gpu_count
    if count < 1:
        raise ValueError("device: CUDA was asked for but no GPU is visible; use cpu")
    return [f"cuda:{index % count}" for index in range(workers)]


@contextmanager
def gpu_kernels(device: torch.device) -> Iterator[None]:
    """On a GPU, let cuDNN pick the fastest convolution for each shape (shapes repeat every step); restored after."""
    previous = torch.backends.cudnn.benchmark
    torch.backends.cudnn.benchmark = previous or device.type == "cuda"
    try:
        yield
    finally:
        torch.backends.cudnn.benchmark = previous


@contextmanager
def threads(count: int | None) -> Iterator[int]:
    """Run the block on ``count`` CPU threads (None: leave them), then restore the previous count; yields the count."""
    previous = torch.get_num_threads()
    if count is not None:
        torch.set_num_threads(count)
    try:
        yield torch.get_num_threads()
    finally:
        torch.set_num_threads(previous)


@contextmanager
def seeded(seed: int, device: torch.device | None = None) -> Iterator[None]:
    """Seed torch's global generator (and ``device``'s, if a GPU) for the block; restore their states after it.

    Not ``torch.manual_seed``: that also seeds every GPU, lazily when CUDA is not yet
    initialised, which would reach past the block. Only the generators the block uses
    are seeded, and exactly those are saved and restored.
    """
    gpus = [_gpu_index(device)] if device is not None and device.type == "cuda" else []
    with torch.random.fork_rng(devices=gpus):
        torch.random.default_generator.manual_seed(seed)
        for index in gpus:
            with torch.cuda.device(index):
                torch.cuda.manual_seed(seed)
        yield


def _gpu_index(device: torch.device) -> int:
    return device.index if device.index is not None else torch.cuda.current_device()
