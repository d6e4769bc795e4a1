"""The database going away mid-study: restarted twice while 3 workers run, then stopped for longer than they wait.

* **Restarts** (``pg_ctlcluster VERSION NAME restart``, a few seconds down): at a third and at two thirds of
  the trials. Workers wait and reconnect; they must all finish, the study exact.
* **A long outage** (``stop``, then ``start`` 20 s later): workers started through the CLI with a
  10-second reconnect time must each exit with one error line naming the storage (after one warning line
  saying they wait); a rerun then finishes the study with nothing lost or trained twice.
"""

from __future__ import annotations

import subprocess
import sys
import time
import uuid
from collections import Counter
from pathlib import Path

import optuna
import yaml

from ulsam_nas.record import TrialRecord
from ulsam_nas.search import open_study

from .checks import Snapshot, snapshot, tally
from .kills import CaseResult
from .processes import Setup, finish


def pg_ctl(cluster: tuple[str, str], action: str) -> None:
    subprocess.run(["pg_ctlcluster", *cluster, action], check=True, capture_output=True)


def counted(storage: str, study: str) -> int:
    try:
        loaded = open_study(storage, study)
    except ValueError:
        return 0
    return sum(TrialRecord.from_trial(t).counted for t in loaded.get_trials(deepcopy=False))


def wait_for(storage: str, study: str, trials: int, processes, timeout: float = 600) -> None:
    deadline = time.monotonic() + timeout
    while counted(storage, study) < trials:
        if time.monotonic() > deadline or all(p.poll() is not None for p in processes):
            return
        time.sleep(0.5)


def restarts(url: str, cluster: tuple[str, str], folder: Path, trials: int = 16, workers: int = 3) -> CaseResult:
    setup = Setup(url, f"restart-{uuid.uuid4().hex[:8]}", folder, trials=trials)
    processes = [setup.start() for _ in range(workers)]
    snapshots: list[Snapshot] = []
    faults = Counter()
    for share in (1, 2):
        wait_for(url, setup.study, share * trials // 3, processes)
        snapshots.append(snapshot(open_study(url, setup.study)))
        pg_ctl(cluster, "restart")
        faults["restart"] += 1
    failures = []
    for process in processes:
        status, err = finish(process, timeout=900)
        if status != 0:
            failures.append(f"worker exit {status}: {err.strip().splitlines()[-1] if err.strip() else ''}")
    return CaseResult("PostgreSQL restarted twice under 3 workers", faults, tally(url, setup.study, trials, snapshots),
                      tuple(failures))


def long_outage(url: str, cluster: tuple[str, str], folder: Path, trials: int = 16, workers: int = 3,
                down_seconds: float = 20, reconnect_seconds: float = 10) -> tuple[CaseResult, list[list[str]]]:
    """Returns the case and, per worker, the lines it wrote to stderr."""
    setup = Setup(url, f"outage-{uuid.uuid4().hex[:8]}", folder, trials=trials)
    study_file = folder / "study.yaml"
    study_file.write_text(yaml.safe_dump({
        "space": str(setup.space), "storage": url, "study": setup.study, "trials": trials, "sampler": "random",
        "refine": 0, "heartbeat_seconds": 1, "reconnect_seconds": reconnect_seconds, "proxy": setup.proxy,
        "evaluator": "proxy"}))
    command = [sys.executable, "-m", "ulsam_nas", "search", "--config", str(study_file), "--quiet"]
    processes = [subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
                 for _ in range(workers)]
    wait_for(url, setup.study, trials // 3, processes)
    before = snapshot(open_study(url, setup.study))
    pg_ctl(cluster, "stop")
    try:
        lines = [[line for line in finish(p, timeout=300)[1].splitlines() if line.strip()] for p in processes]
        time.sleep(max(0.0, down_seconds - reconnect_seconds))
    finally:
        pg_ctl(cluster, "start")
    failures = [f"worker exit {p.returncode}, stderr: {' | '.join(out[-3:])}" for p, out in zip(processes, lines)
                if p.returncode == 0 or not out or not out[-1].startswith("error: storage: ")]
    rerun = subprocess.run(command, capture_output=True, text=True, timeout=900)
    if rerun.returncode != 0:
        failures.append(f"rerun exit {rerun.returncode}: {rerun.stderr.strip().splitlines()[-1:]}")
    running = [t.number for t in open_study(url, setup.study).trials if t.state == optuna.trial.TrialState.RUNNING]
    if running:
        failures.append(f"left RUNNING: {running}")
    case = CaseResult(f"PostgreSQL stopped for {down_seconds:.0f}s (workers wait {reconnect_seconds:.0f}s), then a rerun",
                      Counter({"outage": 1}), tally(url, setup.study, trials, [before]), tuple(failures))
    return case, lines
