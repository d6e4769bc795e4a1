"""Image files on disk: walking folders of class subfolders, with what the cache key needs."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from .registry import IMAGE_EXTENSIONS

__all__ = ["FolderScan", "scan_class_folders", "walk_files"]


def walk_files(folder: str, extensions: tuple[str, ...] | None = None) -> list[tuple[str, int, int]]:
    """(path, size, mtime in ns) of every file under ``folder`` (with one of ``extensions``, if given), in
    path order (as sorted pathlib paths); os.scandir stats each file once: 50,000 files in a fraction of a second."""
    found = []
    with os.scandir(folder) as scan:
        entries = sorted(scan, key=lambda entry: entry.name)
    for entry in entries:
        if entry.is_dir():
            found.extend(walk_files(entry.path, extensions))
        elif entry.is_file():
            dot = entry.name.rfind(".")
            if extensions is None or (dot > 0 and entry.name[dot:].lower() in extensions):
                stat = entry.stat()
                found.append((entry.path, stat.st_size, stat.st_mtime_ns))
    return found


@dataclass(frozen=True)
class FolderScan:
    """A class folder's images, with what the cache key needs (relative path, size, mtime)."""

    root: Path
    classes: list[str]
    files: list[str]  # paths as strings: 50,000 Path objects alone cost 0.5 s
    labels: list[int]
    stats: list[tuple[str, int, int]]


def scan_class_folders(root: Path) -> FolderScan:
    classes = sorted(entry.name for entry in root.iterdir() if entry.is_dir() and not entry.name.startswith("."))
    files, labels, stats = [], [], []
    prefix = len(str(root)) + 1
    for label, name in enumerate(classes):
        for path, size, mtime in walk_files(os.path.join(str(root), name), IMAGE_EXTENSIONS):
            files.append(path)
            labels.append(label)
            stats.append((path[prefix:], size, mtime))
    return FolderScan(root, classes, files, labels, stats)
