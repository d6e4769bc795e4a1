"""Search settings: study definition files, validation, the quick-start study matching the defaults."""

import pytest

from ulsam_nas.search import SearchSettings
from ulsam_nas.space import load_space


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
    ({"cache": False, "cache_dir": "/elsewhere"}, "--no-cache and --cache-dir /elsewhere"),
    ({"cache": "no"}, "cache: must be true or false"),
])
def test_invalid_settings(overrides, message):
    with pytest.raises(ValueError, match=message):
        SearchSettings(**overrides)


def test_quickstart_study_is_what_the_default_command_runs():
    quickstart, default = SearchSettings.load("quickstart"), SearchSettings(budgets=("300M-flops",))
    for name in ("space", "dataset", "budgets", "objectives", "sampler", "seed", "trials", "proxy", "resolution"):
        assert getattr(quickstart, name) == getattr(default, name), name


def test_no_cache_is_read_from_a_study_file_and_is_not_part_of_the_study(tmp_path, tiny_space):
    path = tmp_path / "mine.yaml"
    path.write_text(f"space: {tiny_space}\ncache: false\n")
    loaded = SearchSettings.load(path)
    assert loaded.cache is False and SearchSettings().cache is True
    assert SearchSettings.from_dict(loaded.to_dict()) == loaded
    space = load_space(tiny_space)
    assert loaded.definition(space, 10) == SearchSettings(space=str(tiny_space)).definition(space, 10)


def test_study_files_of_earlier_versions_still_load(tmp_path):
    path = tmp_path / "old.yaml"
    path.write_text("latency_runtime: torch\nlatency_threads: 2\nrefine: 3\nbudgets: 10ms-latency\n")
    loaded = SearchSettings.load(path)
    assert (loaded.latency.runtime, loaded.latency.threads, loaded.refine.count) == ("torch", 2, 3)
    assert SearchSettings.from_dict(loaded.to_dict()) == loaded  # and the nested form reads back
    path.write_text("latency: {runtime: torch, speed: 3}\n")
    with pytest.raises(ValueError, match="study latency: unknown key\\(s\\) speed"):
        SearchSettings.load(path)
