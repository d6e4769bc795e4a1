"""The reference network's latency, measured once per machine, runtime and threads, and kept: latency that repeats
across processes.

Interleaved timing (``measure.py``) makes a candidate's latency a ratio to a reference network, which holds
still under load; the absolute figure is that ratio times the reference's own latency. Measured anew in
every process, the reference carried the load of its moment: five ``ulsam-nas cost --latency`` runs of one
config on an idle 2-core machine spread by 32% of their median. Here the reference is measured once as the
10th percentile of its single runs over a longer window (a low quantile, which other processes' load
inflates far less than the median) and stored beside the decoded-image cache, keyed by everything that
changes it: machine (host name, CPU model, cores), runtime and its version, threads, device, input size,
the reference network and the ulsam-nas version. It is measured again when asked (``cost
--remeasure-reference``), when older than ``MAX_AGE_DAYS``, or when the file is damaged (its SHA-256 is
checked; one warning line).
"""

from __future__ import annotations

import contextlib
import datetime
import hashlib
import json
import logging
import os
import platform
from dataclasses import asdict, dataclass
from importlib import metadata
from pathlib import Path
from typing import Callable

from ..data.cache import default_cache_dir
from ..files import lock_beside, write_atomically

__all__ = ["MAX_AGE_DAYS", "REFERENCE_QUANTILE", "ReferenceStore", "StoredReference", "reference_key"]

log = logging.getLogger("ulsam_nas")

FILE_NAME = "latency-reference.json"
MAX_AGE_DAYS = 30
REFERENCE_QUANTILE = 0.10


@dataclass(frozen=True)
class StoredReference:
    """One reference network's latency on one machine and runtime."""

    ms: float
    sigma_ms: float  # one standard error
    measured: str  # ISO time, UTC
    repeats: int
    description: str  # what was measured, for people

    @property
    def age_days(self) -> float:
        then = datetime.datetime.fromisoformat(self.measured)
        return (datetime.datetime.now(datetime.timezone.utc) - then).total_seconds() / 86400


def _cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"


def reference_key(runtime: str, threads: int | None, device: str, resolution: int, reference_json: str) -> dict:
    """Everything that changes the reference's latency."""
    return {"host": platform.node(), "cpu": _cpu_model(), "cores": os.cpu_count(), "runtime": runtime,
            "runtime_version": _version("onnxruntime" if runtime == "onnxruntime" else "torch"), "threads": threads,
            "device": device, "resolution": resolution, "reference": reference_json, "ulsam_nas": _version("ulsam-nas")}


def _digest(value) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True).encode()).hexdigest()


class ReferenceStore:
    """Stored reference latencies in one JSON file (``directory``: the decoded-image cache's by default)."""

    def __init__(self, directory: str | Path | None = None) -> None:
        self.path = Path(directory or default_cache_dir()).expanduser() / FILE_NAME

    def get(self, key: dict, measure: Callable[[], StoredReference], remeasure: bool = False) -> StoredReference:
        """The stored reference for ``key``, measured (and stored) when missing, stale or asked for."""
        with lock_beside(self.path):  # workers starting together measure once
            entries = self._read()
            stored = entries.get(_digest(key))
            if stored is not None and not remeasure and stored.age_days <= MAX_AGE_DAYS:
                return stored
            fresh = measure()
            entries[_digest(key)] = fresh
            self._write(entries)
            return fresh

    def _read(self) -> dict[str, StoredReference]:
        try:
            document = json.loads(self.path.read_bytes())
            entries = document["entries"]
            if document.get("sha256") != _digest(entries):
                raise ValueError("its checksum does not match")
            return {name: StoredReference(**value) for name, value in entries.items()}
        except FileNotFoundError:
            return {}
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as error:
            log.warning("latency reference: %s is unusable (%s); measuring the reference again", self.path,
                        str(error).splitlines()[0] if str(error) else type(error).__name__)
            return {}

    def _write(self, entries: dict[str, StoredReference]) -> None:
        plain = {name: asdict(value) for name, value in entries.items()}
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            write_atomically(self.path, json.dumps({"sha256": _digest(plain), "entries": plain}, indent=1).encode())
        except OSError as error:  # a cache: a full or read-only disk costs its reuse, not the measurement
            log.warning("latency reference: cannot write %s (%s); not kept for later runs", self.path,
                        error.strerror or error)
