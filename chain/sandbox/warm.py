"""The warm backends: the same sandbox as `local` / `bwrap`, with runs served by a pool of warm workers.

A cold run pays for starting Python, importing pytest and registering its plugins (hundreds of ms); a
warm run pays for a fork and the test session itself. Every worker runs inside exactly the sandbox a cold
run of its backend gets and serves one run at a time, so runs never share a process, a /tmp, a network
or a PID namespace with each other (see `warm_pool.py` and `warm_worker.py`, and docs/sandbox.md).

Only commands that are plain pytest invocations (`python -m pytest ARGS`, `pytest ARGS`) run warm; any
other command (pipes, env assignments, other programs) runs cold on the same backend, unchanged.
"""

from __future__ import annotations

import functools
import os
import shlex
import sys
import threading
import time
from typing import Any, ClassVar

from .base import RunOutcome, RunSpec, Sandbox
from .bwrap import BwrapSandbox
from .landlock import LandlockSandbox
from .local import LocalSandbox
from .warm_pool import WarmPool, WorkerFailed

SHELL_SYNTAX = set(";|&<>$`(){}*?[]~!#\n\\")
PYTHONS = {"python", "python3", f"python3.{sys.version_info.minor}"}


def pytest_invocation(command: str) -> tuple[list[str], bool] | None:
    """(pytest args, whether cwd goes first on sys.path) when `command` is a plain pytest run, else None."""
    found = _pytest_invocation(command)
    return None if found is None else (list(found[0]), found[1])


@functools.lru_cache(maxsize=256)  # every run of a task asks about the same command
def _pytest_invocation(command: str) -> tuple[tuple[str, ...], bool] | None:
    if SHELL_SYNTAX & set(command):
        return None
    try:
        words = shlex.split(command)
    except ValueError:
        return None
    if len(words) >= 3 and words[0] in PYTHONS and words[1:3] == ["-m", "pytest"]:
        return tuple(words[3:]), True
    if words and words[0] in ("pytest", "py.test"):
        return tuple(words[1:]), False
    return None


class WarmSandbox(Sandbox):
    """Warm mode of a cold backend (`cold_class`): same sandbox, same limits, a pool of workers."""

    cold_class: type[LocalSandbox] = LocalSandbox

    takes_read_only = True

    def __init__(self, **kwargs: Any):
        self.cold = self.cold_class(**kwargs)  # first: it checks the arguments (`read_only`)
        super().__init__(verbose=kwargs.get("verbose"))
        self.name = f"{self.cold.name}-warm"
        self.pool = WarmPool(self.cold)
        self._unavailable: str | None = None
        self.pool.prewarm(os.cpu_count() or 1)

    describe_overrides: ClassVar[dict[str, Any]] = {}

    def describe(self) -> dict[str, Any]:
        return {
            **self.cold.describe(),
            **self.describe_overrides,
            "backend": self.name,
            "warm": self._unavailable is None,
        }

    def _cold(self, spec: RunSpec, cancel: threading.Event | None, why: str | None) -> RunOutcome:
        outcome = self.cold.run(spec, cancel)
        outcome.isolation = {**outcome.isolation, "backend": self.name, "warm": False}  # the cold backend's own
        if why:
            outcome.notes.append(why)
        return outcome

    def run(self, spec: RunSpec, cancel: threading.Event | None = None) -> RunOutcome:
        invocation = pytest_invocation(spec.command)
        if invocation is None:
            return self._cold(spec, cancel, None)  # not a plain pytest run: exactly what the cold backend does
        if self._unavailable:
            return self._cold(spec, cancel, f"ran cold: {self._unavailable}")
        try:
            worker = self.pool.acquire()
        except WorkerFailed as exc:
            self._unavailable = str(exc)
            return self._cold(spec, cancel, f"ran cold: {exc}")
        started = time.monotonic()  # a run's time and timeout start when it has a worker
        mirror = self.cold._mirror(spec)
        try:
            outcome = worker.run(spec, invocation[0], invocation[1], cancel, started, mirror)
        except (OSError, ValueError, WorkerFailed) as exc:
            worker.broken = True
            return RunOutcome(
                None, (time.monotonic() - started) * 1000, error=f"warm run failed: {exc}", isolation=self.describe()
            )
        finally:
            self.pool.release(worker)
        outcome.isolation = {**self.describe(), **outcome.isolation}
        return outcome

    def kill_all(self) -> None:
        self.cold.kill_all()
        self.pool.interrupt_all()

    def close(self) -> None:
        self.pool.close()
        self.cold.close()

    @classmethod
    def available(cls) -> tuple[bool, str]:
        return cls.cold_class.available()


class LocalWarmSandbox(WarmSandbox):
    name = "local-warm"
    cold_class = LocalSandbox


class BwrapWarmSandbox(WarmSandbox):
    name = "bwrap-warm"
    cold_class = BwrapSandbox
    # Workers are PID 1 of their own namespaces and run as uid 0 *of their user namespace* with every
    # capability dropped (bounding set empty, no_new_privs): bwrap maps a single uid, so it stays 0.
    describe_overrides: ClassVar[dict[str, Any]] = {"uid_inside": 0, "capabilities": "none"}


class LandlockWarmSandbox(WarmSandbox):
    name = "landlock-warm"
    cold_class = LandlockSandbox
    # Each run's child confines itself (Landlock, seccomp) after the fork, before any of the task's code runs
    # (warm_worker.confine_run); the template and workers run nothing of a task's and stay unconfined.
