"""Everything a human reads: stderr only. A live status line on a terminal (rich), plain lines otherwise."""

from __future__ import annotations

import sys
import threading

from rich.console import Console

from ..protocol import Result

MARK = {"passed": "✓", "failed": "✗", "error": "!", "timeout": "⧗", "cancelled": "-"}


class Reporter:
    def __init__(self, stage: str, verbose: bool = False):
        self.stage, self.verbose = stage, verbose
        self.console = Console(stderr=True, highlight=False)
        self.interactive = sys.stderr.isatty()
        self._lock = threading.Lock()
        self._done = 0
        self._status = self.console.status(f"{stage}: waiting for input") if self.interactive else None
        if self._status:
            self._status.start()

    def log(self, message: str) -> None:
        with self._lock:
            self.console.print(f"[dim]chain {self.stage}:[/] {message}", markup=True, soft_wrap=True)

    def mirror(self, text: str) -> None:
        with self._lock:
            sys.stderr.write(text if text.endswith("\n") else text + "\n")

    def result(self, result: Result) -> None:
        self._done += 1
        if self._status:
            self._status.update(f"{self.stage}: {self._done} done, last {result.task_id} {result.status}")
        if self.verbose:
            self.log(f"{MARK.get(result.status, '?')} {result.task_id} [{result.profile}] {result.status}: "
                     f"{result.result}")

    def close(self, counters) -> None:
        if self._status:
            self._status.stop()
        if self.verbose or self.interactive:
            statuses = ", ".join(f"{n} {s}" for s, n in sorted(counters.statuses.items())) or "no tasks"
            extra = f", {counters.bad_lines} malformed lines" if counters.bad_lines else ""
            self.log(f"{counters.lines} lines, {counters.tasks} tasks ({statuses}){extra}")
