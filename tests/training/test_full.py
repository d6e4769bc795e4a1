"""Full training: metrics and checkpoints, exact resume, exports, DDP on two gloo processes."""

import json
import os
import subprocess
import sys

import pytest
import torch

from ulsam_nas import ArchConfig, build_model
from ulsam_nas.data.cache import default_cache_dir
from ulsam_nas.deploy import export_model
from ulsam_nas.training import TrainSettings, load_trained, train
from ulsam_nas.training.checkpoint import load_checkpoint

CONFIG = ArchConfig(num_classes=1000, width=0.35, drop=[15, 16], ulsam=[{"after": 13, "subspaces": 4}])
SETTINGS = TrainSettings(epochs=2, resolution=32, batch_size=32, train_subset=96, threads=1)


class Stop(Exception):
    pass


def test_writes_metrics_checkpoints_and_a_report(tmp_path):
    report = train(CONFIG, SETTINGS, tmp_path / "run")
    files = {p.name for p in (tmp_path / "run").iterdir()}
    assert {"metrics.csv", "metrics.json", "last.pt", "best.pt", "config.yaml", "report.json"} <= files
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert [m["epoch"] for m in metrics] == [1, 2] and all(0 <= m["top1"] <= m["top5"] <= 1 for m in metrics)
    assert report.num_classes_changed and ArchConfig.load(tmp_path / "run" / "config.yaml").num_classes == 10
    assert report.flops > 0 and report.top1 == max(m["top1"] for m in metrics)


def test_resume_after_an_interruption_equals_an_uninterrupted_run(tmp_path):
    straight = train(CONFIG, SETTINGS, tmp_path / "a")

    def stop_after_first(metrics):
        if metrics["epoch"] == 1:
            raise Stop

    with pytest.raises(Stop):
        train(CONFIG, SETTINGS, tmp_path / "b", on_epoch=stop_after_first)
    resumed = train(CONFIG, SETTINGS, tmp_path / "b", resume=True)
    assert resumed.resumed_from == 1
    a, b = load_checkpoint(tmp_path / "a" / "last.pt"), load_checkpoint(tmp_path / "b" / "last.pt")
    for key in a["model"]:
        torch.testing.assert_close(a["model"][key], b["model"][key], rtol=0, atol=0)
    assert straight.top1 == resumed.top1
    assert json.loads((tmp_path / "a" / "metrics.json").read_text())[-1]["top1"] == \
        json.loads((tmp_path / "b" / "metrics.json").read_text())[-1]["top1"]


def test_resume_refuses_other_settings_and_a_fresh_run_refuses_a_used_folder(tmp_path):
    train(CONFIG, TrainSettings(epochs=1, resolution=32, batch_size=32, train_subset=64, threads=1), tmp_path / "r")
    with pytest.raises(ValueError, match=r"started with other settings \(epochs 1 -> 2"):
        train(CONFIG, TrainSettings(epochs=2, resolution=32, batch_size=32, train_subset=64, threads=1), tmp_path / "r", resume=True)
    with pytest.raises(ValueError, match="already holds a run"):
        train(CONFIG, TrainSettings(epochs=1, resolution=32, batch_size=32, train_subset=64), tmp_path / "r")
    with pytest.raises(ValueError, match="no checkpoint"):
        train(CONFIG, SETTINGS, tmp_path / "none", resume=True)


@pytest.mark.slow  # traces and exports a network
@pytest.mark.parametrize("fmt", ["onnx", "torchscript"])
def test_exports_match_pytorch(tmp_path, fmt):
    model = build_model(ArchConfig(num_classes=10, width=0.35, ulsam=[{"after": 13, "subspaces": 4}]))
    model.train()
    model(torch.randn(8, 3, 32, 32))  # non-trivial BatchNorm statistics
    with torch.no_grad():
        for parameter in model.classifier.parameters():
            parameter.normal_()  # logits of order 1, so the tolerance means something
    check = export_model(model, tmp_path / f"m.{fmt}", fmt, 32)
    assert check.path.exists() and check.max_abs_difference is not None and check.max_abs_difference < 1e-4


@pytest.mark.slow
def test_ddp_on_two_gloo_processes(tmp_path):
    CONFIG.save(tmp_path / "c.yaml")
    env = dict(os.environ, OMP_NUM_THREADS="1")
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", "-m", "ulsam_nas",
               "train", str(tmp_path / "c.yaml"), "--epochs", "1", "--resolution", "32", "--train-subset", "128",
               "--batch-size", "16", "--threads", "1", "--out", str(tmp_path / "ddp")]
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    report = json.loads((tmp_path / "ddp" / "report.json").read_text())
    assert report["world_size"] == 2
    assert len(json.loads((tmp_path / "ddp" / "metrics.json").read_text())) == 1
    assert result.stdout.count("best top-1") == 1  # only rank 0 reports
    _, model = load_trained(tmp_path / "ddp")
    assert torch.isfinite(model(torch.randn(1, 3, 32, 32))).all()


def test_leaves_the_global_generator_and_threads_as_it_found_them(tmp_path):
    torch.manual_seed(99)
    before, threads = torch.get_rng_state(), torch.get_num_threads()
    train(CONFIG, TrainSettings(epochs=1, resolution=32, batch_size=32, train_subset=64, threads=1), tmp_path / "r")
    assert torch.equal(torch.get_rng_state(), before) and torch.get_num_threads() == threads


def test_no_cache_decodes_without_writing_a_cache_and_does_not_block_a_resume(tmp_path, image_folder):
    cache = default_cache_dir()  # a fresh folder per test (conftest)
    values = dict(dataset=f"imagefolder:{image_folder}", epochs=2, resolution=32, batch_size=8, threads=1)

    def stop_after_first(metrics):
        if metrics["epoch"] == 1:
            raise Stop

    with pytest.raises(Stop):
        train(CONFIG, TrainSettings(cache=False, **values), tmp_path / "r", on_epoch=stop_after_first)
    assert not cache.exists() or not any(cache.iterdir())
    report = train(CONFIG, TrainSettings(**values), tmp_path / "r", resume=True)  # the cache may change on a resume
    assert report.resumed_from == 1 and report.epochs == 2
    assert any(cache.iterdir())  # with the cache on, the same data is written
    with pytest.raises(ValueError, match="--no-cache and --cache-dir"):
        TrainSettings(cache=False, cache_dir=str(tmp_path / "c"))
