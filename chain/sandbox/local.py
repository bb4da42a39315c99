"""The rlimit backend: a fresh workspace, a new session and process group, rlimits, a scrubbed environment,
a cgroup per run where the machine allows one (process and memory caps; kills setsid'd leftovers), a
wall-clock timeout that kills everything the run started, and capped output capture.

Limits are applied by util-linux's `prlimit` wrapper rather than a `preexec_fn`, which is unsafe in a
threaded program (stages run many sandboxes from worker threads). `pump` and `Handle` are shared with the
bubblewrap and warm backends, which differ only in how they start the command.
"""

from __future__ import annotations

import os
import selectors
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from functools import lru_cache
from typing import Any, Protocol

from . import cgroups, inline_base, view
from .base import Capture, Limits, RunOutcome, RunSpec, Sandbox
from .workspace import RunDir, scrubbed_env

GRACE_AFTER_EXIT_S = 0.5  # how long a finished command's leftover children may hold its output pipes
READ_CHUNK = 1 << 16


@lru_cache(maxsize=1)
def _prlimit() -> str | None:
    return shutil.which("prlimit")


def prlimit_prefix(limits: Limits) -> list[str]:
    exe = _prlimit()
    if not exe:
        return []
    mb = 1 << 20
    return [
        exe,
        f"--cpu={limits.cpu_s}",
        f"--as={limits.memory_mb * mb}",
        f"--fsize={limits.file_mb * mb}",
        f"--nproc={limits.nproc}",
        "--core=0",
        "--",
    ]


