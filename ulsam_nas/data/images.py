"""Images in memory: the train/validation tensors a run trains on, and decoding files into them.

Images are uint8 (N, 3, R, R) tensors, resized on the shorter side and centre-cropped; any size or mode
(grayscale, RGBA, palette) is converted.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import torch
import torch.nn.functional as F

from .splits import subset

__all__ = ["ImageData", "decode_files", "pil_to_uint8", "resize", "warn_skipped"]

log = logging.getLogger("ulsam_nas")


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
        keep = subset(len(self.train_labels), limit, seed)
        return dataclasses.replace(self, train_images=self.train_images[keep], train_labels=self.train_labels[keep],
                                   train_available=self.train_available or len(self.train_labels))

    def channel_stats(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-channel mean and std of the training images, in [0, 1] units."""
        pixels = self.train_images.float().div_(255).transpose(0, 1).reshape(3, -1)
        return pixels.mean(dim=1), pixels.std(dim=1).clamp_min(1e-3)


def resize(images: torch.Tensor, resolution: int) -> torch.Tensor:
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


def pil_to_uint8(image, resolution: int) -> torch.Tensor:
    from torchvision.transforms.functional import center_crop, pil_to_tensor
    from torchvision.transforms.functional import resize as resize_image

    image = image.convert("RGB")
    image = resize_image(image, resolution)
    return pil_to_tensor(center_crop(image, resolution))


def decode_files(files: Sequence[Path | str], resolution: int) -> tuple[list[torch.Tensor | None], list[str]]:
    """Each file decoded at ``resolution`` (None where it cannot be read), and a line per unreadable file."""
    from PIL import Image

    def decode(path: Path | str):
        try:
            with Image.open(path) as image:
                return pil_to_uint8(image, resolution), None
        except Exception as error:  # unreadable or not an image: skipped, reported by the caller
            return None, f"{path}: {error.__class__.__name__}"

    with ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 1)) as pool:
        results = list(pool.map(decode, files))
    return [tensor for tensor, _ in results], [problem for _, problem in results if problem]


def warn_skipped(root: Path | str, problems: list[str]) -> None:
    if problems:
        log.warning("skipped %d unreadable file(s) in %s, e.g. %s", len(problems), root, problems[0])
