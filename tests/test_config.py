"""ArchConfig: round trips and every validation error."""

import json

import pytest

from ulsam_nas import ArchConfig, UlsamPlacement

PAPER_V2 = """\
backbone: mobilenet_v2     # mobilenet_v1 | mobilenet_v2
width: 1.0                 # width multiplier
num_classes: 1000
drop: [13, 16]             # blocks removed
ulsam:                     # ULSAM modules, each applied to the output of block `after`
  - {after: 12, subspaces: 4}
"""

CONFIGS = [
    ArchConfig(),
    ArchConfig(backbone="mobilenet_v1", width=0.5, num_classes=10, drop=[7, 9], ulsam=[{"after": 9, "subspaces": 4}]),
    ArchConfig(width=0.75, drop=[3, 5, 6, 8, 9, 10, 12, 13, 15, 16],
               ulsam=[{"after": 0, "subspaces": 1}, {"after": 18, "subspaces": 16}]),
]


def test_reads_the_documented_file_format():
    config = ArchConfig.from_yaml(PAPER_V2)
    assert config == ArchConfig(drop=(13, 16), ulsam=(UlsamPlacement(12, 4),))
    assert config.width == 1.0 and config.num_classes == 1000


@pytest.mark.parametrize("config", CONFIGS, ids=lambda c: c.summary())
def test_round_trips_exactly_through_yaml_and_json(config, tmp_path):
    assert ArchConfig.from_yaml(config.to_yaml()) == config
    assert ArchConfig.from_json(config.to_json()) == config
    for name in ("a.yaml", "a.json"):
        config.save(tmp_path / name)
        assert ArchConfig.load(tmp_path / name) == config
        assert ArchConfig.load(tmp_path / name).to_dict() == config.to_dict()


def test_lists_are_normalised_so_equal_architectures_are_equal():
    a = ArchConfig(drop=[16, 13], ulsam=[{"after": 16, "subspaces": 4}, {"after": 12, "subspaces": 2}])
    b = ArchConfig(drop=(13, 16), ulsam=(UlsamPlacement(12, 2), UlsamPlacement(16, 4)))
    assert a == b and hash(a) == hash(b) and a.to_json() == b.to_json()


def test_is_frozen():
    with pytest.raises(AttributeError):
        ArchConfig().width = 0.5


def test_provenance_is_ignored_when_loading(tmp_path):
    path = CONFIGS[1].save(tmp_path / "winner.yaml", provenance={"study": "s", "trial": 3})
    assert "provenance" in path.read_text()
    assert ArchConfig.load(path) == CONFIGS[1]


def test_empty_lists_may_be_left_blank():
    assert ArchConfig.from_yaml("backbone: mobilenet_v1\ndrop:\nulsam:\n") == ArchConfig(backbone="mobilenet_v1")


INVALID = [
    ({"backbone": "resnet50"}, r"backbone: unknown backbone 'resnet50'; valid: mobilenet_v1, mobilenet_v2"),
    ({"widht": 1.0}, r"config: unknown key\(s\) widht; valid keys: backbone, width"),
    ({"width": 0}, r"width: must be a number > 0"),
    ({"width": -0.5}, r"width: must be a number > 0"),
    ({"width": "wide"}, r"width: must be a number > 0"),
    ({"num_classes": 0}, r"num_classes: must be >= 1"),
    ({"num_classes": 2.5}, r"num_classes: must be an integer"),
    ({"drop": [19]}, r"drop: block 19 is out of range; mobilenet_v2 has blocks 0-18"),
    ({"drop": [-1]}, r"drop: must be >= 0"),
    ({"drop": [14]}, r"drop: block 14 of mobilenet_v2 cannot be dropped .*droppable blocks: 3, 5, 6, 8, 9, 10, 12, 13, 15, 16"),
    ({"drop": [0]}, r"drop: block 0 of mobilenet_v2 cannot be dropped"),
    ({"backbone": "mobilenet_v1", "drop": [2]}, r"droppable blocks: 3, 5, 7, 8, 9, 10, 11, 13"),
    ({"drop": [13, 13]}, r"drop: block\(s\) 13 listed more than once"),
    ({"drop": "13"}, r"drop: must be a list"),
    ({"ulsam": [{"after": 12, "subspaces": 5}]}, r"ulsam\[0\].subspaces: 5 does not divide the 96 channels after block 12; valid: 1, 2, 3, 4, 6, 8"),
    ({"ulsam": [{"after": 40, "subspaces": 1}]}, r"ulsam\[0\].after: block 40 is out of range"),
    ({"ulsam": [{"after": 12}]}, r"ulsam\[0\]: missing key\(s\) subspaces"),
    ({"ulsam": [{"after": 12, "subspaces": 4, "kernel": 3}]}, r"ulsam\[0\]: unknown key\(s\) kernel; valid keys: after, subspaces"),
    ({"ulsam": [{"after": 12, "subspaces": 0}]}, r"ulsam\[0\].subspaces: must be >= 1"),
    ({"ulsam": [12]}, r"ulsam\[0\]: each entry must be a mapping"),
    ({"ulsam": {"after": 12, "subspaces": 4}}, r"ulsam: must be a list"),
    ({"ulsam": [{"after": 12, "subspaces": 4}, {"after": 12, "subspaces": 2}]}, r"ulsam: more than one ULSAM after block\(s\) 12"),
]


