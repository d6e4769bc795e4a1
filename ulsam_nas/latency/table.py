"""Latency tables: time every piece a space's candidates are made of once, on the target device.

A table holds, for one search space, the latency of every distinct piece at its
real input shape: each block at each width, each ULSAM (position x width x
subspace count) and the pooling + classifier head, timed with one runtime and
thread count on the machine that makes it (a Raspberry Pi, a phone, a server
CPU: anything that runs Python and ONNX Runtime). A candidate's latency is then
predicted as the sum of its pieces, without running it: measure once on the
device, search anywhere. The per-call overhead of the runtime is measured too,
taken out of every piece and counted once per network.

File format: CSV with one header line ``# ulsam-nas latency table {json}`` that
records the space, runtime, threads, resolution, machine and library versions,
the time it took, (after ``--check``) the table's measured error, and a SHA-256
of everything else in the file: a truncated or altered table is refused, never
read as other numbers. Tables are written atomically (temporary file, rename).
"""

from __future__ import annotations

import csv
import datetime
import hashlib
import io
import json
import math
import platform
import random
import statistics
import time
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Callable

from torch import nn

from ..backbones import backbone_blocks, feature_sizes, valid_subspaces
from ..builder import build_block, build_head, build_model
from ..config import ArchConfig
from ..files import checked_output, write_atomically
from ..space import SearchSpace
from ..ulsam import ULSAM
from .measure import direct, interleaved
from .runtimes import make_runner
from .settings import Latency, LatencySettings

__all__ = ["HEADER", "LatencyTable", "Piece", "make_table", "reference_runner"]

HEADER = "# ulsam-nas latency table "
_CHECKSUM = "sha256"
HEAD_CLASSES = (10, 1000)  # the head is timed at these class counts and interpolated linearly between them
_COLUMNS = ["piece", "width", "block", "subspaces", "classes", "input", "latency_ms", "uncertainty_ms"]


@dataclass(frozen=True)
class Piece:
    """One timed piece: a block, a ULSAM after a block, or the head; ``key`` names it in the table."""

    kind: str  # block | ulsam | head
    width: float
    block: int | None = None
    subspaces: int | None = None
    classes: int | None = None

    @property
    def key(self) -> str:
        if self.kind == "block":
            return f"block {self.block} at width {self.width:g}"
        if self.kind == "ulsam":
            return f"ULSAM({self.subspaces}) after block {self.block} at width {self.width:g}"
        return f"head for {self.classes} classes at width {self.width:g}"


def space_fingerprint(space: SearchSpace) -> str:
    """What makes two spaces' pieces the same: backbone, widths, positions, subspace counts."""
    text = json.dumps([space.backbone, sorted(space.widths), sorted(space.drop), sorted(space.ulsam_after),
                       sorted(space.subspaces)])
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def _pieces(space: SearchSpace, resolution: int) -> list[tuple[Piece, nn.Module, tuple[int, ...]]]:
    """Every distinct piece of the space's candidates with its module and input shape."""
    pieces = []
    for width in space.widths:
        specs = backbone_blocks(space.backbone, width)
        outputs = feature_sizes(specs, resolution)
        for spec in specs:
            size = resolution if spec.index == 0 else outputs[spec.index - 1]
            pieces.append((Piece("block", width, block=spec.index), build_block(space.backbone, spec),
                           (1, spec.in_channels, size, size)))
        for after in space.ulsam_after:
            channels, size = specs[after].out_channels, outputs[after]
            for count in sorted(set(valid_subspaces(channels, space.subspaces)) | {1}):
                pieces.append((Piece("ulsam", width, block=after, subspaces=count), ULSAM(channels, count),
                               (1, channels, size, size)))
        last = specs[-1]
        for classes in HEAD_CLASSES:
            pieces.append((Piece("head", width, classes=classes), build_head(space.backbone, width, classes),
                           (1, last.out_channels, outputs[-1], outputs[-1])))
    return pieces


