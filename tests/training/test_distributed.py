"""torchrun's environment read right; one process trains the model itself, unwrapped."""

import torch
from torch import nn

from ulsam_nas.training.distributed import process_device, rank_and_world_size, wrap_for_processes


def test_without_torchrun_a_run_is_process_0_of_1(monkeypatch):
    for name in ("RANK", "WORLD_SIZE", "LOCAL_RANK"):
        monkeypatch.delenv(name, raising=False)
    assert rank_and_world_size() == (0, 1)
    assert process_device(torch.device("cuda")) == torch.device("cuda", 0)


def test_torchrun_environment(monkeypatch):
    monkeypatch.setenv("RANK", "3")
    monkeypatch.setenv("WORLD_SIZE", "4")
    monkeypatch.setenv("LOCAL_RANK", "1")
    assert rank_and_world_size() == (3, 4)
    assert process_device(torch.device("cuda")) == torch.device("cuda", 1)
    assert process_device(torch.device("cpu")) == torch.device("cpu")


def test_one_process_trains_the_model_itself():
    model = nn.Linear(1, 1)
    assert wrap_for_processes(model, torch.device("cpu"), 1) is model
