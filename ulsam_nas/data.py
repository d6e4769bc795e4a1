"""Datasets for proxy training, held in memory at the proxy resolution.

* ``digits`` (default): scikit-learn's real 8x8 handwritten digits (1,797
  images, 10 classes), upsampled. Ships with scikit-learn: no download.
* torchvision datasets by name (``cifar10``, ``flowers102``, ...) from
  ``data_dir``, downloaded only when asked.
* ``imagefolder:PATH``: one subfolder per class, or ``train/`` and ``val/``
  (or ``test/``) folders each holding class subfolders.

Images are stored as uint8 (N, 3, R, R) tensors, resized on the shorter side
and centre-cropped; any size or mode (grayscale, RGBA, palette) is converted.
Image folders and torchvision datasets are decoded once per resolution and
split settings, then memory-mapped from the cache (``data_cache.py``).
The validation split is never used for training: where a dataset has no
validation split of its own, a stratified part of its training split is held
out with a fixed seed, so every trial of a study sees the same split. Test
splits are left alone for final evaluation.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import torch
import torch.nn.functional as F

from .data_cache import DataCache, file_signature

__all__ = ["ImageData", "TORCHVISION_DATASETS", "check_cache_settings", "load_dataset", "dataset_names"]

log = logging.getLogger("ulsam_nas")

DEFAULT_DATASET = "digits"
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp", ".gif")


@dataclass
class ImageData:
    """Train and validation images (uint8, N x 3 x R x R) with integer labels."""

    name: str
    classes: list[str]
    train_images: torch.Tensor
    train_labels: torch.Tensor
    val_images: torch.Tensor
    val_labels: torch.Tensor
    train_available: int | None = None  # training images before ``train_subset`` took its share (None: not known)

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def resolution(self) -> int:
        return self.train_images.shape[-1]

    def with_train_subset(self, limit: int | None, seed: int = 0) -> "ImageData":
        """At most ``limit`` training images, the seeded subset ``load_dataset(train_subset=limit)`` takes."""
        if limit is None or limit >= len(self.train_labels):
            return self
        keep = _subset(len(self.train_labels), limit, seed)
        return dataclasses.replace(self, train_images=self.train_images[keep], train_labels=self.train_labels[keep],
                                   train_available=self.train_available or len(self.train_labels))

    def channel_stats(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-channel mean and std of the training images, in [0, 1] units."""
        pixels = self.train_images.float().div_(255).transpose(0, 1).reshape(3, -1)
        return pixels.mean(dim=1), pixels.std(dim=1).clamp_min(1e-3)


# name -> (torchvision class name, kwargs of the training split, kwargs of its own validation split or None)
TORCHVISION_DATASETS: dict[str, tuple[str, dict, dict | None]] = {
    "cifar10": ("CIFAR10", {"train": True}, None),
    "cifar100": ("CIFAR100", {"train": True}, None),
    "mnist": ("MNIST", {"train": True}, None),
    "fashion_mnist": ("FashionMNIST", {"train": True}, None),
    "svhn": ("SVHN", {"split": "train"}, None),
    "stl10": ("STL10", {"split": "train"}, None),
    "flowers102": ("Flowers102", {"split": "train"}, {"split": "val"}),
    "food101": ("Food101", {"split": "train"}, None),
    "oxford_pets": ("OxfordIIITPet", {"split": "trainval"}, None),
    "fgvc_aircraft": ("FGVCAircraft", {"split": "train"}, {"split": "val"}),
    "stanford_cars": ("StanfordCars", {"split": "train"}, None),
    "dtd": ("DTD", {"split": "train"}, {"split": "val"}),
    "country211": ("Country211", {"split": "train"}, {"split": "valid"}),
}


def dataset_names() -> list[str]:
    return [DEFAULT_DATASET, *TORCHVISION_DATASETS, "imagefolder:PATH"]


