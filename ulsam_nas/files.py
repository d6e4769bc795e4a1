"""Writing result files: one check that the folder exists and one error format, for every output; files the
tool reads back are written atomically."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import Callable

__all__ = ["checked_output", "write_atomically"]


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


def write_atomically(path: str | Path, data: bytes | memoryview) -> None:
    """Write ``data`` to a temporary file beside ``path``, flush it to disk, then rename it over ``path``.

    A crash or a full disk leaves the previous file (or none), never half of one. An OSError is raised
    after the temporary file is removed.
    """
    path = Path(path)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.chmod(temporary, 0o644)  # as any other file (mkstemp makes it 0600)
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise
