"""Cost measurement: FLOPs, parameters and measured latency, as one report.

FLOPs follow the MobileNet and ULSAM papers: multiply-accumulates (MACs) of
convolutions and fully connected layers, BatchNorm, pooling and activations not
counted. They are counted by tracing the network with fvcore, ULSAM's own
convolutions included. Latency comes from ``ulsam_nas.latency``: measured on
a runtime (ONNX Runtime by default) against a reference network, or predicted
from a latency table made on the target device.
"""

from __future__ import annotations

import copy
import warnings
from dataclasses import asdict, dataclass

import torch
from torch import nn

from .builder import build_model
from .config import ArchConfig

__all__ = ["CostReport", "count_flops", "count_params", "fold_batchnorm", "measure_costs"]

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
    latency_ms: float | None = None  # batch 1, BatchNorm folded
    latency_iqr_ms: float | None = None  # spread: interquartile range of the repeats
    latency_uncertainty_ms: float | None = None  # one standard error of latency_ms (latency budgets allow for it)
    latency_runtime: str | None = None  # onnxruntime or torch
    latency_method: str | None = None  # interleaved (with the reference network), direct or table
    latency_device: str | None = None
    latency_threads: int | None = None
    latency_repeats: int | None = None  # timed runs
    latency_reference_ms: float | None = None  # interleaved: the reference's latency the candidate's ratio was scaled by
    latency_reference: str | None = None  # what that is and when it was measured (kept per machine: latency/reference.py)
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


def measure_costs(config: ArchConfig, resolution: int = DEFAULT_RESOLUTION, latency=False) -> CostReport:
    """FLOPs and params of ``config`` at ``resolution``, and its latency if asked.

    ``latency``: False, a :class:`~ulsam_nas.latency.LatencySettings` (measured against the space's vanilla
    network, or predicted from its table), or a :class:`~ulsam_nas.latency.LatencyMeter` that a study reuses.
    """
    if isinstance(resolution, bool) or not isinstance(resolution, int) or resolution < 32:
        raise ValueError(f"resolution: must be an integer >= 32 pixels, got {resolution!r}")
    model = build_model(config)
    flops, params = count_flops(model, resolution), count_params(model)
    if latency is False or latency is None:
        return CostReport(flops=flops, params=params, resolution=resolution)
    from .latency import LatencyMeter, LatencySettings

    if latency is True:
        latency = LatencySettings()
    if isinstance(latency, LatencySettings):
        reference = ArchConfig(backbone=config.backbone, width=config.width, num_classes=config.num_classes)
        latency = LatencyMeter(latency, resolution, reference)
    measured = latency.measure(config)
    stored = latency.stored_reference
    return CostReport(flops=flops, params=params, resolution=resolution, latency_ms=measured.ms,
                      latency_iqr_ms=measured.iqr_ms, latency_uncertainty_ms=measured.uncertainty_ms,
                      latency_runtime=measured.runtime, latency_method=measured.method,
                      latency_device=measured.device, latency_threads=measured.threads,
                      latency_repeats=measured.repeats, latency_reference_ms=measured.reference_ms,
                      latency_reference=f"{stored.description}, measured {stored.measured}" if stored else None,
                      batchnorm_folded=True)
