"""The warm template seen from chain: the one long-lived process (inside bubblewrap for bwrap-warm) that
imports pytest once and forks a worker whenever `spawn` asks. Its side is `warm_worker/template.py`."""

from __future__ import annotations

import json
import os
import select
import socket
import subprocess
import sys
import tempfile
import threading
from pathlib import Path
from typing import IO

from .bwrap import SANDBOX_TMP, BwrapSandbox, bwrap_path, env_args, mount_args, paths_kept_under_tmp
from .local import LocalSandbox
from .warm_worker import protocol as wire
from .warm_worker.pytest_patches import VERSION_ENV
from .workspace import RunDir, scrubbed_env

WORKER_SCRIPT = Path(__file__).with_name("warm_worker") / "__main__.py"
READY_TIMEOUT_S = 60.0
REPLY_TIMEOUT_S = 10.0


class WorkerFailed(Exception):
    pass


def remove_stale_dirs() -> None:
    """Template directories of chain processes that died without cleaning up (SIGKILL, a second ^C)."""
    for path in Path(os.environ.get("CHAIN_TMPDIR") or tempfile.gettempdir()).glob("chain-warm-*-*"):
        pid = path.name.split("-")[2]
        if pid.isdigit() and not Path(f"/proc/{pid}").exists():
            RunDir(path, path, path, path).remove()


