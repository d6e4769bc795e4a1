"""A database storage that waits for its server to come back: a restart or a network blip costs a pause, not a study.

Every storage call that fails because the connection failed (refused, reset, the server shutting down or
starting up) is retried with growing pauses for a bounded time (``RECONNECT_SECONDS`` by default); then the
worker stops with :class:`StorageUnavailable`, one line naming the storage. Trials a worker finished are
stored; the one it was running is swept and redone by the next run. Other errors (a constraint, bad data)
are raised at once, as before.

Retried writes are safe to repeat: attributes and heartbeats are overwritten with the same value; a trial
state that turns out already set to the same state by the attempt whose answer was lost counts as done; a
new trial created twice leaves an unclaimed RUNNING trial, which the orphan sweep fails.
"""

from __future__ import annotations

import functools
import logging
import re
import time
from typing import Callable, TypeVar

import optuna
import sqlalchemy.exc

from .urls import RECONNECT_SECONDS

__all__ = ["RECONNECT_SECONDS", "ReconnectingRDBStorage", "StorageUnavailable", "is_connection_error", "retrying"]

log = logging.getLogger("ulsam_nas")

_PAUSES = (0.2, 0.5, 1.0, 2.0, 5.0)  # then every 5 s

T = TypeVar("T")


class StorageUnavailable(ConnectionError):
    """The storage did not answer within the reconnect time; finished trials are stored, rerun to resume."""


def is_connection_error(error: BaseException) -> bool:
    """Whether ``error`` (or what caused it) is a lost or refused connection, not a problem with the request."""
    seen = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        if isinstance(error, (sqlalchemy.exc.OperationalError, sqlalchemy.exc.InterfaceError,
                              sqlalchemy.exc.DisconnectionError, ConnectionError)):
            return True
        if isinstance(error, sqlalchemy.exc.DBAPIError) and error.connection_invalidated:
            return True
        error = error.__cause__ or error.__context__
    return False


_WARNED: dict[str, float] = {}  # storage URL -> when this process last said it was waiting for it


def _say_waiting(url: str, error: BaseException, seconds: float) -> None:
    """One warning line per outage, however many calls (the trial's, the heartbeat's, the lock's) wait in it."""
    now = time.monotonic()
    if now - _WARNED.get(url, -seconds) >= seconds:
        _WARNED[url] = now
        log.warning("storage: %s is not answering (%s); waiting up to %.0fs for it", safe_url(url), _first_line(error),
                    seconds)


def _first_line(error: BaseException) -> str:
    """The driver's own words: the first line of the innermost error."""
    while error.__cause__ is not None:
        error = error.__cause__
    lines = str(error).strip().splitlines()
    return lines[0] if lines else error.__class__.__name__


def safe_url(url: str) -> str:
    """The URL with its password hidden, for messages."""
    return re.sub(r"(//[^:/@]+:)[^@]*@", r"\1***@", url)


def retrying(call: Callable[[], T], url: str, seconds: float) -> T:
    """``call()``, repeated while the connection fails, for at most ``seconds``; then StorageUnavailable.

    ``seconds`` 0: no retry, the error as it came (opening a storage fails at once).
    """
    deadline = time.monotonic() + seconds
    for attempt in range(1 << 30):
        try:
            return call()
        except Exception as error:
            if not is_connection_error(error) or seconds <= 0:
                raise
            if attempt == 0:
                _say_waiting(url, error, seconds)
            if time.monotonic() >= deadline:
                raise StorageUnavailable(
                    f"storage: {safe_url(url)} did not answer for {seconds:.0f}s ({_first_line(error)}); "
                    "finished trials are stored: rerun the same command to resume") from None
            time.sleep(min(_PAUSES[min(attempt, len(_PAUSES) - 1)], max(0.0, deadline - time.monotonic())))
    raise AssertionError("unreachable")


class ReconnectingRDBStorage(optuna.storages.RDBStorage):
    """Optuna's RDBStorage whose calls are retried while the database is unreachable (see the module docstring)."""

    reconnect_seconds = RECONNECT_SECONDS

    def set_trial_state_values(self, trial_id, state, values=None) -> bool:
        attempts = []

        def once() -> bool:
            attempts.append(1)
            try:
                return optuna.storages.RDBStorage.set_trial_state_values(self, trial_id, state, values)
            except optuna.exceptions.UpdateFinishedTrialError:
                if len(attempts) > 1 and self.get_trial(trial_id).state == state:
                    return True  # the attempt whose answer was lost had set it
                raise

        return retrying(once, self.url, self.reconnect_seconds)


def _reconnecting(method: Callable) -> Callable:
    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        return retrying(lambda: method(self, *args, **kwargs), self.url, self.reconnect_seconds)

    return wrapper


# Every call that talks to the database; set_trial_state_values has its own wrapper above.
for _name in ("create_new_study", "delete_study", "set_study_user_attr", "set_study_system_attr", "get_study_id_from_name",
              "get_study_name_from_id", "get_study_directions", "get_study_user_attrs", "get_study_system_attrs",
              "get_trial_user_attrs", "get_trial_system_attrs", "get_all_studies", "create_new_trial", "set_trial_param",
              "get_trial_param", "set_trial_intermediate_value", "set_trial_user_attr", "set_trial_system_attr",
              "get_trial_id_from_study_id_trial_number", "get_trial", "get_all_trials", "get_best_trial",
              "record_heartbeat", "_get_stale_trial_ids"):
    setattr(ReconnectingRDBStorage, _name, _reconnecting(getattr(optuna.storages.RDBStorage, _name)))
