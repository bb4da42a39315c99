"""The sandbox interface every backend implements, and the data that crosses it.

A backend takes a `RunSpec` (files, command, limits) and returns a `RunOutcome` (exit, captured output,
per-test records from pytest). Stages only ever see this interface, so new backends (bubblewrap, a warm
pool, E2B) plug in without touching them.
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


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

    @property
    def truncated(self) -> bool:
        return self.stdout_bytes > len(self.stdout.encode()) or self.stderr_bytes > len(self.stderr.encode())


class Sandbox(ABC):
    """A place to run untrusted code. Backends must be safe to call from many threads at once."""

    name: str = "?"

    def __init__(self, *, verbose: Callable[[str], None] | None = None):
        self.verbose = verbose

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
