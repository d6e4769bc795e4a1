"""From a finished study to a model: plot data, export, show, calibrate (one tiny study shared)."""

import json
import shutil

import pytest
from typer.testing import CliRunner

from ulsam_nas import ArchConfig, build_model, measure_costs
from ulsam_nas.budgets import parse_budget
from ulsam_nas.calibrate import calibrate
from ulsam_nas.cli import app
from ulsam_nas.export import export_trial, select_trial
from ulsam_nas.present.plots import front_plot_info, hypervolume_histories, plot_fronts
from ulsam_nas.ranks import kendall_tau, spearman_rho
from ulsam_nas.record import StudyMeta
from ulsam_nas.report import study_results
from ulsam_nas.search import SearchSettings, run_search
from ulsam_nas.training import ProxySettings

from .conftest import TINY_SPACE

pytestmark = pytest.mark.slow  # the shared study is a real search


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    folder = tmp_path_factory.mktemp("study")
    (folder / "tiny.yaml").write_text(TINY_SPACE.replace("widths: [0.35, 1.0]", "widths: [0.35, 0.5, 1.0]"))
    storage = f"sqlite:///{folder}/r.db"
    settings = SearchSettings(space=str(folder / "tiny.yaml"), budgets=("10M-flops",), trials=10, seed=1, sampler="random",
                              storage=storage, study="r", proxy=ProxySettings(epochs=2, resolution=16, train_subset=128,
                                                                              batch_size=32, threads=1))
    return run_search(settings), folder


def test_plot_info_separates_front_infeasible_and_budget(finished):
    outcome, _ = finished
    info = front_plot_info(outcome.results(), "flops", "accuracy")
    frame = outcome.frame()
    assert info.budget == pytest.approx(10.0)  # M FLOPs
    assert len(info.untrained) == (frame["status"] == "infeasible").sum() > 0
    assert (info.front["x"] <= 10.0).all() and info.front["x"].is_monotonic_increasing
    assert info.front["y"].is_monotonic_increasing  # a front: more FLOPs only for more accuracy
    assert set(info.front["trial"]) <= set(info.trained["trial"])


def test_plots_are_written(finished, tmp_path):
    outcome, _ = finished
    path = plot_fronts([front_plot_info(outcome.results())], tmp_path / "front.svg", 64)
    assert path.exists() and path.read_text().startswith("<?xml")
    history = hypervolume_histories([outcome.results()])["r"]
    assert len(history) == len(outcome.study.trials) and history["hypervolume"].is_monotonic_increasing


def test_export_best_under_a_budget_round_trips(finished, tmp_path):
    outcome, _ = finished
    chosen = select_trial(outcome.study, best=True, under=parse_budget("10M-flops"))
    path = export_trial(outcome.study, chosen, tmp_path / "winner.yaml", outcome.storage)
    config = ArchConfig.load(path)
    assert config.to_dict() == chosen.config
    assert measure_costs(config, resolution=64).flops == chosen.flops  # what the front says
    build_model(config)
    provenance = __import__("yaml").safe_load(path.read_text())["provenance"]
    assert provenance["trial"] == chosen.number and provenance["study"] == "r" and "torch" in provenance["versions"]
    assert chosen.accuracy == max(point.trial.accuracy for point in outcome.results().front())


@pytest.mark.parametrize("kwargs,message", [
    ({"trial": 99}, "has no trial 99"), ({}, "give either --trial N or --best"),
    ({"best": True, "under": parse_budget("1K-flops")}, "no evaluated trial on the front"),
])
def test_export_errors(finished, kwargs, message):
    with pytest.raises(ValueError, match=message):
        select_trial(finished[0].study, **kwargs)


