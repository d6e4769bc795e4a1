"""Where studies live: storage URLs, opening studies, the study lock, heartbeats and crash recovery.

* ``sqlite:///file.db`` (default): one worker process at a time per file.
* ``journal:PATH``: Optuna's journal file, safe for several processes on one machine.
* ``postgresql://USER@HOST/DB`` (or any SQLAlchemy URL): Optuna's distributed set-up.

Claiming the next trial (count, then ask) happens under a study-wide lock: a
PostgreSQL advisory lock, or a file lock beside a file storage. Crashed
workers: on a database, trials whose heartbeat stops are failed and retried
(Optuna's heartbeat); on file storages, a sweep at each claim does the same for
RUNNING trials whose worker process on this machine is gone.

This is the one module that touches Optuna's internals (a study's storage and
ids, a trial's id); everything else goes through the functions here.
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

from ..record import TrialRecord
from .urls import DEFAULT_STORAGE, StorageURL

__all__ = ["DEFAULT_STORAGE", "Heartbeat", "StorageURL", "StudyLock", "fail_trial", "heartbeat_for", "make_storage",
           "open_study", "sweep_orphans", "trial_state", "worker_id"]

HEARTBEAT_SECONDS = 10
GRACE_SECONDS = 30


def make_storage(url: str | StorageURL, heartbeat_seconds: int = HEARTBEAT_SECONDS, grace_seconds: int = GRACE_SECONDS):
    """An Optuna storage for ``url``; databases get heartbeats and retry trials of dead workers.

    Opening a new database creates its tables: processes opening one at the same moment would
    collide, so they take turns (a lock for the storage as a whole).
    """
    parsed = url if isinstance(url, StorageURL) else StorageURL.parse(url)
    try:
        with StudyLock(parsed, "").held():
            return _open_storage(parsed, heartbeat_seconds, grace_seconds)
    except ValueError:
        raise
    except Exception as error:  # the driver's own error: unreachable host, bad credentials, missing driver
        first = str(error).strip().splitlines()[0] if str(error).strip() else error.__class__.__name__
        raise ValueError(f"storage: cannot open {parsed}: {first}") from None


def _open_storage(parsed: StorageURL, heartbeat_seconds: int, grace_seconds: int):
    if parsed.path is not None and not parsed.path.parent.exists():
        raise ValueError(f"storage: folder {parsed.path.parent} does not exist")
    if parsed.kind == "journal":
        from optuna.storages.journal import JournalFileBackend, JournalStorage

        return JournalStorage(JournalFileBackend(str(parsed.path)))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)  # heartbeat options
        return optuna.storages.RDBStorage(
            parsed.url, heartbeat_interval=heartbeat_seconds, grace_period=grace_seconds,
            heartbeat_stale_trial_callback=optuna.storages.RetryHeartbeatStaleTrialCallback(max_retry=2),
            engine_kwargs=None if parsed.kind == "sqlite" else {"pool_pre_ping": True},
        )


def open_study(storage: str | None, study_name: str | None) -> optuna.Study:
    """An existing study; the most recent one in ``storage`` when no name is given."""
    parsed = StorageURL.parse(storage)
    if parsed.kind == "sqlite" and parsed.path is not None and not parsed.path.exists():
        raise ValueError(f"storage: {parsed} does not exist; run `ulsam-nas search` first or pass --storage")
    backend = make_storage(parsed)
    summaries = optuna.get_all_study_summaries(backend)
    if not summaries:
        raise ValueError(f"study: no studies in {parsed}; run `ulsam-nas search` first")
    names = [s.study_name for s in summaries]
    if study_name is None:
        latest = max(summaries, key=lambda s: (s.datetime_start is not None, s.datetime_start or 0, s._study_id))
        study_name = latest.study_name
    elif study_name not in names:
        raise ValueError(f"study: no study {study_name!r} in {parsed}; studies there: {', '.join(names)}")
    return optuna.load_study(study_name=study_name, storage=backend)


def worker_id() -> dict[str, object]:
    return {"host": socket.gethostname(), "pid": os.getpid()}


def trial_state(study: optuna.Study, number: int) -> optuna.trial.TrialState:
    """The current state of trial ``number``, read from the storage (not a cached copy)."""
    storage = study._storage
    return storage.get_trial(storage.get_trial_id_from_study_id_trial_number(study._study_id, number)).state


def fail_trial(study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
    study._storage.set_trial_state_values(trial._trial_id, optuna.trial.TrialState.FAIL)


def heartbeat_for(study: optuna.Study, trial: optuna.Trial) -> "Heartbeat":
    return Heartbeat(study._storage, trial._trial_id)


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
        return StorageURL(storage.url).local_file
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
        worker = TrialRecord.from_trial(trial).worker
        if worker and worker.get("host") == here and not _alive(int(worker["pid"])):
            fail_trial(study, trial)
            study.enqueue_trial(trial.params, user_attrs=TrialRecord.enqueued_attrs(retry_of=trial.number),
                                skip_if_exists=False)
            swept.append(trial.number)
    return swept


class StudyLock:
    """A lock shared by every worker of one study: PostgreSQL advisory lock, or a file lock."""

    def __init__(self, url: str | StorageURL, study_name: str) -> None:
        parsed = url if isinstance(url, StorageURL) else StorageURL.parse(url)
        self.url, self.study_name = parsed, study_name
        self._engine = None
        self._path = None
        if parsed.kind == "postgresql":
            import sqlalchemy

            self._engine = sqlalchemy.create_engine(parsed.url, poolclass=sqlalchemy.pool.NullPool)
            self._key = int.from_bytes(hashlib.sha256(study_name.encode()).digest()[:8], "big", signed=True)
        elif parsed.path is not None:
            # File storages are shared by processes of one machine only: the lock lives in its temp folder.
            key = hashlib.sha256(f"{parsed.path.resolve()}:{study_name}".encode()).hexdigest()[:16]
            self._path = Path(tempfile.gettempdir()) / f"ulsam-nas-{key}.lock"

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
