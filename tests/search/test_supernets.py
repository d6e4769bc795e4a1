"""Searching with the supernet evaluator: trained once before the first trial, kept beside the study, reused on
resume and by other studies, continued after an interrupt, refused for a study made with the proxy."""

import dataclasses

import pytest
import yaml

from ulsam_nas.present.estimates import study_estimate_text
from ulsam_nas.search import SearchSettings, run_search
from ulsam_nas.search.supernets import supernet_folder, supernet_path, trained_epochs
from ulsam_nas.search.urls import StorageURL
from ulsam_nas.space import load_space
from ulsam_nas.training import ProxySettings
from ulsam_nas.training.settings import SupernetSettings

TINY_PROXY = ProxySettings(epochs=1, resolution=16, train_subset=96, batch_size=32, threads=1)
TINY_SUPERNET = SupernetSettings(epochs=2, batch_size=32, train_subset=96, recalibration_images=64,
                                 width_sharing="separate")


def settings(tmp_path, space, **overrides):
    values = dict(space=str(space), proxy=TINY_PROXY, trials=3, seed=0, storage=f"sqlite:///{tmp_path}/s.db",
                  study="t", sampler="random", evaluator="supernet", supernet=TINY_SUPERNET, noise_seeds=2)
    return SearchSettings(**(values | overrides))


def test_the_supernets_live_beside_a_file_storage_and_in_the_cache_for_a_server(tmp_path):
    assert supernet_folder(StorageURL(f"sqlite:///{tmp_path}/s.db")) == tmp_path / "s.db.supernets"
    assert supernet_folder(StorageURL(f"journal:{tmp_path}/j.log")) == tmp_path / "j.log.supernets"
    assert supernet_folder(StorageURL("postgresql://u:p@h/db"), str(tmp_path)) == tmp_path / "supernets"


def test_a_supernet_checkpoint_is_named_by_what_it_was_trained_for(tmp_path, tiny_space):
    space = load_space(str(tiny_space))
    one = supernet_path(tmp_path, space, "digits", 0.35, TINY_SUPERNET)
    assert one == supernet_path(tmp_path, space, "digits", 0.35, TINY_SUPERNET)
    assert one != supernet_path(tmp_path, space, "digits", 1.0, TINY_SUPERNET)
    assert one != supernet_path(tmp_path, space, "other", 0.35, TINY_SUPERNET)
    longer = SupernetSettings(epochs=3, batch_size=32, train_subset=96, recalibration_images=64)
    assert one != supernet_path(tmp_path, space, "digits", 0.35, longer)
    assert "width_sharing" not in TINY_SUPERNET.defining()  # separate: supernets trained before it keep their names
    sliced = dataclasses.replace(TINY_SUPERNET, width_sharing="sliced")
    assert supernet_path(tmp_path, space, "digits", None, sliced).name.startswith(f"{space.name}-wall-")


@pytest.mark.parametrize("sharing, sole", [("sliced", True), ("separate", False)])
def test_the_supernet_every_worker_waits_for_trains_on_all_their_threads(tmp_path, tiny_space, monkeypatch,
                                                                         sharing, sole):
    from ulsam_nas.data import load_dataset
    from ulsam_nas.search import supernets

    threads = []
    monkeypatch.setattr(supernets, "train_supernet",
                        lambda space, width, data, settings, path, on_epoch: threads.append(settings.threads))
    space = load_space(str(tiny_space))
    run = dataclasses.replace(TINY_SUPERNET, width_sharing=sharing, resolution=16, threads=1)
    supernets.prepare_supernets(space, load_dataset("digits", 16), run, tmp_path, sole_threads=2)
    # separate widths train side by side, each on its worker's own threads
    assert threads == ([2] if sole else [1] * len(space.widths))


@pytest.mark.slow
def test_a_search_with_sliced_widths_trains_one_supernet_and_scores_every_width_with_it(tmp_path, tiny_space):
    heard = []
    sliced = dataclasses.replace(TINY_SUPERNET, width_sharing="sliced")
    outcome = run_search(settings(tmp_path, tiny_space, supernet=sliced, trials=6), on_supernet=heard.append)
    assert [(e.width, e.epoch) for e in heard] == [(None, 1), (None, 2)]
    scored = [t.record for t in outcome.results().trials if t.record.evaluated]
    assert len({r.arch_config().width for r in scored}) > 1 and all(0 <= r.accuracy <= 1 for r in scored)


@pytest.mark.slow
def test_a_search_trains_its_supernets_once_and_scores_every_trial_with_them(tmp_path, tiny_space):
    heard, estimates = [], []
    first = run_search(settings(tmp_path, tiny_space), on_supernet=heard.append, on_estimate=estimates.append)
    space = first.space
    assert sorted({(e.width, e.epoch) for e in heard}) == [(w, e) for w in sorted(space.widths) for e in (1, 2)]
    text = study_estimate_text(estimates[0])
    assert "supernet training 4 epochs" in text and "scored with the supernet's weights" in text
    records = [t.record for t in first.results().trials]
    assert len(records) == 3 and all(0 <= r.accuracy <= 1 for r in records if r.evaluated)
    folder = tmp_path / "s.db.supernets"
    for width in space.widths:
        assert trained_epochs(supernet_path(folder, space, "digits", width, settings(tmp_path, tiny_space).supernet_run)) == 2
    again = []
    more = run_search(settings(tmp_path, tiny_space, trials=5), on_supernet=again.append)
    assert again == [] and more.trials_run == 2  # resumed: the supernets are read back, not trained again
    other = run_search(settings(tmp_path, tiny_space, study="other"), on_supernet=again.append)
    assert again == [] and other.trials_run == 3  # another study of the same space and data reuses them
    for checkpoint in folder.glob("*.pt"):
        checkpoint.unlink()
    done = run_search(settings(tmp_path, tiny_space, trials=5), on_supernet=again.append)
    assert again == [] and done.trials_run == 0  # a finished study trains no supernet, even when they are gone


