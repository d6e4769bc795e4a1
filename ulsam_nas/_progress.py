"""Live progress of a search for the terminal: a bar and one line per trial."""

from __future__ import annotations

import sys
import time

from ._text import format_count
from .search import TrialEvent


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

    def trial(self, event: TrialEvent) -> None:
        accuracy = "" if event.accuracy is None else f" acc {event.accuracy:.1%}"
        costs = "" if event.flops is None else f" {format_count(event.flops)} FLOPs {format_count(event.params)} params"
        reason = f" ({event.reason})" if event.reason and event.status != "trained" else ""
        self._print(f"[{event.finished}/{event.target}] trial {event.number} {event.status}: {event.summary}"
                    f"{accuracy}{costs} in {event.seconds:.1f}s{reason}")
        best = "" if event.best_feasible_accuracy is None else f" | best in budget {event.best_feasible_accuracy:.1%}"
        if self.bar is not None:
            self.bar.update(self.task, completed=event.finished, front=f"front {event.front_size}{best}")
        else:
            elapsed = time.monotonic() - self.started
            ran = max(1, event.finished - self.done_at_start)
            eta = elapsed / ran * max(0, event.target - event.finished)
            self._print(f"  progress {event.finished}/{event.target}, elapsed {elapsed:.0f}s, ETA {eta:.0f}s, "
                        f"front {event.front_size}{best}")
