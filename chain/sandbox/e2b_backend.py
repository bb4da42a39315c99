"""`--sandbox e2b`: runs each task in a fresh E2B cloud sandbox through the official `e2b` SDK.

One run = create a sandbox from the template (CHAIN_E2B_TEMPLATE / --e2b-template), upload the task's files and
chain's pytest report plugin, run the command with the same report env as the local backends, download the report,
kill the sandbox (always: finally, cancel watcher, kill_all). API failures (anything but the command's own exit)
are retried with exponential backoff behind a circuit breaker shared by all runs; each retry and breaker change is
recorded in `RunOutcome.events`, which StageContext.run_tests turns into `notice` events on stdout.
"""

from __future__ import annotations

import os
import threading
import time
import uuid
from pathlib import Path
from typing import Any, Callable

from ..resilience import Backoff, CircuitBreaker, CircuitOpen, call_with_retries
from .base import RunOutcome, RunSpec, Sandbox
from .workspace import PLUGIN_DIR, PLUGIN_MODULE

ROOT_INSIDE = "/home/user/chain"  # the default E2B templates run as `user` with this home
PLUGIN_SOURCE = Path(PLUGIN_DIR) / f"{PLUGIN_MODULE}.py"
SANDBOX_GRACE_S = 60  # the sandbox's own lifetime outlives the command timeout, so a lost client cannot leak it


def _env_int(name: str, default: int) -> int:
    try:
        return max(1, int(os.environ.get(name, default)))
    except ValueError:
        return default


