"""Long benchmark runs built over several sittings: a JSON file of finished runs, claimed and stored under a lock
by single-threaded worker processes side by side (one per core is fastest on a CPU).

A run is a key; ``claim`` hands a worker the next key neither stored nor being trained by a live worker;
``store`` appends a finished run. A killed worker loses only the run in progress (and full training resumes that
one from its last epoch: ``training.full.train(resume=True)``).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Callable, Iterator, Sequence

__all__ = ["RunStore", "spawn_workers"]


class RunStore:
    def __init__(self, path: Path, scratch: Path) -> None:
        self.path, self.scratch = Path(path), Path(scratch)

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path.with_suffix(".lock"), "w") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def load(self) -> dict:
        return json.loads(self.path.read_text()) if self.path.exists() else {"runs": {}}

    def folder(self, run: str) -> Path:
        """Where a run keeps its checkpoints and claim while it trains."""
        return self.scratch / "".join(c if c.isalnum() or c in ".-" else "_" for c in run)

    def claim(self, runs: Sequence[str]) -> str | None:
        """The next run neither stored nor claimed by a live process, now claimed by this one."""
        with self.locked():
            stored = self.load()["runs"]
            for run in runs:
                marker = self.folder(run) / "claimed_by"
                if run in stored or (marker.exists() and _alive(marker.read_text())):
                    continue
                marker.parent.mkdir(parents=True, exist_ok=True)
                marker.write_text(str(os.getpid()))
                return run
        return None

    def store(self, run: str, result: dict, **common) -> None:
        """Append a finished run; ``common`` are the file's shared fields, which every run must agree with."""
        with self.locked():
            data = self.load()
            for name, value in common.items():
                if data.setdefault(name, value) != value:
                    raise SystemExit(f"{self.path} holds runs with another {name} ({data[name]}); use another file")
            data["runs"][run] = result
            partial = self.path.with_suffix(".partial")
            partial.write_text(json.dumps(data, indent=1) + "\n")
            os.replace(partial, self.path)

    def work(self, runs: Sequence[str], train: Callable[[str], None]) -> None:
        """Claim and train runs until none is left."""
        while (run := self.claim(runs)) is not None:
            train(run)


def _alive(pid_text: str) -> bool:
    if not pid_text.strip().isdigit():
        return False
    try:
        os.kill(int(pid_text), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def spawn_workers(module: str, arguments: list[str], workers: int) -> None:
    """Run ``python -m module *arguments --worker`` ``workers`` times side by side and wait for them."""
    command = [sys.executable, "-m", module, *arguments, "--worker"]
    for process in [subprocess.Popen(command) for _ in range(workers)]:
        process.wait()
