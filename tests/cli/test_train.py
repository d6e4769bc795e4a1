"""``ulsam-nas train``: --no-cache trains without writing the decoded-dataset cache; with --cache-dir it is one line;
a checkpoint that would run code is refused."""

import torch
from typer.testing import CliRunner

from ulsam_nas import ArchConfig
from ulsam_nas.cli import app
from ulsam_nas.data.cache import default_cache_dir

from ..training.test_checkpoint import STATE, RunsAShellCommand

runner = CliRunner()

CONFIG = ArchConfig(num_classes=3, width=0.35, drop=[15, 16])


def train_args(tmp_path, image_folder):
    CONFIG.save(tmp_path / "c.yaml")
    return ["train", str(tmp_path / "c.yaml"), "--dataset", f"imagefolder:{image_folder}", "--epochs", "1",
            "--resolution", "32", "--batch-size", "8", "--threads", "1", "--out", str(tmp_path / "run")]


def test_no_cache_trains_and_writes_no_cache(tmp_path, image_folder):
    cache = default_cache_dir()  # a fresh folder per test (conftest)
    result = runner.invoke(app, [*train_args(tmp_path, image_folder), "--no-cache"])
    assert result.exit_code == 0, result.output
    assert "best top-1" in result.output and (tmp_path / "run" / "report.json").exists()
    assert not cache.exists() or not any(cache.iterdir())


def test_no_cache_with_cache_dir_is_one_line_and_exit_2(tmp_path, image_folder):
    result = runner.invoke(app, [*train_args(tmp_path, image_folder), "--no-cache", "--cache-dir", str(tmp_path / "c")])
    assert result.exit_code == 2, result.output
    assert result.output.startswith("error: --no-cache and --cache-dir") and "Traceback" not in result.output
    assert len([line for line in result.output.splitlines() if line.strip()]) == 1
    assert not (tmp_path / "run").exists() and not (tmp_path / "c").exists()


def test_resume_refuses_a_last_pt_that_would_run_code_in_one_line(tmp_path, image_folder):
    (tmp_path / "run").mkdir()
    marker = tmp_path / "it-ran"
    torch.save({**STATE, "history": [RunsAShellCommand(marker)]}, tmp_path / "run" / "last.pt")
    result = runner.invoke(app, [*train_args(tmp_path, image_folder), "--resume"])
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert result.output.startswith(f"error: checkpoint {tmp_path / 'run' / 'last.pt'}: holds more than tensors")
    assert len(result.output.strip().splitlines()) == 1 and not marker.exists()
