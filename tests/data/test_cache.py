"""The decoded-dataset cache: hit without decoding, invalidated by file changes, corrupt files rebuilt."""

import logging
import os
import random
import subprocess

import pytest
import torch

from tests.conftest import write_image, write_mnist
from ulsam_nas.data import images as images_module
from ulsam_nas.data import load_dataset
from ulsam_nas.data import loaders as loaders_module
from ulsam_nas.data.cache import CACHE_ENV, default_cache_dir


@pytest.fixture
def decodes(monkeypatch):
    """Counts images decoded (image files and torchvision's images all go through pil_to_uint8)."""
    count = [0]
    decode = images_module.pil_to_uint8

    def counting(image, resolution):
        count[0] += 1
        return decode(image, resolution)

    monkeypatch.setattr(images_module, "pil_to_uint8", counting)
    monkeypatch.setattr(loaders_module, "pil_to_uint8", counting)
    return count


def same(a, b) -> bool:
    return (a.classes == b.classes and all(torch.equal(getattr(a, f), getattr(b, f)) for f in
                                           ("train_images", "train_labels", "val_images", "val_labels")))


def entries(cache):
    return sorted(cache.glob("*.tensors"))


def test_second_load_reads_the_cache_without_decoding(image_folder, tmp_path, decodes):
    cache = tmp_path / "cache"
    first = load_dataset(f"imagefolder:{image_folder}", 16, cache_dir=cache)
    assert decodes[0] == 18 and len(entries(cache)) == 1
    second = load_dataset(f"imagefolder:{image_folder}", 16, cache_dir=cache)
    assert decodes[0] == 18  # nothing decoded again
    assert same(first, second) and second.name == first.name
    uncached = load_dataset(f"imagefolder:{image_folder}", 16, cache=False)
    assert decodes[0] == 36 and same(first, uncached)


def test_split_folder_and_torchvision_datasets_are_cached(split_image_folder, tmp_path, decodes):
    cache = tmp_path / "cache"
    first = load_dataset(f"imagefolder:{split_image_folder}", 16, cache_dir=cache, train_subset=10)
    assert decodes[0] == 16
    assert same(first, load_dataset(f"imagefolder:{split_image_folder}", 16, cache_dir=cache, train_subset=10))
    assert decodes[0] == 16
    root = write_mnist(tmp_path / "tv")
    mnist = load_dataset("mnist", 16, data_dir=root, cache_dir=cache)
    assert decodes[0] == 16 + 60
    assert same(mnist, load_dataset("mnist", 16, data_dir=root, cache_dir=cache)) and decodes[0] == 16 + 60


def test_the_training_images_before_the_subset_are_known_from_the_cache_too(image_folder, split_image_folder, tmp_path):
    """Refinement trains on all of them: the study-time estimate needs their count before loading them."""
    cache = tmp_path / "cache"
    specs = [(f"imagefolder:{image_folder}", {}), (f"imagefolder:{split_image_folder}", {}),
             ("mnist", {"data_dir": write_mnist(tmp_path / "tv")})]
    for spec, options in specs:
        whole = load_dataset(spec, 16, cache=False, **options)
        assert whole.train_available == len(whole.train_labels)
        for _ in range(2):  # decoded, then read from the cache
            subset = load_dataset(spec, 16, cache_dir=cache, train_subset=4, **options)
            assert len(subset.train_labels) == 4 and subset.train_available == len(whole.train_labels)
    assert load_dataset("digits", 16, train_subset=64).train_available == len(load_dataset("digits", 16).train_labels)


@pytest.mark.parametrize("change", ["resolution", "subset", "seed", "val_fraction"])
def test_settings_that_change_the_result_are_part_of_the_key(image_folder, tmp_path, decodes, change):
    cache = tmp_path / "cache"
    load_dataset(f"imagefolder:{image_folder}", 16, cache_dir=cache)
    other = {"resolution": {"resolution": 20}, "subset": {"train_subset": 5}, "seed": {"seed": 1},
             "val_fraction": {"val_fraction": 0.5}}[change]
    data = load_dataset(f"imagefolder:{image_folder}", **({"resolution": 16} | other), cache_dir=cache)
    assert decodes[0] == 36 and same(data, load_dataset(f"imagefolder:{image_folder}", **({"resolution": 16} | other),
                                                        cache=False))


@pytest.mark.parametrize("change", ["content", "added", "removed"])
def test_a_changed_added_or_removed_file_invalidates_the_cache(image_folder, tmp_path, decodes, change):
    cache = tmp_path / "cache"
    load_dataset(f"imagefolder:{image_folder}", 16, cache_dir=cache)
    path = image_folder / "class_1" / "img_0.jpg"
    if change == "content":
        stat = path.stat()
        write_image(path, 2, 5)  # another picture, then a later mtime
        os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    elif change == "added":
        write_image(image_folder / "class_2" / "img_extra", 2, 8)
    else:
        path.unlink()
    decodes[0] = 0
    data = load_dataset(f"imagefolder:{image_folder}", 16, cache_dir=cache)
    assert decodes[0] == {"content": 18, "added": 19, "removed": 17}[change]
    assert same(data, load_dataset(f"imagefolder:{image_folder}", 16, cache=False))
    assert len(entries(cache)) == 1  # the stale entry is deleted, not kept beside the new one


