"""``ulsam-nas search``: prints the front and where results are, resumes, reads study files; bad input is one line."""

import pytest
from typer.testing import CliRunner

from ulsam_nas.cli import app
from ulsam_nas.data.cache import default_cache_dir

pytestmark = pytest.mark.slow  # every test runs a real search

runner = CliRunner()


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


def tiny_search_args(tmp_path, space):
    return ["search", "--space", space, "--storage", f"sqlite:///{tmp_path}/cli.db", "--proxy-epochs", "1",
            "--proxy-resolution", "16", "--proxy-subset", "64", "--proxy-batch-size", "32", "--threads", "1",
            "--sampler", "random", "--quiet", "--refine", "0",  # refinement: test_search_refines_the_front
            "--evaluator", "proxy"]


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
    result = invoke("search", "--config", study, "--trials", "1", "--storage", f"sqlite:///{tmp_path}/c.db", "--quiet",
                    "--refine", "0")
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
    (["--no-cache", "--cache-dir", "/nonexistent/cache"], "--no-cache and --cache-dir /nonexistent/cache"),
    (["--proxy-epochs", "many"], "--proxy-epochs: expected a whole number or auto, got 'many'"),
    (["--proxy-subset", "most"], "--proxy-subset: expected a whole number, all or auto, got 'most'"),
])
def test_search_bad_input_is_one_line_and_exit_2(tmp_path, tiny_space, extra, message):
    args = tiny_search_args(tmp_path, tiny_space)
    result = invoke(*args, "--trials", "1", *extra)
    assert result.exit_code == 2, result.output
    assert message in result.output and "Traceback" not in result.output
    assert len([line for line in result.output.splitlines() if line.strip()]) == 1


def test_search_refines_the_front_and_reports_rank_agreement(tmp_path, tiny_space, image_folder):
    # A tiny image folder: refinement's "all the training data" stays small.
    args = [a for a in tiny_search_args(tmp_path, tiny_space) if a not in ("--refine", "0")]
    result = invoke(*args, "--dataset", f"imagefolder:{image_folder}", "--trials", "4", "--refine", "3",
                    "--noise-seeds", "2")
    assert result.exit_code == 0, result.output
    assert "noise: v2 w1 proxy-trained with seeds 0, 1" in result.output
    assert "refined trial 0 seed 1" in result.output and "Refinement of" in result.output
    assert "refined accuracy" in result.output and "proxy accuracy" in result.output and " ± " in result.output


def test_search_with_no_cache_writes_no_decoded_dataset(tmp_path, tiny_space, image_folder):
    cache = default_cache_dir()  # a fresh folder per test (conftest)
    result = invoke(*tiny_search_args(tmp_path, tiny_space), "--dataset", f"imagefolder:{image_folder}", "--trials", "1",
                    "--noise-seeds", "0", "--no-cache")
    assert result.exit_code == 0, result.output
    assert "Pareto front" in result.output
    assert not cache.exists() or not any(cache.iterdir())
