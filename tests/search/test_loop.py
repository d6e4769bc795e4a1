"""The search loop: hard budgets, baselines first, duplicates reused, NaN handled, resume."""

import optuna
import pytest

from ulsam_nas.data.cache import default_cache_dir
from ulsam_nas.record import StudyMeta
from ulsam_nas.training import ProxySettings, train_proxy
from ulsam_nas.search import SearchSettings, open_study, run_search

pytestmark = pytest.mark.slow  # every test runs a real search

TINY_PROXY = ProxySettings(epochs=1, resolution=16, train_subset=96, batch_size=32, threads=1)


def settings(tmp_path, space, **overrides):
    values = dict(space=str(space), proxy=TINY_PROXY, trials=3, seed=0, storage=f"sqlite:///{tmp_path}/s.db",
                  study="t", sampler="random", evaluator="proxy")
    return SearchSettings(**(values | overrides))


def test_budget_is_hard_infeasible_candidates_are_never_trained(tmp_path, tiny_space):
    # At the 64 px deployment size width 0.35 costs ~4.7M FLOPs and width 1.0 ~24M: 5M excludes width 1.0.
    outcome = run_search(settings(tmp_path, tiny_space, budgets=("5M-flops",), trials=8))
    frame = outcome.frame()
    infeasible = frame[frame["status"] == "infeasible"]
    assert len(infeasible) > 0
    assert (infeasible["flops"] > 5e6).all() and (infeasible["train_seconds"] == 0).all()
    assert infeasible["accuracy"].isna().all()  # no accuracy: nothing was trained
    assert not any("proxy_curve" in t.user_attrs for t in outcome.study.trials if t.user_attrs["status"] == "infeasible")
    assert all(t.constraints for t in outcome.study.trials)  # the sampler is told
    front = [point.trial for point in outcome.results().front()]
    assert len(front) > 0 and all(trial.value("flops") <= 5e6 for trial in front)
    assert not {trial.number for trial in front} & set(infeasible["trial"])


def test_baselines_come_first_and_are_marked(tmp_path, tiny_space):
    outcome = run_search(settings(tmp_path, tiny_space, trials=2))
    first = outcome.study.trials[0]
    assert first.user_attrs["baseline"] == "vanilla" and first.params["width"] == 1.0
    assert first.user_attrs["status"] == "trained"
    skipped = StudyMeta.from_study(outcome.study).skipped_baselines
    assert any(item.outside_space for item in skipped)  # the paper's 13/16 drops are not in this space
    (paper,) = [item for item in skipped if item.label == "ulsam-paper: drop 15,16 + ULSAM(4)"]
    assert paper.unsearched_ulsam == (14,)  # its ULSAM after block 16 attends block 14 once 15 and 16 are dropped


def test_over_budget_baseline_is_not_evaluated(tmp_path, tiny_space):
    outcome = run_search(settings(tmp_path, tiny_space, budgets=("5M-flops",), trials=1))
    assert "baseline" not in outcome.study.trials[0].user_attrs
    (vanilla,) = [item for item in StudyMeta.from_study(outcome.study).skipped_baselines if item.label == "vanilla"]
    assert vanilla.over_budget and "> 5M-flops budget" in vanilla.over_budget[0]


def test_duplicates_are_not_retrained(tmp_path):
    space = tmp_path / "two.yaml"
    space.write_text("backbone: mobilenet_v2\nresolution: 64\nwidths: [0.35]\ndrop: [16]\n")  # two configs
    outcome = run_search(settings(tmp_path, space, trials=6))
    frame = outcome.frame()
    assert (frame["status"] == "trained").sum() == 2
    reused = frame[frame["status"] == "reused"]
    assert len(reused) == 4 and (reused["train_seconds"] == 0).all()
    by_config = frame.groupby("config")["accuracy"].nunique()
    assert (by_config == 1).all()  # the reused accuracy is the original one
    for trial in outcome.study.trials:
        if trial.user_attrs["status"] == "reused":
            source = outcome.study.trials[trial.user_attrs["reused_from"]]
            assert source.user_attrs["config_key"] == trial.user_attrs["config_key"]


def test_nan_loss_fails_the_trial_and_the_search_goes_on(tmp_path, tiny_space):
    outcome = run_search(settings(tmp_path, tiny_space, trials=3, proxy=ProxySettings(
        epochs=1, resolution=16, train_subset=96, batch_size=32, lr=1e30, threads=1)))
    states = [t.state for t in outcome.study.trials]
    assert states.count(optuna.trial.TrialState.FAIL) == 3
    assert all("loss became" in t.user_attrs["reason"] for t in outcome.study.trials)
    assert outcome.frame()["status"].eq("failed").all()


def test_resume_completes_the_total_and_keeps_what_finished(tmp_path, tiny_space):
    first = run_search(settings(tmp_path, tiny_space, trials=2))
    before = [(t.number, t.values) for t in first.study.trials]
    second = run_search(settings(tmp_path, tiny_space, trials=4))
    assert second.trials_run == 2 and len(second.study.trials) == 4
    assert [(t.number, t.values) for t in second.study.trials[:2]] == before
    third = run_search(settings(tmp_path, tiny_space, trials=4))  # finished: runs nothing
    assert third.trials_run == 0 and len(third.study.trials) == 4


