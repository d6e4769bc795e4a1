"""Checkpoints: data only (a pickled callable is refused, never run), damage detected, a full disk leaves the old one."""

import os
import random
import subprocess

import pytest
import torch

from ulsam_nas import ArchConfig
from ulsam_nas.training import TrainSettings, train
from ulsam_nas.training.checkpoint import content_digest, load_checkpoint, save_checkpoint

STATE = {"model": {"weight": torch.arange(12, dtype=torch.float32).reshape(3, 4), "steps": torch.tensor(7)},
         "history": [{"epoch": 1, "top1": 0.5, "lr": 0.05}], "generator": torch.Generator().manual_seed(3).get_state(),
         "settings": {"epochs": 2, "flip": None, "dataset": "digits"}, "epoch": 1}


def same(a, b) -> bool:
    return content_digest(a) == content_digest(b)


class RunsAShellCommand:  # also used by tests/cli/test_train.py
    """What a crafted checkpoint can hold: unpickling it calls os.system."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def test_a_checkpoint_loads_back_as_saved_and_carries_its_digest(tmp_path):
    save_checkpoint(STATE, tmp_path / "c.pt")
    assert same(load_checkpoint(tmp_path / "c.pt"), STATE)
    assert torch.load(tmp_path / "c.pt", weights_only=True)["content_sha256"] == content_digest(STATE)
    assert [p.name for p in tmp_path.iterdir()] == ["c.pt"]  # no temporary file left


def test_a_pickled_callable_is_refused_in_one_line_and_never_runs(tmp_path):
    marker = tmp_path / "it-ran"
    torch.save({**STATE, "history": [RunsAShellCommand(marker)]}, tmp_path / "evil.pt")
    with pytest.raises(ValueError) as refused:
        load_checkpoint(tmp_path / "evil.pt")
    assert "holds more than tensors and plain data (a pickled posix.system)" in str(refused.value)
    assert "\n" not in str(refused.value) and not marker.exists()


def test_every_flipped_byte_or_truncation_is_refused_or_loads_the_same_content(tmp_path):
    save_checkpoint(STATE, tmp_path / "good.pt")
    data = (tmp_path / "good.pt").read_bytes()
    rng = random.Random(0)
    refused = 0
    for index in range(80):
        damaged = bytearray(data)
        if index % 4 == 0:
            damaged = damaged[:rng.randrange(len(data))]
        else:
            damaged[rng.randrange(len(data))] ^= 1 << rng.randrange(8)
        (tmp_path / "bad.pt").write_bytes(bytes(damaged))
        try:
            loaded = load_checkpoint(tmp_path / "bad.pt")
        except ValueError as error:
            assert str(error).startswith(f"checkpoint {tmp_path / 'bad.pt'}: damaged") and "\n" not in str(error)
            refused += 1
        else:  # a flip in padding or in the zip's own bookkeeping: what loads must be exactly what was saved
            assert same(loaded, STATE)
    assert refused >= 60  # most bytes matter; none of them may load as other numbers


def test_a_full_disk_leaves_the_previous_checkpoint_and_no_partial_file(tmp_path, small_disk):
    disk = small_disk(64 * 1024)
    save_checkpoint(STATE, disk / "last.pt")
    before = (disk / "last.pt").read_bytes()
    big = {**STATE, "model": {"weight": torch.zeros(64 * 1024)}}  # 256 KiB: more than the disk holds
    with pytest.raises(ValueError, match=r"^checkpoint: cannot write .*last.pt: No space left on device; any earlier one"):
        save_checkpoint(big, disk / "last.pt")
    assert (disk / "last.pt").read_bytes() == before and sorted(p.name for p in disk.iterdir()) == ["last.pt"]
    assert same(load_checkpoint(disk / "last.pt"), STATE)


def test_train_on_a_full_disk_stops_in_one_line_and_resumes_once_there_is_room(tmp_path, small_disk):
    disk = small_disk(4 * 1024 * 1024)  # last.pt (3.3 MiB: weights and momentum) fits, best.pt (1.7 MiB) then does not
    settings = TrainSettings(epochs=2, resolution=32, batch_size=32, train_subset=64, threads=1)
    config = ArchConfig(num_classes=10, width=0.35)
    with pytest.raises(ValueError, match=r"^checkpoint: cannot write .*best.pt: No space left on device"):
        train(config, settings, disk / "run")
    assert not [p.name for p in (disk / "run").iterdir() if p.name.endswith(".tmp")]
    assert load_checkpoint(disk / "run" / "last.pt")["epoch"] == 1  # what is there was written whole
    subprocess.run(["mount", "-o", "remount,size=32m", str(disk)], check=True)  # room made
    assert train(config, settings, disk / "run", resume=True).resumed_from == 1
