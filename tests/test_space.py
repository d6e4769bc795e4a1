"""Search spaces: the trial -> config mapping, tested with FixedTrial."""

import itertools
import math
import random

import optuna
import pytest

from ulsam_nas import ArchConfig
from ulsam_nas.baselines import baselines_for
from ulsam_nas.space import HiddenSlot, SearchSpace, list_spaces, load_space


def params(space: SearchSpace, **chosen):
    values = ({"width": 1.0} | {f"depth_{stage.first}": max(depths) for stage, depths in space.stages}
              | {f"ulsam_{b}": 0 for b in space.ulsam_after})
    return values | chosen


def test_bundled_spaces_are_listed_and_load():
    assert {"mobilenet_v1", "mobilenet_v2"} <= set(list_spaces())
    assert load_space("mobilenet_v2").backbone == "mobilenet_v2"
    assert load_space("mobilenet_v1").resolution == 224


def test_fixed_trial_maps_to_the_config():
    space = load_space("mobilenet_v2")
    trial = optuna.trial.FixedTrial(params(space, depth_11=2, depth_14=2, ulsam_15=4, ulsam_16=8, width=0.75))
    config = space.suggest(trial, num_classes=10)  # ulsam_16: block 16 is not kept at depth 2, so it is ignored
    assert config == ArchConfig(width=0.75, num_classes=10, drop=[13, 16], ulsam=[{"after": 15, "subspaces": 4}])


def test_every_trial_suggests_the_same_stably_named_parameters():
    space = load_space("mobilenet_v2")
    study = optuna.create_study(directions=["maximize"], sampler=optuna.samplers.RandomSampler(seed=1))
    names = set()
    for _ in range(5):
        trial = study.ask()
        space.suggest(trial, num_classes=10)
        names.add(tuple(sorted(trial.params)))
        study.tell(trial, 0.0)
    assert names == {tuple(sorted(params(space)))}
    assert "depth_11" in names.pop() and len(params(space)) == 1 + 5 + 10  # width, 5 stages, 10 ULSAM slots


def test_subspaces_fall_back_to_the_largest_listed_divisor():
    space = SearchSpace(name="s", backbone="mobilenet_v2", widths=(0.35,), ulsam_after=(2,), subspaces=(1, 2, 4, 8, 16))
    # width 0.35: block 2 has 8 channels, so 16 subspaces become 8
    config = space.suggest(optuna.trial.FixedTrial({"width": 0.35, "ulsam_2": 16}), num_classes=5)
    assert config.ulsam[0].subspaces == 8


def test_params_for_inverts_the_mapping():
    space = load_space("mobilenet_v2")
    for label, config in baselines_for("mobilenet_v2", 1.0, 10).items():
        recovered = space.params_for(config)
        assert recovered is not None, label
        assert space.config_from_params(recovered, 10) == config
    # any encoding of a network maps to its one configuration
    assert space.params_for(ArchConfig(num_classes=10, drop=[15], ulsam=[{"after": 16, "subspaces": 4}])) == \
        space.params_for(ArchConfig(num_classes=10, drop=[16], ulsam=[{"after": 15, "subspaces": 4}]))
    assert space.params_for(ArchConfig(num_classes=10, width=1.4)) is None
    assert space.params_for(ArchConfig(num_classes=10, drop=[3], ulsam=[{"after": 3, "subspaces": 4}])) is None


def test_size_counts_distinct_networks():
    space = SearchSpace(name="s", backbone="mobilenet_v2", widths=(0.35, 0.5), drop=(12, 13, 16), ulsam_after=(12, 15, 16),
                        subspaces=(2, 4, 5))
    names = [("width", space.widths)] + [(f"depth_{stage.first}", depths) for stage, depths in space.stages] \
        + [(f"ulsam_{b}", (0, *space.subspaces)) for b in space.ulsam_after]
    networks = {space.config_from_params(dict(zip([n for n, _ in names], values)), 10)
                for values in itertools.product(*[choices for _, choices in names])}
    assert space.size == len(networks) < math.prod(len(choices) for _, choices in names)
    assert load_space("mobilenet_v2").size == 893_422_872  # 216 depth patterns x widths x ULSAM where kept


def test_the_corners_of_the_space():
    space = load_space("mobilenet_v2")
    assert space.largest(10) == ArchConfig(num_classes=10, ulsam=[{"after": b, "subspaces": 16} for b in space.ulsam_after])
    assert space.cheapest(10) == ArchConfig(width=0.5, num_classes=10, drop=space.drop)
    assert space.vanilla(10, width=0.75) == ArchConfig(width=0.75, num_classes=10) and space.baseline_width == 1.0
    rng = random.Random(0)
    samples = [space.sample(rng, 10) for _ in range(20)]
    assert all(space.params_for(config) is not None for config in samples) and len(set(samples)) > 10


def test_slots_a_proxy_cannot_see_or_that_are_1x1_where_the_network_ships_are_left_out():
    space = load_space("mobilenet_v2")  # ULSAM after 4, 6, 7, 10, 11, 13, 14, 15, 16, 17
    searched, hidden = space.visible(224, 48)  # 48 px: blocks 4-6 are 6x6, 7-13 3x3, 14-17 2x2
    assert searched.ulsam_after == (4, 6, 7, 10, 11, 13) and [slot.block for slot in hidden] == [14, 15, 16, 17]
    assert hidden[0] == HiddenSlot(14, deployment_size=7, proxy_size=2)
    assert space.visible(224, 96)[0].ulsam_after == space.ulsam_after  # 96 px: 3x3 at the last stages
    assert space.visible(32, 96)[0].ulsam_after == (4, 6, 7, 10, 11, 13)  # 1x1 where it ships (32 px): never


def test_a_users_own_space_file(tmp_path):
    path = tmp_path / "mine.yaml"
    path.write_text("backbone: mobilenet_v1\nwidths: [0.5]\ndrop: [7, 8]\nulsam_after: [8]\nsubspaces: [2, 4]\n")
    space = load_space(path)
    assert space.name == "mine" and space.size == 3 * 3  # stage 6-11 keeps 4, 5 or 6 blocks; ULSAM(2|4) or none at 8


@pytest.mark.parametrize("text,message", [
    ("backbone: mobilenet_v2\ndrop: [14]\n", "drop: block 14 of mobilenet_v2 cannot be dropped"),
    ("backbone: mobilenet_v2\nulsam_after: [30]\n", "block 30 is out of range"),
    ("backbone: mobilenet_v9\n", "unknown backbone"),
    ("widths: [1.0]\n", "missing key backbone"),
    ("backbone: mobilenet_v2\nwidths: [0]\n", "widths: must be a non-empty list of positive numbers"),
    ("backbone: mobilenet_v2\nlayers: [1]\n", "unknown key"),
    ("backbone: [", "not valid YAML"),
])
def test_invalid_space_files(tmp_path, text, message):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(ValueError, match=message):
        load_space(path)


def test_unknown_space_name_lists_the_bundled_ones():
    with pytest.raises(ValueError, match="unknown space 'mobilenet_v9'; bundled: mobilenet_v1, mobilenet_v2"):
        load_space("mobilenet_v9")
