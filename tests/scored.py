"""Hand-made scored trials for the tests of fronts, reports and their words."""

import math

from ulsam_nas.record import Status, TrialRecord
from ulsam_nas.report import ScoredTrial


def scored(number: int, accuracy: float = math.nan, flops: float = 100.0, params: float = 10.0, sigma: float = math.nan,
           state: str = "COMPLETE", status: str = "trained", feasible: bool | None = True, **fields) -> ScoredTrial:
    record = TrialRecord(number=number, state=state, status=Status(status), flops=flops, params=params,
                         accuracy=None if math.isnan(accuracy) else accuracy, feasible=feasible, **fields)
    return ScoredTrial(record, accuracy, sigma, accuracy, sigma)


def trials(*rows: dict) -> list[ScoredTrial]:
    return [scored(number, **row) for number, row in enumerate(rows)]
