"""The reference's networks: what the issue asks of the ground truth, each a network of the bundled space."""

from benchmarks.reference import NETWORKS, SECOND_SEED, recipe, runs_of
from ulsam_nas.space import load_space
from ulsam_nas.training.settings import TrainSettings


def test_twelve_or_more_canonical_networks_of_the_bundled_space_over_three_widths():
    space = load_space("mobilenet_v2")
    assert len(NETWORKS) >= 12 and {c.width for c in NETWORKS.values()} == set(space.widths)
    for name, config in NETWORKS.items():
        assert config == config.canonical(), name  # one encoding per network
        assert space.params_for(config) is not None, name  # every evaluator can score it, the supernet too
    drops = [len(c.drop) for c in NETWORKS.values()]
    assert min(drops) == 0 and max(drops) == len(space.drop)  # full depth to every droppable block dropped
    assert len(SECOND_SEED) >= 4 and set(SECOND_SEED) <= set(NETWORKS)
    assert runs_of()[: len(NETWORKS)] == [f"{name}|0" for name in NETWORKS]  # first seeds first


def test_a_results_file_holds_one_recipe_and_the_clip_is_part_of_it():
    assert recipe(TrainSettings())["grad_clip"] == 10.0
    assert recipe(TrainSettings(grad_clip=None)) != recipe(TrainSettings())