@dataclass
class LatencyTable:
    """Piece latencies (ms) of one space on one runtime, and what they were measured on."""

    meta: dict
    latencies: dict[str, tuple[float, float]] = field(default_factory=dict)  # piece key -> (ms, uncertainty ms)
    rows: dict[str, list] = field(default_factory=dict)  # piece key -> its descriptive columns
    path: Path | None = None

    def correction(self, width: float) -> float:
        """What a whole network of this width costs beyond the sum of its pieces (ms), fitted when the table was made."""
        fitted = (self.meta.get("correction") or {}).get("per_width_ms", {})
        return float(fitted.get(f"{width:g}", 0.0))

    def _piece(self, piece: Piece) -> tuple[float, float]:
        if piece.key not in self.latencies:
            raise ValueError(f"latency table {self.path or ''}: no piece {piece.key!r} (made for space "
                             f"{self.meta.get('space')!r}); remake it with `ulsam-nas latency-table`")
        return self.latencies[piece.key]

    def _head(self, width: float, classes: int) -> tuple[float, float]:
        low, high = (self._piece(Piece("head", width, classes=c)) for c in HEAD_CLASSES)
        share = (classes - HEAD_CLASSES[0]) / (HEAD_CLASSES[1] - HEAD_CLASSES[0])
        return low[0] + share * (high[0] - low[0]), max(low[1], high[1])

    def predict(self, config: ArchConfig) -> Latency:
        """The sum of the config's pieces plus its width's correction, fitted when the table was made."""
        if config.backbone != self.meta.get("backbone"):
            raise ValueError(f"latency table {self.path or ''}: made for {self.meta.get('backbone')}, "
                             f"not {config.backbone}")
        parts = [self._piece(Piece("block", config.width, block=spec.index))
                 for spec in config.blocks if spec.index not in config.drop]
        parts += [self._piece(Piece("ulsam", config.width, block=u.after, subspaces=u.subspaces)) for u in config.ulsam]
        parts.append(self._head(config.width, config.num_classes))
        ms = sum(part[0] for part in parts) + self.correction(config.width)
        check = self.meta.get("check") or {}
        # The table's own error, where --check measured it, dwarfs the pieces' timing errors.
        uncertainty = ms * check["rmspe"] if "rmspe" in check else math.sqrt(sum(part[1] ** 2 for part in parts))
        return Latency(ms, uncertainty, self.meta["runtime"], self.meta.get("threads"), self.meta.get("device", "cpu"),
                       "table", len(parts))

    def check_usable(self, settings: LatencySettings, resolution: int) -> None:
        """One clear line when the table was made for another runtime, thread count or resolution."""
        where = self.path or "(in memory)"
        if self.meta.get("runtime") != settings.runtime:
            raise ValueError(f"latency table {where}: measured with {self.meta.get('runtime')}, not {settings.runtime}; "
                             f"pass --latency-runtime {self.meta.get('runtime')} or make a table with "
                             f"--runtime {settings.runtime}")
        if self.meta.get("threads") != settings.threads:
            raise ValueError(f"latency table {where}: measured with {self.meta.get('threads')} thread(s), not "
                             f"{settings.threads}")
        if self.meta.get("resolution") != resolution:
            raise ValueError(f"latency table {where}: measured at {self.meta.get('resolution')}px, not {resolution}px")

    def check_space(self, space: SearchSpace) -> None:
        """Refuse a table that lacks a piece of ``space`` (a search leaves out slots it cannot see: the table of the
        whole space still covers it)."""
        if self.meta.get("space_fingerprint") != space_fingerprint(space) and not self.covers(space):
            raise ValueError(f"latency table {self.path or ''}: made for space {self.meta.get('space')!r}, which differs "
                             f"from space {space.name!r}; make one with `ulsam-nas latency-table --space {space.name}`")

    def covers(self, space: SearchSpace) -> bool:
        """Whether every block and ULSAM piece of ``space``'s networks is in the table."""
        keys = set()
        for width in space.widths:
            specs = backbone_blocks(space.backbone, width)
            keys |= {Piece("block", width, block=spec.index).key for spec in specs}
            keys |= {Piece("ulsam", width, block=after, subspaces=count).key for after in space.ulsam_after
                     for count in set(valid_subspaces(specs[after].out_channels, space.subspaces)) | {1}}
        return keys <= set(self.latencies)

    def to_csv(self) -> str:
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(_COLUMNS)
        for key, row in self.rows.items():
            writer.writerow(row + [f"{self.latencies[key][0]:.6f}", f"{self.latencies[key][1]:.6f}"])
        meta = {key: value for key, value in self.meta.items() if key != _CHECKSUM}
        return HEADER + json.dumps(meta | {_CHECKSUM: _checksum(meta, out.getvalue())}, sort_keys=True) + "\n" \
            + out.getvalue()

    def save(self, path: str | Path) -> Path:
        return checked_output(path, lambda p: write_atomically(p, self.to_csv().encode()), "--out")

    @classmethod
    def load(cls, path: str | Path) -> "LatencyTable":
        path = Path(path).expanduser()
        if not path.is_file():
            raise ValueError(f"latency table: file not found: {path}")
        remake = f"`ulsam-nas latency-table --space NAME --out {path.name}`"
        damaged = ValueError(f"latency table {path}: damaged (truncated or altered since it was made); remake it with "
                             f"{remake[:-1]} --remake`")
        try:
            first, _, body = path.read_bytes().decode().partition("\n")  # as written: the checksum covers the bytes
        except UnicodeDecodeError:
            raise damaged from None
        if not first.startswith(HEADER):
            raise ValueError(f"latency table {path}: not a ulsam-nas latency table (make one with {remake})")
        try:
            meta = json.loads(first[len(HEADER):])
            stored = meta.pop(_CHECKSUM, None)
            latencies, keyed_rows = _read_rows(body)
        except (ValueError, KeyError, TypeError, AttributeError):
            raise damaged from None
        if stored is not None and stored != _checksum(meta, body):  # tables made before issue 20 carry none
            raise damaged
        for key in ("space", "space_fingerprint", "runtime", "threads", "resolution", "backbone"):
            if key not in meta:
                raise ValueError(f"latency table {path}: header lacks {key!r}; remake it")
        return cls(meta, latencies, keyed_rows, path)


