"""Storage URLs, parsed once: which kind of storage, and for files, where (torch- and Optuna-free)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

__all__ = ["DEFAULT_STORAGE", "RECONNECT_SECONDS", "StorageURL"]

DEFAULT_STORAGE = "sqlite:///ulsam-nas.db"
RECONNECT_SECONDS = 120.0  # how long workers wait for a database server that went away (reconnect.py)


@dataclass(frozen=True)
class StorageURL:
    """A storage URL, parsed once: its kind and, for files, the path."""

    url: str

    @classmethod
    def parse(cls, url: str | None) -> "StorageURL":
        return cls(url or DEFAULT_STORAGE)

    @property
    def kind(self) -> str:
        """sqlite, journal, postgresql or database (any other SQLAlchemy URL)."""
        for prefix, kind in (("sqlite:", "sqlite"), ("journal:", "journal"), ("postgresql", "postgresql")):
            if self.url.startswith(prefix):
                return kind
        return "database"

    @property
    def path(self) -> Path | None:
        """The file of a SQLite or journal storage."""
        if self.url.startswith("sqlite:///"):
            return Path(self.url[len("sqlite:///"):])
        if self.kind == "journal":
            return Path(self.url[len("journal:"):]).expanduser()
        return None

    @property
    def local_file(self) -> bool:
        """A file shared only by the processes of one machine."""
        return self.kind in ("sqlite", "journal")

    @property
    def single_writer(self) -> bool:
        """SQLite: several processes must not write one file."""
        return self.kind == "sqlite"

    def __str__(self) -> str:
        return self.url