def test_interrupted_trial_is_not_counted_and_is_redone(tmp_path, tiny_space):
    calls = {"n": 0}

    def interrupted_once(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt
        return train_proxy(*args, **kwargs)

    # no noise runs: the interrupt is meant for trial 1's training
    outcome = run_search(settings(tmp_path, tiny_space, trials=3, noise_seeds=0), trainer=interrupted_once)
    assert outcome.interrupted and outcome.trials_run == 1
    resumed = run_search(settings(tmp_path, tiny_space, trials=3))
    frame = resumed.frame()
    assert (frame["status"] != "interrupted").sum() == 3 and (frame["status"] == "interrupted").sum() == 1


def test_a_resumed_study_must_keep_its_settings(tmp_path, tiny_space):
    run_search(settings(tmp_path, tiny_space, trials=1))
    with pytest.raises(ValueError, match="created with other settings \\(proxy\\)"):
        run_search(settings(tmp_path, tiny_space, trials=2, proxy=ProxySettings(epochs=2, resolution=16)))


def test_unreachable_budget_is_refused_before_training(tmp_path, tiny_space):
    with pytest.raises(ValueError, match="nothing in space tiny can meet it"):
        run_search(settings(tmp_path, tiny_space, budgets=("10K-flops",)))
    assert not (tmp_path / "s.db").exists()  # refused before any study was created


def test_same_seed_same_search(tmp_path, tiny_space):
    a = run_search(settings(tmp_path, tiny_space, trials=4, study="a"))
    b = run_search(settings(tmp_path, tiny_space, trials=4, study="b"))
    assert [t.params for t in a.study.trials] == [t.params for t in b.study.trials]
    assert [t.values for t in a.study.trials] == [t.values for t in b.study.trials]


@pytest.mark.parametrize("sampler", ["nsga2", "tpe", "random"])
def test_every_sampler_runs_under_a_budget(tmp_path, tiny_space, sampler):
    outcome = run_search(settings(tmp_path, tiny_space, sampler=sampler, budgets=("5M-flops",), trials=4))
    assert len(outcome.study.trials) == 4
    assert all(point.trial.value("flops") <= 5e6 for point in outcome.results().front())


def test_storage_records_everything(tmp_path, tiny_space):
    outcome = run_search(settings(tmp_path, tiny_space, trials=2, budgets=("60M-flops",)))
    trial = open_study(f"sqlite:///{tmp_path}/s.db", "t").trials[1]
    for key in ("config", "config_key", "summary", "flops", "params", "proxy_curve", "accuracy", "train_seconds",
                "status", "reason", "cost_seconds"):
        assert key in trial.user_attrs, key
    assert outcome.study.user_attrs["settings"]["budgets"] == ["60M-flops"]
    assert outcome.study.user_attrs["reference_point"] == {"accuracy": 0.0, "flops": 60e6}


def test_latency_objective_is_measured(tmp_path, tiny_space):
    outcome = run_search(settings(tmp_path, tiny_space, objectives=("accuracy", "latency"), trials=1))
    assert outcome.study.trials[0].user_attrs["latency_ms"] > 0
    assert len(outcome.study.trials[0].values) == 2


def test_no_cache_decodes_without_writing_a_cache(tmp_path, tiny_space, image_folder):
    cache = default_cache_dir()  # a fresh folder per test (conftest)
    common = dict(dataset=f"imagefolder:{image_folder}", trials=1, noise_seeds=0)
    outcome = run_search(settings(tmp_path, tiny_space, cache=False, **common))
    assert outcome.frame()["status"].tolist()[0] == "trained"  # the images were loaded and trained on
    assert not cache.exists() or not any(cache.iterdir())
    run_search(settings(tmp_path, tiny_space, study="cached", **common))
    assert any(cache.iterdir())  # the same search with the cache on writes it


def test_auto_proxy_settings_are_chosen_by_dataset_size_and_stored_as_numbers(tmp_path, tiny_space, image_folder,
                                                                                monkeypatch):
    # The rule's sizes scaled down to the tiny folder (15 training images): a 10-image subset, 2 epochs reach 20.
    from ulsam_nas.training import settings as training_settings

    monkeypatch.setattr(training_settings, "AUTO_SUBSET", 10)
    monkeypatch.setattr(training_settings, "AUTO_IMAGES", 20)
    auto = ProxySettings(resolution=16, batch_size=4, threads=1)
    outcome = run_search(settings(tmp_path, tiny_space, proxy=auto, dataset=f"imagefolder:{image_folder}", trials=1,
                                  noise_seeds=0))
    assert outcome.settings.proxy.train_subset == 10 and outcome.settings.proxy.epochs == 2
    stored = StudyMeta.from_study(optuna.load_study(study_name="t", storage=f"sqlite:///{tmp_path}/s.db"))
    assert (stored.definition.proxy.train_subset, stored.definition.proxy.epochs) == (10, 2)
    assert run_search(settings(tmp_path, tiny_space, proxy=auto, dataset=f"imagefolder:{image_folder}", trials=2,
                               noise_seeds=0)).trials_run == 1  # the same auto settings resume the study
