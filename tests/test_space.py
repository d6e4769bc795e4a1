"""Search spaces: the trial -> config mapping, tested with FixedTrial."""

import optuna
import pytest

from ulsam_nas import ArchConfig
from ulsam_nas.baselines import baselines_for
from ulsam_nas.space import SearchSpace, list_spaces, load_space


def params(space: SearchSpace, **chosen):
    values = {"width": 1.0} | {f"drop_{b}": False for b in space.drop} | {f"ulsam_{b}": 0 for b in space.ulsam_after}
    return values | chosen


def test_bundled_spaces_are_listed_and_load():
    assert {"mobilenet_v1", "mobilenet_v2"} <= set(list_spaces())
    assert load_space("mobilenet_v2").backbone == "mobilenet_v2"
    assert load_space("mobilenet_v1").resolution == 224


def test_fixed_trial_maps_to_the_config():
    space = load_space("mobilenet_v2")
    trial = optuna.trial.FixedTrial(params(space, drop_13=True, drop_16=True, ulsam_16=4, width=0.75))
    config = space.suggest(trial, num_classes=10)
    assert config == ArchConfig(width=0.75, num_classes=10, drop=[13, 16], ulsam=[{"after": 16, "subspaces": 4}])


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
    assert "drop_13" in names.pop() and len(params(space)) == 1 + 10 + 7


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
    assert space.params_for(ArchConfig(num_classes=10, width=1.4)) is None
    assert space.params_for(ArchConfig(num_classes=10, drop=[3], ulsam=[{"after": 3, "subspaces": 4}])) is None


def test_a_users_own_space_file(tmp_path):
    path = tmp_path / "mine.yaml"
    path.write_text("backbone: mobilenet_v1\nwidths: [0.5]\ndrop: [7, 8]\nulsam_after: [8]\nsubspaces: [2, 4]\n")
    space = load_space(path)
    assert space.name == "mine" and space.size == 1 * 4 * 3


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
