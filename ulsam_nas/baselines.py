"""Hand-designed reference architectures, evaluated first in every study.

From the ULSAM paper (Saini, Jha et al., WACV 2020): MobileNet-V1 with one of
its five 512-channel 14x14 layers (blocks 7-11) replaced by ULSAM with 4
subspaces; MobileNet-V2 with blocks 13 and 16, 15 and 16, or 12, 13, 15 and 16
dropped and one ULSAM with 4 subspaces added. Where the paper does not pin the
ULSAM position for V2, it takes the place of the last dropped block.

The labels keep the paper's wording (provenance); the configs are canonical
(``ArchConfig.canonical``): V2's "drop 13,16 + ULSAM at 16" is the network
drop[13,16] ulsam[15:4], the ULSAM attending block 15's output.
"""

from __future__ import annotations

from .config import ArchConfig

__all__ = ["baselines_for"]

_PAPER = {
    "mobilenet_v1": {
        f"ulsam-paper: block {block} -> ULSAM(4)": {"drop": [block], "ulsam": [{"after": block, "subspaces": 4}]}
        for block in (7, 8, 9, 10, 11)
    },
    "mobilenet_v2": {
        f"ulsam-paper: drop {','.join(map(str, drop))} + ULSAM(4)": {"drop": drop, "ulsam": [{"after": drop[-1], "subspaces": 4}]}
        for drop in ([13, 16], [15, 16], [12, 13, 15, 16])
    },
}


def baselines_for(backbone: str, width: float = 1.0, num_classes: int = 1000) -> dict[str, ArchConfig]:
    """Label -> config: the vanilla network, then the paper's hand-made variants."""
    vanilla = {"vanilla": ArchConfig(backbone=backbone, width=width, num_classes=num_classes)}
    return vanilla | {
        label: ArchConfig(backbone=backbone, width=width, num_classes=num_classes, **layout).canonical()
        for label, layout in _PAPER.get(backbone, {}).items()
    }
