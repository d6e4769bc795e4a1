"""Estimates with round numbers, for the tests of planning and of their words."""

from ulsam_nas.search.estimate import StudyEstimate
from ulsam_nas.training.timing import TrainingTime


def fixed(trial_seconds_per_epoch: float = 10.0, epochs: int = 4, **overrides) -> TrainingTime:
    """One trial: 10 steps of 0.9 s and 1 s evaluation per epoch, 0 s costing."""
    values = dict(candidate="v2 w1", step_seconds=(trial_seconds_per_epoch - 1) / 10, steps_per_epoch=10, epochs=epochs,
                  eval_seconds=1.0, other_seconds=0.0, resolution=48, batch_size=100, train_images=1000, val_images=200)
    return TrainingTime(**(values | overrides))


def study(**overrides) -> StudyEstimate:
    """60 trials of fixed(), 3 noise runs (40 s each: no costing) and 8 networks x 2 seeds refined on 3x the
    proxy's images, as epochs over the same 1000 images (12 epochs of 10 s: 120 s each)."""
    values = dict(trial=fixed(), remaining=60, noise_runs=3, refine_networks=8, refine_seeds=2, refine_factor=3,
                  refine_images=1000)
    return StudyEstimate(**(values | overrides))
