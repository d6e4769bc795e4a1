"""Device, threads and seeds: checked, scoped, and put back afterwards."""

import pytest
import torch

from ulsam_nas import runtime
from ulsam_nas.runtime import resolve_device, seeded, threads


def test_cpu_resolves():
    assert resolve_device("cpu") == torch.device("cpu")


def test_unknown_device_is_a_value_error_naming_the_setting():
    with pytest.raises(ValueError, match="proxy device: unknown device 'gpu0'"):
        resolve_device("gpu0", setting="proxy device")


def test_absent_cuda_is_a_value_error():
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    with pytest.raises(ValueError, match="device: CUDA was asked for but torch.cuda.is_available.. is False; use cpu"):
        resolve_device("cuda")


def test_threads_are_set_for_the_block_and_restored_even_on_error():
    before = torch.get_num_threads()
    with pytest.raises(KeyError):
        with threads(1) as count:
            assert count == 1 == torch.get_num_threads()
            raise KeyError
    assert torch.get_num_threads() == before
    with threads(None) as count:
        assert count == before


def test_seeded_blocks_repeat_and_leave_the_global_generator_as_it_was():
    torch.manual_seed(123)
    before = torch.get_rng_state()
    with seeded(5):
        first = torch.rand(3)
    with seeded(5):
        second = torch.rand(3)
    assert torch.equal(first, second) and torch.equal(torch.get_rng_state(), before)


def test_seeded_restores_after_an_error():
    before = torch.get_rng_state()
    with pytest.raises(KeyError):
        with seeded(1):
            torch.rand(10)
            raise KeyError
    assert torch.equal(torch.get_rng_state(), before)


def test_seeding_matches_torch_manual_seed_on_the_cpu():
    with seeded(42):
        ours = torch.randn(4)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(42)
        reference = torch.randn(4)
    assert torch.equal(ours, reference)


def test_cuda_workers_are_spread_round_robin_over_the_visible_gpus():
    assert runtime.spread_over_gpus("cuda", 5, gpu_count=2) == ["cuda:0", "cuda:1", "cuda:0", "cuda:1", "cuda:0"]
    assert runtime.spread_over_gpus("cuda", 3, gpu_count=1) == ["cuda:0"] * 3  # several trials share one GPU


def test_an_explicit_device_is_every_workers():
    assert runtime.spread_over_gpus("cpu", 3) == ["cpu"] * 3
    assert runtime.spread_over_gpus("cuda:1", 2, gpu_count=4) == ["cuda:1"] * 2


def test_cuda_workers_without_a_gpu_are_a_value_error():
    with pytest.raises(ValueError, match="no GPU is visible"):
        runtime.spread_over_gpus("cuda", 2, gpu_count=0)


def test_gpu_kernels_leave_cudnn_benchmarking_as_they_found_it_on_the_cpu():
    before = torch.backends.cudnn.benchmark
    with runtime.gpu_kernels(torch.device("cpu")):
        assert torch.backends.cudnn.benchmark == before
    assert torch.backends.cudnn.benchmark == before


def test_gpu_kernels_turn_cudnn_benchmarking_on_for_a_gpu_only_inside_the_block():
    before = torch.backends.cudnn.benchmark
    torch.backends.cudnn.benchmark = False
    try:
        with runtime.gpu_kernels(torch.device("cuda")):  # only a flag: no GPU is touched
            assert torch.backends.cudnn.benchmark is True
        assert torch.backends.cudnn.benchmark is False
    finally:
        torch.backends.cudnn.benchmark = before