@pytest.mark.slow
def test_an_interrupted_supernet_training_continues_where_it_stopped(tmp_path, tiny_space):
    def stop_after_first_epoch(epoch):
        raise KeyboardInterrupt  # after epoch 1's checkpoint: where Ctrl-C or a kill leaves it

    with pytest.raises(KeyboardInterrupt):
        run_search(settings(tmp_path, tiny_space), on_supernet=stop_after_first_epoch)
    heard = []
    run_search(settings(tmp_path, tiny_space), on_supernet=heard.append)
    first_width = min(load_space(str(tiny_space)).widths)
    trained = [(e.width, e.epoch) for e in heard]
    assert (first_width, 1) not in trained and (first_width, 2) in trained


@pytest.mark.slow
def test_a_proxy_study_cannot_be_resumed_with_the_supernet_and_says_so_before_training_it(tmp_path, tiny_space):
    run_search(settings(tmp_path, tiny_space, evaluator="proxy", trials=1, noise_seeds=0))
    heard = []
    with pytest.raises(ValueError, match=r"scored with the proxy, not the supernet: pass --evaluator proxy .* to "
                                         r"resume it, or --study NEW_NAME"):
        run_search(settings(tmp_path, tiny_space, trials=2, noise_seeds=0), on_supernet=heard.append)
    assert heard == []  # refused before a supernet epoch was trained
    with pytest.raises(ValueError, match="scored with the proxy, not the supernet"):  # the new default, too
        run_search(settings(tmp_path, tiny_space, trials=2, noise_seeds=0, evaluator=SearchSettings().evaluator))


def test_the_supernet_trains_at_the_proxys_resolution():
    searched = SearchSettings(evaluator="supernet", proxy=ProxySettings(resolution=32, threads=1))
    assert searched.supernet_run.resolution == 32 and searched.supernet_run.threads == 1
    with pytest.raises(ValueError, match="study supernet: resolution: taken from the proxy's settings"):
        SearchSettings.from_dict({"evaluator": "supernet", "supernet": {"resolution": 64}})
    with pytest.raises(ValueError, match="study supernet: device, threads: taken from"):
        SearchSettings.from_dict({"evaluator": "supernet", "supernet": {"threads": 4, "device": "cuda"}})
    assert SearchSettings.from_dict(searched.to_dict()) == searched  # the study file's form reads back
    with pytest.raises(ValueError, match="evaluator: unknown evaluator 'oracle'; valid: proxy, supernet"):
        SearchSettings(evaluator="oracle")


HEARD = "ULSAM_NAS_TEST_SUPERNET_LOG"


def _log_epoch(epoch):  # module level: it runs in the worker processes
    import os
    with open(os.environ[HEARD], "a") as log:
        log.write(f"{os.getpid()} {epoch.width} {epoch.epoch}\n")


@pytest.mark.slow
def test_two_workers_share_the_supernets_each_epoch_trained_once(tmp_path, tiny_space, monkeypatch):
    from ulsam_nas.search.workers import run_workers

    log = tmp_path / "heard.log"
    monkeypatch.setenv(HEARD, str(log))
    outcome = run_workers(settings(tmp_path, tiny_space, storage=f"journal:{tmp_path}/j.log", trials=4), 2,
                          on_supernet=_log_epoch)
    assert outcome.trials_run == 4
    trained = [tuple(line.split()[1:]) for line in log.read_text().splitlines()]
    assert sorted(trained) == sorted(set(trained)) and len(trained) == 2 * len(outcome.space.widths)


@pytest.mark.slow
def test_a_search_killed_during_supernet_training_resumes_without_training_again_what_finished(tmp_path, tiny_space):
    import os
    import signal
    import subprocess
    import sys

    study = tmp_path / "study.yaml"  # the default supernet: one for every width (channels sliced)
    study.write_text(yaml.safe_dump(
        {"space": str(tiny_space), "storage": f"sqlite:///{tmp_path}/s.db", "study": "k", "trials": 2,
         "sampler": "random", "refine": 0, "noise_seeds": 0, "evaluator": "supernet",
         "proxy": {"epochs": 1, "resolution": 16, "train_subset": 96, "batch_size": 32, "threads": 1},
         "supernet": {"epochs": 20, "batch_size": 32, "train_subset": 96, "recalibration_images": 64}}))
    command = [sys.executable, "-m", "ulsam_nas", "search", "--config", str(study), "--quiet"]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    victim = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env)
    for line in victim.stderr:  # "supernet of every width epoch 1/20: ..."
        if line.startswith("supernet of every width epoch"):
            break
    victim.send_signal(signal.SIGKILL)
    victim.wait()
    (checkpoint,) = (tmp_path / "s.db.supernets").glob("*-wall-*.pt")
    stored = trained_epochs(checkpoint)  # the last finished epoch's (the kill may land a little later than heard)
    assert 1 <= stored < 20
    rerun = subprocess.run(command, capture_output=True, text=True, timeout=600, env=env)
    assert rerun.returncode == 0, rerun.stderr[-1500:]
    trained = [int(line.split()[5].split("/")[0]) for line in rerun.stderr.splitlines()
               if line.startswith("supernet of every width epoch")]
    assert trained == list(range(stored + 1, 21))  # only what was left, then the trials
    assert trained_epochs(checkpoint) == 20
