"""Supernet training on tiny generated data: resumes bit-exactly, refuses what it was not trained for, scores children."""

import dataclasses

import pytest
import torch

from ulsam_nas import ArchConfig
from ulsam_nas.data import load_dataset
from ulsam_nas.space import SearchSpace
from ulsam_nas.training.loop import evaluate, recalibrate_batchnorm
from ulsam_nas.training.settings import SupernetSettings
from ulsam_nas.training.supernet import SupernetEvaluator, train_supernet

SPACE = SearchSpace(name="tiny", backbone="mobilenet_v2", widths=(0.35,), drop=(12, 13, 15, 16), ulsam_after=(6, 13),
                    subspaces=(1, 2, 4))
SETTINGS = SupernetSettings(epochs=2, resolution=16, batch_size=32, threads=1, recalibration_images=64)


@pytest.fixture(scope="module")
def data():
    return load_dataset("digits", 16, train_subset=128)


@pytest.mark.parametrize("sampling, sliced", [("uniform", False), ("sandwich", False), ("sandwich-distill", False),
                                              ("uniform", True)])
def test_a_resumed_training_ends_with_the_weights_of_an_uninterrupted_one(data, tmp_path, sampling, sliced):
    settings = dataclasses.replace(SETTINGS, sampling=sampling, width_sharing="sliced" if sliced else "separate")
    space, width = (dataclasses.replace(SPACE, widths=(0.35, 0.5)), None) if sliced else (SPACE, 0.35)
    straight = train_supernet(space, width, data, settings, tmp_path / "straight.pt")

    def cut_off(epoch, *_):
        raise KeyboardInterrupt  # after the checkpoint of epoch 1: where a Ctrl-C or a kill leaves a run

    with pytest.raises(KeyboardInterrupt):
        train_supernet(space, width, data, settings, tmp_path / "cut.pt", on_epoch=cut_off)
    epochs = []
    resumed = train_supernet(space, width, data, settings, tmp_path / "cut.pt", on_epoch=lambda e, *_: epochs.append(e))
    assert epochs == [2]  # only what was left
    for (name, a), b in zip(straight.state_dict().items(), resumed.state_dict().values()):
        assert torch.equal(a, b), name
    finished = []
    train_supernet(space, width, data, settings, tmp_path / "straight.pt", on_epoch=lambda e, *_: finished.append(e))
    assert finished == []  # a finished supernet is read back, not trained again


def test_a_supernet_is_refused_for_another_space_or_dataset_in_one_line(data, tmp_path):
    train_supernet(SPACE, 0.35, data, SETTINGS, tmp_path / "s.pt")
    other_space = SearchSpace(name="other", backbone="mobilenet_v2", widths=(0.35,), drop=(16,))
    with pytest.raises(ValueError, match="was trained for space 'tiny' on digits") as error:
        train_supernet(other_space, 0.35, data, SETTINGS, tmp_path / "s.pt")
    assert "\n" not in str(error.value)
    renamed = dataclasses.replace(data, name="other-data")
    with pytest.raises(ValueError, match="not for space 'tiny' on other-data"):
        train_supernet(SPACE, 0.35, renamed, SETTINGS, tmp_path / "s.pt")


def test_the_evaluator_scores_a_child_with_recalibrated_batchnorm(data, tmp_path):
    supernet = train_supernet(SPACE, 0.35, data, SETTINGS, tmp_path / "s.pt")
    evaluator = SupernetEvaluator({0.35: supernet}, data, SETTINGS)
    config = ArchConfig(width=0.35, num_classes=10, drop=[13, 16], ulsam=[{"after": 6, "subspaces": 2}])
    result = evaluator(config)
    child = supernet.child(config)
    mean, std = data.channel_stats()
    recalibrate_batchnorm(child, evaluator.recalibration_images(0), mean, std, count=64)
    assert result.accuracy == evaluate(child, data.val_images, data.val_labels, mean, std).top1
    assert result.curve == [result.accuracy] and 0 <= result.accuracy <= 1
    with pytest.raises(ValueError, match="none trained at width 0.5"):
        evaluator(ArchConfig(width=0.5, num_classes=10))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a GPU")
@pytest.mark.parametrize("sampling, sliced", [("uniform", False), ("sandwich-distill", True)])
def test_on_a_gpu_a_supernet_trains_though_each_step_leaves_weights_without_a_gradient(data, tmp_path, sampling,
                                                                                      sliced):
    # The fused SGD kernel refuses a parameter without a gradient: a supernet's optimiser is not fused.
    settings = dataclasses.replace(SETTINGS, sampling=sampling, device="cuda",
                                   width_sharing="sliced" if sliced else "separate")
    space, width = (dataclasses.replace(SPACE, widths=(0.35, 0.5)), None) if sliced else (SPACE, 0.35)
    supernet = train_supernet(space, width, data, settings, tmp_path / "s.pt")
    assert next(supernet.parameters()).is_cuda
    result = SupernetEvaluator({w: supernet for w in space.widths}, data, settings)(space.largest(10, 0.35))
    assert 0 <= result.accuracy <= 1
