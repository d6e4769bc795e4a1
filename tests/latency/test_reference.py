"""The reference network's latency, kept per machine, runtime and threads: measured once, reused by later processes."""

import datetime
import json
import logging
import os
import subprocess
import sys

import pytest

from ulsam_nas import ArchConfig
from ulsam_nas.data.cache import default_cache_dir
from ulsam_nas.latency.reference import MAX_AGE_DAYS, ReferenceStore, StoredReference, reference_key

KEY = reference_key("onnxruntime", 1, "cpu", 224, ArchConfig().to_json())


class Measure:
    """A stand-in for timing the reference: counts its calls."""

    def __init__(self):
        self.calls = 0

    def __call__(self, days_ago: float = 0.0) -> StoredReference:
        self.calls += 1
        when = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(days=days_ago)
        return StoredReference(9.0 + self.calls, 0.1, when.isoformat(timespec="seconds"), 100, "v2 w1")


def test_measured_once_then_reused_until_asked_for_or_stale(tmp_path):
    store, measure = ReferenceStore(tmp_path), Measure()
    first = store.get(KEY, measure)
    assert store.get(KEY, measure) == first and measure.calls == 1
    other = reference_key("onnxruntime", 2, "cpu", 224, ArchConfig().to_json())  # other threads: another reference
    assert store.get(other, measure).ms != first.ms and measure.calls == 2
    assert store.get(KEY, measure, remeasure=True).ms == 12.0 and store.get(KEY, measure).ms == 12.0
    store.get(KEY, lambda: measure(days_ago=MAX_AGE_DAYS + 1), remeasure=True)  # kept, but too old to use
    assert store.get(KEY, measure).ms == 14.0 and measure.calls == 5


def test_a_damaged_store_is_one_warning_and_measured_again(tmp_path, caplog):
    store, measure = ReferenceStore(tmp_path), Measure()
    store.get(KEY, measure)
    text = store.path.read_text()
    store.path.write_text(text.replace('"ms": 10.0', '"ms": 19.0'))  # valid JSON, another number
    with caplog.at_level(logging.WARNING, logger="ulsam_nas"):
        assert store.get(KEY, measure).ms == 11.0
    assert caplog.text.count("latency reference:") == 1 and "checksum does not match" in caplog.text
    store.path.write_bytes(store.path.read_bytes()[:40])  # truncated
    assert store.get(KEY, measure).ms == 12.0 and measure.calls == 3


def test_a_full_disk_costs_only_the_reuse(small_disk, caplog):
    disk = small_disk(4096)
    (disk / "filler").write_bytes(b"\0" * 4096)
    store, measure = ReferenceStore(disk), Measure()
    with caplog.at_level(logging.WARNING, logger="ulsam_nas"):
        assert store.get(KEY, measure).ms == 10.0
    assert "cannot write" in caplog.text and "No space left on device" in caplog.text
    assert not store.path.exists() and not list(disk.glob(".*.tmp"))


@pytest.mark.slow
def test_separate_cost_processes_reuse_the_reference_measured_by_the_first(tmp_path):
    ArchConfig(width=0.35, num_classes=10, drop=[16]).save(tmp_path / "c.yaml")
    command = [sys.executable, "-m", "ulsam_nas", "cost", str(tmp_path / "c.yaml"), "--latency", "--resolution", "32",
               "--json"]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    first = json.loads(subprocess.run(command, capture_output=True, text=True, check=True, env=env).stdout)
    store = default_cache_dir() / "latency-reference.json"  # beside the decoded-image cache (a folder per test)
    written = store.stat().st_mtime_ns
    second = json.loads(subprocess.run(command, capture_output=True, text=True, check=True, env=env).stdout)
    assert first["latency_reference_ms"] == second["latency_reference_ms"] and store.stat().st_mtime_ns == written
    assert "quantile" in second["latency_reference"] and second["latency_sigma_ms"] > 0
    subprocess.run([*command, "--remeasure-reference"], capture_output=True, text=True, check=True, env=env)
    assert store.stat().st_mtime_ns != written  # measured again on request, and kept