def _resize(images: torch.Tensor, resolution: int) -> torch.Tensor:
    """Float (N, C, H, W) -> uint8 (N, 3, R, R): shorter side to R, centre crop."""
    if images.shape[1] == 1:
        images = images.expand(-1, 3, -1, -1)
    height, width = images.shape[-2:]
    scale = resolution / min(height, width)
    size = (max(resolution, round(height * scale)), max(resolution, round(width * scale)))
    images = F.interpolate(images, size=size, mode="bilinear", align_corners=False, antialias=scale < 1)
    top, left = (size[0] - resolution) // 2, (size[1] - resolution) // 2
    images = images[..., top: top + resolution, left: left + resolution]
    return images.round().clamp_(0, 255).to(torch.uint8).contiguous()


def _pil_to_uint8(image, resolution: int) -> torch.Tensor:
    from torchvision.transforms.functional import center_crop, pil_to_tensor, resize

    image = image.convert("RGB")
    image = resize(image, resolution)
    return pil_to_tensor(center_crop(image, resolution))


def _stratified_split(labels: torch.Tensor, fraction: float, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Indices (train, val): ``fraction`` of every class with 2+ images goes to val."""
    generator = torch.Generator().manual_seed(seed)
    train, val = [], []
    for label in labels.unique():
        members = (labels == label).nonzero().flatten()
        members = members[torch.randperm(len(members), generator=generator)]
        count = 0 if len(members) < 2 else max(1, round(len(members) * fraction))
        val.append(members[:count])
        train.append(members[count:])
    return torch.cat(train).sort().values, torch.cat(val).sort().values


def _subset(count: int, limit: int | None, seed: int) -> torch.Tensor:
    order = torch.randperm(count, generator=torch.Generator().manual_seed(seed))
    return order[:limit].sort().values if limit is not None and limit < count else torch.arange(count)


def _digits(resolution: int) -> tuple[list[str], torch.Tensor, torch.Tensor]:
    from sklearn.datasets import load_digits

    digits = load_digits()
    images = torch.as_tensor(digits.images, dtype=torch.float32).unsqueeze(1) * (255.0 / 16.0)
    return [str(c) for c in digits.target_names], _resize(images, resolution), torch.as_tensor(digits.target)


def _decode_files(files: Sequence[Path | str], resolution: int) -> tuple[list[torch.Tensor | None], list[str]]:
    from PIL import Image

    def decode(path: Path | str):
        try:
            with Image.open(path) as image:
                return _pil_to_uint8(image, resolution), None
        except Exception as error:  # unreadable or not an image: skipped, reported below
            return None, f"{path}: {error.__class__.__name__}"

    with ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 1)) as pool:
        results = list(pool.map(decode, files))
    return [tensor for tensor, _ in results], [problem for _, problem in results if problem]


def _walk_files(folder: str, extensions: tuple[str, ...] | None = None) -> list[tuple[str, int, int]]:
    """(path, size, mtime in ns) of every file under ``folder`` (with one of ``extensions``, if given), in
    path order (as sorted pathlib paths); os.scandir stats each file once: 50,000 files in a fraction of a second."""
    found = []
    with os.scandir(folder) as scan:
        entries = sorted(scan, key=lambda entry: entry.name)
    for entry in entries:
        if entry.is_dir():
            found.extend(_walk_files(entry.path, extensions))
        elif entry.is_file():
            dot = entry.name.rfind(".")
            if extensions is None or (dot > 0 and entry.name[dot:].lower() in extensions):
                stat = entry.stat()
                found.append((entry.path, stat.st_size, stat.st_mtime_ns))
    return found


@dataclass(frozen=True)
class _FolderScan:
    """A class folder's images, with what the cache key needs (relative path, size, mtime)."""

    root: Path
    classes: list[str]
    files: list[str]  # paths as strings: 50,000 Path objects alone cost 0.5 s
    labels: list[int]
    stats: list[tuple[str, int, int]]


def _scan_class_folders(root: Path) -> _FolderScan:
    classes = sorted(entry.name for entry in root.iterdir() if entry.is_dir() and not entry.name.startswith("."))
    files, labels, stats = [], [], []
    prefix = len(str(root)) + 1
    for label, name in enumerate(classes):
        for path, size, mtime in _walk_files(os.path.join(str(root), name), IMAGE_EXTENSIONS):
            files.append(path)
            labels.append(label)
            stats.append((path[prefix:], size, mtime))
    return _FolderScan(root, classes, files, labels, stats)


def _load_folder(scan: _FolderScan, resolution: int, classes: list[str] | None = None,
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
    keep = _subset(len(files), limit, seed).tolist()
    files, labels = [files[i] for i in keep], [labels[i] for i in keep]
    tensors, problems = _decode_files(files, resolution)
    _warn_skipped(root, problems)
    kept = [i for i, tensor in enumerate(tensors) if tensor is not None]
    if not kept:
        raise ValueError(f"dataset: none of the {len(files)} image files in {root} could be read, e.g. {problems[0]}")
    images = torch.stack([tensors[i] for i in kept])
    return classes or found, images, torch.tensor([labels[i] for i in kept]), problems


def _warn_skipped(root: Path | str, problems: list[str]) -> None:
    if problems:
        log.warning("skipped %d unreadable file(s) in %s, e.g. %s", len(problems), root, problems[0])


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
            images.append(_pil_to_uint8(image, resolution))
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
        train_idx, val_idx = _stratified_split(labels, 0.2, seed)
        val_set = train_set
    else:
        train_idx, val_set = torch.arange(len(labels)), open_split(val_kwargs)
        val_idx = torch.arange(len(val_set))
    available = len(train_idx)
    train_idx = train_idx[_subset(len(train_idx), limits[0], seed)]
    val_idx = val_idx[_subset(len(val_idx), limits[1], seed)]
    train_images, train_labels = read(train_set, train_idx)
    val_images, val_labels = read(val_set, val_idx)
    classes = classes or [str(c) for c in range(int(labels.max()) + 1)]
    return classes, train_images, train_labels, val_images, val_labels, available


def check_cache_settings(cache_dir: str | Path | None, cache: bool) -> None:
    """Refuse ``cache=False`` (``--no-cache``) with a ``cache_dir``: one of the two would be silently ignored."""
    if not isinstance(cache, bool):
        raise ValueError(f"cache: must be true or false, got {cache!r}")
    if not cache and cache_dir is not None:
        raise ValueError(f"--no-cache and --cache-dir {cache_dir}: --no-cache writes no cache anywhere; give one of them")


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
    (None: ``data_cache.default_cache_dir()``); later loads memory-map the cache
    (``data_cache.py``). ``cache=False`` decodes every time. The digits need no cache.
    """
    if not isinstance(resolution, int) or resolution < 8:
        raise ValueError(f"resolution: must be an integer >= 8, got {resolution!r}")
    store = DataCache(cache_dir) if cache else None
    if spec == DEFAULT_DATASET:
        classes, images, labels = _digits(resolution)
        train_idx, val_idx = _stratified_split(labels, val_fraction, seed)
        available = len(train_idx)
        train_idx = train_idx[_subset(len(train_idx), train_subset, seed)]
        val_idx = val_idx[_subset(len(val_idx), val_subset, seed)]
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
                _warn_skipped(root, problems)
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
        files = [(path[len(top) + 1:], size, mtime) for path, size, mtime in (_walk_files(top) if root.is_dir() else [])
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
    scans = [_scan_class_folders(root / "train"), _scan_class_folders(val_root)] if split else [_scan_class_folders(root)]
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
        train_idx, val_idx = _stratified_split(labels, val_fraction, seed)
        available = len(train_idx)
        train_idx = train_idx[_subset(len(train_idx), train_subset, seed)]
        val_idx = val_idx[_subset(len(val_idx), val_subset, seed)]
        skipped = [(str(root), problems)] if problems else []
        return classes, (images[train_idx], labels[train_idx], images[val_idx], labels[val_idx]), skipped, available

    return _from_cache(name, store, source, key, build)
