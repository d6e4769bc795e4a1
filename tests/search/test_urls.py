"""Storage URLs: kind, file and sharing rules, parsed once."""

from pathlib import Path

from ulsam_nas.search.urls import DEFAULT_STORAGE, StorageURL


def test_each_kind_of_storage_is_recognised_with_its_file():
    sqlite = StorageURL.parse("sqlite:///runs/s.db")
    assert (sqlite.kind, sqlite.path, sqlite.local_file, sqlite.single_writer) == ("sqlite", Path("runs/s.db"), True,
                                                                                   True)
    journal = StorageURL.parse("journal:~/s.journal")
    assert journal.kind == "journal" and journal.path == Path.home() / "s.journal"
    assert journal.local_file and not journal.single_writer
    postgres = StorageURL.parse("postgresql://u:p@host/db")
    assert (postgres.kind, postgres.path, postgres.local_file) == ("postgresql", None, False)
    assert StorageURL.parse("mysql://u@h/db").kind == "database"


def test_no_url_is_the_default_sqlite_file():
    assert StorageURL.parse(None).url == DEFAULT_STORAGE and str(StorageURL.parse(None)) == DEFAULT_STORAGE
