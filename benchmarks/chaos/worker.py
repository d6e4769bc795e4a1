"""A chaos worker: one search or refinement process that may be told to SIGKILL itself at a chosen moment.

Run as ``python -m benchmarks.chaos.worker JSON``; the JSON holds the mode (``search`` or ``refine``), the
storage, study, space, trial count and proxy, and an optional kill plan ``{"phase": ..., "at": k, "seed": s}``:

* ``noise``: during the k-th noise training (a new study's vanilla runs), after a random part of it;
* ``trial``: during the k-th trial's training, after a random part of it;
* ``write``: at the k-th storage write (a trial's or study's attribute, state, parameter or a new trial),
  just before it or just after it, at random;
* ``status``: just after the k-th trial status is stored, before Optuna is told (where the race of issue 20 was);
* ``refine``: during the k-th refinement run, after a random part of it.

Before it dies the worker appends what it was doing to the chaos log (one JSON line, flushed to disk), so
the harness reports where every fault landed. Each finished training is logged too.
"""

from __future__ import annotations

import faulthandler
import json
import os
import random
import signal
import sys
import threading
import time
from typing import Any, Callable

import optuna
from optuna.storages import JournalStorage, _CachedStorage

from ulsam_nas.refine import RefineSettings, refine_study
from ulsam_nas.search import SearchSettings, open_study, run_search
from ulsam_nas.training import ProxySettings, train_proxy

# Storage methods that write, on both backends the chaos runs use.
WRITES = ("create_new_trial", "set_trial_param", "set_trial_state_values", "set_trial_user_attr",
          "set_trial_system_attr", "set_study_user_attr", "set_study_system_attr")


class Chaos:
    """Counts the moments a plan names and kills this process at the chosen one."""

    def __init__(self, plan: dict[str, Any] | None, log: str) -> None:
        self.plan, self.log = plan or {}, log
        self.rng = random.Random(self.plan.get("seed", 0))
        self.counts: dict[str, int] = {}

    def write_line(self, **fields: Any) -> None:
        with open(self.log, "a") as handle:
            handle.write(json.dumps({"pid": os.getpid(), "time": time.time(), **fields}) + "\n")
            handle.flush()
            os.fsync(handle.fileno())

    def due(self, phase: str) -> bool:
        """Whether this is the planned moment (the k-th of ``phase``)."""
        if self.plan.get("phase") != phase:
            return False
        self.counts[phase] = self.counts.get(phase, 0) + 1
        return self.counts[phase] == self.plan["at"]

    def kill(self, phase: str, detail: str) -> None:
        self.write_line(event="killed", phase=phase, detail=detail)
        os.kill(os.getpid(), signal.SIGKILL)

    def kill_later(self, phase: str, seconds: float, detail: str) -> None:
        """A kill a random part of ``seconds`` from now: somewhere inside the work about to start."""
        delay = self.rng.uniform(0.05, seconds)
        timer = threading.Timer(delay, self.kill, (phase, f"{detail}, {delay:.2f}s in"))
        timer.daemon = True
        timer.start()


def chaotic_trainer(chaos: Chaos, kind_of: Callable[[Any], str], expected_seconds: float):
    """train_proxy, logged, with the plan's kill timed inside the chosen training."""

    def trainer(config, data, settings, seed=0, on_epoch=None):
        kind = kind_of(on_epoch)
        if chaos.due(kind):
            chaos.kill_later(kind, expected_seconds, f"{kind} training of {config.summary()} seed {seed}")
        result = train_proxy(config, data, settings, seed=seed, on_epoch=on_epoch)
        chaos.write_line(event="trained", kind=kind, config=config.to_json(), seed=seed)
        return result

    return trainer


def kill_at_writes(chaos: Chaos) -> None:
    """Wrap the storages' write methods: the plan's k-th write kills this process just before or just after it;
    the k-th trial status written (``status``) kills it just after, before Optuna is told."""
    for cls in (_CachedStorage, JournalStorage):  # what a study writes through: a database behind Optuna's cache
        for name in WRITES:
            original = getattr(cls, name)

            def wrapped(self, *args, _original=original, _name=name, **kwargs):
                named = dict(zip(("trial_id", "key", "value"), args)) | kwargs  # Optuna's cache passes keywords
                if _name == "set_trial_user_attr" and named.get("key") == "status" and chaos.due("status"):
                    _original(self, *args, **kwargs)
                    chaos.kill("status", f"just after status {named.get('value')!r} was stored")
                if not chaos.due("write"):
                    return _original(self, *args, **kwargs)
                if chaos.rng.random() < 0.5:
                    chaos.kill("write", f"before {_name}")
                result = _original(self, *args, **kwargs)
                chaos.kill("write", f"after {_name}")
                return result

            setattr(cls, name, wrapped)


def main(job: dict[str, Any]) -> None:
    faulthandler.register(signal.SIGUSR1)  # a worker that hangs shows where, when the harness gives up on it
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    chaos = Chaos(job.get("plan"), job["log"])
    if chaos.plan.get("phase") in ("write", "status"):
        kill_at_writes(chaos)
    proxy = ProxySettings(**job["proxy"])
    expected = job.get("training_seconds", 1.0)
    if job["mode"] == "search":
        trainer = chaotic_trainer(chaos, lambda on_epoch: "noise" if on_epoch is None else "trial", expected)
        settings = SearchSettings(space=job["space"], storage=job["storage"], study=job["study"], trials=job["trials"],
                                  sampler="random", seed=0, heartbeat_seconds=1, refine=0, evaluator="proxy",
                                  noise_seeds=job.get("noise_seeds", 3), proxy=proxy,
                                  **({"reconnect_seconds": job["reconnect_seconds"]} if job.get("reconnect_seconds") else {}))
        run_search(settings, trainer=trainer)
    else:
        trainer = chaotic_trainer(chaos, lambda on_epoch: "refine", expected * job.get("refine_factor", 3))
        refine_study(open_study(job["storage"], job["study"]), RefineSettings(count=job["refine"]), trainer=trainer,
                     processes=1, threads=1)
    chaos.write_line(event="finished", mode=job["mode"])


if __name__ == "__main__":
    main(json.loads(sys.argv[1]))
