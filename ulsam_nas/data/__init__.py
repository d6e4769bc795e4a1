"""Datasets for training, held in memory at a resolution.

``registry`` (names, torch-free), ``loaders`` (``load_dataset``), ``images`` (``ImageData``, decoding),
``files`` (walking folders), ``splits`` (validation splits and subsets) and ``cache`` (decoded images on disk).
"""

from ..lazy import lazy_exports
from .registry import DEFAULT_DATASET, TORCHVISION_DATASETS, check_cache_settings, dataset_names

_LAZY = {"ImageData": ".images", "load_dataset": ".loaders"}
__getattr__ = lazy_exports(__name__, _LAZY)

__all__ = ["DEFAULT_DATASET", "TORCHVISION_DATASETS", "ImageData", "check_cache_settings", "dataset_names", "load_dataset"]
