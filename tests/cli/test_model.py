"""The command line: documented examples run; bad input is one line and exit 2."""

import json

import pytest
from typer.testing import CliRunner

from ulsam_nas.cli import app

runner = CliRunner()


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


def test_blocks_lists_the_numbered_blocks():
    result = invoke("blocks", "mobilenet_v2")
    assert result.exit_code == 0
    lines = result.output.splitlines()
    assert any(line.startswith("18 ") and "conv1x1" in line for line in lines)
    assert "droppable" in lines[1]


def test_blocks_json_has_every_field():
    rows = json.loads(invoke("blocks", "mobilenet_v1", "--width", "0.5", "--resolution", "160", "--json").output)
    assert [row["index"] for row in rows] == list(range(14))
    assert rows[9] == {"index": 9, "stage": 6, "kind": "depthwise_separable", "in_channels": 256, "out_channels": 256,
                       "stride": 1, "feature_size": 10, "proxy_feature_size": 3, "droppable": True,
                       "ulsam_searchable": True, "ulsam_subspaces": [1, 2, 4, 8, 16, 32, 64, 128, 256]}
    assert not rows[13]["ulsam_searchable"]  # 2x2 at the 48-px proxy


@pytest.fixture
def winner(tmp_path):
    path = tmp_path / "winner.yaml"
    path.write_text("backbone: mobilenet_v2\nwidth: 1.0\nnum_classes: 1000\ndrop: [13, 16]\n"
                    "ulsam:\n  - {after: 12, subspaces: 4}\n")
    return path


def test_cost_json(winner):
    result = invoke("cost", winner, "--json")
    assert result.exit_code == 0
    report = json.loads(result.output)
    assert report["flops"] == 262_643_648 and report["params"] == 3_067_092
    assert "latency_ms" not in report


@pytest.mark.slow  # times networks
def test_cost_table_with_latency(winner):
    result = invoke("cost", winner, "--latency", "--resolution", "96")
    assert result.exit_code == 0, result.output
    assert "FLOPs (MACs)" in result.output and "ms median" in result.output and "1 thread" in result.output


@pytest.mark.parametrize("args,message", [
    (["blocks", "mobilenet_v3"], "unknown backbone 'mobilenet_v3'"),
    (["blocks", "mobilenet_v2", "--width", "0"], "width: must be > 0"),
    (["cost", "missing.yaml"], "file not found"),
])
def test_bad_input_is_one_line_and_exit_2(args, message):
    result = invoke(*args)
    assert result.exit_code == 2
    assert message in result.output and result.output.count("\n") == 1 and "Traceback" not in result.output


def test_invalid_config_file(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("backbone: mobilenet_v2\ndrop: [14]\n")
    result = invoke("cost", path)
    assert result.exit_code == 2 and "drop: block 14 of mobilenet_v2 cannot be dropped" in result.output


def test_spaces_lists_the_bundled_spaces():
    result = invoke("spaces")
    assert result.exit_code == 0 and "mobilenet_v1" in result.output and "mobilenet_v2" in result.output
