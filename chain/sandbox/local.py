"""The default backend: a fresh workspace, a new session and process group, rlimits, a scrubbed
environment, a wall-clock timeout that kills the whole group, and capped output capture.

Limits are applied by util-linux's `prlimit` wrapper rather than a `preexec_fn`, which is unsafe in a
threaded program (stages run many sandboxes from worker threads).
"""

from __future__ import annotations

import os
import selectors
import shutil
import signal
import subprocess
import threading
import time
from typing import Any

from .base import Limits, RunOutcome, RunSpec, Sandbox
from .workspace import RunDir, scrubbed_env

GRACE_AFTER_EXIT_S = 0.5  # how long a finished command's leftover children may hold its output pipes


def prlimit_prefix(limits: Limits) -> list[str]:
    exe = shutil.which("prlimit")
    if not exe:
        return []
    mb = 1 << 20
    return [
        exe,
        f"--cpu={limits.cpu_s}",
        f"--as={limits.memory_mb * mb}",
        f"--fsize={limits.file_mb * mb}",
        f"--nproc={limits.nproc}",
        f"--core=0",
        "--",
    ]


def kill_group(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


class _Capture:
    """Keeps the first `cap` bytes of a stream and counts the rest."""

    def __init__(self, cap: int):
        self.cap, self.total, self.parts = cap, 0, []

    def add(self, data: bytes) -> None:
        room = self.cap - (self.total if self.total < self.cap else self.cap)
        if room > 0:
            self.parts.append(data[:room])
        self.total += len(data)

    def text(self) -> str:
        return b"".join(self.parts).decode("utf-8", errors="replace")


class LocalSandbox(Sandbox):
    name = "local"

    def __init__(self, **kwargs: Any):
        super().__init__(**kwargs)
        self._live: dict[int, subprocess.Popen] = {}
        self._lock = threading.Lock()

    def command_for(self, spec: RunSpec, run: RunDir) -> list[str]:
        return [*prlimit_prefix(spec.limits), "/bin/sh", "-c", spec.command]

    def describe(self) -> dict[str, Any]:
        return {
            "backend": self.name,
            "process_group": True,
            "rlimits": bool(shutil.which("prlimit")),
            "env": "scrubbed",
            "network": "host",
            "filesystem": "host (fresh workspace only)",
            "uid": os.getuid(),
        }

    def run(self, spec: RunSpec, cancel: threading.Event | None = None) -> RunOutcome:
        started = time.monotonic()
        try:
            run = RunDir.create(spec.files)
        except (OSError, ValueError) as exc:
            return RunOutcome(None, 0.0, error=f"cannot prepare workspace: {exc}", isolation=self.describe())
        try:
            return self._run_in(run, spec, cancel, started)
        finally:
            run.remove()

    def _run_in(self, run: RunDir, spec: RunSpec, cancel: threading.Event | None, started: float) -> RunOutcome:
        env = scrubbed_env(run, spec.env)
        try:
            proc = subprocess.Popen(
                self.command_for(spec, run),
                cwd=run.workspace,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                start_new_session=True,  # own session and process group: one killpg takes everything
            )
        except OSError as exc:
            return RunOutcome(None, 0.0, error=f"cannot start command: {exc}", isolation=self.describe())
        with self._lock:
            self._live[proc.pid] = proc
        out, err = _Capture(spec.limits.output_bytes), _Capture(spec.limits.output_bytes)
        timed_out = cancelled = False
        try:
            timed_out, cancelled = self._pump(proc, spec, cancel, out, err, started)
        finally:
            kill_group(proc.pid)  # leftovers in the group never outlive the run
            proc.wait()
            with self._lock:
                self._live.pop(proc.pid, None)
        duration_ms = (time.monotonic() - started) * 1000
        return RunOutcome(
            exit_code=proc.returncode,
            duration_ms=duration_ms,
            stdout=out.text(),
            stderr=err.text(),
            stdout_bytes=out.total,
            stderr_bytes=err.total,
            timed_out=timed_out,
            cancelled=cancelled,
            report=None if (timed_out or cancelled) else run.read_report(),
            isolation=self.describe(),
        )

    def _pump(self, proc, spec, cancel, out: _Capture, err: _Capture, started: float) -> tuple[bool, bool]:
        """Drain both pipes until EOF, the deadline, or cancellation. Returns (timed_out, cancelled)."""
        deadline = started + spec.timeout_s
        sel = selectors.DefaultSelector()
        sel.register(proc.stdout, selectors.EVENT_READ, out)
        sel.register(proc.stderr, selectors.EVENT_READ, err)
        exited_at = None
        try:
            while sel.get_map():
                now = time.monotonic()
                if now >= deadline:
                    kill_group(proc.pid)
                    return True, False
                if cancel is not None and cancel.is_set():
                    kill_group(proc.pid)
                    return False, True
                if exited_at is None and proc.poll() is not None:
                    exited_at = now
                if exited_at is not None and now - exited_at > GRACE_AFTER_EXIT_S:
                    break  # the command is done; a leftover child is holding the pipes
                for key, _ in sel.select(timeout=min(0.05, max(0.0, deadline - now))):
                    data = os.read(key.fd, 1 << 16)
                    if not data:
                        sel.unregister(key.fileobj)
                        continue
                    key.data.add(data)
                    if self.verbose:
                        stream = "stdout" if key.data is out else "stderr"
                        self.verbose(f"[{spec.label or 'run'} {stream}] " + data.decode("utf-8", "replace"))
            remaining = deadline - time.monotonic()
            try:
                proc.wait(timeout=max(0.0, remaining))
            except subprocess.TimeoutExpired:
                kill_group(proc.pid)
                return True, False
            return False, bool(cancel is not None and cancel.is_set() and proc.returncode < 0)
        finally:
            sel.close()

    def kill_all(self) -> None:
        for pid in list(self._live):
            kill_group(pid)
