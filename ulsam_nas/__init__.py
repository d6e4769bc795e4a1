"""ulsam-nas: neural architecture search for compact CNNs with ULSAM.

Searches where to insert ULSAM (Saini, Jha et al., WACV 2020), how many
subspaces each gets and which MobileNet blocks to drop, scoring candidates by
short proxy training and measured FLOPs (multiply-accumulates), params and
latency.

The public API::

    from ulsam_nas import ArchConfig, ULSAM, build_model, measure_costs
"""

from .backbones import BlockSpec, backbone_blocks
from .builder import build_model
from .config import ArchConfig, UlsamPlacement
from .costs import CostReport, measure_costs
from .ulsam import ULSAM

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
