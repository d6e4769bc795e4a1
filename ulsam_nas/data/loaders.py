"""Loading a dataset into memory at a resolution: the bundled digits, torchvision's datasets, image folders.

* ``digits`` (default): scikit-learn's real 8x8 handwritten digits (1,797
  images, 10 classes), upsampled. Ships with scikit-learn: no download.
* torchvision datasets by name (``cifar10``, ``flowers102``, ...) from
  ``data_dir``, downloaded only when asked.
* ``imagefolder:PATH``: one subfolder per class, or ``train/`` and ``val/``
  (or ``test/``) folders each holding class subfolders.

Image folders and torchvision datasets are decoded once per resolution and
split settings, then memory-mapped from the cache (``cache.py``).
The validation split is never used for training: where a dataset has no
validation split of its own, a stratified part of its training split is held
out with a fixed seed (``splits.py``), so every trial of a study sees the same
split. Test splits are left alone for final evaluation.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable

import torch

from .cache import DataCache, file_signature
from .files import FolderScan, scan_class_folders, walk_files
from .images import ImageData, decode_files, pil_to_uint8, resize, warn_skipped
from .registry import DEFAULT_DATASET, IMAGE_EXTENSIONS, TORCHVISION_DATASETS, dataset_names
from .splits import split_and_subset, subset

__all__ = ["load_dataset"]


def _digits(resolution: int) -> tuple[list[str], torch.Tensor, torch.Tensor]:
    from sklearn.datasets import load_digits

    digits = load_digits()
    images = torch.as_tensor(digits.images, dtype=torch.float32).unsqueeze(1) * (255.0 / 16.0)
    return [str(c) for c in digits.target_names], resize(images, resolution), torch.as_tensor(digits.target)


def _load_folder(scan: FolderScan, resolution: int, classes: list[str] | None = None,
                 limit: int | None = None, seed: int = 0) -> tuple[list[str], torch.Tensor, torch.Tensor, list[str]]:
    """Decode a scanned class folder: (classes, images, labels, problems with unreadable files)."""
    root, found, files, labels = scan.root, scan.classes, scan.files, scan.labels
    if not found:
        raise ValueError(f"dataset: {root} has no class subfolders (expected {root}/<class>/<image> or train/ and val/ splits)")
    if not files:
        raise ValueError(f"dataset: no images found in {root} (looked for {', '.join(IMAGE_EXTENSIONS)} in {len(found)} class folders)")
    if classes is not None:
        unknown = sorted(set(found) - set(classes))
        if unknown:
            raise ValueError(f"dataset: {root} has classes missing from the training split: {', '.join(unknown[:5])}")
        labels = [classes.index(found[label]) for label in labels]
    keep = subset(len(files), limit, seed).tolist()
    files, labels = [files[i] for i in keep], [labels[i] for i in keep]
    tensors, problems = decode_files(files, resolution)
    warn_skipped(root, problems)
    kept = [i for i, tensor in enumerate(tensors) if tensor is not None]
    if not kept:
        raise ValueError(f"dataset: none of the {len(files)} image files in {root} could be read, e.g. {problems[0]}")
    images = torch.stack([tensors[i] for i in kept])
    return classes or found, images, torch.tensor([labels[i] for i in kept]), problems


def _torchvision(name: str, data_dir: Path, download: bool, resolution: int,
                 limits: tuple[int | None, int | None], seed: int):
    import torchvision.datasets as tvd

    class_name, train_kwargs, val_kwargs = TORCHVISION_DATASETS[name]
    constructor: Callable = getattr(tvd, class_name)

    def open_split(kwargs: dict):
        try:
            return constructor(root=str(data_dir), download=download, **kwargs)
        except RuntimeError:  # torchvision's "Dataset not found or corrupted"
            hint = "add --download to fetch it, if this machine is online" if download is False else "download failed"
            raise ValueError(f"dataset {name}: not found or corrupted in {data_dir} ({hint}; --data-dir sets the folder)") from None

    def read(dataset, indices: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        images, labels = [], []
        for index in indices.tolist():
            image, label = dataset[index]
            images.append(pil_to_uint8(image, resolution))
            labels.append(int(label))
        return torch.stack(images), torch.tensor(labels)

    def all_labels(dataset) -> torch.Tensor:
        for attribute in ("targets", "_labels", "labels"):
            if hasattr(dataset, attribute):
                return torch.as_tensor(getattr(dataset, attribute)).flatten()
        return torch.tensor([int(dataset[i][1]) for i in range(len(dataset))])

    train_set = open_split(train_kwargs)
    classes = [str(c) for c in getattr(train_set, "classes", [])]
    labels = all_labels(train_set)
    if val_kwargs is None:
        train_idx, val_idx, available = split_and_subset(labels, 0.2, limits, seed)
        val_set = train_set
    else:
        val_set = open_split(val_kwargs)
        train_idx, val_idx = subset(len(labels), limits[0], seed), subset(len(val_set), limits[1], seed)
        available = len(labels)
    train_images, train_labels = read(train_set, train_idx)
    val_images, val_labels = read(val_set, val_idx)
    classes = classes or [str(c) for c in range(int(labels.max()) + 1)]
    return classes, train_images, train_labels, val_images, val_labels, available


def load_dataset(
    spec: str = DEFAULT_DATASET,
    resolution: int = 32,
    data_dir: str | Path | None = None,
    download: bool = False,
    train_subset: int | None = None,
    val_subset: int | None = None,
    val_fraction: float = 0.2,
    seed: int = 0,
    cache_dir: str | Path | None = None,
    cache: bool = True,
) -> ImageData:
    """Load ``spec`` into memory at ``resolution`` with a held-out validation split.

    Image folders and torchvision datasets are decoded once and cached in ``cache_dir``
    (None: ``cache.default_cache_dir()``); later loads memory-map the cache
    (``cache.py``). ``cache=False`` decodes every time. The digits need no cache.
    """
    if not isinstance(resolution, int) or resolution < 8:
        raise ValueError(f"resolution: must be an integer >= 8, got {resolution!r}")
    store = DataCache(cache_dir) if cache else None
    if spec == DEFAULT_DATASET:
        classes, images, labels = _digits(resolution)
        train_idx, val_idx, available = split_and_subset(labels, val_fraction, (train_subset, val_subset), seed)
        data = ImageData(spec, classes, images[train_idx], labels[train_idx], images[val_idx], labels[val_idx], available)
    elif spec in TORCHVISION_DATASETS:
        root = Path(data_dir or "data").expanduser()
        data = _cached_torchvision(spec, root, download, resolution, (train_subset, val_subset), seed, store)
    elif spec.startswith("imagefolder:"):
        root = Path(spec.split(":", 1)[1]).expanduser()
        data = _imagefolder(root, resolution, train_subset, val_subset, val_fraction, seed, store)
    else:
        raise ValueError(f"dataset: unknown dataset {spec!r}; valid: {', '.join(dataset_names())}")
    if data.num_classes < 2 or len(data.train_labels.unique()) < 2:
        raise ValueError(f"dataset {spec}: needs at least 2 classes with images, found {len(data.train_labels.unique())}")
    if len(data.val_labels) == 0:
        raise ValueError(f"dataset {spec}: too few images to hold out a validation split (need 2+ images in some class)")
    return data


_SPLITS = ("train_images", "train_labels", "val_images", "val_labels")


def _from_cache(name: str, store: DataCache | None, source: dict, key: Callable[[], dict],
                build: Callable[[], tuple[list[str], tuple[torch.Tensor, ...], list[tuple[str, list[str]]], int]],
                rekey: bool = False) -> ImageData:
    """``build()`` -> (classes, the four split tensors, skipped files per folder, training images before the subset),
    through the cache when there is one."""

    built = []

    def build_entry() -> tuple[dict[str, torch.Tensor], dict]:
        classes, tensors, skipped, available = build()  # warns about unreadable files itself
        built.append(True)
        return dict(zip(_SPLITS, tensors)), {"classes": classes, "skipped": skipped, "train_available": available}

    if store is None:
        tensors, meta = build_entry()
    else:
        entry = store.fetch(source, key(), build_entry, key_after_build=key if rekey else None)
        tensors, meta = entry.tensors, entry.meta
        if not built:  # read from the cache: the same warning as when it was decoded
            for root, problems in meta["skipped"]:
                warn_skipped(root, problems)
    available = meta.get("train_available")  # caches written before it was recorded: known only without a subset
    if available is None and source.get("train_subset") is None:
        available = len(tensors["train_labels"])
    return ImageData(name, list(meta["classes"]), *(tensors[split] for split in _SPLITS), available)


def _cached_torchvision(name: str, root: Path, download: bool, resolution: int,
                        limits: tuple[int | None, int | None], seed: int, store: DataCache | None) -> ImageData:
    """A torchvision dataset, keyed by every file under ``root`` (other datasets kept there count too)."""
    source = {"kind": "torchvision", "name": name, "root": str(root.resolve()), "resolution": resolution,
              "train_subset": limits[0], "val_subset": limits[1], "seed": seed}
    inside = str(store.directory.resolve()) + os.sep if store is not None else None  # a cache kept in root is skipped

    def key() -> dict:
        top = str(root.resolve())
        files = [(path[len(top) + 1:], size, mtime) for path, size, mtime in (walk_files(top) if root.is_dir() else [])
                 if inside is None or not path.startswith(inside)]
        return {"files": file_signature(files)}

    def build():
        classes, *tensors, available = _torchvision(name, root, download, resolution, limits, seed)
        return classes, tuple(tensors), [], available

    return _from_cache(name, store, source, key, build, rekey=download)


def _imagefolder(root: Path, resolution: int, train_subset: int | None, val_subset: int | None,
                 val_fraction: float, seed: int, store: DataCache | None = None) -> ImageData:
    if not root.is_dir():
        raise ValueError(f"dataset: folder not found: {root}")
    val_root = next((root / name for name in ("val", "valid", "validation", "test") if (root / name).is_dir()), None)
    name = f"imagefolder:{root}"
    split = (root / "train").is_dir() and val_root is not None
    scans = [scan_class_folders(root / "train"), scan_class_folders(val_root)] if split else [scan_class_folders(root)]
    source = {"kind": "imagefolder", "root": str(root.resolve()), "resolution": resolution, "layout":
              [str(scan.root.relative_to(root)) for scan in scans], "train_subset": train_subset,
              "val_subset": val_subset, "val_fraction": None if split else val_fraction, "seed": seed}

    def key() -> dict:
        return {"files": [file_signature(scan.stats) for scan in scans]}

    def build():
        if split:
            classes, train_images, train_labels, train_problems = _load_folder(scans[0], resolution, limit=train_subset,
                                                                               seed=seed)
            _, val_images, val_labels, val_problems = _load_folder(scans[1], resolution, classes, limit=val_subset, seed=seed)
            skipped = [(str(scan.root), problems) for scan, problems in zip(scans, (train_problems, val_problems)) if problems]
            available = len(scans[0].files) if train_subset is not None else len(train_labels)  # unreadable ones included
            return classes, (train_images, train_labels, val_images, val_labels), skipped, available
        classes, images, labels, problems = _load_folder(scans[0], resolution)
        train_idx, val_idx, available = split_and_subset(labels, val_fraction, (train_subset, val_subset), seed)
        skipped = [(str(root), problems)] if problems else []
        return classes, (images[train_idx], labels[train_idx], images[val_idx], labels[val_idx]), skipped, available

    return _from_cache(name, store, source, key, build)