@pytest.mark.parametrize("damage", ["truncated", "flipped", "garbage", "empty"])
def test_a_corrupt_cache_file_is_rebuilt_with_a_warning(image_folder, tmp_path, decodes, caplog, damage):
    cache = tmp_path / "cache"
    load_dataset(f"imagefolder:{image_folder}", 16, cache_dir=cache)
    expected = load_dataset(f"imagefolder:{image_folder}", 16, cache=False)  # not a mapping of the file damaged below
    (entry,) = entries(cache)
    raw = entry.read_bytes()
    entry.write_bytes({"truncated": raw[: len(raw) - 100], "flipped": raw[:-50] + bytes([raw[-50] ^ 0xFF]) + raw[-49:],
                       "garbage": b"x" * len(raw), "empty": b""}[damage])
    decodes[0] = 0
    with caplog.at_level(logging.WARNING, logger="ulsam_nas"):
        data = load_dataset(f"imagefolder:{image_folder}", 16, cache_dir=cache)
    assert decodes[0] == 18 and same(data, expected)
    assert "data cache:" in caplog.text and "decoding again" in caplog.text
    caplog.clear()
    decodes[0] = 0
    assert same(load_dataset(f"imagefolder:{image_folder}", 16, cache_dir=cache), expected) and decodes[0] == 0
    assert "data cache:" not in caplog.text  # rewritten whole


def test_any_flipped_byte_is_rebuilt_or_harmless_never_other_data(image_folder, tmp_path, decodes, caplog):
    cache = tmp_path / "cache"
    load_dataset(f"imagefolder:{image_folder}", 16, cache_dir=cache)
    expected = load_dataset(f"imagefolder:{image_folder}", 16, cache=False)
    (entry,) = entries(cache)
    good = entry.read_bytes()
    header_end = 16 + 12 + int.from_bytes(good[16:24], "little")
    rng = random.Random(0)
    # half in the header (shapes, key, class names: covered by its own CRC since issue 20), half anywhere
    positions = [rng.randrange(header_end) for _ in range(20)] + [rng.randrange(len(good)) for _ in range(20)]
    rebuilt = 0
    for position in positions:
        damaged = bytearray(good)
        damaged[position] ^= 1 << rng.randrange(8)
        entry.write_bytes(bytes(damaged))
        caplog.clear()
        decodes[0] = 0
        with caplog.at_level(logging.WARNING, logger="ulsam_nas"):
            data = load_dataset(f"imagefolder:{image_folder}", 16, cache_dir=cache)
        assert same(data, expected)
        if decodes[0]:  # detected: one warning line, rebuilt
            assert caplog.text.count("data cache:") == 1 and "decoding again" in caplog.text
            rebuilt += 1
        entry.write_bytes(good)
    assert rebuilt >= 30  # only the padding between header and data may be flipped unseen


def test_a_full_disk_only_costs_the_cache_and_leaves_no_partial_file(image_folder, small_disk, decodes, caplog):
    disk = small_disk(8 * 1024)  # the decoded folder takes 14 KiB
    data = load_dataset(f"imagefolder:{image_folder}", 16, cache_dir=disk)
    assert same(data, load_dataset(f"imagefolder:{image_folder}", 16, cache=False))
    assert "cannot write" in caplog.text and "No space left on device" in caplog.text
    assert not entries(disk) and not list(disk.glob(".*.tmp"))  # no half-written entry to read later
    subprocess.run(["mount", "-o", "remount,size=1m", str(disk)], check=True)
    load_dataset(f"imagefolder:{image_folder}", 16, cache_dir=disk)
    decodes[0] = 0
    assert same(load_dataset(f"imagefolder:{image_folder}", 16, cache_dir=disk), data) and decodes[0] == 0


def test_an_unwritable_cache_directory_only_costs_the_cache(image_folder, tmp_path, caplog):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    data = load_dataset(f"imagefolder:{image_folder}", 16, cache_dir=blocker / "cache")
    assert len(data.train_labels) + len(data.val_labels) == 18
    assert "cannot write" in caplog.text


def test_unreadable_files_are_still_reported_from_the_cache(image_folder, tmp_path, caplog):
    (image_folder / "class_0" / "broken.jpg").write_bytes(b"not a jpeg")
    cache = tmp_path / "cache"
    load_dataset(f"imagefolder:{image_folder}", 16, cache_dir=cache)
    caplog.clear()
    load_dataset(f"imagefolder:{image_folder}", 16, cache_dir=cache)
    assert caplog.text.count("skipped 1 unreadable file") == 1 and "broken.jpg" in caplog.text


def test_cached_tensors_are_memory_mapped_and_writable_privately(image_folder, tmp_path):
    cache = tmp_path / "cache"
    load_dataset(f"imagefolder:{image_folder}", 16, cache_dir=cache)
    data = load_dataset(f"imagefolder:{image_folder}", 16, cache_dir=cache)
    before = entries(cache)[0].read_bytes()
    data.train_images[0].zero_()  # copy-on-write: the file is not changed
    assert entries(cache)[0].read_bytes() == before


def test_default_location(monkeypatch, tmp_path):
    monkeypatch.delenv(CACHE_ENV)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert default_cache_dir() == tmp_path / "ulsam-nas"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert default_cache_dir() == default_cache_dir().home() / ".cache" / "ulsam-nas"
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "mine"))
    assert default_cache_dir() == tmp_path / "mine"


def test_digits_write_no_cache(tmp_path):
    load_dataset("digits", 16, cache_dir=tmp_path / "cache")
    assert not (tmp_path / "cache").exists()
