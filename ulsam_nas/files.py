"""Writing result files: one check that the folder exists and one error format, for every output; files the
tool reads back are written atomically."""

from __future__ import annotations

import contextlib
import fcntl
import os
import tempfile
from pathlib import Path
from typing import Callable, Iterator

__all__ = ["checked_output", "lock_beside", "write_atomically"]


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


@contextlib.contextmanager
def lock_beside(path: str | Path) -> Iterator[None]:
    """An exclusive lock across processes on ``path`` (its ``.lock`` file beside it), for read-modify-write of a
    shared file; no lock, and no waiting, where the folder cannot be written."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle = open(path.with_suffix(".lock"), "a")
    except OSError:
        yield
        return
    with handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
