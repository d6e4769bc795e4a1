"""Search spaces: how deep each stage may be, where ULSAM may go, with how many subspaces.

A space maps an Optuna trial to a canonical :class:`ArchConfig` through a fixed
set of stably named parameters (every decision is suggested in every trial, so
NSGA-II can recombine all of them)::

    width            categorical over the space's widths
    depth_<s>        categorical over the blocks stage s may keep (s: its first block), for each stage
                     with droppable blocks in the space; a stage keeps its first blocks (Once-for-All)
    ulsam_<k>        categorical [0, *subspaces] for each ULSAM slot k (0: none); a slot on a block that
                     the stage's depth leaves out is ignored

so one network has one configuration: the blocks of a stage are interchangeable, and only how many are
kept matters. A space file's ``drop`` lists the blocks it may drop; within a stage only their number
counts. Where the chosen subspace count does not divide the channels after block k at the chosen width,
the largest listed count that does is used. Spaces are YAML files; the bundled ones live in
``search_spaces/``.

ULSAM needs room to attend: on a 1x1 map its softmax over one position is 1 and it is a constant x2.
:meth:`SearchSpace.visible` therefore leaves out the slots that are 1x1 at the deployment resolution,
and those of 2x2 or less at the proxy resolution, where a proxy cannot see what they do (see the README).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

import itertools
import math

from .backbones import MIN_PROXY_MAP, Stage, backbone_blocks, backbone_stages, feature_sizes
from .config import ArchConfig
from .resources import bundled_files, resolve_bundled

__all__ = ["MIN_PROXY_MAP", "HiddenSlot", "SearchSpace", "describe_spaces", "list_spaces", "load_space"]


@dataclass(frozen=True)
class HiddenSlot:
    """A ULSAM slot of the space file that a search leaves out, and the map sizes why."""

    block: int
    deployment_size: int  # the map after the block at the deployment resolution
    proxy_size: int  # ... and at the proxy resolution

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

    @property
    def stages(self) -> tuple[tuple[Stage, tuple[int, ...]], ...]:
        """Each stage the space may shorten, with the depths (blocks kept) it may have."""
        searched = []
        for stage in backbone_stages(self.backbone):
            droppable = len(set(stage.droppable) & set(self.drop))
            if droppable:
                full = len(stage.blocks)
                searched.append((stage, tuple(range(full - droppable, full + 1))))
        return tuple(searched)

    def suggest(self, trial, num_classes: int) -> ArchConfig:
        """Draw every parameter of the space from ``trial`` and build the (canonical) config."""
        params = {"width": trial.suggest_categorical("width", list(self.widths))}
        for stage, depths in self.stages:
            params[f"depth_{stage.first}"] = trial.suggest_categorical(f"depth_{stage.first}", list(depths))
        for block in self.ulsam_after:
            params[f"ulsam_{block}"] = trial.suggest_categorical(f"ulsam_{block}", [0, *self.subspaces])
        return self.config_from_params(params, num_classes)

    def subspace_choices(self, block: int, width: float) -> tuple[int, ...]:
        """The distinct subspace counts a ULSAM after ``block`` can have at ``width`` (what the listed ones become)."""
        channels = backbone_blocks(self.backbone, width)[block].out_channels
        return tuple(sorted({self._fitting(g, channels) for g in self.subspaces}))

    def _fitting(self, chosen: int, channels: int) -> int:
        """The subspace count a chosen one becomes: the largest listed count up to it that divides the channels."""
        return max([g for g in self.subspaces if g <= chosen and channels % g == 0] or [1])

    def config_from_params(self, params: dict[str, Any], num_classes: int) -> ArchConfig:
        width = float(params["width"])
        blocks = backbone_blocks(self.backbone, width)
        drop = [block for stage, _ in self.stages for block in stage.blocks[int(params[f"depth_{stage.first}"]):]]
        ulsam = [{"after": block, "subspaces": self._fitting(int(params[f"ulsam_{block}"]), blocks[block].out_channels)}
                 for block in self.ulsam_after if int(params[f"ulsam_{block}"]) and block not in drop]
        return ArchConfig(backbone=self.backbone, width=width, num_classes=num_classes, drop=drop, ulsam=ulsam)

    def params_for(self, config: ArchConfig) -> dict[str, Any] | None:
        """The parameters that map to ``config``'s network, or None where the space cannot express it."""
        if config.backbone != self.backbone or config.width not in self.widths:
            return None
        try:
            config = config.canonical()
        except ValueError:  # stacked ULSAMs: not a network of any space
            return None
        searched = {stage.first: depths for stage, depths in self.stages}
        params: dict[str, Any] = {"width": config.width}
        for stage, depth in zip(backbone_stages(self.backbone), config.depths):
            if stage.first in searched:
                if depth not in searched[stage.first]:
                    return None
                params[f"depth_{stage.first}"] = depth
            elif depth != len(stage.blocks):
                return None
        placed = {p.after: p.subspaces for p in config.ulsam}
        channels = {p.after: config.blocks[p.after].out_channels for p in config.ulsam}
        if not set(placed) <= set(self.ulsam_after) or any(self._fitting(g, channels[b]) != g for b, g in placed.items()):
            return None
        params.update({f"ulsam_{block}": placed.get(block, 0) for block in self.ulsam_after})
        return params

    def visible(self, deployment: int, proxy: int) -> tuple["SearchSpace", tuple[HiddenSlot, ...]]:
        """This space without the ULSAM slots a search at these resolutions cannot score: 1x1 at ``deployment``
        (there ULSAM is a constant scale) or smaller than ``MIN_PROXY_MAP`` at ``proxy`` (the proxy cannot see them)."""
        at_deployment = feature_sizes(backbone_blocks(self.backbone), deployment)
        at_proxy = feature_sizes(backbone_blocks(self.backbone), proxy)
        hidden = tuple(HiddenSlot(block, at_deployment[block], at_proxy[block]) for block in self.ulsam_after
                       if at_deployment[block] <= 1 or at_proxy[block] < MIN_PROXY_MAP)
        kept = tuple(block for block in self.ulsam_after if block not in {slot.block for slot in hidden})
        return dataclasses.replace(self, ulsam_after=kept), hidden

    # --- the space's corners: the one place outside suggest() that names its parameters ---------

    @property
    def baseline_width(self) -> float:
        """The width the hand-designed baselines and the noise measurement use: 1.0 where the space has it."""
        return 1.0 if 1.0 in self.widths else max(self.widths)

    def vanilla(self, num_classes: int, width: float | None = None) -> ArchConfig:
        """Nothing dropped, no ULSAM, at ``width`` (None: the widest, the reference for latency)."""
        return ArchConfig(backbone=self.backbone, width=max(self.widths) if width is None else width,
                          num_classes=num_classes)

    def largest(self, num_classes: int, width: float | None = None) -> ArchConfig:
        """Every stage full, ULSAM at every slot with the largest subspace count that fits, at ``width`` (None: the
        widest)."""
        return self.config_from_params({"width": max(self.widths) if width is None else width}
                                       | {f"depth_{stage.first}": max(depths) for stage, depths in self.stages}
                                       | {f"ulsam_{b}": max(self.subspaces) for b in self.ulsam_after}, num_classes)

    def cheapest(self, num_classes: int, width: float | None = None) -> ArchConfig:
        """Every stage as shallow as the space allows, no ULSAM, at ``width`` (None: the narrowest)."""
        return self.config_from_params({"width": min(self.widths) if width is None else width}
                                       | {f"depth_{stage.first}": min(depths) for stage, depths in self.stages}
                                       | {f"ulsam_{b}": 0 for b in self.ulsam_after}, num_classes)

    def sample(self, rng, num_classes: int, width: float | None = None) -> ArchConfig:
        """A random network of the space (``rng``: a ``random.Random``; each parameter uniform), at ``width`` if given."""
        params = {"width": rng.choice(self.widths) if width is None else width}
        params.update({f"depth_{stage.first}": rng.choice(depths) for stage, depths in self.stages})
        params.update({f"ulsam_{b}": rng.choice([0, *self.subspaces]) for b in self.ulsam_after})
        return self.config_from_params(params, num_classes)

    def to_dict(self) -> dict[str, Any]:
        """The space-file form (``from_dict`` reads it back)."""
        return {"name": self.name, "backbone": self.backbone, "resolution": self.resolution, "widths": list(self.widths),
                "drop": list(self.drop), "ulsam_after": list(self.ulsam_after), "subspaces": list(self.subspaces),
                "description": self.description}

    @property
    def size(self) -> int:
        """The number of distinct networks in the space (each counted once, whatever its parameters)."""
        total = 0
        for width in self.widths:
            # per slot: no ULSAM, or each distinct subspace count the listed ones fall back to
            choices = {b: 1 + len(self.subspace_choices(b, width)) for b in self.ulsam_after}
            for depths in itertools.product(*(depths for _, depths in self.stages)):
                dropped = {block for (stage, _), depth in zip(self.stages, depths) for block in stage.blocks[depth:]}
                total += math.prod(count for block, count in choices.items() if block not in dropped)
        return total


def list_spaces() -> dict[str, Path]:
    return bundled_files("search_spaces")


def load_space(name_or_path: str | Path) -> SearchSpace:
    """A bundled space by name (``mobilenet_v2``) or a space file by path."""
    return SearchSpace.load(resolve_bundled("search_spaces", name_or_path, "space"))


def describe_spaces() -> list[SearchSpace]:
    """Every bundled space, loaded."""
    return [load_space(path) for path in list_spaces().values()]
