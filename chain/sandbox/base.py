"""The sandbox interface every backend implements, and the data that crosses it.

A backend takes a `RunSpec` (files, command, limits) and returns a `RunOutcome` (exit, captured output,
per-test records from pytest). Stages only ever see this interface, so new backends (bubblewrap, a warm
pool, E2B) plug in without touching them.
"""

from __future__ import annotations

import os
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..tree import BaseTree
    from .environment import Environment


@dataclass(frozen=True)
class Limits:
    cpu_s: int = 120  # RLIMIT_CPU seconds
    memory_mb: int = 2048  # RLIMIT_AS
    file_mb: int = 64  # RLIMIT_FSIZE: largest file the code may write
    nproc: int = 256  # RLIMIT_NPROC (ignored by the kernel for root: see `chain doctor`)
    output_bytes: int = 1 << 20  # stdout and stderr are each captured up to this many bytes


@dataclass
class RunSpec:
    files: dict[str, str | bytes]  # text, or bytes written as they are (a task's blobs)
    command: str
    timeout_s: float = 60.0
    limits: Limits = field(default_factory=Limits)
    env: dict[str, str] = field(default_factory=dict)
    label: str = ""  # shown in --verbose output (usually the task id)
    source: str | None = None  # the directory the task was read from (maps editable installs to the workspace)
    base: BaseTree | None = None  # a by-reference task's tree: `files` are written over a copy of it

    def listing(self, read: frozenset[str] | set[str] = frozenset()) -> dict[str, str | bytes]:
        """Every path of the workspace (the files, and the base's when there is one) -> its content when its
        basename is in `read` (e.g. pytest's config files), else "": what a warm run's prepare key needs."""
        if self.base is None:
            return self.files
        out: dict[str, str | bytes] = {p: "" for p in self.base.paths()}
        for p in out:
            if os.path.basename(p) in read:
                out[p] = self.base.text(p) or ""
        out.update(self.files)
        return out

    def workspace_items(self):
        """(path, str | bytes) for the whole workspace, base files read from disk (for remote backends)."""
        if self.base is not None:
            for rel in self.base.paths():
                if rel not in self.files:
                    yield rel, (self.base.path / rel).read_bytes()
        yield from self.files.items()


class Capture:
    """Keeps the first `cap` bytes of a stream and counts the rest (so 200 MB of output costs nothing). Every
    backend captures a run's stdout and stderr with one of these (E2B's SDK hands over text, the others bytes)."""

    def __init__(self, cap: int, name: str):
        self.cap, self.name, self.total = cap, name, 0
        self.parts: list[bytes] = []

    def add(self, data: bytes | str) -> None:
        if isinstance(data, str):
            data = data.encode(errors="replace")
        room = self.cap - min(self.total, self.cap)
        if room > 0:
            self.parts.append(data[:room])
        self.total += len(data)

    def text(self) -> str:
        return b"".join(self.parts).decode("utf-8", errors="replace")

    def note(self) -> list[str]:
        if self.total <= self.cap:
            return []
        return [f"{self.name} truncated: kept {self.cap} of {self.total} bytes"]


@dataclass
class RunOutcome:
    exit_code: int | None
    duration_ms: float
    stdout: str = ""
    stderr: str = ""
    stdout_bytes: int = 0  # total produced, captured or not
    stderr_bytes: int = 0
    timed_out: bool = False
    cancelled: bool = False
    report: dict[str, Any] | None = None  # chain's pytest report, when the command ran pytest
    error: str | None = None  # the sandbox itself failed (not the code under test)
    isolation: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)  # what the sandbox saw, e.g. "process limit reached: ..."
    events: list = field(default_factory=list)  # the backend's own retries/breaker changes, shown as notices

    @classmethod
    def captured(
        cls,
        out: Capture,
        err: Capture,
        *,
        exit_code: int | None,
        started: float,
        notes: list[str] | None = None,
        **fields: Any,
    ) -> RunOutcome:
        """The outcome of a run whose output `out` and `err` captured, `started` at time.monotonic(); what the
        captures had to leave out is said in the notes."""
        return cls(
            exit_code=exit_code,
            duration_ms=(time.monotonic() - started) * 1000,
            stdout=out.text(),
            stderr=err.text(),
            stdout_bytes=out.total,
            stderr_bytes=err.total,
            notes=[*(notes or []), *out.note(), *err.note()],
            **fields,
        )

    @property
    def truncated(self) -> bool:
        return self.stdout_bytes > len(self.stdout.encode()) or self.stderr_bytes > len(self.stderr.encode())


class Sandbox(ABC):
    """A place to run untrusted code. Backends must be safe to call from many threads at once."""

    name: str = "?"

    def __init__(self, *, verbose: Callable[[str], None] | None = None, python: str | None = None):
        self.verbose = verbose
        self.python = python  # --python: the project's interpreter (None: $VIRTUAL_ENV's, else chain's)

    @cached_property
    def environment(self) -> Environment:
        """The project's environment the task's tests run in (asked of the interpreter once)."""
        from .environment import inspect

        return inspect(self.python)

    @abstractmethod
    def run(self, spec: RunSpec, cancel: threading.Event | None = None) -> RunOutcome:
        """Run `spec.command` in a fresh workspace holding `spec.files`. Never raises for the code's faults."""

    def kill_all(self) -> None:
        """Kill every run in flight (called on interrupt; must be safe from a signal handler)."""

    def close(self) -> None:
        """Release pooled resources."""

    def describe(self) -> dict[str, Any]:
        """What isolation this backend applies (for `chain doctor` and each result's `isolation`)."""
        return {"backend": self.name}

    @classmethod
    def available(cls) -> tuple[bool, str]:
        """Whether this backend can run here, and why not."""
        return True, ""
