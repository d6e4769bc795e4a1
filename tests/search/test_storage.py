"""Several workers on one study, crashes that lose nothing: real processes, a real PostgreSQL server; and the
orphan sweep itself, in this process: what a dead worker's trial becomes.

The PostgreSQL tests use ULSAM_NAS_TEST_POSTGRES (default
postgresql://ulsam:ulsam@localhost/ulsam_test, which .ci/run creates) and are
skipped, with the reason shown, only where no server answers there.
"""

import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections import Counter

import optuna
import pytest

from ulsam_nas import ArchConfig
from ulsam_nas.record import Status, TrialRecord, TrialWriter
from ulsam_nas.search import open_study
from ulsam_nas.search.storage import OrphanSweeper, heartbeat_for, make_storage, worker_id

from ..conftest import TINY_SPACE

POSTGRES = os.environ.get("ULSAM_NAS_TEST_POSTGRES", "postgresql://ulsam:ulsam@localhost/ulsam_test")

WORKER = """
import sys, optuna
optuna.logging.set_verbosity(optuna.logging.ERROR)
from ulsam_nas.training import ProxySettings
from ulsam_nas.search import SearchSettings, run_search
space, storage, study, trials, epochs = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
outcome = run_search(SearchSettings(space=space, storage=storage, study=study, trials=trials, sampler="random",
                     seed=int(sys.argv[6]), heartbeat_seconds=1, noise_seeds=int(sys.argv[7]), evaluator="proxy",
                     proxy=ProxySettings(epochs=epochs, resolution=16, train_subset=128, batch_size=32, threads=1)))
sys.exit(130 if outcome.interrupted else 0)
"""


@pytest.fixture(scope="module")
def postgres():
    try:
        import sqlalchemy

        with sqlalchemy.create_engine(POSTGRES).connect() as connection:
            connection.execute(sqlalchemy.text("SELECT 1"))
    except Exception as error:  # no server here: say so in the test report
        pytest.skip(f"no PostgreSQL server at {POSTGRES}: {str(error).splitlines()[0]}")
    return POSTGRES


@pytest.fixture
def space(tmp_path):
    path = tmp_path / "space.yaml"
    path.write_text(TINY_SPACE.replace("widths: [0.35, 1.0]", "widths: [0.35, 0.5]"))
    return str(path)


