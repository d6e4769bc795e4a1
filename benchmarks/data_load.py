"""Loading an image folder cold (decoding every file) and from the decoded-data cache, side by side.

``python -m benchmarks.data_load --data /tmp/cifar5-dev --resolution 48``; without ``--data``, a
generated folder of small JPEGs. Both loads run in this process against a fresh, empty cache
directory; the cached load includes scanning the folder (the key), checking the cache file
(size, CRC-32) and memory-mapping it.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from ulsam_nas.data import load_dataset


def generated_folder(root: Path, classes: int = 5, per_class: int = 400, size: int = 32) -> Path:
    """``classes`` x ``per_class`` random JPEGs in train/ and test/ (4:1), CIFAR-sized."""
    from PIL import Image

    rng = np.random.default_rng(0)
    for label in range(classes):
        for index in range(per_class):
            split = "test" if index % 5 == 0 else "train"
            folder = root / split / f"class_{label}"
            folder.mkdir(parents=True, exist_ok=True)
            pixels = rng.integers(0, 255, (size, size, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(folder / f"{index:04d}.jpg", quality=90)
    return root


def run(data: str | None = None, resolution: int = 48) -> dict:
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(data) if data else generated_folder(Path(scratch) / "images")
        cache = Path(scratch) / "cache"
        spec = f"imagefolder:{root}"
        started = time.perf_counter()
        cold = load_dataset(spec, resolution, cache_dir=cache)
        cold_seconds = time.perf_counter() - started
        started = time.perf_counter()
        cached = load_dataset(spec, resolution, cache_dir=cache)
        cached_seconds = time.perf_counter() - started
        same = torch.equal(cold.train_images, cached.train_images) and torch.equal(cold.val_labels, cached.val_labels)
        cache_bytes = sum(path.stat().st_size for path in cache.glob("*.tensors"))
        return {"root": str(data or "generated folder (2,000 random 32x32 JPEGs)"), "resolution": resolution,
                "images": len(cold.train_labels) + len(cold.val_labels), "cold_s": cold_seconds,
                "cached_s": cached_seconds, "same": same, "cache_mb": cache_bytes / 2**20}


def report(result: dict) -> str:
    return (f"Data loading, {result['root']}, {result['images']} images at {result['resolution']} px: "
            f"cold {result['cold_s']:.2f} s, cached {result['cached_s']:.2f} s "
            f"({result['cold_s'] / max(result['cached_s'], 1e-9):.0f}x; cache file {result['cache_mb']:.0f} MiB; "
            f"identical tensors: {result['same']}; {os.cpu_count()} cores, torch {torch.__version__})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", help="an image folder (class folders, or train/ and val/ or test/); default: generated")
    parser.add_argument("--resolution", type=int, default=48, help="decoded size in pixels (the proxy's default: 48)")
    args = parser.parse_args()
    print(report(run(args.data, args.resolution)), flush=True)


if __name__ == "__main__":
    main()
