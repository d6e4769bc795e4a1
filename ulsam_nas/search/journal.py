"""The journal file storage, checked: every record carries a CRC-32, a torn last record is dropped, a failed
write leaves nothing behind.

Optuna's journal file is one JSON record per line, appended under a lock. Three faults it does not guard
against, each handled here:

* **A flipped or overwritten byte** in a record. Optuna reads it back as long as it is still JSON (a
  digit changed: another accuracy, silently), or skips it when it is the last line. Here every record
  is written with ``"crc32"`` over its JSON; a record that does not match, or that lacks it after
  checksummed ones, stops the read with one line naming the file and the record: the journal is the
  study's data, so it is refused, not guessed at. Records of a journal begun by other Optuna tools
  (before any checksummed one) are read as they are.
* **A torn last record**: a write cut off by a crash, a full disk or power loss leaves a line without
  its newline, and the next append glued to it corrupted both. Such a record never completed, so the
  next writer (or reader) drops it, under the journal's lock, with one warning line.
* **A full disk while appending**: the partly written records are truncated away before the error is
  raised (one line, naming the file), so none is half there.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import zlib
from typing import Any, Iterator

from optuna.storages.journal import JournalFileBackend
from optuna.storages.journal._file import get_lock_file

__all__ = ["CHECKSUM_KEY", "CheckedJournalBackend", "JournalDamaged"]

log = logging.getLogger("ulsam_nas")

CHECKSUM_KEY = "crc32"


class JournalDamaged(ValueError):
    """A complete journal record that does not read back as it was written."""


def _encode(record: dict[str, Any]) -> bytes:
    body = json.dumps(record, separators=(",", ":"))
    return json.dumps({**record, CHECKSUM_KEY: zlib.crc32(body.encode())}, separators=(",", ":")).encode() + b"\n"


class CheckedJournalBackend(JournalFileBackend):
    """Optuna's JournalFileBackend with per-record checksums, torn tails dropped and failed writes undone."""

    def __init__(self, file_path: str) -> None:
        super().__init__(file_path)
        self._checksummed = False  # a checksummed record has been read: every later one must carry its checksum

    def append_logs(self, logs: list[dict[str, Any]]) -> None:
        data = b"".join(_encode(record) for record in logs)
        with get_lock_file(self._lock):
            size = self._drop_torn_tail()
            try:
                with open(self._file_path, "ab") as file:
                    file.write(data)
                    file.flush()
                    os.fsync(file.fileno())
            except OSError as error:
                with contextlib.suppress(OSError):
                    os.truncate(self._file_path, size)  # no half record left for the next append to glue onto
                raise OSError(f"storage: cannot write journal {self._file_path} ({error.strerror or error}); "
                              "nothing half-written was kept") from None

    def read_logs(self, log_number_from: int) -> Iterator[dict[str, Any]]:
        with open(self._file_path, "rb") as file:
            offset = self._log_number_offset.get(log_number_from, 0)
            start = log_number_from if log_number_from in self._log_number_offset else 0
            remaining = os.fstat(file.fileno()).st_size - offset
            file.seek(offset)
            for number, line in enumerate(file, start=start):
                remaining -= len(line)
                if remaining < 0:
                    break  # appended while we read: the next read takes it
                if not line.endswith(b"\n"):
                    self._drop_torn_tail_now()
                    break
                self._log_number_offset[number + 1] = offset + len(line)
                if number >= log_number_from:
                    yield self._checked(line, number, offset)
                offset += len(line)

    def _checked(self, line: bytes, number: int, offset: int) -> dict[str, Any]:
        where = f"storage: journal {self._file_path} is damaged at record {number + 1} (byte {offset})"
        tail = ("; it holds the study's results, so it is not read: restore it from a copy, or move it aside and "
                "start the study again")
        try:
            record = json.loads(line)
        except (UnicodeDecodeError, json.JSONDecodeError):
            raise JournalDamaged(f"{where}: not a readable record{tail}") from None
        if not isinstance(record, dict):
            raise JournalDamaged(f"{where}: not a record{tail}")
        stored = record.pop(CHECKSUM_KEY, None)
        if stored is None:
            if self._checksummed:
                raise JournalDamaged(f"{where}: its checksum is missing (altered, or written by another tool){tail}")
            return record
        self._checksummed = True
        if stored != zlib.crc32(json.dumps(record, separators=(",", ":")).encode()):
            raise JournalDamaged(f"{where}: its checksum does not match{tail}")
        return record

    def _drop_torn_tail_now(self) -> None:
        """Seen by a reader: drop it under the lock, if it is still there (a write in progress finishes first)."""
        with get_lock_file(self._lock):
            self._drop_torn_tail()

    def _drop_torn_tail(self) -> int:
        """Under the lock: truncate a last record without its newline; returns the file's size after."""
        with open(self._file_path, "rb+") as file:
            size = file.seek(0, os.SEEK_END)
            if size == 0:
                return 0
            file.seek(max(0, size - 1))
            if file.read(1) == b"\n":
                return size
            end = _last_newline(file, size) + 1
            file.truncate(end)
            file.flush()
            os.fsync(file.fileno())
        log.warning("storage: journal %s ended in an incomplete record (%d bytes: a write cut off by a crash or a full "
                    "disk); dropped it", self._file_path, size - end)
        return end


def _last_newline(file, size: int, chunk: int = 1 << 16) -> int:
    """The offset of the last newline before ``size`` (-1: none)."""
    position = size
    while position > 0:
        start = max(0, position - chunk)
        file.seek(start)
        found = file.read(position - start).rfind(b"\n")
        if found >= 0:
            return start + found
        position = start
    return -1
