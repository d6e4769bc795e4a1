"""How a network is trained: the settings records of proxy, refined and full training, in one place.

Torch-free, so that the command line and study files read them without loading PyTorch. The three
runs share one recipe (``recipe.py`` holds its defaults): proxy training scores search candidates,
refinement retrains a study's front longer, and full training trains a chosen network.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

from ..data.registry import DEFAULT_DATASET, check_cache_settings
from . import recipe

__all__ = ["AUTO", "AUTO_IMAGES", "AUTO_MAX_EPOCHS", "AUTO_SUBSET", "ProxySettings", "Recipe", "RefineSettings",
           "SAMPLING_RULES", "SANDWICH_PASSES", "SupernetSettings", "TrainSettings", "WIDTH_SHARING", "check_run_settings",
           "epochs_for"]

AUTO = "auto"
# The default proxy by dataset size, chosen on the proxy-fidelity ladder (benchmarks/RESULTS.md, "Proxy
# fidelity"): a subset of at most AUTO_SUBSET training images, trained for as many epochs as reach about
# AUTO_IMAGES images (at most AUTO_MAX_EPOCHS; a large dataset gets one epoch).
AUTO_SUBSET = 10_000
AUTO_IMAGES = 10_000
AUTO_MAX_EPOCHS = 4


def epochs_for(images: float, per_epoch: int) -> int:
    """The whole epochs (at least one) of ``per_epoch`` images that come closest to training on ``images`` images."""
    return max(1, round(images / max(1, per_epoch)))


def check_run_settings(settings, prefix: str, min_resolution: int, auto: tuple[str, ...] = ()) -> None:
    """The checks every run's settings share: positive epochs, resolution and batch size, a positive learning
    rate, a warm-up share in [0, 1). The fields named in ``auto`` may also be "auto" (chosen later, by dataset size).
    """
    for name in ("epochs", "resolution", "batch_size"):
        value = getattr(settings, name)
        if name in auto and value == AUTO:
            continue
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            allowed = " or 'auto'" if name in auto else ""
            raise ValueError(f"{prefix}{name}: must be a positive integer{allowed}, got {value!r}")
    if settings.resolution < min_resolution:
        raise ValueError(f"{prefix}resolution: must be >= {min_resolution} pixels, got {settings.resolution}")
    lr = settings.lr
    if isinstance(lr, bool) or not (isinstance(lr, (int, float)) and math.isfinite(lr) and lr > 0):
        raise ValueError(f"{prefix}lr: must be a positive number, got {lr!r}")
    warmup = settings.warmup
    if isinstance(warmup, bool) or not isinstance(warmup, (int, float)) or not 0 <= warmup < 1:
        raise ValueError(f"{prefix}warmup: must be a share of the steps in [0, 1), got {warmup!r}")
    clip = settings.grad_clip
    if clip is not None and (isinstance(clip, bool) or not isinstance(clip, (int, float)) or not math.isfinite(clip)
                             or clip <= 0):
        raise ValueError(f"{prefix}grad_clip: must be a positive number or empty (no clipping), got {clip!r}")


def _legacy(values: dict[str, Any], before: dict[str, Any]) -> dict[str, Any]:
    """Stored settings from before a recipe field existed: the field takes the value that version trained with."""
    return {**before, **values}


@dataclass(frozen=True, kw_only=True)
class Recipe:
    """How every run trains (``recipe.py`` holds the defaults and why): proxy, refined and full training share it."""

    batch_size: int = recipe.BATCH_SIZE
    lr: float = recipe.LR  # peak learning rate
    momentum: float = recipe.MOMENTUM
    weight_decay: float = recipe.WEIGHT_DECAY
    label_smoothing: float = recipe.LABEL_SMOOTHING
    warmup: float = recipe.WARMUP  # share of the steps spent warming up
    zero_init_residual: bool = recipe.ZERO_INIT_RESIDUAL  # each residual block starts as the identity
    grad_clip: float | None = recipe.GRAD_CLIP  # largest gradient norm per step (None: no clipping)


@dataclass(frozen=True)
class ProxySettings(Recipe):
    """Proxy training: a short run whose validation accuracy scores a search candidate."""

    epochs: int | str = AUTO  # "auto": by dataset size (see AUTO_IMAGES)
    resolution: int = 48  # proxy input size in pixels
    train_subset: int | str | None = AUTO  # at most this many training images (None: all; "auto": by dataset size)
    threads: int | None = None  # CPU threads (None: PyTorch's default)
    device: str = "cpu"  # or "cuda"

    def __post_init__(self) -> None:
        check_run_settings(self, prefix="proxy ", min_resolution=16, auto=("epochs",))
        if self.train_subset == "all":  # as a study file or the command line may say it
            object.__setattr__(self, "train_subset", None)
        subset = self.train_subset
        if subset is not None and subset != AUTO and (isinstance(subset, bool) or not isinstance(subset, int) or subset < 2):
            raise ValueError(f"proxy train_subset: must be an integer >= 2, 'auto' or empty (all), got {subset!r}")

    @property
    def is_resolved(self) -> bool:
        return AUTO not in (self.epochs, self.train_subset)

    def resolve(self, train_images: int) -> "ProxySettings":
        """These settings for a dataset of ``train_images`` training images: every "auto" made a number."""
        subset = self.train_subset
        if subset == AUTO:
            subset = AUTO_SUBSET if train_images > AUTO_SUBSET else None
        epochs = self.epochs
        if epochs == AUTO:
            epochs = min(AUTO_MAX_EPOCHS, epochs_for(AUTO_IMAGES, min(train_images, subset or train_images)))
        return dataclasses.replace(self, epochs=epochs, train_subset=subset)

    def defining(self) -> dict[str, Any]:
        """What makes two proxies' scores comparable (threads and device do not)."""
        return {k: v for k, v in dataclasses.asdict(self).items() if k not in ("threads", "device")}

    @classmethod
    def from_stored(cls, values: dict[str, Any], **machine: Any) -> "ProxySettings":
        """Settings a study stored; a study made before the recipe fields trained with the old recipe."""
        return cls(**_legacy(values, recipe.BEFORE_PROXY), **machine)


