"""`--sandbox e2b`: runs each task in a fresh E2B cloud sandbox through the official `e2b` SDK.

One run = create a sandbox from the template (CHAIN_E2B_TEMPLATE / --e2b-template), upload the task's files and
chain's pytest report plugin, run the command with the same report env as the local backends, download the report,
kill the sandbox (always: finally, cancel watcher, kill_all). Inside the microVM the command runs in the same minimal
view as the landlock backend (`remote_confine.py`: Landlock and seccomp, the view learnt from the template's own
Python), unless CHAIN_E2B_CONFINE says otherwise: `auto` (the default: confine where the VM's kernel can, and say
in the result's `isolation` when it could not), `require` (a run that cannot be confined is a sandbox failure),
`off`. A command that may still be running (timed out,
cancelled, interrupted) is killed by pid first: envd keeps a command running when its stream ends, and killing the
sandbox does nothing where there is no control API (the SDK's debug mode). API failures (anything but the command's
own exit or timeout; a sandbox dying under the command included) are retried with exponential backoff behind a
circuit breaker shared by all runs; each retry and breaker change is recorded in `RunOutcome.events`, which
StageContext.run_tests turns into `notice` events on stdout. tests/chain/sandbox/test_e2b_against_fake_envd.py
checks this contract through the real SDK against a local envd fake.
"""

from __future__ import annotations

import json
import os
import shlex
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..resilience import Backoff, CircuitBreaker, CircuitOpen, call_with_retries
from . import view
from .base import Capture, RunOutcome, RunSpec, Sandbox
from .journal import JOURNAL_SUFFIX, report_from_journal
from .workspace import PLUGIN_DIR, PLUGIN_MODULE

ROOT_INSIDE = "/home/user/chain"  # the default E2B templates run as `user` with this home
PLUGIN_SOURCES = sorted(Path(PLUGIN_DIR).glob("chain_*.py"))  # the report plugin and the spectrum writer
SANDBOX_GRACE_S = 60  # the sandbox's own lifetime outlives the command timeout, so a lost client cannot leak it
KILL_TIMEOUT_S = 5  # a kill request that hangs must not hold up a timed-out or cancelled run
CONFINE_MODES = ("auto", "require", "off")
# The wrapper and what it loads, uploaded with every confined run (standard library only).
CONFINE_SOURCES = [Path(__file__).with_name(n) for n in ("remote_confine.py", "confine.py", "interpreter_dirs.py")]


def _env_int(name: str, default: int) -> int:
    try:
        return max(1, int(os.environ.get(name, default)))
    except ValueError:
        return default