@pytest.mark.parametrize("data,message", INVALID, ids=[message[:40] for _, message in INVALID])
def test_every_invalid_config_names_the_field_and_what_is_valid(data, message):
    with pytest.raises(ValueError, match=message):
        ArchConfig.from_dict(data)


def test_subspaces_are_checked_at_the_configured_width():
    ArchConfig(width=1.0, ulsam=[{"after": 18, "subspaces": 5}])  # 1280 channels
    with pytest.raises(ValueError, match="does not divide the 16 channels after block 0; valid: 1, 2, 4, 8, 16"):
        ArchConfig(width=0.5, ulsam=[{"after": 0, "subspaces": 32}])


@pytest.mark.parametrize("text,message", [
    ("backbone: [unclosed", r"config: not valid YAML at line"),
    ("- just\n- a list\n", r"config: must be a mapping"),
    ("", r"config: must be a mapping"),
])
def test_files_that_are_not_configs(text, message, tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(ValueError, match=message):
        ArchConfig.load(path)


def test_missing_file_is_a_value_error(tmp_path):
    with pytest.raises(ValueError, match="config: file not found"):
        ArchConfig.load(tmp_path / "nope.yaml")


def test_canonical_json_is_a_stable_key():
    assert json.loads(CONFIGS[1].to_json()) == CONFIGS[1].to_dict()
    assert CONFIGS[1].to_json() == ArchConfig.from_json(CONFIGS[1].to_json()).to_json()


def test_a_stage_keeps_its_first_blocks_in_the_canonical_form():
    assert ArchConfig(drop=[5]).canonical() == ArchConfig(drop=[6]).canonical() == ArchConfig(drop=[6])
    one_network = [ArchConfig(drop=[16], ulsam=[{"after": 15, "subspaces": 4}]),
                   ArchConfig(drop=[16], ulsam=[{"after": 16, "subspaces": 4}]),
                   ArchConfig(drop=[15], ulsam=[{"after": 16, "subspaces": 4}])]
    assert {config.canonical() for config in one_network} == {one_network[0]}
    assert ArchConfig(backbone="mobilenet_v1", drop=[9], ulsam=[{"after": 9, "subspaces": 4}]).canonical() == \
        ArchConfig(backbone="mobilenet_v1", drop=[11], ulsam=[{"after": 8, "subspaces": 4}])
    assert ArchConfig(drop=[13, 16]).depths == (1, 1, 2, 3, 4, 2, 2, 1, 1)


def test_stacked_ulsams_have_no_canonical_form():
    stacked = ArchConfig(drop=[16], ulsam=[{"after": 15, "subspaces": 4}, {"after": 16, "subspaces": 8}])
    with pytest.raises(ValueError, match="ULSAMs after blocks 15 and 16 both attend block 15's output"):
        stacked.canonical()
