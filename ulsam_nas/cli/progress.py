"""Live progress of a search for the terminal: a bar and one line per trial."""

from __future__ import annotations

import os
import sys
import time

from ..record import Status
from ..search import TrialEvent
from ..noise import format_accuracy
from ..text import format_count


def trial_line(event: TrialEvent) -> str:
    record = event.record
    accuracy = "" if record.accuracy is None else f" acc {format_accuracy(record.accuracy, event.accuracy_sigma)}"
    costs = "" if record.flops is None else f" {format_count(record.flops)} FLOPs {format_count(record.params)} params"
    reason = f" ({record.reason})" if record.reason and record.status != Status.TRAINED else ""
    seconds = 0.0 if record.wall_seconds != record.wall_seconds else record.wall_seconds
    return (f"[{event.finished}/{event.target}] trial {record.number} {record.status}: {record.summary}"
            f"{accuracy}{costs} in {seconds:.1f}s{reason}")


def worker_line(event: TrialEvent) -> None:
    """One line per trial from a worker process (``run_workers``' callback: module level, so it pickles)."""
    print(f"worker {os.getpid()} {trial_line(event)}", flush=True)


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

    def start(self, study: str, storage: str, target: int, done: int, notes: list[str]) -> None:
        self.done_at_start = done
        state = f"resuming at {done}/{target} trials" if done else f"{target} trials"
        self._print(f"study {study!r} in {storage}: {state}")
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
        self._print(estimate.describe())

    def trial(self, event: TrialEvent) -> None:
        self._print(trial_line(event))
        best = "" if event.best_feasible_accuracy is None else f" | best in budget {event.best_feasible_accuracy:.1%}"
        if self.bar is not None:
            self.bar.update(self.task, completed=event.finished, front=f"front {event.front_size}{best}")
        else:
            elapsed = time.monotonic() - self.started
            ran = max(1, event.finished - self.done_at_start)
            eta = elapsed / ran * max(0, event.target - event.finished)
            self._print(f"  progress {event.finished}/{event.target}, elapsed {elapsed:.0f}s, ETA {eta:.0f}s, "
                        f"front {event.front_size}{best}")
