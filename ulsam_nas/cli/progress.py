"""Live progress of a search for the terminal: a bar and one line per trial, then the summary."""

from __future__ import annotations

import os
import sys
import time

from ..present.estimates import study_estimate_text
from ..present.runs import trial_line
from ..present.study import baseline_notes, noise_line, ulsam_slots_line
from ..search.loop import StudyStart, TrialEvent

__all__ = ["SearchProgress", "supernet_worker_line", "worker_line"]


def _line(event: TrialEvent) -> str:
    return trial_line(event.record, event.finished, event.target, event.accuracy_sigma)


def _supernet_line(epoch) -> str:
    """One line per supernet epoch trained, with the time its width has left at this pace."""
    left = (epoch.epochs - epoch.epoch) * epoch.seconds
    which = "of every width" if epoch.width is None else f"w{epoch.width}"
    return (f"supernet {which} epoch {epoch.epoch}/{epoch.epochs}: loss {epoch.mean_loss:.3f}, {epoch.seconds:.0f}s "
            f"(this supernet's rest: about {left / 60:.0f} min)")


def supernet_worker_line(epoch) -> None:
    """One line per supernet epoch from a worker process (module level, so it pickles)."""
    print(f"worker {os.getpid()} {_supernet_line(epoch)}", flush=True)


def worker_estimate(estimate) -> None:
    """The study's expected time, from the first worker before anything trains (module level, so it pickles)."""
    print(study_estimate_text(estimate), flush=True)


def worker_line(event: TrialEvent) -> None:
    """One line per trial from a worker process (``run_workers``' callback: module level, so it pickles)."""
    print(f"worker {os.getpid()} {_line(event)}", flush=True)


class SearchProgress:
    """Context manager; ``start`` and ``trial`` are run_search's callbacks."""

    def __init__(self, quiet: bool = False) -> None:
        self.quiet = quiet or not sys.stderr.isatty()
        self.bar = None
        self.task = None
        self.started = time.monotonic()
        self.done_at_start = 0

    def __enter__(self) -> "SearchProgress":
        return self

    def __exit__(self, *exc) -> None:
        if self.bar is not None:
            self.bar.stop()

    def _print(self, line: str) -> None:
        if self.bar is not None:
            self.bar.console.print(line, highlight=False, markup=False)
        else:
            print(line, file=sys.stderr, flush=True)

    def start(self, start: StudyStart) -> None:
        self.started = time.monotonic()  # the trials' rate, without the supernet's training and the noise runs before
        self.done_at_start, target, done = start.done, start.target, start.done
        state = f"resuming at {done}/{target} trials" if done else f"{target} trials"
        self._print(f"study {start.study!r} in {start.storage}: {state}")
        definition = start.meta.definition
        notes = [*start.meta.legacy_notes, *baseline_notes(start.meta.skipped_baselines, start.space),
                 noise_line(start.meta.noise_estimate, definition.evaluator),
                 ulsam_slots_line(start.searched, start.hidden, definition.resolution, start.proxy_resolution)]
        for note in notes:
            self._print(f"  note: {note}")
        if self.quiet:
            return
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

        self.bar = Progress(
            TextColumn("trial"), MofNCompleteColumn(), BarColumn(), TimeElapsedColumn(), TextColumn("ETA"),
            TimeRemainingColumn(), TextColumn("{task.fields[front]}"), transient=False,
        )
        self.bar.start()
        self.task = self.bar.add_task("search", total=target, completed=done, front="")

    def estimate(self, estimate) -> None:
        """Before the first trial: the expected time per trial and of the study, broken down (a StudyEstimate)."""
        self._print(study_estimate_text(estimate))

    def supernet(self, epoch) -> None:
        """After each supernet epoch trained (a SupernetEpoch)."""
        self._print(_supernet_line(epoch))

    def trial(self, event: TrialEvent) -> None:
        self._print(_line(event))
        best = "" if event.best_feasible_accuracy is None else f" | best in budget {event.best_feasible_accuracy:.1%}"
        if self.bar is not None:
            self.bar.update(self.task, completed=event.finished, front=f"front {event.front_size}{best}")
        else:
            elapsed = time.monotonic() - self.started
            ran = max(1, event.finished - self.done_at_start)
            eta = elapsed / ran * max(0, event.target - event.finished)
            self._print(f"  progress {event.finished}/{event.target}, elapsed {elapsed:.0f}s, ETA {eta:.0f}s, "
                        f"front {event.front_size}{best}")
