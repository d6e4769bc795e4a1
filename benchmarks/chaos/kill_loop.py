"""The kill-then-rerun loop: a worker of a new study SIGKILLed at a random moment, then another worker finishes it.

This is the scenario of the SIGKILL-recovery test that once trained the vanilla config twice: a new study
(noise runs, then the baselines, the vanilla one replaying a noise run), its worker killed, a rerun finishing
the study. The moment of the kill takes turns between three kinds, each drawn at random:

* ``time``: from outside, a random 0-0.6 s after the worker claims its first trial (what the test did);
* ``write``: the worker kills itself just before or after a random one of its first 60 storage writes;
* ``status``: the worker kills itself just after storing the status of its 1st, 2nd or 3rd trial, before
  telling Optuna: the window where the race lived, which a kill timed from outside hits rarely.

Each run says where the kill landed (read from the storage before the rerun: inside a trial whose record
was not complete yet, after a trial's status was stored but before Optuna was told, inside a claim before
the worker was recorded, or between trials)
and checks what the rerun left: every trial counted once, nothing running, nothing trained twice.
"""

from __future__ import annotations

import random
import time
import uuid
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from ulsam_nas.record import COUNTED, TrialRecord
from ulsam_nas.search import open_study

from .checks import Tally, tally
from .processes import Setup, finish, wait_for_claim

KINDS = ("time", "write", "status")
MOMENTS = ("mid-trial", "status stored, not told", "mid-claim (no worker recorded)", "between trials",
           "not at all (it finished first)")


@dataclass(frozen=True)
class KillRun:
    kind: str  # one of KINDS
    moment: str  # one of MOMENTS
    killed_trial: int | None
    victim_status: int | str  # -9: killed; 0: finished before its kill came; anything else: it failed
    rerun_status: int | str  # "hung": killed after it had not finished in time
    tally: Tally
    error: str = ""  # the end of a failed worker's stderr

    @property
    def ok(self) -> bool:
        return self.victim_status in (0, -9) and self.rerun_status == 0 and self.tally.ok


def where_it_landed(setup: Setup, status: int) -> tuple[str, int | None]:
    """What the killed worker left RUNNING (it was the study's only worker)."""
    if status == 0:
        return MOMENTS[4], None
    for trial in open_study(setup.storage, setup.study).get_trials(deepcopy=False):
        record = TrialRecord.from_trial(trial)
        if record.state == "RUNNING":
            moment = MOMENTS[2] if not record.worker else MOMENTS[1] if record.status in COUNTED else MOMENTS[0]
            return moment, trial.number
    return MOMENTS[3], None


def kill_then_rerun(storage: str, folder: Path, kind: str, rng: random.Random, trials: int = 4) -> KillRun:
    setup = Setup(storage, f"kill-{uuid.uuid4().hex[:8]}", folder, trials=trials)
    plan = {"write": {"phase": "write", "at": rng.randint(1, 60)}, "status": {"phase": "status", "at": rng.randint(1, 3)},
            "time": None}[kind]
    victim = setup.start(plan=plan and {**plan, "seed": rng.randrange(1 << 30)})
    if kind == "time":
        wait_for_claim(setup, victim)
        time.sleep(rng.uniform(0.0, 0.6))
        victim.kill()
    status, victim_err = finish(victim)
    moment, number = where_it_landed(setup, status)
    rerun_status, rerun_err = finish(setup.start(), timeout=150)  # a rerun takes 10-40 s here
    error = victim_err if status not in (0, -9) else rerun_err if rerun_status != 0 else ""
    return KillRun(kind, moment, number, status, rerun_status, tally(setup.storage, setup.study, trials),
                   error.strip().splitlines()[-1] if error.strip() else "")


def run(storage: str, folder: Path, runs: int = 30, seed: int = 0, on_run=None) -> list[KillRun]:
    rng = random.Random(seed)
    results = []
    for index in range(runs):
        result = kill_then_rerun(storage, folder / f"run-{index}", KINDS[index % len(KINDS)], rng)
        results.append(result)
        if on_run is not None:
            on_run(index, result)
    return results


def describe_run(index: int, result: KillRun) -> str:
    trial = "" if result.killed_trial is None else f" (trial {result.killed_trial})"
    victim = "" if result.victim_status in (0, -9) else f" (the worker itself exited {result.victim_status})"
    error = f" [{result.error}]" if result.error else ""
    return (f"  run {index + 1} ({result.kind}): killed {result.moment}{trial}{victim}; rerun exit {result.rerun_status}; "
            f"{result.tally.describe()}{'' if result.ok else '  <-- FAILED'}{error}")


def report(results: list[KillRun]) -> str:
    moments = Counter(r.moment for r in results)
    twice = sum(r.tally.trained_twice for r in results)
    running = sum(r.tally.running for r in results)
    failed = sum(not r.ok for r in results)
    landed = ", ".join(f"{moments[m]} {m}" for m in MOMENTS if moments[m])
    return (f"kill loop: {len(results)} kill-then-rerun runs (killed {landed}); configs trained twice {twice}, trials "
            f"left running {running}, runs that lost or repeated anything {failed}")