class E2BSandbox(Sandbox):
    name = "e2b"

    def __init__(
        self,
        *,
        verbose: Callable[[str], None] | None = None,
        template: str | None = None,
        concurrency: int | None = None,
        retries: int | None = None,
        backoff: Backoff | None = None,
        breaker: CircuitBreaker | None = None,
        confine: str | None = None,
    ):
        super().__init__(verbose=verbose)
        self.confine = confine or os.environ.get("CHAIN_E2B_CONFINE") or "auto"
        if self.confine not in CONFINE_MODES:
            raise ValueError(f"CHAIN_E2B_CONFINE={self.confine}: expected one of {', '.join(CONFINE_MODES)}")
        self.template = template or os.environ.get("CHAIN_E2B_TEMPLATE") or None  # None: the SDK's `base`
        self._slots = threading.BoundedSemaphore(concurrency or _env_int("CHAIN_E2B_CONCURRENCY", 8))
        self.retries = retries if retries is not None else _env_int("CHAIN_E2B_RETRIES", 3)
        self.backoff = backoff or Backoff(base_s=float(os.environ.get("CHAIN_E2B_BACKOFF_S", "0.5")))
        self.breaker = breaker or CircuitBreaker(
            "e2b",
            threshold=_env_int("CHAIN_E2B_BREAKER_THRESHOLD", 5),
            cooldown_s=float(os.environ.get("CHAIN_E2B_COOLDOWN_S", "30")),
        )
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
        return {
            "backend": self.name,
            "template": self.template or "base",
            "isolation": "e2b microVM",
            "confine": self.confine,
            "filesystem": "the whole microVM"
            if self.confine == "off"
            else "minimal read-only view inside the microVM (Landlock, seccomp), writable run directory only",
            "network": "template default" if self.confine == "off" else "none (seccomp: AF_UNIX sockets only)",
        }

    # -- one run -------------------------------------------------------------------------------------------
    def run(self, spec: RunSpec, cancel: threading.Event | None = None) -> RunOutcome:
        events: list[dict[str, Any]] = []

        def notify(kind: str, message: str, **fields: Any) -> None:
            events.append(
                {"kind": kind, "message": f"e2b: {message}" if not message.startswith("e2b") else message, **fields}
            )

        started = time.monotonic()
        with self._slots:
            try:
                outcome = call_with_retries(
                    lambda: self._attempt(spec, cancel),
                    lambda o: o.error,
                    retries=self.retries,
                    backoff=self.backoff,
                    breaker=self.breaker,
                    notify=notify,
                    cancelled=lambda: bool(cancel and cancel.is_set()),
                )
            except CircuitOpen as exc:
                outcome = RunOutcome(exit_code=None, duration_ms=(time.monotonic() - started) * 1000, error=str(exc))
        outcome.events = events + list(outcome.events)
        outcome.isolation = {**self.describe(), **outcome.isolation}
        return outcome

    def _command(self, spec: RunSpec, root: str, envs: dict[str, str]) -> str:
        """The command line envd runs: the task's command, inside remote_confine.py unless confinement is off.
        Paths travel in the environment ($CHAIN_RUN_ROOT), which the wrapper removes before the command runs."""
        if self.confine == "off":
            return spec.command
        config = {
            "read": [*view.SYSTEM, *view.ETC, f"{root}/plugin", f"{root}/bin"],
            "devices": list(view.DEVICES),
            "listable": ["/proc"],
            "write": [root],
            "interpreters": ["python3", "python"],
            "status": f"{root}/confined.json",
            "required": self.confine == "require",
            "unset": ["CHAIN_CONFINE", "CHAIN_RUN_ROOT"],
        }
        envs.update(CHAIN_CONFINE=json.dumps(config), CHAIN_RUN_ROOT=root)
        # bash, as envd itself runs commands: a single command is exec'd, so a test killed by a signal reads as
        # one (envd's -1), not as a shell's 128+N exit code
        script = '"$CHAIN_RUN_ROOT/bin/remote_confine.py" "$CHAIN_CONFINE"'
        wrapper = f"{script} -- /bin/bash -c {shlex.quote(spec.command)}"
        # A template without python3 runs the command as it is; the missing status file then says so.
        plain = f"exec /bin/sh -c {shlex.quote(spec.command)}"
        return f"if command -v python3 >/dev/null 2>&1; then exec python3 -E -s -S {wrapper}; else {plain}; fi"

    def _confinement(self, box: Any, root: str) -> tuple[dict[str, Any], str | None]:
        """What the run's wrapper reported: (isolation fields, a note when the run was not confined)."""
        if self.confine == "off":
            return {}, None
        from e2b.exceptions import NotFoundException

        try:
            status = json.loads(box.files.read(f"{root}/confined.json"))
        except (NotFoundException, ValueError):
            status = {"confined": False, "reason": "the confinement wrapper did not run (no python3 in the template?)"}
        if status.get("confined"):
            return {"confined": True, "landlock_abi": status.get("landlock_abi")}, None
        why = status.get("reason") or "unknown"
        return (
            {
                "confined": False,
                "filesystem": f"the whole microVM (not confined: {why})",
                "network": "template default",
            },
            f"e2b: the run was not confined: {why}",
        )

    def _attempt(self, spec: RunSpec, cancel: threading.Event | None) -> RunOutcome:
        from e2b import Sandbox as E2BClient
        from e2b.exceptions import SandboxNotRunningException, SandboxUnreachableException, TimeoutException
        from e2b.sandbox.commands.command_handle import CommandExitException

        started = time.monotonic()
        cap = spec.limits.output_bytes
        out, err = Capture(cap, "stdout"), Capture(cap, "stderr")
        live = None
        stop_watch = threading.Event()
        try:
            live = _Live(E2BClient.create(template=self.template, timeout=int(spec.timeout_s) + SANDBOX_GRACE_S))
            box = live.box
            with self._lock:
                self._live.add(live)
            if cancel is not None:
                threading.Thread(target=self._kill_on_cancel, args=(live, cancel, stop_watch), daemon=True).start()
            root = f"{ROOT_INSIDE}/{uuid.uuid4().hex[:12]}"
            # A by-reference task's base is read here and uploaded whole: the remote sandbox gets everything.
            uploads = [{"path": f"{root}/ws/{rel}", "data": data} for rel, data in spec.workspace_items()]
            uploads += [{"path": f"{root}/plugin/{src.name}", "data": src.read_text()} for src in PLUGIN_SOURCES]
            uploads += [{"path": f"{root}/tmp/.keep", "data": ""}]  # the run's TMPDIR: /tmp is outside the view
            if self.confine != "off":
                uploads += [{"path": f"{root}/bin/{src.name}", "data": src.read_text()} for src in CONFINE_SOURCES]
            box.files.write_files(uploads)
            envs = {
                "PYTHONPATH": f"{root}/plugin",
                "PYTHONDONTWRITEBYTECODE": "1",
                "PYTHONHASHSEED": "0",
                "PYTEST_PLUGINS": PLUGIN_MODULE,
                "PYTEST_ADDOPTS": "-p no:cacheprovider",
                "CHAIN_PYTEST_REPORT": f"{root}/report.json",
                "HOME": f"{root}/ws",
                "TMPDIR": f"{root}/tmp",
                **spec.env,
            }
            command = self._command(spec, root, envs)
            if cancel is not None and cancel.is_set():
                raise _Cancelled()
            command_started = time.monotonic()
            # In the background, so the run knows the command's pid: ending the stream (the SDK's timeout,
            # closing it) leaves the command running in the sandbox, so a timeout or a cancel kills it by pid.
            handle = box.commands.run(command, background=True, cwd=f"{root}/ws", envs=envs, timeout=spec.timeout_s)
            self._started(live, handle.pid)
            exit_code: int | None
            exit_code, timed_out = 0, False
            try:
                handle.wait(on_stdout=out.add, on_stderr=err.add)
            except CommandExitException as exc:
                exit_code = exc.exit_code
            except (SandboxNotRunningException, SandboxUnreachableException):
                raise  # the sandbox died or cannot be reached (both subclass TimeoutException): an API failure
            except TimeoutException:
                # The SDK also maps a proxy cancelling the stream to TimeoutException: only our own deadline
                # having passed makes it the command's timeout.
                if time.monotonic() - command_started < spec.timeout_s * 0.9 and not _is_set(cancel):
                    raise
                exit_code, timed_out = None, True
            if not timed_out:
                live.pid = None  # it ended: nothing left to kill
            cancelled = _is_set(cancel)
            if cancelled:
                exit_code, timed_out = None, False
            report = None
            if not cancelled:  # a run the whole-run timeout killed keeps what its journal holds
                report = self._read_report(box, f"{root}/report.json", spec.timeout_s if timed_out else None)
            isolation, unconfined = self._confinement(box, root)
            notes = [unconfined] if unconfined else []
            if unconfined and self.confine == "require":
                raise RuntimeError(unconfined + " (CHAIN_E2B_CONFINE=require)")
            if exit_code == -1:
                # envd reports -1 for a command ended by a signal and does not say which; read as a local
                # exit code it would claim SIGHUP
                exit_code = None
                notes.append("command killed by a signal (envd does not report which)")
            return RunOutcome.captured(
                out,
                err,
                exit_code=exit_code,
                started=started,
                notes=notes,
                timed_out=timed_out,
                cancelled=cancelled,
                report=report,
                isolation=isolation,
            )
        except Exception as exc:  # the SDK/API failed, not the code under test: retried by run()
            if _is_set(cancel):
                return RunOutcome.captured(out, err, exit_code=None, started=started, cancelled=True)
            return RunOutcome.captured(
                out, err, exit_code=None, started=started, error=f"{type(exc).__name__}: {exc}"[:500]
            )
        finally:
            stop_watch.set()
            if live is not None:
                self._kill(live)

    @staticmethod
    def _read_report(box: Any, path: str, run_limit_s: float | None = None) -> dict[str, Any] | None:
        import json

        from e2b.exceptions import NotFoundException

        if run_limit_s is None:
            try:
                return json.loads(box.files.read(path))
            except (NotFoundException, ValueError):
                pass
        try:  # pytest was ended before writing its report: what its journal kept
            return report_from_journal(box.files.read(path + JOURNAL_SUFFIX), run_limit_s)
        except (NotFoundException, ValueError):
            return None  # the command did not run pytest, or pytest died before writing

    def _started(self, live: _Live, pid: int) -> None:
        with self._lock:
            live.pid = pid
            killed_meanwhile = live not in self._live
        if killed_meanwhile:  # a cancel or kill_all came while the command was starting
            self._kill_command(live.box, pid)

    def _kill_on_cancel(self, live: _Live, cancel: threading.Event, stop: threading.Event) -> None:
        while not stop.is_set():
            if cancel.wait(0.1):
                self._kill(live)
                return

    def _kill(self, live: _Live) -> None:
        """Kill the command if it may still run, then the sandbox. Once per run, from whichever thread first."""
        with self._lock:
            if live not in self._live:
                return
            self._live.discard(live)
            pid = live.pid
        if pid is not None:
            self._kill_command(live.box, pid)
        try:
            live.box.kill()
        except Exception:  # already gone, or the API is down: its own timeout reaps it
            pass

    @staticmethod
    def _kill_command(box: Any, pid: int) -> None:
        # Killing the sandbox kills the command too, but only where the control API runs (not in debug mode or
        # against a self-hosted envd); killing it first also ends its stream, so a cancelled run returns now.
        try:
            box.commands.kill(pid, request_timeout=KILL_TIMEOUT_S)
        except Exception:  # it ended meanwhile, or the sandbox is gone
            pass

    def kill_all(self) -> None:
        with self._lock:
            runs = list(self._live)
        for live in runs:
            threading.Thread(target=self._kill, args=(live,), daemon=True).start()

    def close(self) -> None:
        self.kill_all()


class _Cancelled(Exception):
    """The run was cancelled before its command started."""


@dataclass(eq=False)
class _Live:
    """A sandbox this backend has to kill, and its command's pid while that may still be running."""

    box: Any
    pid: int | None = None


def _is_set(event: threading.Event | None) -> bool:
    return event is not None and event.is_set()
