"""Datasets: the bundled digits, image folders in both layouts, torchvision datasets."""

import pytest
import torch

from ulsam_nas.data import load_dataset

from tests.conftest import make_image_folder, write_mnist


def test_digits_are_bundled_and_split_without_overlap():
    data = load_dataset("digits", resolution=24)
    assert data.num_classes == 10 and data.train_images.shape[1:] == (3, 24, 24)
    assert data.train_images.dtype == torch.uint8
    assert len(data.train_labels) + len(data.val_labels) == 1797
    assert 0.18 < len(data.val_labels) / 1797 < 0.22
    assert set(data.val_labels.tolist()) == set(range(10))  # stratified
    # no image is in both splits
    train = {bytes(image.numpy()) for image in data.train_images}
    assert not any(bytes(image.numpy()) in train for image in data.val_images[:100])


def test_the_split_is_the_same_every_time():
    a, b = load_dataset("digits", 16), load_dataset("digits", 16)
    assert torch.equal(a.val_labels, b.val_labels) and torch.equal(a.val_images, b.val_images)


def test_train_subset():
    assert len(load_dataset("digits", 16, train_subset=100).train_labels) == 100


def test_flat_image_folder_with_mixed_sizes_and_modes(image_folder):
    data = load_dataset(f"imagefolder:{image_folder}", resolution=20)
    assert data.classes == ["class_0", "class_1", "class_2"]
    assert data.train_images.shape[1:] == (3, 20, 20)
    assert len(data.train_labels) + len(data.val_labels) == 18
    assert sorted(set(data.val_labels.tolist())) == [0, 1, 2]


def test_train_val_image_folder(split_image_folder):
    data = load_dataset(f"imagefolder:{split_image_folder}", resolution=16)
    assert len(data.train_labels) == 15 and len(data.val_labels) == 6
    assert data.classes == ["class_0", "class_1", "class_2"]


def test_test_folder_is_used_when_there_is_no_val(split_image_folder):
    (split_image_folder / "val").rename(split_image_folder / "test")
    assert len(load_dataset(f"imagefolder:{split_image_folder}", resolution=16).val_labels) == 6


def test_unreadable_and_non_image_files_are_skipped(image_folder, caplog):
    (image_folder / "class_0" / "broken.jpg").write_bytes(b"not a jpeg at all")
    (image_folder / "class_1" / "notes.txt").write_text("ignored")
    data = load_dataset(f"imagefolder:{image_folder}", resolution=16)
    assert len(data.train_labels) + len(data.val_labels) == 18
    assert "skipped 1 unreadable file" in caplog.text and "broken.jpg" in caplog.text


@pytest.mark.parametrize("layout,message", [
    ("missing", "folder not found"),
    ("empty", "has no class subfolders"),
    ("no_images", "no images found"),
    ("one_class", "needs at least 2 classes"),
    ("all_broken", "none of the 2 image files"),
])
def test_bad_folders_are_clear_errors(tmp_path, layout, message):
    root = tmp_path / "data"
    if layout != "missing":
        root.mkdir()
    if layout == "no_images":
        (root / "a").mkdir()
        (root / "a" / "readme.txt").write_text("x")
    if layout == "one_class":
        make_image_folder(root, classes=1)
    if layout == "all_broken":
        (root / "a").mkdir()
        (root / "a" / "1.jpg").write_bytes(b"junk")
        (root / "a" / "2.png").write_bytes(b"junk")
    with pytest.raises(ValueError, match=message):
        load_dataset(f"imagefolder:{root}", resolution=16)


def test_torchvision_dataset_from_data_dir(tmp_path):
    root = write_mnist(tmp_path)
    data = load_dataset("mnist", resolution=16, data_dir=root)
    assert data.num_classes == 10 and data.train_images.shape[1:] == (3, 16, 16)
    assert len(data.train_labels) + len(data.val_labels) == 60  # the test split is left alone


def test_missing_torchvision_dataset_suggests_download(tmp_path):
    with pytest.raises(ValueError, match="not found or corrupted in .*add --download"):
        load_dataset("cifar10", resolution=16, data_dir=tmp_path)


def test_unknown_dataset_lists_valid_ones():
    with pytest.raises(ValueError, match="unknown dataset 'imagenet'; valid: digits, cifar10"):
        load_dataset("imagenet")