def kill_group(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


class Handle(Protocol):
    """A started run, however it was started."""

    def poll(self) -> bool: ...  # has the command finished?

    def wait(self, timeout: float) -> bool: ...  # wait up to `timeout` s for it to finish

    def kill(self) -> None: ...  # kill everything the run started


def pump(
    handle: Handle,
    streams: list[tuple[Any, Capture]],
    deadline: float,
    cancel: threading.Event | None,
    mirror: Callable[[str, bytes], None] | None = None,
) -> tuple[bool, bool]:
    """Drain the output pipes until the command is done, the deadline passes or `cancel` is set.

    Returns (timed_out, cancelled). A leftover child holding the pipes open gets GRACE_AFTER_EXIT_S."""
    sel = selectors.DefaultSelector()
    for pipe, cap in streams:
        sel.register(pipe, selectors.EVENT_READ, cap)
    exited_at = None
    try:
        while True:
            now = time.monotonic()
            if now >= deadline:
                handle.kill()
                return True, False
            if cancel is not None and cancel.is_set():
                handle.kill()
                return False, True
            if not sel.get_map():  # output closed: wait for the exit, in slices so cancel stays prompt
                if handle.wait(min(0.1, deadline - now)):
                    return False, False
                continue
            if exited_at is None and handle.poll():
                exited_at = now
            if exited_at is not None and now - exited_at > GRACE_AFTER_EXIT_S:
                return False, False  # the command is done; a leftover child is holding the pipes
            for key, _ in sel.select(timeout=min(0.05, max(0.0, deadline - now))):
                data = os.read(key.fd, READ_CHUNK)
                if not data:
                    sel.unregister(key.fileobj)
                    continue
                key.data.add(data)
                if mirror:
                    mirror(key.data.name, data)
    finally:
        sel.close()


class PopenHandle:
    def __init__(self, proc: subprocess.Popen, cgroup: cgroups.RunCgroup | None):
        self.proc, self.cgroup = proc, cgroup

    def poll(self) -> bool:
        return self.proc.poll() is not None

    def wait(self, timeout: float) -> bool:
        try:
            self.proc.wait(timeout=max(0.0, timeout))
            return True
        except subprocess.TimeoutExpired:
            return False

    def kill(self) -> None:
        kill_group(self.proc.pid)
        if self.cgroup is not None:
            self.cgroup.kill()

    def kill_now(self) -> None:
        """One pass, no waiting: safe from a signal handler; the run's own thread finishes the job."""
        kill_group(self.proc.pid)
        if self.cgroup is not None:
            for pid in self.cgroup.pids():
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass


def new_cgroup(limits: Limits, notes: list[str], **extra: int) -> cgroups.RunCgroup | None:
    if cgroups.support().version is None:
        return None
    try:
        return cgroups.RunCgroup(limits, **extra)
    except OSError as exc:
        notes.append(f"no cgroup for this run ({exc}): process and memory caps are rlimits only")
        return None


class LocalSandbox(Sandbox):
    name = "local"
    root_inside: str | None = None  # where the run directory appears to the command (None: same path)

    summary = "rlimits, process group, per-run cgroup, scrubbed environment: not a security boundary"
    takes_read_only = True  # accepts `read_only=` (`--sandbox-ro`): the paths the run may read beyond the view

    def __init__(self, *, read_only: tuple[str, ...] = (), **kwargs: Any):
        super().__init__(**kwargs)
        self.extra_read_only = view.check_extra(read_only)
        self._live: dict[int, PopenHandle] = {}
        self._lock = threading.Lock()

    def overlay_works(self) -> bool:
        """Whether a by-reference base can be an overlay workspace here (bwrap: chain_overlay), not a copy."""
        return False

    def command_for(self, spec: RunSpec, run: RunDir) -> list[str]:
        return [*prlimit_prefix(spec.limits), "/bin/sh", "-c", spec.command]

    def view_paths(self) -> tuple[str, ...]:
        """What a run may read (read-only) on a backend that gives a minimal view."""
        # The project's interpreter (--python) and its environment (chain.sandbox.environment), not chain's.
        return view.read_only_paths((*self.extra_read_only, *self.environment.paths()), python=self.environment.python)

    def confinement(self, run: RunDir) -> dict[str, Any] | None:
        """What a warm run's child restricts itself to before running the task (None: nothing; landlock)."""
        return None

    def describe(self) -> dict[str, Any]:
        info = cgroups.describe()
        return {
            "backend": self.name,
            "security_boundary": False,
            "warning": "not a security boundary: the code runs as chain's user with the host's filesystem and "
            "network (use bwrap or landlock for untrusted code)",
            "process_group": True,
            "rlimits": bool(_prlimit()),
            "env": "scrubbed",
            "network": "host",
            "filesystem": "host (fresh workspace only)",
            "pid_namespace": False,
            "uid": os.getuid(),
            "python": self.environment.python,  # the project's interpreter (--python)
            **info,
            # root ignores RLIMIT_NPROC: without a pids cgroup nothing caps the process count
            "process_cap": "cgroup" if info["cgroups"] else ("rlimit" if os.getuid() != 0 else None),
            **({"extra_read_only": list(self.extra_read_only)} if self.extra_read_only else {}),
        }

    def _mirror(self, spec: RunSpec) -> Callable[[str, bytes], None] | None:
        if not self.verbose:
            return None
        say = self.verbose
        return lambda stream, data: say(f"[{spec.label or 'run'} {stream}] " + data.decode("utf-8", "replace"))

    def run(self, spec: RunSpec, cancel: threading.Event | None = None) -> RunOutcome:
        started = time.monotonic()
        try:
            overlay = (spec.base is not None or inline_base.big(spec.files)) and self.overlay_works()
            run = RunDir.create(spec.files, base=spec.base, overlay=overlay, source=spec.source)
        except (OSError, ValueError) as exc:
            return RunOutcome(None, 0.0, error=f"cannot prepare workspace: {exc}", isolation=self.describe())
        notes: list[str] = []
        cgroup = new_cgroup(spec.limits, notes, extra_pids=4)  # + the join shell, bwrap and its init
        try:
            return self._run_in(run, spec, cancel, started, cgroup, notes)
        finally:
            if cgroup is not None:
                cgroup.remove()
            run.remove()

    def _run_in(
        self,
        run: RunDir,
        spec: RunSpec,
        cancel: threading.Event | None,
        started: float,
        cgroup: cgroups.RunCgroup | None,
        notes: list[str],
    ) -> RunOutcome:
        env = scrubbed_env(run, spec.env, self.root_inside, environment=self.environment, source=spec.source)
        argv = [*(cgroup.join_prefix() if cgroup else []), *self.command_for(spec, run)]
        try:
            proc = subprocess.Popen(
                argv,
                cwd=run.workspace,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                start_new_session=True,  # own session and process group: one killpg takes the ordinary case
            )
        except OSError as exc:
            return RunOutcome(None, 0.0, error=f"cannot start command: {exc}", isolation=self.describe())
        handle = PopenHandle(proc, cgroup)
        with self._lock:
            self._live[proc.pid] = handle
        out, err = Capture(spec.limits.output_bytes, "stdout"), Capture(spec.limits.output_bytes, "stderr")
        timed_out = cancelled = False
        try:
            timed_out, cancelled = pump(
                handle, [(proc.stdout, out), (proc.stderr, err)], started + spec.timeout_s, cancel, self._mirror(spec)
            )
        finally:
            handle.kill()  # leftovers (same group, or setsid'd into the cgroup) never outlive the run
            proc.wait()
            assert proc.stdout is not None and proc.stderr is not None  # both were opened as pipes
            proc.stdout.close()
            proc.stderr.close()
            with self._lock:
                self._live.pop(proc.pid, None)
        if cgroup is not None:
            notes.extend(cgroup.notes())
        if proc.returncode == 125 and err.text().startswith(cgroups.JOIN_FAILED):
            return RunOutcome(None, 0.0, error=err.text().strip(), isolation=self.describe())
        return RunOutcome.captured(
            out,
            err,
            exit_code=proc.returncode,
            started=started,
            notes=notes,
            timed_out=timed_out,
            cancelled=cancelled,
            report=None if cancelled else run.read_report(spec.timeout_s if timed_out else None),
            isolation={**self.describe(), **({"workspace": "overlay of the read-only base"} if run.overlay else {})},
        )

    def kill_all(self) -> None:
        for handle in list(self._live.values()):
            handle.kill_now()
