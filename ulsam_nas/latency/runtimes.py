"""Runtimes a network is timed on: ONNX Runtime (how MobileNets ship on CPUs) or eager PyTorch.

A runtime turns an ``nn.Module`` and an input shape into a :class:`Runner`: one
call is one batch-1 inference. BatchNorm is folded into the convolutions first,
as deployed models have it. ONNX exports are checked against PyTorch's outputs
before they are timed, as ``train --export onnx`` checks its exports.
"""

from __future__ import annotations

import contextlib
import io
import warnings
from dataclasses import dataclass, field
from typing import Callable, ContextManager

import torch
from torch import nn

from .. import runtime as torch_runtime
from ..builder import fold_batchnorm
from .settings import DEFAULT_RUNTIME, RUNTIMES

__all__ = ["Runner", "make_runner", "onnx_bytes"]

EXPORT_TOLERANCE = 1e-3  # max |ONNX - PyTorch| on the logits of a random input


@dataclass
class Runner:
    """One inference per call of ``run``; ``scope()`` holds the runtime's thread setting while timing."""

    run: Callable[[], object]
    runtime: str
    threads: int | None
    device: str
    scope: Callable[[], ContextManager] = field(default=contextlib.nullcontext)


def onnx_bytes(model: nn.Module, shape: tuple[int, ...]) -> bytes:
    """The model (eval mode, float32, CPU) as an ONNX graph for inputs of ``shape``."""
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # exporter deprecation chatter
        torch.onnx.export(model, (torch.zeros(shape),), buffer, dynamo=False, input_names=["images"],
                          output_names=["output"], opset_version=17)
    return buffer.getvalue()


def make_runner(model: nn.Module, shape: tuple[int, ...], runtime: str = DEFAULT_RUNTIME, threads: int | None = 1,
                device: str = "cpu", check: bool = True) -> Runner:
    """A runner for ``model`` on inputs of ``shape`` (BatchNorm folded); ``check``: compare ONNX with PyTorch."""
    if runtime not in RUNTIMES:
        raise ValueError(f"latency runtime: unknown runtime {runtime!r}; valid: {', '.join(RUNTIMES)}")
    deployed = fold_batchnorm(model).float()
    if runtime == "torch":
        return _torch_runner(deployed, shape, threads, device)
    if device != "cpu":
        raise ValueError("latency runtime: onnxruntime is timed on the CPU here; use --latency-runtime torch for cuda")
    return _onnxruntime_runner(deployed, shape, threads, check)


def _torch_runner(model: nn.Module, shape: tuple[int, ...], threads: int | None, device: str) -> Runner:
    torch_device = torch_runtime.resolve_device(device)
    model = model.to(torch_device, memory_format=torch.channels_last if len(shape) == 4 else torch.contiguous_format)
    image = torch.randn(shape, device=torch_device)
    if len(shape) == 4:
        image = image.contiguous(memory_format=torch.channels_last)
    sync = torch.cuda.synchronize if torch_device.type == "cuda" else (lambda: None)

    def run() -> None:
        with torch.inference_mode():
            model(image)
        sync()

    on_cpu = torch_device.type == "cpu"
    return Runner(run, "torch", threads if on_cpu else None, str(torch_device),
                  scope=lambda: torch_runtime.threads(threads if on_cpu else None))


def _onnxruntime_runner(model: nn.Module, shape: tuple[int, ...], threads: int | None, check: bool) -> Runner:
    import numpy as np
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads or 0  # 0: ONNX Runtime's default (all cores)
    options.inter_op_num_threads = 1
    options.execution_mode = onnxruntime.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3  # errors only
    session = onnxruntime.InferenceSession(onnx_bytes(model, shape), options, providers=["CPUExecutionProvider"])
    image = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
    if check:
        (actual,) = session.run(None, {"images": image})
        with torch.no_grad():
            expected = model(torch.from_numpy(image)).numpy()
        difference = float(np.abs(actual - expected).max())
        if not difference <= EXPORT_TOLERANCE:
            raise ValueError(f"latency: the ONNX export differs from PyTorch by {difference:.2e} "
                             f"(more than {EXPORT_TOLERANCE:g}); time it with --latency-runtime torch")
    feeds = {"images": image}
    return Runner(lambda: session.run(None, feeds), "onnxruntime", threads, "cpu")