# How a supernet draws the children it trains: one per step (SPOS); the sandwich rule (BigNAS); the sandwich rule
# with in-place distillation (BigNAS: the largest child learns from the labels, the others from its predictions).
SAMPLING_RULES = ("uniform", "sandwich", "sandwich-distill")
SANDWICH_PASSES = 4  # the sandwich rule: the largest, the smallest and two drawn children per step
# A supernet per width of the space, or one for all of them whose narrower children use the first channels of
# every layer (Once-for-All's channel slicing). Sliced is the default: against the long-trained reference it
# ranked with Kendall tau +0.68 where one supernet per width ranked +0.38, at 0.33 core-hours instead of 0.86
# (benchmarks/RESULTS.md, "Supernet variants").
WIDTH_SHARING = ("separate", "sliced")
BEFORE_SLICED = {"width_sharing": "separate"}  # supernets stored before slicing: one per width


@dataclass(frozen=True)
class SupernetSettings(Recipe):
    """Supernet training (``training/supernet.py``): one long run that trains every network of a space at once.

    ``recalibration_images`` training images re-estimate each child's BatchNorm statistics before it is scored
    (Once-for-All used about 2,000). ``sampling`` "sandwich" runs four children per step (four times the compute);
    "sandwich-distill" trains the three after the largest on its predictions instead of the labels.
    ``width_sharing`` "sliced" (the default) trains one supernet for every width of the space, "separate" one per
    width.
    """

    epochs: int = 12
    resolution: int = 48  # the proxy's input size
    train_subset: int | None = None  # None: all the training images
    seed: int = 0
    recalibration_images: int = 2000
    sampling: str = "uniform"  # one of SAMPLING_RULES
    width_sharing: str = "sliced"  # one of WIDTH_SHARING
    threads: int | None = None
    device: str = "cpu"

    def __post_init__(self) -> None:
        check_run_settings(self, prefix="supernet ", min_resolution=16)
        if self.sampling not in SAMPLING_RULES:
            raise ValueError(f"supernet sampling: must be {' or '.join(SAMPLING_RULES)}, got {self.sampling!r}")
        if self.width_sharing not in WIDTH_SHARING:
            raise ValueError(f"supernet width_sharing: must be {' or '.join(WIDTH_SHARING)}, got {self.width_sharing!r}")
        for name in ("train_subset", "recalibration_images"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 2):
                raise ValueError(f"supernet {name}: must be an integer >= 2, got {value!r}")

    @property
    def passes(self) -> int:
        """Forward and backward passes per training step."""
        return 1 if self.sampling == "uniform" else SANDWICH_PASSES

    @property
    def distill(self) -> bool:
        """Whether the passes after the first (the largest child) learn from its predictions (in-place distillation)."""
        return self.sampling == "sandwich-distill"

    def defining(self) -> dict[str, Any]:
        """What makes two supernets the same: everything but threads and device (and width sharing where it is
        "separate", as for supernets trained before it existed: they keep their names)."""
        return {k: v for k, v in dataclasses.asdict(self).items()
                if k not in ("threads", "device") and not (k == "width_sharing" and v == "separate")}

    @classmethod
    def from_stored(cls, values: dict[str, Any], **machine: Any) -> "SupernetSettings":
        """Settings a study stored (``defining``): without a width sharing, they were one supernet per width."""
        return cls(**_legacy(values, BEFORE_SLICED), **machine)


