"""Cost measurement: FLOPs, parameters and measured latency, as one report.

FLOPs follow the MobileNet and ULSAM papers: multiply-accumulates (MACs) of
convolutions and fully connected layers, BatchNorm, pooling and activations not
counted. They are counted by tracing the network with fvcore, ULSAM's own
convolutions included. Latency is measured, never predicted.
"""

from __future__ import annotations

import copy
import statistics
import time
import warnings
from dataclasses import asdict, dataclass

import torch
from torch import nn

from . import runtime
from .builder import build_model
from .config import ArchConfig

__all__ = ["CostReport", "count_flops", "count_params", "fold_batchnorm", "measure_costs", "measure_latency"]

DEFAULT_RESOLUTION = 224



def _counted_ops() -> dict:
    """The ops the papers count (convolutions and matrix products), with fvcore's MAC handlers.

    fvcore's defaults also count BatchNorm and pooling, which the MAC convention does not.
    """
    from fvcore.nn import jit_handles

    return {
        "aten::_convolution": jit_handles.conv_flop_jit,
        "aten::addmm": jit_handles.addmm_flop_jit,
        "aten::linear": jit_handles.linear_flop_jit,
        "aten::matmul": jit_handles.matmul_flop_jit,
        "aten::mm": jit_handles.matmul_flop_jit,
        "aten::bmm": jit_handles.bmm_flop_jit,
        "aten::einsum": jit_handles.einsum_flop_jit,
    }


@dataclass(frozen=True)
class CostReport:
    """Costs of one architecture at one deployment resolution."""

    flops: int  # multiply-accumulates, papers' convention
    params: int  # trainable parameters
    resolution: int
    latency_ms: float | None = None  # median over repeats
    latency_iqr_ms: float | None = None  # spread: interquartile range of the repeats
    latency_device: str | None = None
    latency_threads: int | None = None
    latency_repeats: int | None = None  # timed runs
    batchnorm_folded: bool | None = None

    def to_dict(self) -> dict:
        return {key: value for key, value in asdict(self).items() if value is not None}


def count_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def count_flops(model: nn.Module, resolution: int = DEFAULT_RESOLUTION) -> int:
    """Multiply-accumulates of one ``resolution`` x ``resolution`` RGB image."""
    was_training = model.training
    model.eval()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # fvcore's and the tracer's chatter about deprecated jit APIs
            from fvcore.nn import FlopCountAnalysis  # heavy import, only when counting

            analysis = FlopCountAnalysis(model, torch.zeros(1, 3, resolution, resolution))
            analysis.clear_op_handles().set_op_handle(**_counted_ops())
            analysis.unsupported_ops_warnings(False).uncalled_modules_warnings(False).tracer_warnings("none")
            return int(analysis.total())
    finally:
        model.train(was_training)


def fold_batchnorm(model: nn.Module) -> nn.Module:
    """A copy of ``model`` in eval mode with each Conv2d -> BatchNorm2d pair fused, as deployed models ship."""
    from torch.nn.utils.fusion import fuse_conv_bn_eval

    folded = copy.deepcopy(model).eval()
    for module in folded.modules():
        if not isinstance(module, nn.Sequential):
            continue
        for index in range(len(module) - 1):
            conv, norm = module[index], module[index + 1]
            if isinstance(conv, nn.Conv2d) and isinstance(norm, nn.BatchNorm2d):
                module[index] = fuse_conv_bn_eval(conv, norm)
                module[index + 1] = nn.Identity()
    return folded


def measure_latency(
    model: nn.Module,
    resolution: int = DEFAULT_RESOLUTION,
    device: str = "cpu",
    threads: int | None = 1,
    warmup_s: float = 1.0,
    measure_s: float = 2.0,
    min_runs: int = 30,
    fold_bn: bool = True,
) -> CostReport:
    """Median latency (ms) of batch-1 inference, with the interquartile range of the runs.

    Every run is timed on its own after ``warmup_s`` of warm-up, for ``measure_s`` and at least
    ``min_runs`` runs: the median of single runs shrugs off the bursts of a shared machine that
    would inflate a mean.
    """
    torch_device = torch.device(device)
    if torch_device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError("device: CUDA was asked for but torch.cuda.is_available() is False; use --device cpu")
    deployed = (fold_batchnorm(model) if fold_bn else copy.deepcopy(model).eval()).to(torch_device)
    deployed = deployed.to(memory_format=torch.channels_last)
    image = torch.randn(1, 3, resolution, resolution, device=torch_device).to(memory_format=torch.channels_last)
    sync = torch.cuda.synchronize if torch_device.type == "cuda" else (lambda: None)

    def run() -> float:
        sync()
        start = time.perf_counter()
        deployed(image)
        sync()
        return time.perf_counter() - start

    with runtime.threads(threads if torch_device.type == "cpu" else None) as used_threads, torch.inference_mode():
        warm = 0.0
        while warm < warmup_s:
            warm += run()
        timings, spent = [], 0.0
        while spent < measure_s or len(timings) < min_runs:
            timings.append(run() * 1000)
            spent += timings[-1] / 1000
    quartiles = statistics.quantiles(timings, n=4)
    return CostReport(
        flops=0, params=count_params(model), resolution=resolution,
        latency_ms=statistics.median(timings), latency_iqr_ms=quartiles[2] - quartiles[0],
        latency_device=str(torch_device), latency_threads=used_threads if torch_device.type == "cpu" else None,
        latency_repeats=len(timings), batchnorm_folded=fold_bn,
    )


def measure_costs(
    config: ArchConfig,
    resolution: int = DEFAULT_RESOLUTION,
    latency: bool = False,
    device: str = "cpu",
    threads: int | None = 1,
) -> CostReport:
    """FLOPs and params of ``config`` at ``resolution``, and measured latency if asked."""
    if isinstance(resolution, bool) or not isinstance(resolution, int) or resolution < 32:
        raise ValueError(f"resolution: must be an integer >= 32 pixels, got {resolution!r}")
    model = build_model(config)
    flops, params = count_flops(model, resolution), count_params(model)
    if not latency:
        return CostReport(flops=flops, params=params, resolution=resolution)
    timed = measure_latency(model, resolution, device=device, threads=threads)
    return CostReport(**{**asdict(timed), "flops": flops, "params": params})
