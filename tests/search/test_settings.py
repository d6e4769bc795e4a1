"""Search settings: study definition files, validation, the quick-start study matching the defaults."""

import pytest

from ulsam_nas.search import SearchSettings


def test_study_definition_files(tmp_path):
    for name in ("quickstart", "cub200_mobilenet_v2"):
        loaded = SearchSettings.load(name)
        assert loaded.study == name and loaded.trials > 0
    path = tmp_path / "mine.yaml"
    path.write_text("space: mobilenet_v1\nbudgets: 400M-flops\nproxy: {epochs: 2}\n")
    mine = SearchSettings.load(path)
    assert mine.budget_texts == ["400M-flops"] and mine.proxy.epochs == 2 and mine.study == "mine"
    path.write_text("spaec: mobilenet_v1\n")
    with pytest.raises(ValueError, match="unknown key\\(s\\) spaec"):
        SearchSettings.load(path)


@pytest.mark.parametrize("overrides,message", [
    ({"budgets": ("300X-flops",)}, "budget: cannot read"),
    ({"objectives": ("accuracy", "speed")}, "unknown objective speed"),
    ({"sampler": "cmaes"}, "unknown sampler 'cmaes'"),
    ({"trials": 0}, "trials: must be a positive integer"),
    ({"timeout": "soon"}, "timeout: cannot read"),
])
def test_invalid_settings(overrides, message):
    with pytest.raises(ValueError, match=message):
        SearchSettings(**overrides)


def test_quickstart_study_is_what_the_default_command_runs():
    quickstart, default = SearchSettings.load("quickstart"), SearchSettings(budgets=("300M-flops",))
    for name in ("space", "dataset", "budgets", "objectives", "sampler", "seed", "trials", "proxy", "resolution"):
        assert getattr(quickstart, name) == getattr(default, name), name