class E2BSandbox(Sandbox):
    name = "e2b"

    def __init__(self, *, verbose: Callable[[str], None] | None = None, template: str | None = None,
                 concurrency: int | None = None, retries: int | None = None, backoff: Backoff | None = None,
                 breaker: CircuitBreaker | None = None):
        super().__init__(verbose=verbose)
        self.template = template or os.environ.get("CHAIN_E2B_TEMPLATE") or None  # None: the SDK's `base`
        self._slots = threading.BoundedSemaphore(concurrency or _env_int("CHAIN_E2B_CONCURRENCY", 8))
        self.retries = retries if retries is not None else _env_int("CHAIN_E2B_RETRIES", 3)
        self.backoff = backoff or Backoff(base_s=float(os.environ.get("CHAIN_E2B_BACKOFF_S", "0.5")))
        self.breaker = breaker or CircuitBreaker("e2b", threshold=_env_int("CHAIN_E2B_BREAKER_THRESHOLD", 5),
                                                 cooldown_s=float(os.environ.get("CHAIN_E2B_COOLDOWN_S", "30")))
        self._live: set[Any] = set()
        self._lock = threading.Lock()

    @classmethod
    def available(cls) -> tuple[bool, str]:
        try:
            import e2b  # noqa: F401
        except ImportError:
            return False, "the e2b package is not installed (pip install e2b)"
        if not os.environ.get("E2B_API_KEY") and os.environ.get("E2B_DEBUG", "").lower() != "true":
            return False, "E2B_API_KEY is not set (get a key at https://e2b.dev/dashboard)"
        return True, ""

    def describe(self) -> dict[str, Any]:
        return {"backend": self.name, "template": self.template or "base", "isolation": "e2b microVM",
                "network": "template default"}

    # -- one run -------------------------------------------------------------------------------------------
    def run(self, spec: RunSpec, cancel: threading.Event | None = None) -> RunOutcome:
        events: list[dict[str, Any]] = []

        def notify(kind: str, message: str, **fields: Any) -> None:
            events.append({"kind": kind, "message": f"e2b: {message}" if not message.startswith("e2b") else message,
                           **fields})

        started = time.monotonic()
        with self._slots:
            try:
                outcome = call_with_retries(
                    lambda: self._attempt(spec, cancel), lambda o: o.error, retries=self.retries,
                    backoff=self.backoff, breaker=self.breaker, notify=notify,
                    cancelled=lambda: bool(cancel and cancel.is_set()))
            except CircuitOpen as exc:
                outcome = RunOutcome(exit_code=None, duration_ms=(time.monotonic() - started) * 1000,
                                     error=str(exc))
        outcome.events = events + list(outcome.events)
        outcome.isolation = self.describe()
        return outcome

    def _attempt(self, spec: RunSpec, cancel: threading.Event | None) -> RunOutcome:
        from e2b import Sandbox as E2BClient
        from e2b.exceptions import TimeoutException
        from e2b.sandbox.commands.command_handle import CommandExitException

        started = time.monotonic()
        elapsed = lambda: (time.monotonic() - started) * 1000  # noqa: E731
        cap = spec.limits.output_bytes
        out, err = _Capped(cap), _Capped(cap)
        box = None
        stop_watch = threading.Event()
        try:
            box = E2BClient.create(template=self.template, timeout=int(spec.timeout_s) + SANDBOX_GRACE_S)
            with self._lock:
                self._live.add(box)
            if cancel is not None:
                threading.Thread(target=self._kill_on_cancel, args=(box, cancel, stop_watch), daemon=True).start()
            root = f"{ROOT_INSIDE}/{uuid.uuid4().hex[:12]}"
            uploads = [{"path": f"{root}/ws/{rel}", "data": text} for rel, text in spec.files.items()]
            uploads.append({"path": f"{root}/plugin/{PLUGIN_MODULE}.py", "data": PLUGIN_SOURCE.read_text()})
            box.files.write_files(uploads)
            envs = {"PYTHONPATH": f"{root}/plugin", "PYTHONDONTWRITEBYTECODE": "1", "PYTHONHASHSEED": "0",
                    "PYTEST_PLUGINS": PLUGIN_MODULE, "PYTEST_ADDOPTS": "-p no:cacheprovider",
                    "CHAIN_PYTEST_REPORT": f"{root}/report.json", "HOME": f"{root}/ws", **spec.env}
            exit_code, timed_out = 0, False
            try:
                box.commands.run(spec.command, cwd=f"{root}/ws", envs=envs, timeout=spec.timeout_s,
                                 on_stdout=out.add, on_stderr=err.add)
            except CommandExitException as exc:
                exit_code = exc.exit_code
            except TimeoutException:
                if cancel is not None and cancel.is_set():
                    raise
                exit_code, timed_out = None, True
            cancelled = bool(cancel and cancel.is_set())
            report = None
            if not (timed_out or cancelled):
                report = self._read_report(box, f"{root}/report.json")
            return RunOutcome(exit_code=exit_code, duration_ms=elapsed(), stdout=out.text(), stderr=err.text(),
                              stdout_bytes=out.total, stderr_bytes=err.total, timed_out=timed_out,
                              cancelled=cancelled, report=report)
        except Exception as exc:  # the SDK/API failed, not the code under test: retried by run()
            if cancel is not None and cancel.is_set():
                return RunOutcome(exit_code=None, duration_ms=elapsed(), stdout=out.text(), stderr=err.text(),
                                  cancelled=True)
            return RunOutcome(exit_code=None, duration_ms=elapsed(), stdout=out.text(), stderr=err.text(),
                              error=f"{type(exc).__name__}: {exc}"[:500])
        finally:
            stop_watch.set()
            if box is not None:
                self._kill(box)

    @staticmethod
    def _read_report(box: Any, path: str) -> dict[str, Any] | None:
        import json

        from e2b.exceptions import NotFoundException

        try:
            return json.loads(box.files.read(path))
        except (NotFoundException, ValueError):
            return None  # the command did not run pytest, or pytest died before writing

    def _kill_on_cancel(self, box: Any, cancel: threading.Event, stop: threading.Event) -> None:
        while not stop.is_set():
            if cancel.wait(0.1):
                self._kill(box)
                return

    def _kill(self, box: Any) -> None:
        with self._lock:
            if box not in self._live:
                return
            self._live.discard(box)
        try:
            box.kill()
        except Exception:  # already gone, or the API is down: its own timeout reaps it
            pass

    def kill_all(self) -> None:
        with self._lock:
            boxes = list(self._live)
        for box in boxes:
            threading.Thread(target=self._kill, args=(box,), daemon=True).start()

    def close(self) -> None:
        self.kill_all()


class _Capped:
    """Collects streamed output up to `cap` bytes while counting everything produced."""

    def __init__(self, cap: int):
        self.cap, self.total, self._parts, self._kept = cap, 0, [], 0

    def add(self, chunk: str) -> None:
        data = chunk.encode(errors="replace")
        self.total += len(data)
        room = self.cap - self._kept
        if room > 0:
            piece = data[:room]
            self._parts.append(piece)
            self._kept += len(piece)

    def text(self) -> str:
        return b"".join(self._parts).decode(errors="replace")
