"""Storages shared by several workers, the lock that keeps the trial target exact, and crash recovery.

* ``sqlite:///file.db`` (default): one worker process at a time per file.
* ``journal:PATH``: Optuna's journal file, safe for several processes on one machine.
* ``postgresql://USER@HOST/DB`` (or any SQLAlchemy URL): Optuna's distributed set-up.

Claiming the next trial (count, then ask) happens under a study-wide lock: a
PostgreSQL advisory lock, or a file lock beside a file storage. Crashed
workers: on a database, trials whose heartbeat stops are failed and retried
(Optuna's heartbeat); on file storages, a sweep at each claim does the same for
RUNNING trials whose worker process on this machine is gone.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import socket
import tempfile
import threading
import warnings
from pathlib import Path
from typing import Iterator

import optuna

__all__ = ["Heartbeat", "StudyLock", "make_storage", "sweep_orphans", "worker_id"]

HEARTBEAT_SECONDS = 10
GRACE_SECONDS = 30


def _sqlite_path(url: str) -> Path | None:
    return Path(url[len("sqlite:///"):]) if url.startswith("sqlite:///") else None


def make_storage(url: str, heartbeat_seconds: int = HEARTBEAT_SECONDS, grace_seconds: int = GRACE_SECONDS):
    """An Optuna storage for ``url``; databases get heartbeats and retry trials of dead workers.

    Opening a new database creates its tables: processes opening one at the same moment would
    collide, so they take turns (a lock for the storage as a whole).
    """
    try:
        with StudyLock(url, "").held():
            return _open_storage(url, heartbeat_seconds, grace_seconds)
    except ValueError:
        raise
    except Exception as error:  # the driver's own error: unreachable host, bad credentials, missing driver
        first = str(error).strip().splitlines()[0] if str(error).strip() else error.__class__.__name__
        raise ValueError(f"storage: cannot open {url}: {first}") from None


def _open_storage(url: str, heartbeat_seconds: int, grace_seconds: int):
    if url.startswith("journal:"):
        from optuna.storages.journal import JournalFileBackend, JournalStorage

        path = Path(url[len("journal:"):]).expanduser()
        if not path.parent.exists():
            raise ValueError(f"storage: folder {path.parent} does not exist")
        return JournalStorage(JournalFileBackend(str(path)))
    if url.startswith("sqlite:///") and not _sqlite_path(url).parent.exists():
        raise ValueError(f"storage: folder {_sqlite_path(url).parent} does not exist")
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)  # heartbeat options
    return optuna.storages.RDBStorage(
        url, heartbeat_interval=heartbeat_seconds, grace_period=grace_seconds,
        heartbeat_stale_trial_callback=optuna.storages.RetryHeartbeatStaleTrialCallback(max_retry=2),
        engine_kwargs={"pool_pre_ping": True} if not url.startswith("sqlite") else None,
    )


def worker_id() -> dict[str, object]:
    return {"host": socket.gethostname(), "pid": os.getpid()}


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _is_local_file(storage) -> bool:
    if isinstance(storage, optuna.storages.RDBStorage):
        return storage.url.startswith("sqlite")
    return True  # journal file


def sweep_orphans(study: optuna.Study) -> list[int]:
    """Fail and retry trials whose worker died.

    Server databases: Optuna's heartbeat, for workers on any machine. Local files (SQLite,
    journal): at once, for RUNNING trials whose worker process on this machine is gone.
    """
    if not _is_local_file(study._storage):
        optuna.storages.fail_stale_trials(study)
        return []
    here, swept = socket.gethostname(), []
    for trial in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,)):
        worker = trial.user_attrs.get("worker")
        if worker and worker.get("host") == here and not _alive(int(worker["pid"])):
            study._storage.set_trial_state_values(trial._trial_id, optuna.trial.TrialState.FAIL)
            study.enqueue_trial(trial.params, user_attrs={"retry_of": trial.number}, skip_if_exists=False)
            swept.append(trial.number)
    return swept


class StudyLock:
    """A lock shared by every worker of one study: PostgreSQL advisory lock, or a file lock."""

    def __init__(self, url: str, study_name: str) -> None:
        self.url, self.study_name = url, study_name
        self._engine = None
        if url.startswith("postgresql"):
            import sqlalchemy

            self._engine = sqlalchemy.create_engine(url, poolclass=sqlalchemy.pool.NullPool)
            self._key = int.from_bytes(hashlib.sha256(study_name.encode()).digest()[:8], "big", signed=True)
        else:
            path = _sqlite_path(url) or (Path(url[len("journal:"):]) if url.startswith("journal:") else None)
            # File storages are shared by processes of one machine only: the lock lives in its temp folder.
            key = hashlib.sha256(f"{path.resolve() if path else url}:{study_name}".encode()).hexdigest()[:16]
            self._path = None if path is None else Path(tempfile.gettempdir()) / f"ulsam-nas-{key}.lock"

    @contextlib.contextmanager
    def held(self) -> Iterator[None]:
        if self._engine is not None:
            import sqlalchemy

            with self._engine.connect() as connection:
                connection.execute(sqlalchemy.text("SELECT pg_advisory_lock(:key)"), {"key": self._key})
                try:
                    yield
                finally:
                    connection.execute(sqlalchemy.text("SELECT pg_advisory_unlock(:key)"), {"key": self._key})
            return
        if self._path is None:  # another database: Optuna's own transactions only
            yield
            return
        with open(self._path, "a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)


class Heartbeat:
    """Records a running trial's heartbeat in a database storage until stopped."""

    def __init__(self, storage, trial_id: int) -> None:
        self._storage, self._trial_id = storage, trial_id
        self._stop = threading.Event()
        self._thread = None
        interval = storage.get_heartbeat_interval() if isinstance(storage, optuna.storages.RDBStorage) else None
        if interval:
            self._interval = interval
            self._thread = threading.Thread(target=self._beat, daemon=True)

    def _beat(self) -> None:
        while not self._stop.is_set():
            with contextlib.suppress(Exception):  # a missed beat is not fatal; the grace period covers it
                self._storage.record_heartbeat(self._trial_id)
            self._stop.wait(self._interval)

    def __enter__(self) -> "Heartbeat":
        if self._thread is not None:
            self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