def start_worker(space, storage, study, trials, epochs=1, seed=0, noise_seeds=3):
    env = dict(os.environ, OMP_NUM_THREADS="1")
    return subprocess.Popen([sys.executable, "-c", WORKER, space, storage, study, str(trials), str(epochs), str(seed),
                             str(noise_seeds)],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_for_running(storage, study, timeout=120, process=None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise AssertionError(f"the worker exited early: {process.stderr.read()[-1500:]}")
        try:
            loaded = open_study(storage, study)
            running = [t for t in loaded.trials if t.state == optuna.trial.TrialState.RUNNING and "config" in t.user_attrs]
            if running:
                return running[0]
        except ValueError:
            pass  # not created yet
        time.sleep(0.3)
    raise AssertionError("no trial started")


def check_complete(storage, study, trials):
    loaded = open_study(storage, study)
    counted = [t for t in loaded.trials if TrialRecord.from_trial(t).counted]
    assert len(counted) == trials
    assert not [t for t in loaded.trials if t.state == optuna.trial.TrialState.RUNNING]
    trained = Counter(t.user_attrs["config_key"] for t in counted if t.user_attrs["status"] == "trained")
    assert max(trained.values()) == 1  # no config trained twice
    for trial in counted:
        for key in ("config", "config_key", "flops", "params", "status", "train_seconds", "worker"):
            assert key in trial.user_attrs, (trial.number, key)
    return loaded


@pytest.mark.slow
def test_three_workers_share_one_postgres_study_exactly(postgres, space):
    study = f"w-{uuid.uuid4().hex[:8]}"
    workers = [start_worker(space, postgres, study, 9) for _ in range(3)]
    outputs = [worker.communicate(timeout=600) for worker in workers]
    assert all(worker.returncode == 0 for worker in workers), [err[-1500:] for _, err in outputs]
    loaded = check_complete(postgres, study, 9)
    assert len({t.user_attrs["worker"]["pid"] for t in loaded.trials if "worker" in t.user_attrs}) >= 2


def wait_for_training(storage, study, process, timeout=120):
    """A trial in the middle of its training: one epoch done, more to come."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        trial = wait_for_running(storage, study, timeout=deadline - time.monotonic(), process=process)
        if trial.user_attrs.get("proxy_curve"):
            return trial
        time.sleep(0.1)
    raise AssertionError("no trial reached its first epoch")


def kill_mid_training_then_rerun(space, storage, study, trials):
    """SIGKILL a worker in the middle of a trial's training, then let another worker finish the study."""
    # 15 epochs: long enough to be killed inside a trial; no noise runs (three more such trainings first)
    victim = start_worker(space, storage, study, trials, epochs=15, noise_seeds=0)
    training = wait_for_training(storage, study, victim)
    victim.send_signal(signal.SIGKILL)
    victim.wait()
    rerun = start_worker(space, storage, study, trials, epochs=15, noise_seeds=0)
    _, err = rerun.communicate(timeout=600)
    assert rerun.returncode == 0, err[-1500:]
    loaded = check_complete(storage, study, trials)
    killed = loaded.trials[training.number]
    assert killed.state == optuna.trial.TrialState.FAIL and "status" not in killed.user_attrs
    # retried: its config was evaluated later, by the survivor, as a queued retry that keeps any baseline label
    (retry,) = [t for t in loaded.trials if t.user_attrs.get("retry_of") == killed.number]
    assert retry.params == killed.params and TrialRecord.from_trial(retry).counted
    assert retry.user_attrs["worker"]["pid"] == rerun.pid
    assert retry.user_attrs.get("baseline") == killed.user_attrs.get("baseline")
    return loaded


@pytest.mark.slow
def test_sigkilled_worker_on_postgres_is_swept_and_retried(postgres, space):
    kill_mid_training_then_rerun(space, postgres, f"k-{uuid.uuid4().hex[:8]}", 4)


@pytest.mark.slow
def test_sigkilled_worker_on_a_journal_file_is_swept_and_retried(tmp_path, space):
    kill_mid_training_then_rerun(space, f"journal:{tmp_path}/study.journal", "j", 3)


# --- the sweep itself, in this process: what a dead worker's trial becomes ---------------------------------------

CONFIG = ArchConfig(backbone="mobilenet_v2", width=0.35, num_classes=10)


def dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def test_a_killed_worker_not_yet_reaped_is_dead(journal_study):
    # Its parent (run_workers, or a harness) may be waiting on another child: the zombie's pid still answers kill(0).
    zombie = subprocess.Popen([sys.executable, "-c", "import os, signal; os.kill(os.getpid(), signal.SIGKILL)"])
    deadline = time.monotonic() + 30
    while open(f"/proc/{zombie.pid}/stat").read().rsplit(")", 1)[1].split()[0] != "Z":
        assert time.monotonic() < deadline
        time.sleep(0.05)
    number = running_trial(journal_study, {"host": socket.gethostname(), "pid": zombie.pid})
    assert OrphanSweeper(journal_study)() == [number]
    zombie.wait()


def running_trial(study, worker, status=None, values=None, baseline=None):
    """A trial as a worker leaves it when killed: claimed, maybe with its whole record stored, never told."""
    if baseline is not None:
        study.enqueue_trial({"width": 0.35}, user_attrs=TrialRecord.enqueued_attrs(baseline=baseline))
    trial = study.ask()
    trial.suggest_categorical("width", [0.35, 0.5])
    writer = TrialWriter(trial)
    if worker is not None:
        writer.claimed(CONFIG, worker)
    if status is not None:
        writer.trained(0.8, [0.8], 100.0)
        writer.finished(status, "", 1.0, values)
    return trial.number


@pytest.fixture
def journal_study(tmp_path):
    storage = make_storage(f"journal:{tmp_path}/s.journal")
    return optuna.create_study(storage=storage, directions=["maximize", "minimize"])


def test_a_dead_workers_complete_record_is_finished_with_it_not_trained_again(journal_study):
    # Killed after storing its status, before telling Optuna: the race that trained the vanilla config twice.
    here = {"host": socket.gethostname(), "pid": dead_pid()}
    number = running_trial(journal_study, here, Status.TRAINED, values=[0.8, 1e6])
    assert OrphanSweeper(journal_study)() == [number]
    (trial,) = journal_study.trials
    assert trial.state == optuna.trial.TrialState.COMPLETE and trial.values == [0.8, 1e6]
    record = TrialRecord.from_trial(trial)
    assert record.counted and record.evaluated and record.accuracy == 0.8  # counted once, reusable, nothing queued


def test_a_dead_workers_cut_off_trial_is_failed_and_queued_again_with_its_label(journal_study):
    here = {"host": socket.gethostname(), "pid": dead_pid()}
    number = running_trial(journal_study, here, baseline="vanilla")
    OrphanSweeper(journal_study)()
    killed, retry = journal_study.trials
    assert killed.state == optuna.trial.TrialState.FAIL and not TrialRecord.from_trial(killed).counted
    assert retry.state == optuna.trial.TrialState.WAITING and retry.system_attrs["fixed_params"] == {"width": 0.35}
    # only what a queued trial holds: none of the dead trial's attributes (worker, status, costs) comes along
    assert retry.user_attrs == {"baseline": "vanilla", "retry_of": number}


def test_a_config_is_queued_again_a_limited_number_of_times(journal_study):
    here = {"host": socket.gethostname(), "pid": dead_pid()}
    sweep = OrphanSweeper(journal_study)
    first = running_trial(journal_study, here)
    for _ in range(5):
        sweep()
        if not journal_study.get_trials(states=(optuna.trial.TrialState.WAITING,)):
            break
        trial = journal_study.ask()  # the retry: a worker claims it and dies too
        TrialWriter(trial).claimed(CONFIG, here)
    assert sum(t.user_attrs.get("retry_of") == first for t in journal_study.trials) == 2  # 3 attempts in all
    assert not [t for t in journal_study.trials if t.state == optuna.trial.TrialState.RUNNING]


def test_live_workers_and_other_machines_are_left_alone_on_a_file(journal_study):
    running_trial(journal_study, worker_id())
    running_trial(journal_study, {"host": socket.gethostname(), "pid": os.getpid()})  # recorded without a start time
    running_trial(journal_study, {"host": "another-machine", "pid": 1})
    assert OrphanSweeper(journal_study)() == []


def test_a_pid_used_again_by_another_process_is_not_taken_for_the_dead_worker(journal_study):
    reused = worker_id() | {"started": worker_id()["started"] - 1}  # this pid, but a process started earlier
    number = running_trial(journal_study, reused)
    assert OrphanSweeper(journal_study)() == [number]


def test_a_trial_cut_off_before_its_claim_is_failed_under_the_lock(journal_study):
    number = running_trial(journal_study, None, baseline="vanilla")  # popped from the queue, no worker recorded
    assert OrphanSweeper(journal_study)() == [number]
    assert journal_study.trials[-1].user_attrs == {"baseline": "vanilla", "retry_of": number}


@pytest.mark.slow  # waits for a heartbeat to go stale
def test_heartbeats_are_recorded_and_a_silent_worker_elsewhere_is_swept(postgres):
    # Optuna wraps a database storage in a cache: heartbeats must still be recorded (they once were not).
    storage = make_storage(postgres, heartbeat_seconds=1, grace_seconds=1)
    study = optuna.create_study(storage=storage, study_name=f"h-{uuid.uuid4().hex[:8]}",
                                directions=["maximize", "minimize"])
    elsewhere = {"host": "another-machine", "pid": 1}
    number = running_trial(study, elsewhere, Status.TRAINED, values=[0.7, 2e6])
    heartbeat_for(study, study.trials[number]).beat()
    sweep = OrphanSweeper(study)
    assert sweep() == []  # its heartbeat is fresh
    time.sleep(2.5)
    assert sweep() == [number]
    assert study.trials[number].state == optuna.trial.TrialState.COMPLETE and study.trials[number].values == [0.7, 2e6]


@pytest.mark.slow
def test_several_workers_on_one_machine_through_the_cli(tmp_path, space):
    storage = f"journal:{tmp_path}/w.journal"
    command = [sys.executable, "-m", "ulsam_nas", "search", "--space", space, "--storage", storage, "--study", "cli",
               "--workers", "2", "--trials", "5", "--proxy-epochs", "1", "--proxy-resolution", "16", "--proxy-subset", "64",
               "--evaluator", "proxy",
               "--sampler", "random", "--refine", "0"]  # refinement: tests/test_results.py
    result = subprocess.run(command, capture_output=True, text=True, timeout=600, env=dict(os.environ, OMP_NUM_THREADS="1"))
    assert result.returncode == 0, result.stderr[-2000:]
    assert "Pareto front of study 'cli'" in result.stdout
    assert result.stdout.count("expected study time") == 1 and "trials x" in result.stdout  # said once, by one worker
    check_complete(storage, "cli", 5)


@pytest.mark.slow
def test_workers_refuse_a_shared_sqlite_file(tmp_path, space):
    command = [sys.executable, "-m", "ulsam_nas", "search", "--space", space, "--workers", "2",
               "--storage", f"sqlite:///{tmp_path}/x.db"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert result.returncode == 2 and "must not write one SQLite file" in result.stderr
    assert not (tmp_path / "x.db").exists()


@pytest.mark.slow
def test_ctrl_c_marks_the_trial_says_how_to_resume_and_the_rerun_completes(tmp_path, space):
    storage = f"sqlite:///{tmp_path}/c.db"
    command = [sys.executable, "-m", "ulsam_nas", "search", "--space", space, "--storage", storage, "--study", "c",
               "--trials", "2", "--proxy-resolution", "16", "--proxy-subset", "128", "--sampler", "random", "--quiet",
               "--refine", "0", "--noise-seeds", "0", "--evaluator", "proxy"]
    # 20 epochs: long enough a trial that the interrupt lands inside it. No noise runs: with them the vanilla
    # baseline (trial 0) replays a run made before the first trial and finishes at once.
    # A runner that starts us in the background leaves SIGINT ignored, and children inherit that: the child
    # restores Python's handler itself (preexec_fn is unsafe in this threaded process).
    with_sigint = [sys.executable, "-c", "import signal, sys; signal.signal(signal.SIGINT, signal.default_int_handler); "
                   "sys.argv = sys.argv[1:]; from ulsam_nas.cli import main; main()", *command[2:]]
    process = subprocess.Popen([*with_sigint, "--proxy-epochs", "20"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True, env=dict(os.environ, OMP_NUM_THREADS="1"))
    wait_for_running(storage, "c", process=process)
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=120)
    assert process.returncode == 130 and "Rerun the same command to resume" in err and "Traceback" not in err
    loaded = open_study(storage, "c")
    assert not [t for t in loaded.trials if t.state == optuna.trial.TrialState.RUNNING]
    rerun = subprocess.run([*command, "--proxy-epochs", "20"], capture_output=True, text=True, timeout=300,
                           env=dict(os.environ, OMP_NUM_THREADS="1"))
    assert rerun.returncode == 0, rerun.stderr[-1500:]
    check_complete(storage, "c", 2)


@pytest.mark.slow
def test_train_resumes_after_sigkill(tmp_path):
    config = tmp_path / "c.yaml"
    config.write_text("backbone: mobilenet_v2\nwidth: 0.35\nnum_classes: 10\ndrop: [15, 16]\n")
    command = [sys.executable, "-m", "ulsam_nas", "train", str(config), "--epochs", "3", "--resolution", "32",
               "--train-subset", "256", "--batch-size", "32", "--threads", "1", "--out", str(tmp_path / "run")]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while not (tmp_path / "run" / "last.pt").exists():
        assert time.monotonic() < deadline and process.poll() is None
        time.sleep(0.1)
    process.send_signal(signal.SIGKILL)
    process.wait()
    done = json.loads((tmp_path / "run" / "metrics.json").read_text())
    if len(done) == 3:
        pytest.skip("training finished before the kill")  # too fast to interrupt on this machine
    resumed = subprocess.run([*command, "--resume"], capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr[-1500:]
    report = json.loads((tmp_path / "run" / "report.json").read_text())
    assert report["resumed_from"] == len(done) >= 1
    assert [m["epoch"] for m in json.loads((tmp_path / "run" / "metrics.json").read_text())] == [1, 2, 3]


@pytest.mark.slow
def test_unreachable_storage_is_one_line(tmp_path, space):
    result = subprocess.run([sys.executable, "-m", "ulsam_nas", "search", "--space", space, "--trials", "1",
                             "--storage", "postgresql://nobody@127.0.0.1:1/none"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 2 and "storage: cannot open postgresql://nobody@127.0.0.1:1/none" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
