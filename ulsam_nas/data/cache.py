"""Decode once: decoded datasets cached on disk as uint8 tensors and memory-mapped back.

Decoding 50,000 JPEGs takes about 40 s on 2 cores, in every run and every
worker. The first load of an image folder or a torchvision dataset at a
resolution writes the decoded tensors to one file in the cache directory;
later loads map that file into memory (copy-on-write), so the workers of one
machine share a single copy through the page cache.

* **Where**: ``$ULSAM_NAS_CACHE_DIR``, else ``$XDG_CACHE_HOME/ulsam-nas``,
  else ``~/.cache/ulsam-nas``; ``--cache-dir`` (``load_dataset(cache_dir=...)``)
  moves it; ``--no-cache`` (``load_dataset(cache=False)``) switches it off: every
  image is decoded again and nothing is written. Neither changes what a study is.
* **Key**: everything that changes the tensors: every source file's relative
  path, size and modification time, the resolution, the split, subset sizes,
  seed and validation fraction (a SHA-256 of them). A changed, added or
  removed file gives another key; the entry it replaces is deleted.
* **Validation**: a magic string, a CRC-32 of the header (shapes, key, class
  names), the key, the file size and a CRC-32 of the data (0.1 s for 350 MB).
  A corrupt or truncated file is logged, rebuilt and replaced; it never crashes
  a run and never returns stale or altered data.
* **Writes are atomic**: a temporary file in the same directory, renamed into
  place, under a lock file, so concurrent workers decode once and never read
  half a file. Unwritable directories only cost the cache (a warning).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import re
import struct
import tempfile
import time
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from ..files import lock_beside

__all__ = ["CACHE_ENV", "CacheEntry", "DataCache", "default_cache_dir", "file_signature"]

log = logging.getLogger("ulsam_nas")

CACHE_ENV = "ULSAM_NAS_CACHE_DIR"
FORMAT = 1  # bump when the decoding or the file layout changes: old entries are then never read
_MAGIC = b"ULSAM-NAS-CACH2\n"  # 2: the header has its own CRC-32
_MAGIC_BEFORE = b"ULSAM-NAS-CACHE\n"  # entries written before: read as stale, rebuilt in place
_ALIGN = 64
_SUFFIX = ".tensors"


def default_cache_dir() -> Path:
    """``$ULSAM_NAS_CACHE_DIR``, else ``$XDG_CACHE_HOME/ulsam-nas``, else ``~/.cache/ulsam-nas``."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base).expanduser() / "ulsam-nas"


def file_signature(files: list[tuple[str, int, int]]) -> str:
    """A digest of (relative path, size, mtime in ns) triples: any changed, added or removed file changes it."""
    digest = hashlib.sha256()
    for name, size, mtime in files:
        digest.update(f"{name}\0{size}\0{mtime}\n".encode("utf-8", "surrogateescape"))
    return digest.hexdigest()


@dataclass(frozen=True)
class CacheEntry:
    tensors: dict[str, torch.Tensor]  # memory-mapped, copy-on-write
    meta: dict[str, Any]
    path: Path


