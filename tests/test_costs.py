"""Costs: the papers' MAC convention, parameters and measured latency."""

import warnings

import pytest
import torch
from fvcore.nn import FlopCountAnalysis, jit_handles

from ulsam_nas import ArchConfig, ULSAM, build_model, measure_costs
from ulsam_nas.costs import count_flops
from ulsam_nas.latency import LatencySettings

# Multiply-accumulates at 224x224, conv + fully connected, BatchNorm not counted.
RECORDED_FLOPS = {
    ("mobilenet_v2", 1.0): 300_774_272,  # paper: 300M
    ("mobilenet_v2", 0.75): 209_069_792,  # paper: 209M
    ("mobilenet_v2", 0.5): 97_131_840,  # paper: 97M
    ("mobilenet_v1", 1.0): 568_740_352,  # paper: 569M
    ("mobilenet_v1", 0.75): 325_400_448,  # paper: 325M
    ("mobilenet_v1", 0.5): 149_497_088,  # paper: 149M
}


@pytest.mark.parametrize("backbone,width", RECORDED_FLOPS)
def test_vanilla_flops_follow_the_papers(backbone, width):
    report = measure_costs(ArchConfig(backbone=backbone, width=width))
    assert report.flops == RECORDED_FLOPS[backbone, width]
    assert report.resolution == 224 and report.latency_ms is None


def test_ulsam_convolutions_are_counted_and_cost_what_the_paper_says():
    # m=512 at 14x14: depthwise 1x1 (512*196) + pointwise to g maps (512*196) = 0.2M MACs
    base = measure_costs(ArchConfig(backbone="mobilenet_v1"))
    with_ulsam = measure_costs(ArchConfig(backbone="mobilenet_v1", ulsam=[{"after": 9, "subspaces": 4}]))
    assert with_ulsam.flops - base.flops == 2 * 512 * 14 * 14
    assert with_ulsam.params - base.params == sum(p.numel() for p in ULSAM(512, 4).parameters())


def test_paper_v2_configuration_saves_about_13_percent_flops():
    paper = measure_costs(ArchConfig(drop=[13, 16], ulsam=[{"after": 16, "subspaces": 4}]))
    saving = 1 - paper.flops / RECORDED_FLOPS["mobilenet_v2", 1.0]
    assert 0.11 < saving < 0.14


def test_flops_scale_with_resolution_and_counting_leaves_train_mode_alone():
    model = build_model(ArchConfig(num_classes=10)).train()
    small, large = count_flops(model, 112), count_flops(model, 224)
    assert model.training
    assert 3.5 < large / small < 4.1


def test_latency_is_measured_with_its_spread_and_thread_count():
    report = measure_costs(ArchConfig(width=0.35, num_classes=10), resolution=64,
                           latency=LatencySettings(threads=1, seconds=0.2))
    assert report.latency_ms == report.latency.ms > 0 and report.latency.iqr_ms >= 0
    assert report.latency.threads == 1 and report.latency.device == "cpu"
    assert {"flops", "params", "latency_ms", "latency_sigma_ms", "batchnorm_folded"} <= set(report.to_dict())
    assert torch.get_num_threads() >= 1


def test_cuda_asked_without_cuda_is_a_clear_error():
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    with pytest.raises(ValueError, match="CUDA"):
        measure_costs(ArchConfig(num_classes=10), 32, latency=LatencySettings(runtime="torch", device="cuda"))


@pytest.mark.parametrize("resolution", [16, 0, 224.0])
def test_rejects_bad_resolutions(resolution):
    with pytest.raises(ValueError, match="resolution"):
        measure_costs(ArchConfig(), resolution=resolution)


@pytest.mark.parametrize("config", [
    ArchConfig(num_classes=10),
    ArchConfig(backbone="mobilenet_v1", width=0.5, ulsam=[{"after": 9, "subspaces": 4}]),
    ArchConfig(width=0.75, drop=[13, 16], ulsam=[{"after": 16, "subspaces": 4}, {"after": 6, "subspaces": 8}]),
], ids=lambda config: config.summary())
def test_hook_counts_equal_fvcores_trace_of_the_same_network(config):
    """The counter's reference: fvcore traces the network and counts the same ops (convolutions, linear layers)."""
    model = build_model(config).eval()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        analysis = FlopCountAnalysis(model, torch.zeros(1, 3, 96, 96))
        analysis.clear_op_handles().set_op_handle(**{
            "aten::_convolution": jit_handles.conv_flop_jit, "aten::addmm": jit_handles.addmm_flop_jit,
            "aten::linear": jit_handles.linear_flop_jit})
        analysis.unsupported_ops_warnings(False).uncalled_modules_warnings(False).tracer_warnings("none")
        traced = int(analysis.total())
    assert count_flops(model, 96) == traced
