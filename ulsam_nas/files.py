"""Writing result files: one check that the folder exists and one error format, for every output."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

__all__ = ["checked_output"]


def checked_output(path: str | Path, write: Callable[[Path], object], option: str = "output") -> Path:
    """Run ``write(path)``; a missing folder or an OS error becomes a one-line ValueError naming ``option``."""
    path = Path(path).expanduser()
    if not path.parent.exists():
        raise ValueError(f"{option}: folder {path.parent} does not exist")
    try:
        write(path)
    except OSError as error:
        raise ValueError(f"{option}: cannot write {path}: {error.strerror or error}") from None
    return path
