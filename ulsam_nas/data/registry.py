"""Which datasets there are and how they are named: torch-free, for the command line and the settings records."""

from __future__ import annotations

from pathlib import Path

__all__ = ["DEFAULT_DATASET", "IMAGE_EXTENSIONS", "TORCHVISION_DATASETS", "check_cache_settings", "dataset_names"]

DEFAULT_DATASET = "digits"
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp", ".gif")

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


def check_cache_settings(cache_dir: str | Path | None, cache: bool) -> None:
    """Refuse ``cache=False`` (``--no-cache``) with a ``cache_dir``: one of the two would be silently ignored."""
    if not isinstance(cache, bool):
        raise ValueError(f"cache: must be true or false, got {cache!r}")
    if not cache and cache_dir is not None:
        raise ValueError(f"--no-cache and --cache-dir {cache_dir}: --no-cache writes no cache anywhere; give one of them")
