"""The chaos benchmark, short: workers SIGKILLed after storing a status and in mid-training, then a rerun.

``python -m benchmarks.chaos`` runs the full cases (10 kills over 3 workers on PostgreSQL and a journal,
a database restart, every file damaged, a full disk); this one keeps a minute's worth of them in the suite.
"""

import pytest

from benchmarks.chaos import kills


@pytest.mark.slow
def test_two_workers_killed_then_a_rerun_lose_nothing_and_train_nothing_twice(tmp_path):
    result = kills.run(f"journal:{tmp_path / 'k.journal'}", tmp_path / "k", "short", kills={"status": 1, "trial": 1},
                       workers=2, trials=6, refine=0, seed=1)
    assert sum(result.faults.values()) == 2, result.describe()  # both kills landed
    assert result.ok, result.describe()
    assert result.tally.counted == 6 and result.tally.trained_twice == 0 and result.tally.lost == 0
