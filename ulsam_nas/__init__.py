"""ulsam-nas: neural architecture search for compact CNNs with ULSAM.

Searches where to insert ULSAM (Saini, Jha et al., WACV 2020), how many
subspaces each gets and which MobileNet blocks to drop, scoring candidates by
short proxy training and measured FLOPs (multiply-accumulates), params and
latency.

The public API::

    from ulsam_nas import ArchConfig, ULSAM, build_model, measure_costs

Names that need PyTorch are imported on first use, so that the command line
answers ``--help`` without loading it.
"""

from .backbones import BlockSpec, backbone_blocks
from .config import ArchConfig, UlsamPlacement
from .lazy import lazy_exports

_LAZY = {"build_model": ".builder", "CostReport": ".costs", "measure_costs": ".costs", "ULSAM": ".ulsam"}
__getattr__ = lazy_exports(__name__, _LAZY)

__all__ = [
    "ArchConfig",
    "BlockSpec",
    "CostReport",
    "ULSAM",
    "UlsamPlacement",
    "backbone_blocks",
    "build_model",
    "measure_costs",
]
__version__ = "0.1.0"
