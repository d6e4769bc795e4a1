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
    assert rows[9] == {"index": 9, "kind": "depthwise_separable", "in_channels": 256, "out_channels": 256, "stride": 1,
                       "feature_size": 10, "droppable": True, "ulsam_subspaces": [1, 2, 4, 8, 16, 32, 64, 128, 256]}


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


def tiny_search_args(tmp_path, space):
    return ["search", "--space", space, "--storage", f"sqlite:///{tmp_path}/cli.db", "--proxy-epochs", "1",
            "--proxy-resolution", "16", "--proxy-subset", "64", "--proxy-batch-size", "32", "--threads", "1",
            "--sampler", "random", "--quiet"]


def test_search_prints_the_front_and_where_results_are(tmp_path, tiny_space):
    result = invoke(*tiny_search_args(tmp_path, tiny_space), "--trials", "3", "--budget", "5M-flops")
    assert result.exit_code == 0, result.output
    assert "Pareto front of study 'tiny_digits_5M-flops'" in result.output
    assert "FLOPs are multiply-accumulates at 64x64" in result.output
    assert "Every point is within budget: 5M-flops." in result.output
    assert f"Results stored in sqlite:///{tmp_path}/cli.db" in result.output
    assert "[3/3] trial 2" in result.output  # one summary line per trial


def test_search_rerun_resumes_instead_of_starting_over(tmp_path, tiny_space):
    args = tiny_search_args(tmp_path, tiny_space)
    assert invoke(*args, "--trials", "2").exit_code == 0
    result = invoke(*args, "--trials", "3")
    assert result.exit_code == 0
    assert "resuming at 2/3 trials" in result.output and "[3/3] trial 2" in result.output
    finished = invoke(*args, "--trials", "3")
    assert "resuming at 3/3 trials" in finished.output and "] trial" not in finished.output
    assert "Pareto front" in finished.output


def test_search_from_a_study_file_with_flag_overrides(tmp_path, tiny_space):
    study = tmp_path / "mine.yaml"
    study.write_text(f"space: {tiny_space}\ntrials: 50\nsampler: nsga2\nproxy: {{epochs: 1, resolution: 16, train_subset: 64}}\n")
    result = invoke("search", "--config", study, "--trials", "1", "--storage", f"sqlite:///{tmp_path}/c.db", "--quiet")
    assert result.exit_code == 0, result.output
    assert "study 'mine'" in result.output and "[1/1]" in result.output


@pytest.mark.parametrize("extra,message", [
    (["--budget", "300Q-flops"], "budget: cannot read '300Q-flops'"),
    (["--budget", "-3M-flops"], "budget: cannot read"),
    (["--objective", "speed"], "unknown objective speed"),
    (["--sampler", "grid"], "unknown sampler 'grid'"),
    (["--space", "mobilenet_v9"], "unknown space 'mobilenet_v9'"),
    (["--dataset", "imagefolder:/nonexistent/birds"], "folder not found: /nonexistent/birds"),
    (["--budget", "1K-flops"], "nothing in space"),
])
def test_search_bad_input_is_one_line_and_exit_2(tmp_path, tiny_space, extra, message):
    args = tiny_search_args(tmp_path, tiny_space)
    result = invoke(*args, "--trials", "1", *extra)
    assert result.exit_code == 2, result.output
    assert message in result.output and "Traceback" not in result.output
    assert len([line for line in result.output.splitlines() if line.strip()]) == 1


def test_spaces_lists_the_bundled_spaces():
    result = invoke("spaces")
    assert result.exit_code == 0 and "mobilenet_v1" in result.output and "mobilenet_v2" in result.output