@dataclass(frozen=True)
class RefineSettings:
    """How refinement trains a study's front: several times the proxy's training (stored with the study).

    Defaults: 3x the proxy's training images (``factor``), as whole epochs over all the training data
    (at least one, so every image is seen; the proxy may use a subset): the digits' 4-epoch proxy on
    all its images becomes 12 epochs; a one-epoch proxy on 10,000 of 50,000 images becomes one epoch on
    all 50,000. 2 seeds (the fewest that show a spread; their mean halves the seed variance). Up to
    ``count`` networks. Resolution, batch size and the recipe stay the proxy's.
    """

    count: int = 8  # networks refined at most (0: no refinement)
    factor: int = 3  # the refined training trains on about this many times the proxy's images per trial
    seeds: int = 2
    train_subset: int | None = None  # None: all the training data

    def __post_init__(self) -> None:
        if isinstance(self.count, bool) or not isinstance(self.count, int) or self.count < 0:
            raise ValueError(f"refine: must be an integer >= 0, got {self.count!r}")
        if isinstance(self.factor, bool) or not isinstance(self.factor, int) or self.factor < 1:
            raise ValueError(f"refine factor: must be an integer >= 1, got {self.factor!r}")
        if isinstance(self.seeds, bool) or not isinstance(self.seeds, int) or self.seeds < 2:
            raise ValueError(f"refine seeds: must be an integer >= 2 (a spread needs two), got {self.seeds!r}")
        if self.train_subset is not None and (not isinstance(self.train_subset, int) or self.train_subset < 2):
            raise ValueError(f"refine train_subset: must be an integer >= 2 or empty (all), got {self.train_subset!r}")

    def training(self, proxy: ProxySettings, available: int) -> ProxySettings:
        """The refined training on ``available`` training images (the refinement's): the proxy's, longer, on more data."""
        proxy_images = min(proxy.train_subset or available, available)
        refined_images = min(self.train_subset or available, available)
        epochs = epochs_for(self.factor * proxy.epochs * proxy_images, refined_images)
        return dataclasses.replace(proxy, epochs=epochs, train_subset=self.train_subset)

    def defining(self) -> dict[str, Any]:
        """What makes two refinements' runs comparable: everything but how many networks are refined."""
        return {"factor": self.factor, "seeds": self.seeds, "train_subset": self.train_subset}


@dataclass(frozen=True)
class TrainSettings(Recipe):
    """Full training of a chosen network (``ulsam-nas train``): the proxy's recipe, long, with augmentation."""

    dataset: str = DEFAULT_DATASET
    data_dir: str | None = None
    download: bool = False
    cache_dir: str | None = None  # decoded-dataset cache (None: ~/.cache/ulsam-nas)
    cache: bool = True  # False: decode every image again and write nothing (--no-cache)
    epochs: int = 30
    resolution: int = 224
    train_subset: int | None = None
    flip: bool | None = None  # None: on, except for digit datasets
    seed: int = 0
    threads: int | None = None
    device: str = "cpu"

    def __post_init__(self) -> None:
        # 32 px: the smallest input every config runs on (and costs are counted at)
        check_run_settings(self, prefix="", min_resolution=32)
        check_cache_settings(self.cache_dir, self.cache)

    @property
    def uses_flip(self) -> bool:
        return self.flip if self.flip is not None else self.dataset not in ("digits", "mnist", "svhn")

    def resumable_fields(self) -> dict:
        """Settings that must not change across a resume (threads, device and where data lives may)."""
        machine_only = ("threads", "device", "data_dir", "cache_dir", "cache")
        return {k: v for k, v in dataclasses.asdict(self).items() if k not in machine_only}
