"""Where studies live: storage URLs, opening studies, the study lock, heartbeats and crash recovery.

* ``sqlite:///file.db`` (default): one worker process at a time per file.
* ``journal:PATH``: Optuna's journal file, safe for several processes on one machine.
* ``postgresql://USER@HOST/DB`` (or any SQLAlchemy URL): Optuna's distributed set-up.

Claiming the next trial (count, then ask) happens under a study-wide lock: a
PostgreSQL advisory lock, or a file lock beside a file storage. Crashed
workers: a sweep under that lock (:class:`OrphanSweeper`) finds RUNNING trials
whose worker is gone (its process on this machine has exited, or, on a
database, its heartbeat stopped). A trial whose record was complete (its worker
died between storing the status and telling Optuna) is finished with that
record; any other is failed and queued again, once per config and attempt.

This module and the storages beside it (``journal.py``: the journal file,
checked; ``reconnect.py``: a database that may go away) are the only ones that
touch Optuna's internals (a study's storage and ids, a trial's id); everything
else goes through the functions here.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import socket
import tempfile
import threading
import time
import warnings
from pathlib import Path
from typing import Iterator

import optuna
import sqlalchemy
from optuna.storages.journal import JournalStorage

from ..record import Status, TrialRecord
from .journal import CheckedJournalBackend
from .reconnect import RECONNECT_SECONDS, ReconnectingRDBStorage, is_connection_error, retrying
from .urls import DEFAULT_STORAGE, StorageURL

__all__ = ["DEFAULT_STORAGE", "Heartbeat", "OrphanSweeper", "StorageURL", "StudyLock", "cut_off_outcome", "heartbeat_for",
           "make_storage", "open_study", "stored_trial", "trial_state", "worker_id"]

HEARTBEAT_SECONDS = 10
GRACE_SECONDS = 30
MAX_ATTEMPTS = 3  # a config whose worker dies this often (out of memory, say) is not queued again


def make_storage(url: str | StorageURL, heartbeat_seconds: int = HEARTBEAT_SECONDS, grace_seconds: int = GRACE_SECONDS,
                 reconnect_seconds: float = RECONNECT_SECONDS):
    """An Optuna storage for ``url``; databases get heartbeats, and wait up to ``reconnect_seconds`` for a server
    that goes away once open (``reconnect.py``). Opening fails at once.

    Opening a new database creates its tables: processes opening one at the same moment would
    collide, so they take turns (a lock for the storage as a whole).
    """
    parsed = url if isinstance(url, StorageURL) else StorageURL.parse(url)
    try:
        with StudyLock(parsed, "").held():
            storage = _open_storage(parsed, heartbeat_seconds, grace_seconds)
        if isinstance(storage, ReconnectingRDBStorage):
            storage.reconnect_seconds = reconnect_seconds
        return storage
    except ValueError:
        raise
    except Exception as error:  # the driver's own error: unreachable host, bad credentials, missing driver
        first = str(error).strip().splitlines()[0] if str(error).strip() else error.__class__.__name__
        raise ValueError(f"storage: cannot open {parsed}: {first}") from None


def _open_storage(parsed: StorageURL, heartbeat_seconds: int, grace_seconds: int):
    if parsed.path is not None and not parsed.path.parent.exists():
        raise ValueError(f"storage: folder {parsed.path.parent} does not exist")
    if parsed.kind == "journal":
        return JournalStorage(CheckedJournalBackend(str(parsed.path)))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)  # heartbeat options
        # No stale-trial callback: Optuna's retry copies every user attribute of the dead trial (its status too)
        # into the queued copy; OrphanSweeper decides what a dead worker's trial becomes.
        if parsed.kind == "sqlite":
            return optuna.storages.RDBStorage(parsed.url, heartbeat_interval=heartbeat_seconds, grace_period=grace_seconds)
        storage = ReconnectingRDBStorage(parsed.url, heartbeat_interval=heartbeat_seconds, grace_period=grace_seconds,
                                         engine_kwargs={"pool_pre_ping": True})
        storage.reconnect_seconds = 0  # opening fails at once; make_storage sets the wait for later calls
        return storage


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
    """This process: host, pid and (on Linux) its start time, so that a pid used again is not taken for it."""
    started = _start_time(os.getpid())
    return {"host": socket.gethostname(), "pid": os.getpid()} | ({"started": started} if started is not None else {})


def stored_trial(study: optuna.Study, number: int) -> optuna.trial.FrozenTrial:
    """Trial ``number`` as the storage holds it now."""
    storage = study._storage
    return storage.get_trial(storage.get_trial_id_from_study_id_trial_number(study._study_id, number))


def trial_state(study: optuna.Study, number: int) -> optuna.trial.TrialState:
    """The current state of trial ``number``, read from the storage (not a cached copy)."""
    return stored_trial(study, number).state


def heartbeat_for(study: optuna.Study, trial: optuna.Trial) -> "Heartbeat":
    return Heartbeat(study._storage, trial._trial_id)


def _database(storage) -> optuna.storages.RDBStorage | None:
    """The database storage behind a study's storage (Optuna wraps one in a cache), or None."""
    backend = getattr(storage, "_backend", storage)
    return backend if isinstance(backend, optuna.storages.RDBStorage) else None


