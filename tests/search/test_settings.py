"""Search settings: study definition files, validation, the quick-start study matching the defaults."""

import random
from collections import Counter

import pytest

from ulsam_nas.resources import resolve_bundled
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
    for text, message in (("budgets:\nobjectives:\n", "study: budgets, objectives: no value given"),
                          ("proxy: 5\n", "study proxy: must be a mapping"), ("seed: 0\x1a\n", "not valid YAML \\(character 7\\)"),
                          (b"seed: \xff\n", "not UTF-8 text \\(byte 6\\)")):
        path.write_bytes(text if isinstance(text, bytes) else text.encode())
        with pytest.raises(ValueError, match=message):  # each once a traceback or a line that did not name the file
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


def test_a_truncated_or_flipped_study_file_loads_or_is_one_line_never_a_traceback(tmp_path):
    good = SearchSettings.load("quickstart")
    text = (resolve_bundled("studies", "quickstart", "study")).read_bytes()
    rng = random.Random(0)
    damaged = [text[:cut] for cut in range(0, len(text), 7)]
    for _ in range(150):
        flipped = bytearray(text)
        flipped[rng.randrange(len(text))] ^= 1 << rng.randrange(8)
        damaged.append(bytes(flipped))
    path = tmp_path / "quickstart.yaml"
    outcomes = Counter()
    for data in damaged:
        path.write_bytes(data)
        try:
            outcomes["same" if SearchSettings.load(path) == good else "other valid settings"] += 1
        except ValueError as error:
            assert "\n" not in str(error)
            outcomes["refused"] += 1
    # A hand-written file has no checksum: a flip that leaves valid settings (a comment, or trials: 60 -> 62) is
    # another study definition. A resumed study refuses any change to what defines it (test_loop.py).
    assert outcomes["refused"] > 0 and outcomes["same"] > 0
