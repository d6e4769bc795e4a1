"""Running the training loop on several processes started by ``torchrun`` (DistributedDataParallel).

torchrun tells each process its place through the environment (``RANK``,
``WORLD_SIZE``, ``LOCAL_RANK``); without it a run is the single process 0 of 1.
Processes talk over gloo on CPUs and NCCL on GPUs.
"""

from __future__ import annotations

import os

import torch
from torch import nn

__all__ = ["join_process_group", "process_device", "rank_and_world_size", "wrap_for_processes"]


def rank_and_world_size() -> tuple[int, int]:
    """This process's rank and the number of processes, from torchrun's environment (0 and 1 without it)."""
    return int(os.environ.get("RANK", "0")), int(os.environ.get("WORLD_SIZE", "1"))


def process_device(device: torch.device) -> torch.device:
    """The device this process trains on: on GPUs, the one torchrun gave it (``LOCAL_RANK``)."""
    if device.type == "cuda":
        return torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
    return device


def join_process_group(device: torch.device, world_size: int) -> None:
    """Join torchrun's process group, once, when there is more than one process."""
    if world_size > 1 and not torch.distributed.is_initialized():
        torch.distributed.init_process_group("nccl" if device.type == "cuda" else "gloo")


def wrap_for_processes(model: nn.Module, device: torch.device, world_size: int) -> nn.Module:
    """``model`` wrapped to average gradients across processes; ``model`` itself when there is one process."""
    if world_size == 1:
        return model
    return nn.parallel.DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)
