"""Many kills over many workers: 3 workers on one study, 10 SIGKILLs at random moments, then reruns to the end.

The kills, in order: 2 during the noise runs of the study's creator, then trials, storage writes and the
window after a status is stored (3 workers at a time, each with its own kill), then 2 during refinement.
A round starts workers and waits for all of them; rounds go on until every kill has landed, then plain
workers finish the study and a plain refinement finishes the refinement. After every round the harness
notes every stored result; at the end each must still be there, unchanged (nothing lost).
"""

from __future__ import annotations

import random
import uuid
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from ulsam_nas.search import open_study

from .checks import Snapshot, Tally, snapshot, tally
from .processes import HUNG, Setup, finish

SEARCH_KILLS = ("trial", "write", "status")
KILLS = {"noise": 2, "trial": 2, "write": 2, "status": 2, "refine": 2}  # 10 SIGKILLs


@dataclass(frozen=True)
class CaseResult:
    name: str
    faults: Counter  # phase -> kills that landed
    tally: Tally
    failures: tuple[str, ...] = ()  # workers that exited otherwise than killed or finished

    @property
    def ok(self) -> bool:
        return self.tally.ok and not self.failures

    def describe(self) -> str:
        faults = ", ".join(f"{count} {phase}" for phase, count in self.faults.items())
        failures = "".join(f"\n    unexpected exit: {failure}" for failure in self.failures)
        return (f"{self.name}: faults injected {sum(self.faults.values())} ({faults}); {self.tally.describe()}"
                f"{'' if self.ok else '  <-- FAILED'}{failures}")


def _plan(phase: str, rng: random.Random) -> dict:
    at = {"noise": rng.randint(1, 3), "trial": rng.randint(1, 2), "write": rng.randint(1, 40),
          "status": rng.randint(1, 2), "refine": rng.randint(1, 2)}[phase]
    return {"phase": phase, "at": at, "seed": rng.randrange(1 << 30)}


def _round(setup: Setup, plans: list[dict | None], mode: str, failures: list[str]) -> None:
    processes = [setup.start(mode, plan) for plan in plans]
    for process in processes:
        status, err = finish(process, timeout=600)
        if status not in (0, -9):
            failures.append(f"{mode} worker: exit {status}: {err.strip()[-3000:] if status == HUNG else err.strip()[-300:]}")


def _killed(setup: Setup) -> Counter:
    return Counter(event["phase"] for event in setup.events("killed"))


def run(storage: str, folder: Path, name: str, kills: dict[str, int] = KILLS, workers: int = 3, trials: int = 16,
        refine: int = 4, seed: int = 0) -> CaseResult:
    """``kills``: how many SIGKILLs land in each phase; ``refine`` 0: no refinement."""
    rng = random.Random(seed)
    setup = Setup(storage, f"chaos-{uuid.uuid4().hex[:8]}", folder, trials=trials, refine=refine)
    wanted = Counter(kills)
    failures: list[str] = []
    snapshots: list[Snapshot] = []

    def look() -> None:
        try:
            snapshots.append(snapshot(open_study(storage, setup.study)))
        except ValueError:
            pass  # no study yet: its creator died in the noise runs

    for _ in range(5):  # the creator alone: it dies measuring the noise
        if _killed(setup)["noise"] >= wanted["noise"]:
            break
        _round(setup, [_plan("noise", rng)], "search", failures)
        look()
    for _ in range(20):  # rounds of workers that each die once, until the search kills have all landed
        left = [phase for phase in SEARCH_KILLS for _ in range(wanted[phase] - _killed(setup)[phase])]
        if not left:
            break
        rng.shuffle(left)
        _round(setup, [_plan(phase, rng) for phase in left[:workers]], "search", failures)
        look()
    _round(setup, [None] * workers, "search", failures)  # plain workers finish the study
    look()
    if not refine:
        return CaseResult(name, _killed(setup), tally(storage, setup.study, trials, snapshots), tuple(failures))
    for _ in range(10):
        if _killed(setup)["refine"] >= wanted["refine"]:
            break
        _round(setup, [_plan("refine", rng)], "refine", failures)
        look()
    _round(setup, [None], "refine", failures)  # a plain refinement finishes it
    return CaseResult(name, _killed(setup), tally(storage, setup.study, trials, snapshots, refine=refine),
                      tuple(failures))