def _process(pid: int) -> tuple[str, int] | None:
    """Process ``pid``'s state letter and start time (clock ticks since boot) from Linux's /proc, or None."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return fields[0], int(fields[19])  # fields 3 and 22; the fields after the name start at field 3


def _start_time(pid: int) -> int | None:
    process = _process(pid)
    return None if process is None else process[1]


def cut_off_outcome(record: TrialRecord) -> tuple[optuna.trial.TrialState, list[float] | None]:
    """The Optuna state (and values) to tell a trial that was cut off before it was told.

    A complete record keeps its result (a worker that died after storing it loses nothing, and the config
    is not trained again); any other record, or one stored before values were, ends failed and is redone.
    """
    if record.status == Status.STOPPED_EARLY:
        return optuna.trial.TrialState.PRUNED, None
    if record.complete and record.status != Status.FAILED and record.values:
        return optuna.trial.TrialState.COMPLETE, list(record.values)
    return optuna.trial.TrialState.FAIL, None


def _alive(pid: int, started: int | None = None) -> bool:
    process = _process(pid)
    if process is not None:
        # A killed worker whose parent has not reaped it yet is a zombie: dead, though its pid still answers.
        # Pids come round again (32,768 by default): a start time other than the worker's is another process.
        return process[0] not in "ZX" and (started is None or process[1] == started)
    if started is not None and Path("/proc/self/stat").exists():
        return False  # /proc is there and has no such process
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class OrphanSweeper:
    """Finds the RUNNING trials of a study whose worker died, and finishes or retries each; call it under the lock.

    A worker is dead when its process on this machine has exited, or, on a database, when its trial's
    heartbeat is older than the grace period (workers on any machine; the server's clock). Claims (ask,
    then the worker's identity) happen under the study lock, so on a file storage a RUNNING trial with no
    worker recorded was cut off mid-claim; on a database, whose lock dies with a server restart, such a
    trial counts as cut off once this sweeper has seen it for a whole grace period.
    """

    def __init__(self, study: optuna.Study) -> None:
        self.study = study
        self._database = _database(study._storage)
        self._local = self._database is None or StorageURL(self._database.url).local_file
        self._grace = (self._database.grace_period or GRACE_SECONDS) if self._database is not None else GRACE_SECONDS
        self._unclaimed_since: dict[int, float] = {}  # trial id -> when first seen RUNNING without a worker

    def __call__(self) -> list[int]:
        """The numbers of the trials finished or failed, in order."""
        running = self.study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,))
        if not running:
            return []
        stale = set(self._database._get_stale_trial_ids(self.study._study_id)) \
            if self._database is not None and self._database.heartbeat_interval else set()
        swept = []
        for trial in running:
            if self._orphaned(trial, stale):
                self._recover(trial)
                swept.append(trial.number)
        return swept

    def _orphaned(self, trial: optuna.trial.FrozenTrial, stale: set[int]) -> bool:
        worker = TrialRecord.from_trial(trial).worker
        if worker is None:
            if self._local or trial._trial_id in stale:
                return True
            first = self._unclaimed_since.setdefault(trial._trial_id, time.monotonic())
            return time.monotonic() - first > self._grace
        if worker.get("host") == socket.gethostname():  # its process tells for sure, however late its heartbeat
            return not _alive(int(worker["pid"]), worker.get("started"))
        return trial._trial_id in stale

    def _recover(self, trial: optuna.trial.FrozenTrial) -> None:
        record = TrialRecord.from_trial(trial)
        state, values = cut_off_outcome(record)
        with contextlib.suppress(optuna.exceptions.UpdateFinishedTrialError):  # another sweeper was first
            self.study._storage.set_trial_state_values(trial._trial_id, state, values)
        if state == optuna.trial.TrialState.FAIL and record.status != Status.FAILED:  # diverged: no use retrying
            self._retry(trial, record)

    def _retry(self, trial: optuna.trial.FrozenTrial, record: TrialRecord) -> None:
        """Queue the trial's parameters again (a queued baseline's too), with its label, unless tried too often."""
        params = trial.system_attrs.get("fixed_params") or trial.params
        if not params:
            return  # cut off before drawing anything: the sampler draws afresh
        first = record.retry_of if record.retry_of is not None else trial.number
        attempts = 1 + sum(t.user_attrs.get("retry_of") == first for t in self.study.get_trials(deepcopy=False))
        if attempts >= MAX_ATTEMPTS:
            return
        self.study.enqueue_trial(params, user_attrs=TrialRecord.enqueued_attrs(baseline=record.baseline or None,
                                                                               retry_of=first), skip_if_exists=False)


class StudyLock:
    """A lock shared by every worker of one study: PostgreSQL advisory lock, or a file lock.

    ``reconnect_seconds``: how long taking the lock waits for a database that went away (0: not at all).
    The advisory lock dies with its connection (a server restart); the orphan sweep allows for that.
    """

    def __init__(self, url: str | StorageURL, study_name: str, reconnect_seconds: float = 0) -> None:
        parsed = url if isinstance(url, StorageURL) else StorageURL.parse(url)
        self.url, self.study_name, self.reconnect_seconds = parsed, study_name, reconnect_seconds
        self._engine = None
        self._path = None
        if parsed.kind == "postgresql":
            self._engine = sqlalchemy.create_engine(parsed.url, poolclass=sqlalchemy.pool.NullPool)
            self._key = int.from_bytes(hashlib.sha256(study_name.encode()).digest()[:8], "big", signed=True)
        elif parsed.path is not None:
            # File storages are shared by processes of one machine only: the lock lives in its temp folder.
            key = hashlib.sha256(f"{parsed.path.resolve()}:{study_name}".encode()).hexdigest()[:16]
            self._path = Path(tempfile.gettempdir()) / f"ulsam-nas-{key}.lock"

    @contextlib.contextmanager
    def held(self) -> Iterator[None]:
        if self._engine is not None:
            with self._advisory_lock():
                yield
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

    @contextlib.contextmanager
    def _advisory_lock(self) -> Iterator[None]:
        def locked():
            connection = self._engine.connect()
            try:
                connection.execute(sqlalchemy.text("SELECT pg_advisory_lock(:key)"), {"key": self._key})
            except BaseException:
                connection.close()
                raise
            return connection

        connection = retrying(locked, self.url.url, self.reconnect_seconds)
        try:
            yield
        finally:
            try:
                connection.execute(sqlalchemy.text("SELECT pg_advisory_unlock(:key)"), {"key": self._key})
            except Exception as error:
                if not is_connection_error(error):  # a lost connection has let go of the lock already
                    raise
            finally:
                connection.close()


class Heartbeat:
    """Records a running trial's heartbeat in a database storage until stopped."""

    def __init__(self, storage, trial_id: int) -> None:
        self._storage, self._trial_id = storage, trial_id
        self._stop = threading.Event()
        self._thread = None
        database = _database(storage)  # a SQLite file has one machine's workers: their processes tell, not heartbeats
        self._interval = database.get_heartbeat_interval() \
            if database is not None and not StorageURL(database.url).local_file else None
        if self._interval:
            self._thread = threading.Thread(target=self._beat, daemon=True)

    def beat(self) -> None:
        """One heartbeat now: a trial claimed under the lock has one before the lock is let go."""
        if self._interval:
            with contextlib.suppress(Exception):  # a missed beat is not fatal; the grace period covers it
                self._storage.record_heartbeat(self._trial_id)

    def _beat(self) -> None:
        while not self._stop.is_set():
            self.beat()
            self._stop.wait(self._interval)

    def __enter__(self) -> "Heartbeat":
        if self._thread is not None:
            self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        if self._thread is not None:  # a beat waiting for a database that went away is not waited for
            self._thread.join(timeout=self._interval + 1)
