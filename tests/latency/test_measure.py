"""Interleaved timing cancels noise that hits both networks; runtimes agree with PyTorch."""

import pytest
import torch

from ulsam_nas import ArchConfig, measure_costs
from ulsam_nas.latency import LatencySettings, direct, interleaved, make_runner
from ulsam_nas.latency import measure as measure_module
from ulsam_nas.latency.runtimes import Runner


class DriftingClock:
    """A fake perf_counter: each run costs its base time times a load factor that keeps changing."""

    def __init__(self):
        self.now, self.calls = 0.0, 0

    def __call__(self):
        return self.now

    def runner(self, base_ms, name):
        def run():
            self.calls += 1
            load = 1.0 + 0.5 * ((self.calls // 7) % 3)  # other tenants come and go: 1x, 1.5x, 2x
            self.now += base_ms * load / 1000
        return Runner(run, name, 1, "cpu")


def test_interleaving_cancels_load_that_direct_timing_reports(monkeypatch):
    clock = DriftingClock()
    monkeypatch.setattr(measure_module.time, "perf_counter", clock)
    candidate, reference = clock.runner(6.0, "torch"), clock.runner(10.0, "torch")
    measured = interleaved(candidate, reference, reference_ms=10.0, warmup_s=0.0, measure_s=0.5)
    assert measured.ms == pytest.approx(6.0, rel=0.01) and measured.method == "interleaved"
    plain = [direct(candidate, warmup_s=0.0, measure_s=0.1, min_runs=7).ms for _ in range(3)]
    assert max(plain) / min(plain) > 1.2  # the plain method follows the load


@pytest.mark.parametrize("runtime", ["onnxruntime", "torch"])
def test_runners_run_a_network_on_each_runtime(runtime):
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3), torch.nn.BatchNorm2d(8), torch.nn.ReLU()).eval()
    runner = make_runner(model, (1, 3, 16, 16), runtime, threads=1)
    latency = direct(runner, warmup_s=0.01, measure_s=0.05, min_runs=5)
    assert latency.ms > 0 and latency.runtime == runtime and latency.threads == 1


@pytest.mark.slow  # times networks
def test_costs_carry_latency_with_its_uncertainty_runtime_and_method():
    report = measure_costs(ArchConfig(width=0.35, num_classes=10, drop=[16]), resolution=64,
                           latency=LatencySettings(runtime="onnxruntime", threads=1, seconds=0.2))
    latency = report.latency
    assert latency.ms > 0 and latency.sigma_ms >= 0
    assert (latency.runtime, latency.method, latency.threads) == ("onnxruntime", "interleaved", 1)


@pytest.mark.parametrize("settings,message", [
    ({"runtime": "tflite"}, "unknown runtime 'tflite'"),
    ({"runtime": "onnxruntime", "device": "cuda"}, "use --latency-runtime torch"),
    ({"threads": 0}, "threads: must be a positive integer"),
])
def test_bad_latency_settings_are_one_clear_line(settings, message):
    with pytest.raises(ValueError, match=message):
        LatencySettings(**settings)
