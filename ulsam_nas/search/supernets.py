"""A study's supernets: where they are kept, trained once and shared by every worker and resume.

With ``evaluator: supernet`` a study scores candidates with the weights of one supernet for every width of its
space (channels sliced; one per width with ``width_sharing: separate``; ``ulsam_nas/supernet.py``), trained
before the first trial by the one training loop (``training/supernet.py``).
Each supernet's checkpoint is named by a hash of what it was trained for (space, dataset, width, settings), so
a study resumed, another study of the same space and data, or another worker finds it and reuses it. It is kept
beside a file storage (``studies.db`` -> ``studies.db.supernets/``) and, for a database server, in the cache
folder (``--cache-dir``; workers on several machines need that folder shared). While one process trains a
supernet it holds a lock on it; the others wait, then read the finished checkpoint.
"""

from __future__ import annotations

import dataclasses
import fcntl
import hashlib
import json
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

from ..data import ImageData
from ..data.cache import default_cache_dir
from ..space import SearchSpace
from ..training.checkpoint import load_checkpoint
from ..training.settings import SupernetSettings
from ..training.supernet import SupernetEvaluator, supernet_key, train_supernet
from .urls import StorageURL

__all__ = ["SupernetEpoch", "prepare_supernets", "supernet_folder", "supernet_path", "supernet_widths", "trained_epochs"]


@dataclass(frozen=True)
class SupernetEpoch:
    """What the progress display hears after each supernet epoch."""

    width: float | None  # None: the supernet of every width
    epoch: int
    epochs: int
    mean_loss: float
    seconds: float


def supernet_folder(storage: StorageURL, cache_dir: str | None = None) -> Path:
    """Beside a file storage; in the cache folder for a database server."""
    if storage.path is not None:
        return storage.path.with_name(storage.path.name + ".supernets")
    return (Path(cache_dir).expanduser() if cache_dir else default_cache_dir()) / "supernets"


def supernet_widths(space: SearchSpace, settings: SupernetSettings) -> list[float | None]:
    """The supernets a study trains, by width: one per width of the space, or one for all of them (None)."""
    return list(space.widths) if settings.width_sharing == "separate" else [None]


def supernet_path(folder: Path, space: SearchSpace, dataset: str, width: float | None,
                  settings: SupernetSettings) -> Path:
    """The checkpoint of the supernet trained for exactly these: named by a hash of them."""
    key = json.dumps(supernet_key(space, dataset, width, settings), sort_keys=True)
    return folder / f"{space.name}-w{'all' if width is None else width}-{hashlib.sha256(key.encode()).hexdigest()[:16]}.pt"


def trained_epochs(path: Path) -> int:
    """Epochs a supernet's checkpoint holds (0: none yet)."""
    return int(load_checkpoint(path, map_location="cpu")["epoch"]) if path.exists() else 0


@contextmanager
def _held(path: Path, wait: bool = True) -> Iterator[bool]:
    """An exclusive lock beside ``path`` (released if the process dies); yields False where ``wait`` is off and
    another process holds it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_name(path.name + ".lock"), "a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def prepare_supernets(space: SearchSpace, data: ImageData, settings: SupernetSettings, folder: Path,
                      on_epoch: Callable[[SupernetEpoch], None] | None = None,
                      sole_threads: int | None = None) -> SupernetEvaluator:
    """The supernets of ``space`` (:func:`supernet_widths`) trained on ``data`` (all its training images, or
    ``settings``' subset), each trained, continued or read back under its lock; the evaluator that scores children
    with them.

    A width another worker is training is skipped for one that nobody holds, so that workers train different
    widths side by side; when every width left is held, this process waits for the first and reads it back. The one
    supernet of every width, which all workers wait for, trains on ``sole_threads`` (all the workers' threads; None:
    ``settings``').
    """
    supernets = {}
    pending = supernet_widths(space, settings)

    def train(width: float | None) -> None:
        def heard(epoch: int, loss: float, seconds: float) -> None:
            if on_epoch is not None:
                on_epoch(SupernetEpoch(width, epoch, settings.epochs, loss, seconds))

        threads = sole_threads if width is None and sole_threads else settings.threads
        supernets[width] = train_supernet(space, width, data, dataclasses.replace(settings, threads=threads),
                                          path_of(width), on_epoch=heard)
        pending.remove(width)

    def path_of(width: float | None) -> Path:
        return supernet_path(folder, space, data.name, width, settings)

    while pending:
        for width in pending:
            with _held(path_of(width), wait=False) as free:
                if free:
                    train(width)
                    break
        else:
            with _held(path_of(pending[0])):
                train(pending[0])
    if None in supernets:  # one for every width
        supernets = {width: supernets[None] for width in space.widths}
    return SupernetEvaluator(supernets, data, settings)
