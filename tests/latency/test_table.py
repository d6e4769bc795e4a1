"""Latency tables: round trip, prediction = sum of pieces, one clear line for every bad or damaged table."""

import json
import random

import pytest

from ulsam_nas import ArchConfig
from ulsam_nas.latency import LatencySettings, LatencyTable
from ulsam_nas.latency.table import HEADER, Piece
from ulsam_nas.space import SearchSpace

pytestmark = pytest.mark.slow  # the shared table is timed for real (about 20 s on 2 cores)


def test_round_trip_keeps_every_piece_and_the_header(tiny):
    space, table, path = tiny
    loaded = LatencyTable.load(path)
    assert loaded.latencies.keys() == table.latencies.keys() and loaded.rows == table.rows
    for key, (ms, uncertainty) in table.latencies.items():
        assert loaded.latencies[key] == (pytest.approx(ms, abs=1e-6), pytest.approx(uncertainty, abs=1e-6))
    for key in ("space", "runtime", "threads", "resolution", "machine", "versions", "seconds_to_make", "reference_ms"):
        assert key in loaded.meta
    assert loaded.meta["runtime"] == "onnxruntime" and loaded.meta["resolution"] == 64
    # 2 widths x (19 blocks + ULSAM(1), ULSAM(4) after block 16 + 2 head class counts)
    assert loaded.meta["pieces"] == len(loaded.latencies) == 2 * (19 + 2 + 2)


def test_prediction_is_the_sum_of_the_pieces_plus_the_fitted_correction(tiny):
    space, _, path = tiny
    table = LatencyTable.load(path)
    config = ArchConfig(width=0.35, num_classes=10, drop=[15], ulsam=[{"after": 16, "subspaces": 4}])
    blocks = [table.latencies[Piece("block", 0.35, block=b).key][0] for b in range(19) if b != 15]
    ulsam = table.latencies[Piece("ulsam", 0.35, block=16, subspaces=4).key][0]
    heads = [table.latencies[Piece("head", 0.35, classes=c).key][0] for c in (10, 1000)]
    expected = sum(blocks) + ulsam + heads[0] + table.correction(0.35)
    assert table.correction(0.35) == table.meta["correction"]["per_width_ms"]["0.35"]
    predicted = table.predict(config)
    assert predicted.ms == pytest.approx(expected) and predicted.method == "table"
    # the head is interpolated between the class counts it was timed at
    more_classes = table.predict(ArchConfig(width=0.35, num_classes=505, drop=[15], ulsam=[{"after": 16, "subspaces": 4}]))
    assert more_classes.ms - predicted.ms == pytest.approx((heads[1] - heads[0]) / 2)


def test_missing_piece_is_one_clear_line(tiny, tmp_path):
    _, _, path = tiny
    table = LatencyTable.load(path)
    missing = Piece("ulsam", 0.35, block=16, subspaces=4).key
    del table.latencies[missing], table.rows[missing]
    broken = table.save(tmp_path / "broken.csv")
    with pytest.raises(ValueError, match=r"no piece 'ULSAM\(4\) after block 16 at width 0.35'.*remake it"):
        LatencyTable.load(broken).predict(ArchConfig(width=0.35, num_classes=10, ulsam=[{"after": 16, "subspaces": 4}]))


def test_a_truncated_or_flipped_table_is_refused_in_one_line_never_read_as_other_numbers(tiny, tmp_path):
    _, _, path = tiny
    good = path.read_bytes()
    table = LatencyTable.load(path)
    rng = random.Random(0)
    damaged_path = tmp_path / "damaged.csv"
    refused = 0
    for index in range(60):
        damaged = bytearray(good)
        if index % 3 == 0:
            damaged = damaged[:rng.randrange(1, len(good))]
        else:
            damaged[rng.randrange(len(good))] ^= 1 << rng.randrange(8)
        damaged_path.write_bytes(bytes(damaged))
        try:
            loaded = LatencyTable.load(damaged_path)
        except ValueError as error:
            assert "\n" not in str(error)
            assert "damaged (truncated or altered since it was made)" in str(error) or "not a ulsam-nas" in str(error)
            refused += 1
            continue
        # only a flip in the checksum's own key name can pass unchecked: the numbers are then the same
        assert loaded.latencies == table.latencies and loaded.rows == table.rows
        assert all(loaded.meta[key] == value for key, value in table.meta.items() if key != "sha256")
    assert refused >= 58


def test_a_table_made_before_checksums_still_loads(tiny, tmp_path):
    _, _, path = tiny
    first, _, body = path.read_text().partition("\n")
    meta = json.loads(first[len(HEADER):])
    del meta["sha256"]
    (tmp_path / "old.csv").write_text(HEADER + json.dumps(meta) + "\n" + body)
    assert LatencyTable.load(tmp_path / "old.csv").latencies == LatencyTable.load(path).latencies


def test_a_full_disk_keeps_the_previous_table_and_no_partial_file(tiny, small_disk):
    _, _, path = tiny
    table = LatencyTable.load(path)
    disk = small_disk(len(path.read_bytes()) + 4096)  # room for one table, not for a second beside it
    table.save(disk / "t.csv")
    table.meta["note"] = "x" * 8192  # a bigger table: its temporary copy does not fit
    with pytest.raises(ValueError, match=r"^--out: cannot write .*t.csv: No space left on device$"):
        table.save(disk / "t.csv")
    assert sorted(p.name for p in disk.iterdir()) == ["t.csv"]
    assert "note" not in LatencyTable.load(disk / "t.csv").meta


def test_other_space_runtime_threads_or_resolution_are_refused(tiny):
    space, _, path = tiny
    table = LatencyTable.load(path)
    other = SearchSpace(name="other", backbone="mobilenet_v2", resolution=64, widths=(0.5,), drop=(16,))
    with pytest.raises(ValueError, match="made for space 'tiny', which differs from space 'other'"):
        table.check_space(other)
    table.check_space(space)  # its own space is fine
    with pytest.raises(ValueError, match="measured with onnxruntime, not torch; pass --latency-runtime onnxruntime"):
        table.check_usable(LatencySettings(runtime="torch"), 64)
    with pytest.raises(ValueError, match="measured with 1 thread\\(s\\), not 2"):
        table.check_usable(LatencySettings(threads=2), 64)
    with pytest.raises(ValueError, match="measured at 64px, not 224px"):
        table.check_usable(LatencySettings(), 224)


def test_files_that_are_not_tables(tmp_path):
    with pytest.raises(ValueError, match="file not found"):
        LatencyTable.load(tmp_path / "none.csv")
    (tmp_path / "other.csv").write_text("a,b\n1,2\n")
    with pytest.raises(ValueError, match="not a ulsam-nas latency table"):
        LatencyTable.load(tmp_path / "other.csv")