def test_cli_pareto_show_export(finished, tmp_path):
    outcome, folder = finished
    runner = CliRunner()
    storage = ["--storage", outcome.storage]
    result = runner.invoke(app, ["pareto", *storage, "--out", str(tmp_path / "f.png"), "--csv", str(tmp_path / "f.csv"),
                                 "--json", str(tmp_path / "f.json"), "--hypervolume", str(tmp_path / "hv.png")])
    assert result.exit_code == 0, result.output
    rows = json.loads((tmp_path / "f.json").read_text())
    front = outcome.results().front()
    assert len(rows) == len(front) and {"trial", "accuracy", "flops", "dropped", "ulsam", "width"} <= set(rows[0])
    assert (tmp_path / "f.png").stat().st_size > 10_000 and (tmp_path / "hv.png").exists()
    shown = runner.invoke(app, ["show", *storage])
    assert shown.exit_code == 0, shown.output
    # The output gained a noise line, ± on every accuracy and a legend for points kept within noise (issue 10).
    lines = shown.output.splitlines()
    assert "study 'r'" in lines[0] and lines[1].startswith("noise: ") and " ± " in shown.output
    assert len([line for line in lines[2:] if not line.startswith("~:")]) == 2 + len(front)
    assert {"accuracy_sigma", "proxy_accuracy", "strict_front"} <= set(rows[0])
    exported = runner.invoke(app, ["export", *storage, "--best", "--out", str(tmp_path / "w.yaml")])
    assert exported.exit_code == 0 and (tmp_path / "w.yaml").exists()
    for args, message in ((["show", "--study", "nope"], "no study 'nope'"),
                          (["export", "--trial", "77", "--out", str(tmp_path / "x.yaml")], "has no trial 77"),
                          (["pareto", "--out", "/nonexistent/dir/f.png"], "does not exist"),
                          (["pareto", "--x", "speed"], "unknown metric 'speed'")):
        bad = runner.invoke(app, [*args, *storage])
        assert bad.exit_code == 2 and message in bad.output, (args, bad.output)


def test_calibrate_reports_rank_correlations(finished):
    outcome, _ = finished
    report = calibrate(outcome.study, count=3, epochs=1, threads=1)  # on all the training images, as refinement
    assert len(report.trials) == 3 and report.long_epochs == 1 and report.proxy_epochs == 2
    by_number = {t.number: t for t in outcome.results().trials}
    assert list(report.proxy_accuracy) == [by_number[n].proxy_accuracy for n in report.trials]  # the stored proxy
    assert report.agreement[0].tau == kendall_tau(report.proxy_accuracy, report.long_accuracy)
    assert report.spearman_flops == spearman_rho(report.flops, report.long_accuracy)
    assert StudyMeta.from_study(outcome.study).calibration == report


def test_refine_command_on_a_copy_resumes_and_export_uses_the_refined_front(finished, tmp_path):
    from ulsam_nas.refine import RefineSettings, refine_study
    from ulsam_nas.search import open_study

    outcome, folder = finished
    shutil.copy(folder / "r.db", tmp_path / "copy.db")  # the shared study stays unrefined
    storage = f"sqlite:///{tmp_path}/copy.db"
    settings = RefineSettings(count=3, factor=1, train_subset=128)
    report = refine_study(open_study(storage, "r"), settings, threads=1)
    assert report.trained_runs == 2 * len(report.points) and 1 <= len(report.points) <= 3
    again = refine_study(open_study(storage, "r"), settings, threads=1)
    assert again.trained_runs == 0 and again.stored_runs == report.trained_runs
    info = front_plot_info(study_results(open_study(storage, "r")))
    assert info.refined and info.front["yerr"].gt(0).all() and info.front["proxy_y"].notna().all()  # error bars
    runner = CliRunner()
    shown = runner.invoke(app, ["show", "--storage", storage])
    assert shown.exit_code == 0 and "refined accuracy" in shown.output and "refined: " in shown.output
    strict = runner.invoke(app, ["show", "--storage", storage, "--strict"])
    assert strict.exit_code == 0 and "strict front" in strict.output and "~:" not in strict.output
    exported = runner.invoke(app, ["export", "--best", "--storage", storage, "--out", str(tmp_path / "w.yaml")])
    assert exported.exit_code == 0 and "refined accuracy" in exported.output
    metrics = __import__("yaml").safe_load((tmp_path / "w.yaml").read_text())["provenance"]["metrics"]
    assert metrics["accuracy"] == pytest.approx(max(p.accuracy for p in report.points))  # the refined best
    assert metrics["basis"] == "refined" and "proxy_accuracy" in metrics
    other = runner.invoke(app, ["refine", "--storage", storage, "--refine", "3"])
    assert other.exit_code == 2 and "refined with other settings" in other.output  # the CLI's defaults differ
