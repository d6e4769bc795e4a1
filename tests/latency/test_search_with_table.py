"""A search on a latency table predicts every latency and times nothing end to end; the CLI checks tables."""

import pytest
from typer.testing import CliRunner

from ulsam_nas.cli import app
from ulsam_nas.latency import LatencySettings, LatencyTable
from ulsam_nas.latency import meter as meter_module
from ulsam_nas.search import SearchSettings, run_search
from ulsam_nas.training import ProxySettings

pytestmark = pytest.mark.slow  # real searches and a real table


def test_search_with_a_table_never_times_a_network(tiny, tmp_path, monkeypatch):
    _, _, path = tiny

    def refuse(*args, **kwargs):
        raise AssertionError("a network was timed during a search with a latency table")

    monkeypatch.setattr(meter_module, "interleaved", refuse)
    monkeypatch.setattr(meter_module, "direct", refuse)
    settings = SearchSettings(space=str(path.parent / "tiny.yaml"), objectives=("accuracy", "latency"),
                              latency=LatencySettings(table=str(path)), trials=4, sampler="random", storage=f"sqlite:///{tmp_path}/t.db",
                              study="t", proxy=ProxySettings(epochs=1, resolution=16, train_subset=64, batch_size=32,
                                                             threads=1))
    outcome = run_search(settings)
    table = LatencyTable.load(path)
    front = outcome.results().front()
    assert len(front) > 0
    for point in front:
        assert point.trial.value("latency") == pytest.approx(table.predict(point.trial.record.arch_config()).ms)


def test_a_table_of_another_space_is_refused_in_one_line(tiny, tmp_path):
    _, _, path = tiny
    other = tmp_path / "other.yaml"
    other.write_text("name: other\nbackbone: mobilenet_v2\nresolution: 64\nwidths: [0.5]\ndrop: [16]\n")
    result = CliRunner().invoke(app, ["search", "--space", str(other), "--objective", "accuracy", "--objective", "latency",
                                      "--latency-table", str(path), "--storage", f"sqlite:///{tmp_path}/o.db", "--quiet"])
    assert result.exit_code == 2 and "made for space 'tiny', which differs from space 'other'" in result.output
    assert "Traceback" not in result.output


def test_cli_checks_an_existing_table_and_records_its_error(tiny, tmp_path):
    _, table, path = tiny
    copy = table.save(tmp_path / "copy.csv")
    result = CliRunner().invoke(app, ["latency-table", "--space", str(path.parent / "tiny.yaml"), "--out", str(copy),
                                      "--check", "2"])
    assert result.exit_code == 0, result.output
    assert "RMSPE" in result.output and "within ±10%" in result.output
    check = LatencyTable.load(copy).meta["check"]
    assert check["configs"] == 2 and check["rmspe"] >= 0 and 0 <= check["within_10_percent"] <= 1
