"""A database that goes away: calls wait for it for a bounded time, then stop in one line naming the storage.

The server is reached through a TCP relay that this test cuts (every connection dropped, new ones refused)
and restores, as a restart or a network failure would, without touching the server itself.
"""

import logging
import os
import socket
import subprocess
import sys
import threading
import time
import uuid

import optuna
import pytest
import sqlalchemy.exc
import yaml

from ulsam_nas.search.reconnect import StorageUnavailable, is_connection_error, retrying, safe_url
from ulsam_nas.search.storage import StudyLock, make_storage

from .test_storage import POSTGRES, check_complete, space  # noqa: F401 (fixtures)


class Relay:
    """Forwards a local port to the database; ``cut()`` drops every connection and refuses new ones until ``mend()``."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target, self.connections, self.listener = target, [], None
        probe = socket.socket()
        probe.bind(("127.0.0.1", 0))
        self.port = probe.getsockname()[1]
        probe.close()
        self.mend()

    def mend(self) -> None:
        self.listener = socket.socket()
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", self.port))
        self.listener.listen()
        threading.Thread(target=self._accept, args=(self.listener,), daemon=True).start()

    def cut(self) -> None:
        for end in [self.listener, *self.connections]:
            try:
                end.shutdown(socket.SHUT_RDWR)  # wakes the threads blocked on it; close alone would not
            except OSError:
                pass
            end.close()
        self.connections = []

    def _accept(self, listener) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return  # cut
            server = socket.create_connection(self.target)
            self.connections += [client, server]
            for a, b in ((client, server), (server, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(source, sink) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        for end in (source, sink):
            end.close()


@pytest.fixture
def relay():
    url = sqlalchemy.engine.make_url(POSTGRES)
    try:
        socket.create_connection((url.host or "localhost", url.port or 5432), timeout=2).close()
    except OSError as error:
        pytest.skip(f"no PostgreSQL server at {POSTGRES}: {error}")
    relay = Relay((url.host or "localhost", url.port or 5432))
    yield relay, url.set(host="127.0.0.1", port=relay.port).render_as_string(hide_password=False)
    relay.cut()


def test_connection_errors_are_told_from_other_errors():
    lost = sqlalchemy.exc.OperationalError("SELECT 1", {}, Exception("server closed the connection unexpectedly"))
    try:
        try:
            raise lost
        except sqlalchemy.exc.OperationalError as error:
            raise optuna.exceptions.StorageInternalError("An exception is raised during the commit.") from error
    except optuna.exceptions.StorageInternalError as wrapped:  # how Optuna passes a lost connection on
        assert is_connection_error(wrapped)
    assert not is_connection_error(sqlalchemy.exc.IntegrityError("INSERT", {}, Exception("duplicate key")))
    assert not is_connection_error(ValueError("bad value"))
    assert safe_url("postgresql://ulsam:secret@db/x") == "postgresql://ulsam:***@db/x"


def test_retrying_waits_then_gives_up_in_one_line(caplog):
    failures = iter([ConnectionRefusedError("refused")] * 2)

    def flaky():
        error = next(failures, None)
        if error:
            raise error
        return "answered"

    with caplog.at_level(logging.WARNING, logger="ulsam_nas"):
        assert retrying(flaky, "postgresql://u:pw@db-a/x", 30) == "answered"
    assert caplog.text.count("storage: postgresql://u:***@db-a/x is not answering (refused)") == 1
    with pytest.raises(StorageUnavailable) as gave_up:
        retrying(lambda: (_ for _ in ()).throw(ConnectionRefusedError("refused")), "postgresql://u:pw@db-b/x", 0.5)
    assert str(gave_up.value) == ("storage: postgresql://u:***@db-b/x did not answer for 0s (refused); finished trials "
                                  "are stored: rerun the same command to resume")
    with pytest.raises(ConnectionRefusedError):  # 0 s: opening a storage fails at once, with the driver's words
        retrying(lambda: (_ for _ in ()).throw(ConnectionRefusedError("refused")), "postgresql://db-c/x", 0)


@pytest.mark.slow  # waits seconds for a database to come back
def test_calls_and_the_study_lock_wait_for_the_database_to_come_back(relay):
    relay, url = relay
    storage = make_storage(url, reconnect_seconds=60)
    study = optuna.create_study(storage=storage, study_name=f"r-{uuid.uuid4().hex[:8]}", directions=["maximize"])
    lock = StudyLock(url, study.study_name, reconnect_seconds=60)
    trial = study.ask()
    relay.cut()
    threading.Timer(2.0, relay.mend).start()
    started = time.monotonic()
    with lock.held():  # waits for the relay, then holds the advisory lock
        trial.set_user_attr("after", "the outage")
        study.tell(trial, 0.5)
    assert time.monotonic() - started >= 1.5
    relay.cut()  # the lock's connection dies while it is held: letting go of it is no error
    relay.mend()
    (stored,) = optuna.load_study(study_name=study.study_name, storage=make_storage(url)).trials
    assert stored.values == [0.5] and stored.user_attrs == {"after": "the outage"}


@pytest.mark.slow
def test_a_search_stops_in_one_line_naming_the_storage_when_it_stays_away(relay, space, tmp_path):  # noqa: F811
    relay, url = relay
    study = f"o-{uuid.uuid4().hex[:8]}"
    config = tmp_path / "study.yaml"
    config.write_text(yaml.safe_dump({"space": space, "storage": url, "study": study, "trials": 2, "sampler": "random",
                                      "refine": 0, "noise_seeds": 0, "evaluator": "proxy", "heartbeat_seconds": 1,
                                      "reconnect_seconds": 3,
                                      "proxy": {"epochs": 12, "resolution": 16, "train_subset": 128, "threads": 1}}))
    command = [sys.executable, "-m", "ulsam_nas", "search", "--config", str(config), "--quiet"]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                               env=dict(os.environ, OMP_NUM_THREADS="1"))
    storage = make_storage(url)
    deadline = time.monotonic() + 120
    while not any("proxy_curve" in t.user_attrs for t in _trials(storage, study)):  # mid-training
        assert time.monotonic() < deadline and process.poll() is None
        time.sleep(0.2)
    relay.cut()
    _, err = process.communicate(timeout=120)
    relay.mend()
    lines = [line for line in err.splitlines() if line.strip()]
    assert process.returncode == 1 and "Traceback" not in err, err[-1500:]
    assert lines[-1].startswith(f"error: storage: {safe_url(url)} did not answer for 3s")
    about_storage = [line for line in lines if "storage: " in line]  # --quiet's progress lines aside
    assert len(about_storage) == 2 and "is not answering" in about_storage[0]  # a warning as it began to wait, the error
    rerun = subprocess.run(command, capture_output=True, text=True, timeout=600, env=dict(os.environ, OMP_NUM_THREADS="1"))
    assert rerun.returncode == 0, rerun.stderr[-1500:]
    check_complete(url, study, 2)


def _trials(storage, study):
    try:
        return optuna.load_study(study_name=study, storage=storage).trials
    except KeyError:
        return []
