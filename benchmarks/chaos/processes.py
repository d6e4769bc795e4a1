"""Starting chaos workers and waiting for what they store: the plumbing the chaos cases share."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import optuna

from ulsam_nas.search import open_study

SPACE = """name: chaos
backbone: mobilenet_v2
resolution: 64
widths: [0.35, 0.5]
drop: [3, 5, 15, 16]
ulsam_after: [16]
subspaces: [4]
"""
# A tiny proxy: about a second per training on one core, so that many faults fit in a few minutes.
PROXY = {"epochs": 3, "resolution": 16, "train_subset": 64, "batch_size": 32, "threads": 1}


@dataclass
class Setup:
    """One chaos study: where it is stored and what its workers run."""

    storage: str
    study: str
    folder: Path
    trials: int = 12
    refine: int = 4
    proxy: dict = field(default_factory=lambda: dict(PROXY))
    reconnect_seconds: float | None = None  # how long workers wait for a database that went away (None: the default)

    def __post_init__(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        self.space.write_text(SPACE)

    @property
    def space(self) -> Path:
        return self.folder / "space.yaml"

    @property
    def log(self) -> Path:
        return self.folder / "chaos.log"

    def job(self, mode: str = "search", plan: dict | None = None) -> dict:
        return {"mode": mode, "storage": self.storage, "study": self.study, "space": str(self.space),
                "trials": self.trials, "refine": self.refine, "proxy": self.proxy, "plan": plan, "log": str(self.log),
                "reconnect_seconds": self.reconnect_seconds}

    def start(self, mode: str = "search", plan: dict | None = None) -> subprocess.Popen:
        root = str(Path(__file__).resolve().parents[2])  # where ``benchmarks`` is, whatever the current folder
        env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=os.pathsep.join(
            [root] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]))
        return subprocess.Popen([sys.executable, "-m", "benchmarks.chaos.worker", json.dumps(self.job(mode, plan))],
                                env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)

    def events(self, kind: str) -> list[dict]:
        if not self.log.exists():
            return []
        return [line for line in map(json.loads, self.log.read_text().splitlines()) if line.get("event") == kind]


def wait_for_claim(setup: Setup, process: subprocess.Popen, timeout: float = 300) -> int:
    """The number of the first trial a worker has claimed (RUNNING, its config recorded)."""
    deadline, study = time.monotonic() + timeout, None
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the worker exited early: {process.stderr.read()[-1500:]}")
        try:
            study = study or open_study(setup.storage, setup.study)
            running = [t for t in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,))
                       if "config" in t.user_attrs]
            if running:
                return running[0].number
        except ValueError:
            pass  # not created yet
        time.sleep(0.02)
    raise RuntimeError("no trial was claimed")


HUNG = "hung"  # the exit status of a worker that had not finished within its time and was killed


def finish(process: subprocess.Popen, timeout: float = 300) -> tuple[int | str, str]:
    """Wait for a worker; its exit status (or HUNG) and the end of what it wrote to stderr."""
    try:
        _, err = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.send_signal(signal.SIGUSR1)  # chaos workers print their threads' stacks
        time.sleep(1.0)
        process.kill()
        _, err = process.communicate()
        return HUNG, err[-6000:]
    return process.returncode, err[-1500:]
