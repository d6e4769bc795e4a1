"""The architecture config: the single source of truth for one network.

A frozen, validated dataclass that round-trips exactly through YAML and JSON.
The file format users write::

    backbone: mobilenet_v2     # mobilenet_v1 | mobilenet_v2
    width: 1.0                 # width multiplier
    num_classes: 1000
    drop: [13, 16]             # blocks removed
    ulsam:                     # ULSAM modules, each applied to the output of block `after`
      - {after: 12, subspaces: 4}

A ULSAM placed after a dropped block takes that block's place.

One network, one encoding: the droppable blocks of a stage are interchangeable,
so dropping block 5 or block 6 builds the same network. :meth:`ArchConfig.canonical`
keeps the first blocks of each stage (drops the last ones) and moves each ULSAM to
the kept block whose output it attends; everything that compares, deduplicates or
stores configs uses that form.
"""

from __future__ import annotations

import json
import numbers
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .backbones import BACKBONES, backbone_blocks, backbone_stages, valid_subspaces

__all__ = ["ArchConfig", "UlsamPlacement"]

# Written by `ulsam-nas export`; describes where a config came from, never how to build it.
PROVENANCE_KEY = "provenance"


def _require_int(name: str, value: Any, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ValueError(f"{name}: must be an integer >= {minimum}, got {value!r}")
    if value < minimum:
        raise ValueError(f"{name}: must be >= {minimum}, got {value}")
    return int(value)


@dataclass(frozen=True, order=True)
class UlsamPlacement:
    """One ULSAM module applied to the output of block ``after``."""

    after: int
    subspaces: int

    def __post_init__(self) -> None:
        object.__setattr__(self, "after", _require_int("ulsam.after", self.after, 0))
        object.__setattr__(self, "subspaces", _require_int("ulsam.subspaces", self.subspaces, 1))

    @classmethod
    def from_dict(cls, data: Any, where: str = "ulsam") -> "UlsamPlacement":
        if not isinstance(data, dict):
            raise ValueError(f"{where}: each entry must be a mapping like {{after: 12, subspaces: 4}}, got {data!r}")
        unknown = set(data) - {"after", "subspaces"}
        missing = {"after", "subspaces"} - set(data)
        if unknown:
            raise ValueError(f"{where}: unknown key(s) {', '.join(sorted(map(str, unknown)))}; valid keys: after, subspaces")
        if missing:
            raise ValueError(f"{where}: missing key(s) {', '.join(sorted(missing))}; each entry needs after and subspaces")
        try:
            return cls(after=data["after"], subspaces=data["subspaces"])
        except ValueError as error:
            raise ValueError(str(error).replace("ulsam.", f"{where}.", 1)) from None


@dataclass(frozen=True)
class ArchConfig:
    """A MobileNet backbone with some blocks dropped and ULSAM modules inserted.

    Lists are normalised to sorted tuples, so equal architectures compare equal
    and hash alike whatever order a file listed them in.
    """

    backbone: str = "mobilenet_v2"
    width: float = 1.0
    num_classes: int = 1000
    drop: tuple[int, ...] = ()
    ulsam: tuple[UlsamPlacement, ...] = field(default=())

    def __post_init__(self) -> None:
        if self.backbone not in BACKBONES:
            raise ValueError(f"backbone: unknown backbone {self.backbone!r}; valid: {', '.join(sorted(BACKBONES))}")
        if isinstance(self.width, bool) or not isinstance(self.width, numbers.Real) or not self.width > 0:
            raise ValueError(f"width: must be a number > 0, got {self.width!r}")
        object.__setattr__(self, "width", float(self.width))
        object.__setattr__(self, "num_classes", _require_int("num_classes", self.num_classes, 1))
        object.__setattr__(self, "drop", self._validated_drop())
        object.__setattr__(self, "ulsam", self._validated_ulsam())

    @property
    def blocks(self):
        return backbone_blocks(self.backbone, self.width)

    def _index_error(self, name: str, index: int) -> ValueError:
        last = len(self.blocks) - 1
        return ValueError(f"{name}: block {index} is out of range; {self.backbone} has blocks 0-{last}")

    def _validated_drop(self) -> tuple[int, ...]:
        if isinstance(self.drop, (str, bytes)) or not hasattr(self.drop, "__iter__"):
            raise ValueError(f"drop: must be a list of block indices, got {self.drop!r}")
        drop = [_require_int("drop", index, 0) for index in self.drop]
        droppable = [block.index for block in self.blocks if block.droppable]
        for index in drop:
            if index >= len(self.blocks):
                raise self._index_error("drop", index)
            if index not in droppable:
                raise ValueError(
                    f"drop: block {index} of {self.backbone} cannot be dropped (it changes shape: stride 2 or "
                    f"channel change); droppable blocks: {', '.join(map(str, droppable))}"
                )
        duplicates = sorted({index for index in drop if drop.count(index) > 1})
        if duplicates:
            raise ValueError(f"drop: block(s) {', '.join(map(str, duplicates))} listed more than once")
        return tuple(sorted(drop))

    def _validated_ulsam(self) -> tuple[UlsamPlacement, ...]:
        if isinstance(self.ulsam, (str, bytes, dict)) or not hasattr(self.ulsam, "__iter__"):
            raise ValueError(f"ulsam: must be a list of {{after, subspaces}} entries, got {self.ulsam!r}")
        placements = [
            entry if isinstance(entry, UlsamPlacement) else UlsamPlacement.from_dict(entry, f"ulsam[{position}]")
            for position, entry in enumerate(self.ulsam)
        ]
        for position, placement in enumerate(placements):
            if placement.after >= len(self.blocks):
                raise self._index_error(f"ulsam[{position}].after", placement.after)
            channels = self.blocks[placement.after].out_channels
            if channels % placement.subspaces:
                valid = ", ".join(map(str, valid_subspaces(channels)))
                raise ValueError(
                    f"ulsam[{position}].subspaces: {placement.subspaces} does not divide the {channels} channels "
                    f"after block {placement.after}; valid: {valid}"
                )
        afters = [placement.after for placement in placements]
        duplicates = sorted({after for after in afters if afters.count(after) > 1})
        if duplicates:
            raise ValueError(f"ulsam: more than one ULSAM after block(s) {', '.join(map(str, duplicates))}")
        return tuple(sorted(placements))

    # --- one network, one encoding ---------------------------------------

    def canonical(self) -> "ArchConfig":
        """The same network with the first blocks of each stage kept and every ULSAM after the kept block it
        attends (a ULSAM after a dropped block attends the kept block before it).

        Raises ValueError when two ULSAMs attend the same block (one stacked on the other): that network has no
        canonical form with one ULSAM per block.
        """
        drop, position, host = [], {}, {}
        for stage in backbone_stages(self.backbone):
            kept = [block for block in stage.blocks if block not in self.drop]
            drop += stage.blocks[len(kept):]
            position |= {block: stage.blocks[rank] for rank, block in enumerate(kept)}
            last = stage.first
            for block in stage.blocks:  # a dropped block's ULSAM attends the last kept block before it
                last = block if block not in self.drop else last
                host[block] = last
        ulsam: dict[int, UlsamPlacement] = {}
        for placement in self.ulsam:
            after = position[host[placement.after]]
            if after in ulsam:
                raise ValueError(f"config: the ULSAMs after blocks {ulsam[after].after} and {placement.after} both "
                                 f"attend block {host[placement.after]}'s output (one stacked on the other); a "
                                 "canonical network has one ULSAM per block")
            ulsam[after] = placement
        placements = [UlsamPlacement(after, placement.subspaces) for after, placement in ulsam.items()]
        return ArchConfig(backbone=self.backbone, width=self.width, num_classes=self.num_classes, drop=drop,
                          ulsam=placements)

    @property
    def depths(self) -> tuple[int, ...]:
        """Blocks kept in each stage (``backbones.backbone_stages``)."""
        return tuple(sum(block not in self.drop for block in stage.blocks) for stage in backbone_stages(self.backbone))

    # --- serialisation -------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        return {
            "backbone": self.backbone,
            "width": self.width,
            "num_classes": self.num_classes,
            "drop": list(self.drop),
            "ulsam": [{"after": p.after, "subspaces": p.subspaces} for p in self.ulsam],
        }

    @classmethod
    def from_dict(cls, data: Any) -> "ArchConfig":
        if not isinstance(data, dict):
            raise ValueError(f"config: must be a mapping with keys {', '.join(_FIELDS)}, got {type(data).__name__}")
        unknown = set(data) - set(_FIELDS)
        if unknown:
            raise ValueError(f"config: unknown key(s) {', '.join(sorted(map(str, unknown)))}; valid keys: {', '.join(_FIELDS)}")
        values = dict(data)
        for key in ("drop", "ulsam"):
            if values.get(key) is None:
                values.pop(key, None)  # `drop:` with nothing after it means none
        return cls(**values)

    def to_json(self) -> str:
        """Canonical JSON: equal configs give equal strings (used as a cache key)."""
        return json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> "ArchConfig":
        return cls.from_dict(json.loads(text))

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.to_dict(), sort_keys=False, default_flow_style=None)

    @classmethod
    def from_yaml(cls, text: str) -> "ArchConfig":
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as error:
            mark = getattr(error, "problem_mark", None)
            where = f" at line {mark.line + 1}" if mark is not None else ""
            raise ValueError(f"config: not valid YAML{where}: {getattr(error, 'problem', error)}") from None
        if isinstance(data, dict):
            data = {key: value for key, value in data.items() if key != PROVENANCE_KEY}
        return cls.from_dict(data)

    @classmethod
    def load(cls, path: str | Path) -> "ArchConfig":
        """Read a YAML or JSON file (JSON is YAML); an export's provenance is ignored."""
        path = Path(path).expanduser()
        try:
            text = path.read_text()
        except FileNotFoundError:
            raise ValueError(f"config: file not found: {path}") from None
        except (IsADirectoryError, PermissionError, UnicodeDecodeError) as error:
            raise ValueError(f"config: cannot read {path}: {error.__class__.__name__}") from None
        return cls.from_yaml(text)

    def save(self, path: str | Path, provenance: dict[str, Any] | None = None) -> Path:
        path = Path(path).expanduser()
        data = self.to_dict()
        if provenance:
            data[PROVENANCE_KEY] = provenance
        if path.suffix == ".json":
            text = json.dumps(data, indent=2) + "\n"
        else:
            text = yaml.safe_dump(data, sort_keys=False, default_flow_style=None)
        path.write_text(text)
        return path

    def summary(self) -> str:
        """A compact one-line description, e.g. ``v2 w1.0 drop[13,16] ulsam[16:4]``."""
        parts = [f"{self.backbone.replace('mobilenet_', '')} w{self.width:g}"]
        if self.drop:
            parts.append("drop[" + ",".join(map(str, self.drop)) + "]")
        if self.ulsam:
            parts.append("ulsam[" + ",".join(f"{p.after}:{p.subspaces}" for p in self.ulsam) + "]")
        return " ".join(parts)


_FIELDS = ("backbone", "width", "num_classes", "drop", "ulsam")