class DataCache:
    """Decoded tensors on disk under ``directory`` (None: :func:`default_cache_dir`)."""

    def __init__(self, directory: str | Path | None = None) -> None:
        self.directory = Path(directory).expanduser() if directory is not None else default_cache_dir()

    def path_for(self, source: dict[str, Any], key: dict[str, Any]) -> Path:
        """``<label>-<source digest>-<key digest>.tensors``: one source (folder, resolution, split
        settings) has one live entry; the key digest changes with the files."""
        return self.directory / f"{_label(source)}-{_digest(source)[:16]}-{_digest(key)[:16]}{_SUFFIX}"

    def fetch(self, source: dict[str, Any], key: dict[str, Any],
              build: Callable[[], tuple[dict[str, torch.Tensor], dict[str, Any]]],
              key_after_build: Callable[[], dict[str, Any]] | None = None) -> CacheEntry:
        """The entry for ``source`` + ``key``, built (once, under a lock) and stored when missing or corrupt.

        ``source`` names what is loaded (kind, root, resolution, split settings), ``key`` adds what
        must match exactly (the files' signature). ``key_after_build`` recomputes the key after a
        build that may have changed the files (a download).
        """
        full_key = source | key
        path = self.path_for(source, full_key)
        entry = self.load(path, full_key)
        if entry is not None:
            return entry
        with lock_beside(path):  # one builder per entry across processes
            entry = self.load(path, full_key)  # another worker may have built it while we waited
            if entry is not None:
                return entry
            tensors, meta = build()
            if key_after_build is not None:
                full_key = source | key_after_build()
                path = self.path_for(source, full_key)
            stored = self.store(path, full_key, tensors, meta)
        if stored is None:
            return CacheEntry(tensors, meta, path)
        self._remove_older(source, keep=path)
        return self.load(path, full_key) or CacheEntry(tensors, meta, path)

    # --- the file format: magic, header length and CRC-32, JSON header, padding, data -------

    def load(self, path: Path, key: dict[str, Any]) -> CacheEntry | None:
        """The validated entry at ``path``, or None (missing; or corrupt: logged and removed)."""
        try:
            return _read(path, _digest(key))
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, TypeError, struct.error) as error:
            log.warning("data cache: %s is unusable (%s); decoding again and rewriting it", path, error)
            with contextlib.suppress(OSError):
                path.unlink()
            return None

    def store(self, path: Path, key: dict[str, Any], tensors: dict[str, torch.Tensor], meta: dict[str, Any]) -> Path | None:
        """Write atomically (temporary file + rename); None when the directory cannot be written (logged)."""
        arrays = {name: np.ascontiguousarray(tensor.numpy()) for name, tensor in tensors.items()}
        specs, offset, crc = [], 0, 0
        for name, array in arrays.items():
            specs.append({"name": name, "dtype": array.dtype.str, "shape": list(array.shape), "offset": offset})
            crc = zlib.crc32(memoryview(array).cast("B"), crc)
            offset += _padded(array.nbytes)
        header = json.dumps({"format": FORMAT, "key": _digest(key), "arrays": specs, "data_bytes": offset,
                             "crc32": crc, "meta": meta}).encode()
        prefix = _MAGIC + struct.pack("<QI", len(header), zlib.crc32(header)) + header
        tmp = None
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            with tempfile.NamedTemporaryFile("wb", dir=path.parent, prefix=f".{path.name}.", suffix=".tmp",
                                             delete=False) as file:
                tmp = Path(file.name)
                file.write(prefix + bytes(_padded(len(prefix)) - len(prefix)))
                for array in arrays.values():
                    file.write(memoryview(array).cast("B"))
                    file.write(bytes(_padded(array.nbytes) - array.nbytes))
            os.chmod(tmp, 0o644)  # as any other file (NamedTemporaryFile makes it 0600)
            os.replace(tmp, path)
        except OSError as error:
            log.warning("data cache: cannot write %s (%s); continuing without the cache", path, error.strerror or error)
            if tmp is not None:
                with contextlib.suppress(OSError):
                    tmp.unlink()
            return None
        return path

    def _remove_older(self, source: dict[str, Any], keep: Path) -> None:
        """Entries of the same source with other files are stale for good: delete them (and their locks),
        and temporary files a killed writer left behind an hour ago or more."""
        prefix = f"{_label(source)}-{_digest(source)[:16]}-"  # no glob characters: _label keeps [A-Za-z0-9_.-]
        for old in self.directory.glob(f"{prefix}*"):
            if old.stem != keep.stem:
                with contextlib.suppress(OSError):
                    old.unlink()
        for tmp in self.directory.glob(f".{prefix}*.tmp"):
            with contextlib.suppress(OSError):
                if time.time() - tmp.stat().st_mtime > 3600:
                    tmp.unlink()


def _digest(value: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps({"format": FORMAT, **value}, sort_keys=True, default=str).encode()).hexdigest()


def _label(source: dict[str, Any]) -> str:
    """A readable file-name prefix: kind, dataset name, resolution."""
    name = Path(str(source.get("root") or source.get("name") or "data")).name
    parts = [str(source.get("kind", "data")), name, f"{source.get('resolution', '')}px"]
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", "-".join(parts)).strip("_")[:80]


def _padded(size: int) -> int:
    return -(-size // _ALIGN) * _ALIGN


def _read(path: Path, digest: str) -> CacheEntry:
    with open(path, "rb") as file:
        magic = file.read(len(_MAGIC))
        if magic == _MAGIC_BEFORE:
            raise ValueError("written by an earlier version of ulsam-nas")
        if magic != _MAGIC:
            raise ValueError("not a ulsam-nas cache file")
        length, header_crc = struct.unpack("<QI", file.read(12))
        if length > 1 << 28:
            raise ValueError("header length out of range")
        raw = file.read(length)
        if len(raw) != length:
            raise ValueError("truncated header")
        if zlib.crc32(raw) != header_crc:
            raise ValueError("header checksum mismatch")
        header = json.loads(raw)
        size = os.fstat(file.fileno()).st_size
    if header["format"] != FORMAT or header["key"] != digest:
        raise ValueError("written for other files or settings")
    start = _padded(len(_MAGIC) + 12 + length)
    if size != start + header["data_bytes"]:
        raise ValueError(f"{size} bytes, expected {start + header['data_bytes']}: truncated or overwritten")
    if header["data_bytes"] == 0:
        data = np.zeros(0, dtype=np.uint8)
    else:  # copy-on-write: pages are shared with every process mapping this file until written to
        data = np.memmap(path, dtype=np.uint8, mode="c", offset=start, shape=(header["data_bytes"],))
    crc = 0
    tensors = {}
    for spec in header["arrays"]:
        dtype = np.dtype(spec["dtype"])
        count = int(np.prod(spec["shape"], dtype=np.int64))
        nbytes = count * dtype.itemsize
        chunk = data[spec["offset"]: spec["offset"] + nbytes]
        if len(chunk) != nbytes:
            raise ValueError(f"array {spec['name']} runs past the end of the data")
        crc = zlib.crc32(memoryview(chunk), crc)
        tensors[spec["name"]] = torch.from_numpy(chunk.view(dtype).reshape(spec["shape"]))
    if crc != header["crc32"]:
        raise ValueError("checksum mismatch")
    return CacheEntry(tensors, header["meta"], path)
