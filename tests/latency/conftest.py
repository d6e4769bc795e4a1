"""One latency table of the tiny space, timed for real once and shared by the latency tests."""

import pytest

from ulsam_nas.latency import LatencySettings, make_table
from ulsam_nas.space import load_space

from ..conftest import TINY_SPACE


@pytest.fixture(scope="session")
def tiny(tmp_path_factory):
    folder = tmp_path_factory.mktemp("table")
    (folder / "tiny.yaml").write_text(TINY_SPACE)
    space = load_space(folder / "tiny.yaml")
    table = make_table(space, LatencySettings(seconds=0.2), calibration_configs=3)
    return space, table, table.save(folder / "tiny.csv")