class Template:
    """The process that imports pytest once and forks workers. `Template(cold)` only describes it;
    `start()` (or `with Template(cold) as template:`) starts it and waits until it is ready."""

    def __init__(self, cold: LocalSandbox):
        self.cold = cold
        self.namespaced = isinstance(cold, BwrapSandbox)
        self.lock = threading.Lock()
        self.broken = False
        self.notice: str | None = None  # the template serves, but leaves pytest's internals alone (and why)
        self.dir: Path | None = None
        self.ctrl: socket.socket | None = None
        self.proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None
        self._info: int | None = None  # (bwrap) the read end of its --info-fd: the namespace's PID 1, on the host

    def __enter__(self) -> Template:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def start(self) -> Template:
        remove_stale_dirs()
        self.dir = Path(tempfile.mkdtemp(prefix=f"chain-warm-{os.getpid()}-", dir=os.environ.get("CHAIN_TMPDIR")))
        self.ctrl, inner = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        # Only a test's stand-in for pytest's version (VERSION_ENV) reaches the template from chain's environment.
        passed = {VERSION_ENV: os.environ[VERSION_ENV]} if os.environ.get(VERSION_ENV) else {}
        env = scrubbed_env(
            RunDir(self.dir, self.dir / "ws", self.dir / "tmp", self.dir / "report.json"),
            passed,
            self.cold.root_inside,
            environment=self.cold.environment,
        )
        # The project's interpreter (--python); the worker script imports nothing of chain.
        info_w = None
        if self.namespaced:
            self._info, info_w = os.pipe()
        argv = [*self._wrapper(env, info_w), self.cold.environment.python, str(WORKER_SCRIPT), str(inner.fileno())]
        if self.namespaced:
            argv += ["--namespaces", *paths_kept_under_tmp(self.cold.view_paths())]
        elif self.cold.confinement(RunDir(self.dir, self.dir, self.dir, self.dir)) is not None:
            argv += ["--confine"]  # landlock-warm: every run's child confines itself (warm_worker.run_child)
        self._log = tempfile.TemporaryFile()
        try:
            self.proc = subprocess.Popen(
                argv,
                cwd=self.dir,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=self._log,
                stderr=self._log,
                pass_fds=[inner.fileno()] if info_w is None else [inner.fileno(), info_w],
                start_new_session=True,
            )
        except OSError as exc:
            self.close()
            raise WorkerFailed(f"cannot start the warm template: {exc}") from exc
        finally:
            inner.close()
            if info_w is not None:
                os.close(info_w)
        try:
            if self.broken:  # closed while starting (the pool closed): the process is killed below
                raise OSError("closed while starting")
            ready, fds, _ = wire.receive(self.ctrl, READY_TIMEOUT_S)
            wire.close_all(fds)
        except (TimeoutError, wire.ProtocolError, OSError) as exc:
            ready = wire.TemplateReady(error=str(exc) or f"no answer within {READY_TIMEOUT_S:g}s")
        if not isinstance(ready, wire.TemplateReady) or ready.error:
            why = getattr(ready, "error", None) or self._log_tail() or "it exited during start-up"
            self.close()
            raise WorkerFailed(f"warm template failed to start: {why}")
        self.notice = ready.notice
        if self.notice:
            print(f"chain: warning: {self.notice}", file=sys.stderr, flush=True)
        return self

    def _wrapper(self, env: dict[str, str], info_fd: int | None) -> list[str]:
        if not self.namespaced:
            return []
        # uid 0 with capabilities *inside its own user namespace* so it can give each forked worker
        # namespaces of its own; workers drop every capability before running anything of a task's.
        return [
            str(bwrap_path()),
            *mount_args(self.dir or Path(SANDBOX_TMP), self.cold.view_paths()),
            "--unshare-pid",
            "--unshare-net",
            "--unshare-ipc",
            "--unshare-uts",
            "--unshare-cgroup-try",
            "--unshare-user",
            "--uid",
            "0",
            "--gid",
            "0",
            "--cap-add",
            "ALL",
            "--die-with-parent",
            "--new-session",
            *(["--info-fd", str(info_fd)] if info_fd is not None else []),
            *env_args(env),
            "--chdir",
            SANDBOX_TMP,
            "--",
        ]

    def _log_tail(self) -> str:
        if self._log is None or self._log.closed:  # closed: the pool closed it while it started
            return ""
        try:
            self._log.seek(0)
            return self._log.read()[-2000:].decode("utf-8", "replace").strip()
        except ValueError:  # closed by the pool between the check and the read (a prewarm thread's race)
            return ""

    def _wait_for_namespace(self) -> None:
        """(bwrap) Wait until the template's PID namespace is empty. Killing bwrap only makes its PID 1 die
        (--die-with-parent), which then takes the namespace's processes with it, a moment after bwrap is reaped:
        without this wait a close could return with the template still exiting. The kernel empties a PID
        namespace before its PID 1 has exited, so a pidfd of that PID 1 turning readable is the signal."""
        if self._info is None:
            return
        info, self._info = self._info, None
        try:
            os.set_blocking(info, False)
            child = json.loads(os.read(info, 4096) or b"{}").get("child-pid")
        except (OSError, ValueError):
            child = None  # bwrap died before it started its PID 1: nothing to wait for
        finally:
            os.close(info)
        if not isinstance(child, int):
            return
        try:
            pidfd = os.pidfd_open(child)
        except OSError:
            return  # already gone
        try:
            select.select([pidfd], [], [], REPLY_TIMEOUT_S)
        finally:
            os.close(pidfd)

    def spawn(self, directory: str) -> socket.socket:
        """A new worker living in `directory` (as the template sees it); its control socket."""
        with self.lock:
            try:
                if self.ctrl is None:
                    raise OSError("the template is not running")
                wire.send(self.ctrl, wire.Spawn(dir=directory))
                reply, fds, _ = wire.receive(self.ctrl, REPLY_TIMEOUT_S)
            except (OSError, TimeoutError, wire.ProtocolError) as exc:
                reply, fds = None, []
                why = str(exc) or type(exc).__name__
            else:
                why = "it exited"
        if not isinstance(reply, wire.Spawned) or not fds:
            wire.close_all(fds)
            self.broken = True
            raise WorkerFailed(f"warm template cannot fork a worker: {why}")
        return socket.socket(fileno=fds[0])

    def close(self) -> None:
        self.broken = True
        if self.ctrl is not None:
            try:
                self.ctrl.close()
            except OSError:
                pass
        if self.proc is not None:
            try:
                os.killpg(self.proc.pid, 9)
            except OSError:
                pass
            self.proc.wait()
        self._wait_for_namespace()
        if self._log is not None:
            self._log.close()
        if self.dir is not None:
            RunDir(self.dir, self.dir, self.dir, self.dir).remove()
