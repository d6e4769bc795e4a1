"""The checked journal file: damaged records refused in one line, a torn last record dropped, a full disk undone."""

import json
import logging
import random

import optuna
import pytest
from optuna.storages.journal import JournalFileBackend, JournalStorage

from ulsam_nas.search.journal import CHECKSUM_KEY, JournalDamaged
from ulsam_nas.search.storage import make_storage


def write_study(path, trials=3):
    study = optuna.create_study(storage=make_storage(f"journal:{path}"), study_name="s", directions=["maximize"])
    for index in range(trials):
        trial = study.ask()
        trial.set_user_attr("accuracy", 0.5 + index / 10)
        study.tell(trial, 0.5 + index / 10)
    return study


def read_back(path):
    """What a fresh process reads: every trial's state, value and attributes."""
    study = optuna.load_study(study_name="s", storage=make_storage(f"journal:{path}"))
    return [(t.state, t.values, t.user_attrs) for t in study.trials]


def test_records_carry_a_checksum_and_plain_optuna_journals_still_read(tmp_path):
    write_study(tmp_path / "ours.journal")
    assert all(CHECKSUM_KEY in json.loads(line) for line in (tmp_path / "ours.journal").read_text().splitlines())
    plain = optuna.create_study(storage=JournalStorage(JournalFileBackend(str(tmp_path / "plain.journal"))),
                                study_name="s", directions=["maximize"])
    plain.tell(plain.ask(), 0.7)
    assert read_back(tmp_path / "plain.journal")[0][1] == [0.7]


@pytest.mark.parametrize("record", [3, -1])  # one in the middle, and the last one (which Optuna would skip)
def test_a_flipped_digit_is_refused_in_one_line_naming_the_record(tmp_path, record):
    path = tmp_path / "s.journal"
    write_study(path)
    lines = path.read_bytes().splitlines(keepends=True)
    number = record % len(lines)
    lines[number] = lines[number].replace(b'"worker_id":"', b'"worker_id":"x', 1)  # still valid JSON
    path.write_bytes(b"".join(lines))
    with pytest.raises(JournalDamaged) as damaged:
        read_back(path)
    message = str(damaged.value)
    assert message.startswith(f"storage: journal {path} is damaged at record {number + 1} (byte ")
    assert "checksum does not match" in message and "\n" not in message


def test_any_flipped_byte_is_refused_never_read_as_other_values(tmp_path):
    path = tmp_path / "s.journal"
    write_study(path)
    good, expected = path.read_bytes(), read_back(path)
    rng = random.Random(0)
    refused = 0
    for _ in range(60):
        damaged = bytearray(good)
        damaged[rng.randrange(len(good) - 1)] ^= 1 << rng.randrange(8)  # not the final newline: that is a torn tail
        path.write_bytes(bytes(damaged))
        try:
            assert read_back(path) == expected
        except JournalDamaged:
            refused += 1
    assert refused >= 57


def test_a_torn_last_record_is_dropped_with_one_warning_and_the_journal_goes_on(tmp_path, caplog):
    path = tmp_path / "s.journal"
    write_study(path, trials=2)
    before = read_back(path)
    study = optuna.load_study(study_name="s", storage=make_storage(f"journal:{path}"))
    trial = study.ask()
    intact = path.read_bytes()
    study.tell(trial, 0.9)  # the record cut below
    path.write_bytes(path.read_bytes()[:len(intact) + 20])  # a write cut off: no newline
    with caplog.at_level(logging.WARNING, logger="ulsam_nas"):
        after = read_back(path)
    assert after[:2] == before and after[2][0] == optuna.trial.TrialState.RUNNING  # the tell never completed
    assert caplog.text.count("ended in an incomplete record (20 bytes") == 1 and path.read_bytes() == intact
    study = optuna.load_study(study_name="s", storage=make_storage(f"journal:{path}"))
    study.tell(study.trials[2].number, 0.9)  # told again: the journal reads whole
    assert read_back(path)[2][:2] == (optuna.trial.TrialState.COMPLETE, [0.9])


def test_a_full_disk_is_one_line_and_leaves_no_half_record(small_disk):
    disk = small_disk(64 * 1024)
    path = disk / "s.journal"
    study = write_study(path, trials=1)
    (disk / "filler").write_bytes(b"\0" * (64 * 1024 - 8192 - len(path.read_bytes())))
    trial = study.ask()
    size = path.stat().st_size
    with pytest.raises(OSError) as full:
        trial.set_user_attr("big", "x" * 16384)
    assert str(full.value) == (f"storage: cannot write journal {path} (No space left on device); "
                               "nothing half-written was kept")
    assert path.stat().st_size == size
    (disk / "filler").unlink()
    trial.set_user_attr("big", "x" * 16384)
    study.tell(trial, 0.6)
    assert read_back(path)[-1][1] == [0.6]
