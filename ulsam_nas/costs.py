"""Cost measurement: FLOPs, parameters and measured latency, as one report.

FLOPs follow the MobileNet and ULSAM papers: multiply-accumulates (MACs) of
convolutions and fully connected layers, BatchNorm, pooling and activations not
counted, ULSAM's own convolutions included (``count_flops``). Latency comes from ``ulsam_nas.latency``: measured on
a runtime (ONNX Runtime by default) against a reference network, or predicted
from a latency table made on the target device.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn

from .backbones import DEFAULT_RESOLUTION
from .builder import build_model
from .config import ArchConfig
from .latency.meter import LatencyMeter
from .latency.settings import Latency, LatencySettings
from .ulsam import ULSAM

__all__ = ["DEFAULT_RESOLUTION", "CostReport", "count_flops", "count_params", "measure_costs"]


@dataclass(frozen=True)
class CostReport:
    """Costs of one architecture at one deployment resolution."""

    flops: int  # multiply-accumulates, papers' convention
    params: int  # trainable parameters
    resolution: int
    latency: Latency | None = None  # batch 1, BatchNorm folded; its sigma_ms is one standard error

    @property
    def latency_ms(self) -> float | None:
        """The latency metric's column (``metrics.METRICS["latency"]``)."""
        return None if self.latency is None else self.latency.ms
    latency_reference: str | None = None  # the kept reference latency the figure is scaled by: what and when (reference.py)

    def to_dict(self) -> dict:
        """Flat, as ``cost --json`` prints it: flops, params, resolution, latency_ms, latency_sigma_ms, ..."""
        values = {"flops": self.flops, "params": self.params, "resolution": self.resolution}
        if self.latency is not None:
            values |= {f"latency_{key}": value for key, value in asdict(self.latency).items() if key != "ms"}
            values |= {"latency_ms": self.latency.ms, "batchnorm_folded": True}
        if self.latency_reference is not None:
            values["latency_reference"] = self.latency_reference
        return values


def count_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def _macs(module: nn.Module, inputs: tuple[torch.Tensor, ...], output: torch.Tensor) -> int:
    """The multiply-accumulates one call of a counted module made (per image: the batch is 1)."""
    if isinstance(module, ULSAM):  # its depthwise 1x1 convolution runs as a multiply-add, not as a Conv2d call
        return inputs[0].numel()
    if isinstance(module, nn.Conv2d):
        kernel = module.kernel_size[0] * module.kernel_size[1]
        return output.numel() * (module.in_channels // module.groups) * kernel
    return module.in_features * module.out_features * (output.numel() // module.out_features)  # nn.Linear


def count_flops(model: nn.Module, resolution: int = DEFAULT_RESOLUTION) -> int:
    """Multiply-accumulates of one ``resolution`` x ``resolution`` RGB image: convolutions and fully connected layers,
    ULSAM's own convolutions included, BatchNorm, pooling and activations not (the papers' convention).

    Counted by forward hooks on one eval-mode pass, the convolution and linear layers' shapes giving their MACs (as
    fvcore's trace of the same network counts them, tests/test_costs.py; tracing took 10-20x longer here).
    """
    total = [0]
    hooks = [module.register_forward_hook(lambda m, i, o: total.__setitem__(0, total[0] + _macs(m, i, o)))
             for module in model.modules() if isinstance(module, (nn.Conv2d, nn.Linear, ULSAM))]
    was_training = model.training
    try:
        with torch.no_grad():
            model.eval()(torch.zeros(1, 3, resolution, resolution))
    finally:
        for hook in hooks:
            hook.remove()
        model.train(was_training)
    return total[0]


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
    if latency is True:
        latency = LatencySettings()
    if isinstance(latency, LatencySettings):
        reference = ArchConfig(backbone=config.backbone, width=config.width, num_classes=config.num_classes)
        latency = LatencyMeter(latency, resolution, reference)
    measured = latency.measure(config)
    stored = latency.stored_reference
    return CostReport(flops=flops, params=params, resolution=resolution, latency=measured,
                      latency_reference=f"{stored.description}, measured {stored.measured}" if stored else None)
