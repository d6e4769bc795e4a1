"""Early stopping of weak candidates in multi-objective studies.

Optuna's pruners do not work in multi-objective studies, so the rule is built
on the accuracies earlier trials recorded at the same epoch. It is Pareto-aware:
a candidate is only compared with earlier trials that cost no more on every
cost objective, the ones that would dominate it if they stay more accurate. A
small cheap candidate is never stopped for being less accurate than a big one.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass

__all__ = ["EarlierTrial", "StoppingRule"]


@dataclass(frozen=True)
class EarlierTrial:
    costs: tuple[float, ...]  # the cost objectives, all minimised
    curve: tuple[float, ...]  # validation accuracy after each epoch


@dataclass(frozen=True)
class StoppingRule:
    """Stop when accuracy at an epoch is below the median of no-costlier earlier trials by ``margin``."""

    min_trials: int = 3  # earlier no-costlier trials needed before judging
    margin: float = 0.02  # absolute accuracy (2 points): proxy curves are noisy
    first_epoch: int = 2  # the first epochs of a short run are too noisy to judge

    def check(self, epoch: int, accuracy: float, costs: tuple[float, ...], earlier: list[EarlierTrial]) -> str | None:
        """A reason to stop, or None to go on."""
        if epoch < self.first_epoch:
            return None
        peers = [
            trial.curve[epoch - 1] for trial in earlier
            if len(trial.curve) >= epoch and all(theirs <= ours for theirs, ours in zip(trial.costs, costs))
        ]
        if len(peers) < self.min_trials:
            return None
        median = statistics.median(peers)
        if accuracy < median - self.margin:
            return (f"epoch {epoch}: accuracy {accuracy:.1%} < median {median:.1%} of {len(peers)} earlier "
                    f"trials that cost no more")
        return None
