"""Everything a human reads: stderr only. A live status line on a terminal (rich), plain lines otherwise."""

from __future__ import annotations

import sys
import threading

from rich.console import Console

from ..protocol import Result

MARK = {"passed": "✓", "failed": "✗", "error": "!", "timeout": "⧗", "cancelled": "-"}


class Reporter:
    def __init__(self, stage: str, verbose: int = 0):
        self.stage, self.verbose = stage, verbose
        self._partial: dict[str, str] = {}
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
        """Sandbox output arrives as "[label stream] chunk"; print it line by line under its label."""
        prefix, _, chunk = text.partition("] ")
        prefix += "] "
        with self._lock:
            pending = self._partial.pop(prefix, "") + chunk
            *lines, rest = pending.split("\n")
            if rest:
                self._partial[prefix] = rest
            for line in lines:
                sys.stderr.write(prefix + line + "\n")
            sys.stderr.flush()

    def result(self, result: Result) -> None:
        self._done += 1
        if self._status:
            self._status.update(f"{self.stage}: {self._done} done, last {result.task_id} {result.status}")
        if self.verbose:
            self.log(
                f"{MARK.get(result.status, '?')} {result.task_id} [{result.profile}] {result.status}: {result.result}"
            )

    def close(self, counters) -> None:
        if self._status:
            self._status.stop()
        for prefix, rest in self._partial.items():
            sys.stderr.write(prefix + rest + "\n")
        if self.verbose or self.interactive:
            statuses = ", ".join(f"{n} {s}" for s, n in sorted(counters.statuses.items())) or "no tasks"
            extra = f", {counters.bad_lines} malformed lines" if counters.bad_lines else ""
            self.log(f"{counters.lines} lines, {counters.tasks} tasks ({statuses}){extra}")
