"""Search spaces: which blocks may be dropped, where ULSAM may go, with how many subspaces.

A space maps an Optuna trial to an :class:`ArchConfig` through a fixed set of
stably named parameters (every decision is suggested in every trial, so
NSGA-II can recombine all of them)::

    width            categorical over the space's widths
    drop_<k>         categorical [False, True] for each droppable block k
    ulsam_<k>        categorical [0, *subspaces] for each ULSAM position k (0: none)

Where the chosen subspace count does not divide the channels after block k at
the chosen width, the largest listed count that does is used.
Spaces are YAML files; the bundled ones live in ``search_spaces/``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from .resources import bundled_files, resolve_bundled
from .backbones import backbone_blocks
from .config import ArchConfig

__all__ = ["SearchSpace", "describe_spaces", "list_spaces", "load_space"]

_KEYS = ("name", "description", "backbone", "resolution", "widths", "drop", "ulsam_after", "subspaces")


def _int_list(name: str, value: Any) -> tuple[int, ...]:
    if not isinstance(value, list) or not all(isinstance(v, int) and not isinstance(v, bool) for v in value):
        raise ValueError(f"space {name}: must be a list of integers, got {value!r}")
    if len(set(value)) != len(value):
        raise ValueError(f"space {name}: has duplicates: {value}")
    return tuple(value)


@dataclass(frozen=True)
class SearchSpace:
    name: str
    backbone: str
    resolution: int = 224
    widths: tuple[float, ...] = (1.0,)
    drop: tuple[int, ...] = ()
    ulsam_after: tuple[int, ...] = ()
    subspaces: tuple[int, ...] = (1, 2, 4, 8, 16)
    description: str = ""

    def __post_init__(self) -> None:
        if not self.widths or not all(isinstance(w, (int, float)) and not isinstance(w, bool) and w > 0 for w in self.widths):
            raise ValueError(f"space widths: must be a non-empty list of positive numbers, got {list(self.widths)}")
        if not isinstance(self.resolution, int) or self.resolution < 32:
            raise ValueError(f"space resolution: must be an integer >= 32, got {self.resolution!r}")
        if not self.subspaces or min(self.subspaces) < 1:
            raise ValueError(f"space subspaces: must be positive integers, got {list(self.subspaces)}")
        for width in self.widths:
            # Validates backbone, droppable blocks and positions at every width.
            ArchConfig(backbone=self.backbone, width=width, drop=self.drop,
                       ulsam=[{"after": k, "subspaces": 1} for k in self.ulsam_after])

    @classmethod
    def from_dict(cls, data: Any, default_name: str = "custom") -> "SearchSpace":
        if not isinstance(data, dict):
            raise ValueError("space: must be a mapping with keys " + ", ".join(_KEYS))
        unknown = set(data) - set(_KEYS)
        if unknown:
            raise ValueError(f"space: unknown key(s) {', '.join(sorted(map(str, unknown)))}; valid keys: {', '.join(_KEYS)}")
        if "backbone" not in data:
            raise ValueError("space: missing key backbone (mobilenet_v1 or mobilenet_v2)")
        values = {key: data[key] for key in _KEYS if key in data}
        values.setdefault("name", default_name)
        for key in ("drop", "ulsam_after", "subspaces"):
            if key in values:
                values[key] = _int_list(key, values[key] or [])
        if "widths" in values:
            if not isinstance(values["widths"], list):
                raise ValueError(f"space widths: must be a list of numbers, got {values['widths']!r}")
            values["widths"] = tuple(float(w) if isinstance(w, (int, float)) and not isinstance(w, bool) else w
                                     for w in values["widths"])
        return cls(**values)

    @classmethod
    def load(cls, path: str | Path) -> "SearchSpace":
        path = Path(path).expanduser()
        try:
            data = yaml.safe_load(path.read_text())
        except yaml.YAMLError as error:
            raise ValueError(f"space {path}: not valid YAML: {getattr(error, 'problem', error)}") from None
        return cls.from_dict(data, default_name=path.stem)

    # --- the trial -> config mapping ------------------------------------

    def suggest(self, trial, num_classes: int) -> ArchConfig:
        """Draw every parameter of the space from ``trial`` and build the config."""
        params = {"width": trial.suggest_categorical("width", list(self.widths))}
        for block in self.drop:
            params[f"drop_{block}"] = trial.suggest_categorical(f"drop_{block}", [False, True])
        for block in self.ulsam_after:
            params[f"ulsam_{block}"] = trial.suggest_categorical(f"ulsam_{block}", [0, *self.subspaces])
        return self.config_from_params(params, num_classes)

    def config_from_params(self, params: dict[str, Any], num_classes: int) -> ArchConfig:
        width = float(params["width"])
        blocks = backbone_blocks(self.backbone, width)
        drop = [block for block in self.drop if params[f"drop_{block}"]]
        ulsam = []
        for block in self.ulsam_after:
            chosen = int(params[f"ulsam_{block}"])
            if chosen:
                channels = blocks[block].out_channels
                fitting = [g for g in self.subspaces if g <= chosen and channels % g == 0] or [1]
                ulsam.append({"after": block, "subspaces": max(fitting)})
        return ArchConfig(backbone=self.backbone, width=width, num_classes=num_classes, drop=drop, ulsam=ulsam)

    def params_for(self, config: ArchConfig) -> dict[str, Any] | None:
        """The parameters that map to ``config``, or None where the space cannot express it."""
        if config.backbone != self.backbone or config.width not in self.widths:
            return None
        if not set(config.drop) <= set(self.drop):
            return None
        placed = {p.after: p.subspaces for p in config.ulsam}
        if not set(placed) <= set(self.ulsam_after) or not set(placed.values()) <= set(self.subspaces):
            return None
        params: dict[str, Any] = {"width": config.width}
        params.update({f"drop_{block}": block in config.drop for block in self.drop})
        params.update({f"ulsam_{block}": placed.get(block, 0) for block in self.ulsam_after})
        return params

    # --- the space's corners: the one place outside suggest() that names its parameters ---------

    @property
    def baseline_width(self) -> float:
        """The width the hand-designed baselines and the noise measurement use: 1.0 where the space has it."""
        return 1.0 if 1.0 in self.widths else max(self.widths)

    def vanilla(self, num_classes: int, width: float | None = None) -> ArchConfig:
        """Nothing dropped, no ULSAM, at ``width`` (None: the widest, the reference for latency)."""
        return ArchConfig(backbone=self.backbone, width=max(self.widths) if width is None else width,
                          num_classes=num_classes)

    def largest(self, num_classes: int) -> ArchConfig:
        """Widest width, no block dropped, ULSAM at every position with the largest subspace count that fits."""
        return self.config_from_params({"width": max(self.widths)} | {f"drop_{b}": False for b in self.drop}
                                       | {f"ulsam_{b}": max(self.subspaces) for b in self.ulsam_after}, num_classes)

    def cheapest(self, num_classes: int) -> ArchConfig:
        """Narrowest width, every droppable block dropped, no ULSAM."""
        return self.config_from_params({"width": min(self.widths)} | {f"drop_{b}": True for b in self.drop}
                                       | {f"ulsam_{b}": 0 for b in self.ulsam_after}, num_classes)

    def sample(self, rng, num_classes: int, width: float | None = None) -> ArchConfig:
        """A uniformly random network of the space (``rng``: a ``random.Random``), at ``width`` if given."""
        params = {"width": rng.choice(self.widths) if width is None else width}
        params.update({f"drop_{b}": rng.random() < 0.5 for b in self.drop})
        params.update({f"ulsam_{b}": rng.choice([0, *self.subspaces]) for b in self.ulsam_after})
        return self.config_from_params(params, num_classes)

    def to_dict(self) -> dict[str, Any]:
        """The space-file form (``from_dict`` reads it back)."""
        return {"name": self.name, "backbone": self.backbone, "resolution": self.resolution, "widths": list(self.widths),
                "drop": list(self.drop), "ulsam_after": list(self.ulsam_after), "subspaces": list(self.subspaces),
                "description": self.description}

    @property
    def size(self) -> int:
        """Number of distinct parameter settings (an upper bound on distinct architectures)."""
        return len(self.widths) * 2 ** len(self.drop) * (len(self.subspaces) + 1) ** len(self.ulsam_after)


def list_spaces() -> dict[str, Path]:
    return bundled_files("search_spaces")


def load_space(name_or_path: str | Path) -> SearchSpace:
    """A bundled space by name (``mobilenet_v2``) or a space file by path."""
    return SearchSpace.load(resolve_bundled("search_spaces", name_or_path, "space"))


def describe_spaces() -> list[SearchSpace]:
    """Every bundled space, loaded."""
    return [load_space(path) for path in list_spaces().values()]