def _read_rows(body: str) -> tuple[dict[str, tuple[float, float]], dict[str, list]]:
    """Piece latencies and descriptive columns from a table's CSV rows."""
    latencies, keyed_rows = {}, {}
    for row in csv.DictReader(body.splitlines()):
        piece = Piece(row["piece"], float(row["width"]), int(row["block"]) if row["block"] else None,
                      int(row["subspaces"]) if row["subspaces"] else None,
                      int(row["classes"]) if row["classes"] else None)
        latencies[piece.key] = (float(row["latency_ms"]), float(row["uncertainty_ms"]))
        keyed_rows[piece.key] = [row[c] for c in _COLUMNS[:6]]
    return latencies, keyed_rows


def _checksum(meta: dict, body: str) -> str:
    """SHA-256 of a table's header fields (without this one) and its rows, as written."""
    return hashlib.sha256((json.dumps(meta, sort_keys=True) + "\n" + body).encode()).hexdigest()


def _versions() -> dict[str, str]:
    versions = {}
    for package in ("ulsam-nas", "torch", "onnxruntime"):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = "not installed"
    return versions


CALIBRATION_SEED = 10_000  # calibration networks never coincide with --check's (seeds 0, 1, ...)


def reference_config(space: SearchSpace) -> ArchConfig:
    """Every piece and every checked network is timed interleaved with this one: the space's widest vanilla network."""
    return space.vanilla(num_classes=1000)


def reference_runner(space: SearchSpace, settings: LatencySettings, resolution: int):
    return make_runner(build_model(reference_config(space)), (1, 3, resolution, resolution), settings.runtime,
                       settings.threads, settings.device)


def make_table(space: SearchSpace, settings: LatencySettings, resolution: int | None = None,
               calibration_configs: int = 3, on_piece: Callable[[int, int, Piece, Latency], None] | None = None) -> LatencyTable:
    """Time every piece of ``space`` (minutes for MobileNet-V2); ``on_piece(done, total, piece, latency)``."""
    resolution = resolution or space.resolution
    started = time.perf_counter()
    pieces = _pieces(space, resolution)
    # Pieces are timed as ratios to the reference network, run in alternation, times its latency measured once:
    # load from other processes while the table is made cancels out, as it does for single measurements.
    reference = reference_runner(space, settings, resolution)
    reference_ms = direct(reference, warmup_s=settings.seconds / 2, measure_s=2 * settings.seconds).ms

    def timed_network(runner) -> float:
        return interleaved(runner, reference, reference_ms, warmup_s=settings.seconds / 8,
                           measure_s=settings.seconds / 2).ms

    def timed(runner) -> Latency:
        # Pieces are small: a tenth of a candidate's window each (163 pieces of MobileNet-V2 in about a minute).
        return interleaved(runner, reference, reference_ms, warmup_s=settings.seconds / 40,
                           measure_s=settings.seconds / 10, min_pairs=15)

    latencies, rows = {}, {}
    for done, (piece, module, shape) in enumerate(pieces, start=1):
        latency = timed(make_runner(module.eval(), shape, settings.runtime, settings.threads, settings.device))
        latencies[piece.key] = (latency.ms, latency.sigma_ms)
        rows[piece.key] = [piece.kind, f"{piece.width:g}"] + ["" if value is None else str(value) for value in
                                                              (piece.block, piece.subspaces, piece.classes)] \
            + ["x".join(map(str, shape[1:]))]
        if on_piece is not None:
            on_piece(done, len(pieces), piece, latency)
    table = LatencyTable({"backbone": space.backbone, "runtime": settings.runtime}, latencies, rows)
    # Whole networks cost other than the sum of their pieces timed alone (format conversions between nodes, the
    # runtime's per-node costs, caches), and measured here the gap depends on the width (small pieces: relatively
    # more overhead). Fit it per width, as the median gap of a few networks of their own, measured end to end.
    rng = random.Random(CALIBRATION_SEED)
    per_width = {}
    for width in space.widths:
        gaps = []
        for _ in range(calibration_configs):
            config = space.sample(rng, 1000, width=width)
            runner = make_runner(build_model(config), (1, 3, resolution, resolution), settings.runtime, settings.threads,
                                 settings.device)
            gaps.append(timed_network(runner) - table.predict(config).ms)
        per_width[f"{width:g}"] = statistics.median(gaps)
    meta = {
        "space": space.name, "space_fingerprint": space_fingerprint(space), "backbone": space.backbone,
        "runtime": settings.runtime, "threads": settings.threads, "device": settings.device, "resolution": resolution,
        "correction": {"per_width_ms": per_width, "configs_per_width": calibration_configs},
        "reference": reference_config(space).summary(), "reference_ms": reference_ms,
        "pieces": len(pieces), "seconds_to_make": round(time.perf_counter() - started, 1),
        "machine": {"node": platform.node(), "processor": platform.processor() or platform.machine(),
                    "system": platform.platform()},
        "versions": _versions(), "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }
    return LatencyTable(meta, latencies, rows)
