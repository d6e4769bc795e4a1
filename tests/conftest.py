"""Shared fixtures: small generated datasets and a tiny, fast search set-up."""

from __future__ import annotations

import contextlib
import struct
import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

MODES = ("RGB", "L", "RGBA", "P")


@pytest.fixture(autouse=True)
def _data_cache_in_tmp(tmp_path_factory, monkeypatch):
    """No test writes decoded datasets into the real ~/.cache (each test gets an empty cache)."""
    monkeypatch.setenv("ULSAM_NAS_CACHE_DIR", str(tmp_path_factory.mktemp("data-cache")))


def write_image(path: Path, label: int, index: int) -> None:
    """A class-dependent pattern in a mode and size that vary from image to image."""
    rng = np.random.default_rng(label * 1000 + index)
    size = (20 + 7 * (index % 3), 24 + 5 * (index % 2))
    pixels = rng.integers(0, 60, (size[1], size[0], 3), dtype=np.uint8)
    pixels[:, : size[0] // 2, label % 3] += 150  # the class signal
    image = Image.fromarray(pixels, "RGB")
    mode = MODES[index % len(MODES)]
    image = image.convert(mode) if mode != "P" else image.quantize(16)
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path.with_suffix(".png" if mode in ("RGBA", "P") else ".jpg") if path.suffix == "" else path)


def make_image_folder(root: Path, classes: int = 3, per_class: int = 6) -> Path:
    for label in range(classes):
        for index in range(per_class):
            write_image(root / f"class_{label}" / f"img_{index}", label, index)
    return root


@pytest.fixture
def image_folder(tmp_path) -> Path:
    return make_image_folder(tmp_path / "flat")


@pytest.fixture
def split_image_folder(tmp_path) -> Path:
    make_image_folder(tmp_path / "split" / "train", per_class=5)
    make_image_folder(tmp_path / "split" / "val", per_class=2)
    return tmp_path / "split"


def write_mnist(root: Path, train: int = 60, test: int = 20) -> Path:
    """MNIST's raw idx files, as torchvision reads them."""
    raw = root / "MNIST" / "raw"
    raw.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for prefix, count in (("train", train), ("t10k", test)):
        labels = np.arange(count, dtype=np.uint8) % 10
        images = rng.integers(0, 255, (count, 28, 28), dtype=np.uint8)
        (raw / f"{prefix}-images-idx3-ubyte").write_bytes(struct.pack(">IIII", 2051, count, 28, 28) + images.tobytes())
        (raw / f"{prefix}-labels-idx1-ubyte").write_bytes(struct.pack(">II", 2049, count) + labels.tobytes())
    return root


TINY_SPACE = """\
name: tiny
backbone: mobilenet_v2
resolution: 64
widths: [0.35, 1.0]
drop: [15, 16]
ulsam_after: [16]
subspaces: [4]
"""


@pytest.fixture
def tiny_space(tmp_path) -> Path:
    path = tmp_path / "tiny.yaml"
    path.write_text(TINY_SPACE)
    return path


@pytest.fixture
def small_disk(tmp_path):
    """A factory of small filesystems (a tmpfs of the given bytes) that fill up: writes then fail with ENOSPC."""
    mounted = []

    def make(size: int, name: str = "disk") -> Path:
        folder = tmp_path / name
        folder.mkdir()
        result = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)],
                                capture_output=True, text=True)
        if result.returncode != 0:
            pytest.skip(f"a full disk needs a small tmpfs, which cannot be mounted here: {result.stderr.strip()}")
        mounted.append(folder)
        return folder

    yield make
    for folder in mounted:
        with contextlib.suppress(OSError):
            subprocess.run(["umount", "-l", str(folder)], check=False)
