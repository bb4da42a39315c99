"""The warm pool's processes, seen from chain: the workers (forks of the template, `warm_template.py`) and
the pool that lends them out.

See the `warm_worker` package for the other side of the sockets and `warm.py` for the backends that use the pool.
A template is one long-lived process (inside bubblewrap for bwrap-warm) with pytest imported and
configured; a worker is a fork of it with its own directory, cgroup and (bwrap) namespaces, serving one run
at a time; each run is a fresh fork of a worker. chain learns a worker's host PID from the kernel-checked
credentials on its socket and moves it into its cgroup before its first run.
"""

from __future__ import annotations

import itertools
import os
import socket
import threading
import time
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor, wait
from pathlib import Path
from typing import Any

from .base import Capture, Limits, RunOutcome, RunSpec
from .bwrap import SANDBOX_TMP, paths_kept_under_tmp
from .cgroups import RunCgroup
from .local import LocalSandbox, new_cgroup, pump
from .materialize import remove_linked
from .prepared_key import CONFIG_FILES, prepare_key
from .warm_template import READY_TIMEOUT_S, REPLY_TIMEOUT_S, Template, WorkerFailed
from .warm_worker import protocol as wire
from .workspace import RunDir, scrubbed_env

WORKER_MEMORY_MB = 256  # the worker's own heap, on top of the run's memory cap in its cgroup
WORKER_PROCESSES = 6  # the worker and its runners (plain + 2 prepared), on top of the run's process cap


def mount_points_under_tmp(shown: tuple[str, ...] | None = None) -> frozenset[str]:
    """Names in a namespaced worker's directory that are mount points inside it (`paths_kept_under_tmp`:
    the template is told them on its command line and bind-mounts each into every worker's directory).
    Emptying the directory between runs must leave these alone: deleting a mount point's directory on the
    host unmounts it inside, and the interpreter's files vanish from every later run (a subprocess of
    sys.executable fails, package metadata is missing)."""
    return frozenset(Path(p).relative_to("/tmp").parts[0] for p in paths_kept_under_tmp(shown))


class Worker:
    """One warm worker: a fork of the template with its own directory, cgroup and (bwrap) namespaces."""

    _ids = itertools.count()

    def __init__(self, template: Template):
        """Only describes the worker; `start()` (or a `with` block) forks it from `template`."""
        self.template = template
        self.cold = template.cold
        self.broken = False
        self.pid: int | None = None
        if template.dir is None:
            raise WorkerFailed("the warm template is not started")
        self.name = f"w{next(self._ids)}"
        self.root = template.dir / self.name
        self.mount_points = mount_points_under_tmp(self.cold.view_paths()) if template.namespaced else frozenset()
        self.cgroup: RunCgroup | None = None
        self.ctrl: socket.socket | None = None
        self.kill_all = False
        self.overlay = False  # it shows a by-reference base as an overlay workspace (nothing copied)
        self.own: frozenset[int] = frozenset()  # the worker's pid, once started
        self.keep: frozenset[int] = frozenset()  # the worker's processes to spare when its cgroup is cleared
        self._counts = (0, 0)  # the cgroup's limit hits so far
        # The pool's close and a run's release can both close a busy worker at once (^C, or a stage ending while
        # a run returns): the second waits for the first and finds nothing left to do.
        self._close_lock = threading.Lock()
        self._closed = False

    def __enter__(self) -> Worker:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def start(self) -> Worker:
        try:
            self.root.mkdir()
        except OSError as exc:  # the template was closed meanwhile
            raise WorkerFailed(f"cannot make a worker directory: {exc}") from exc
        self.cgroup = new_cgroup(Limits(), [], extra_pids=WORKER_PROCESSES, extra_memory_mb=WORKER_MEMORY_MB)
        try:
            self.ctrl = self.template.spawn(
                f"{SANDBOX_TMP}/{self.name}" if self.template.namespaced else str(self.root)
            )
        except WorkerFailed:
            self.close()
            raise
        try:
            self.ctrl.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
            wire.send(self.ctrl, wire.Hello())
            ready, fds, self.pid = wire.receive(self.ctrl, READY_TIMEOUT_S)
            wire.close_all(fds)
        except (OSError, TimeoutError, wire.ProtocolError) as exc:
            ready = wire.WorkerReady(error=str(exc) or type(exc).__name__)
        if not isinstance(ready, wire.WorkerReady) or ready.error or not self.pid:
            self.close()
            raise WorkerFailed(f"warm worker failed to start: {getattr(ready, 'error', None) or 'it exited'}")
        if self.cgroup is not None:
            self.cgroup.add(self.pid)  # before its first run: everything it forks stays in here
        self.kill_all = ready.kill_all
        self.overlay = ready.overlay
        self.own = self.keep = frozenset({self.pid})
        self._counts = self.cgroup.counts() if self.cgroup is not None else (0, 0)
        return self

    def _channel(self) -> socket.socket:
        if self.ctrl is None:
            raise WorkerFailed("the warm worker is not started")
        return self.ctrl

    def _receive(self, timeout: float) -> Any:
        """The next message, or None when the worker is gone; raises TimeoutError."""
        try:
            message, fds, _ = wire.receive(self._channel(), timeout)
        except wire.ProtocolError:
            message, fds = None, []
        wire.close_all(fds)
        if message is None:
            self.broken = True
        return message

    def interrupt(self, sweep: bool | None = None) -> None:
        """Kill the run in flight (not the worker); safe from any thread. A namespaced worker's runner kills
        everything of the run at once (kill(-1) in its own PID namespace) and its prepared session survives;
        `sweep` (the default without namespaces, and on ^C) also kills every process of the worker's cgroup
        but the worker's own right away."""
        try:
            wire.send(self._channel(), wire.Kill())
        except (OSError, WorkerFailed):
            pass
        if self.cgroup is not None and (not self.kill_all if sweep is None else sweep):
            for pid in self.cgroup.pids():
                if pid not in self.keep:
                    try:
                        os.kill(pid, 9)
                    except OSError:
                        pass

    # -- one run -----------------------------------------------------------------------------------------
    def run(
        self, spec: RunSpec, args: list[str], cwd_on_path: bool, cancel: threading.Event | None, started: float, mirror
    ) -> RunOutcome:
        run = RunDir.create(
            spec.files, root=self.root, keep=self.mount_points, base=spec.base, overlay=self.overlay, source=spec.source
        )
        inside = Path(self.cold.root_inside) if self.cold.root_inside else self.root
        cwd = str(inside / run.workspace.relative_to(self.root))
        overlay = {k: str(inside / p.relative_to(self.root)) for k, p in run.overlay.items()} if run.overlay else None
        notes: list[str] = []
        if self.cgroup is not None:
            self.cgroup.set_limits(spec.limits)
        env = scrubbed_env(run, spec.env, self.cold.root_inside, environment=self.cold.environment, source=spec.source)
        request = wire.Run(
            args=args,
            cwd=cwd,
            cwd_on_path=cwd_on_path,
            env=env,
            confine=self.cold.confinement(run),
            overlay=overlay,
            prepare=prepare_key(args, cwd_on_path, env, spec.listing(CONFIG_FILES)),
            limits=wire.RunLimits(
                cpu_s=spec.limits.cpu_s,
                memory_mb=spec.limits.memory_mb,
                file_mb=spec.limits.file_mb,
                nproc=spec.limits.nproc,
            ),
        )
        out_r, out_w = os.pipe()
        err_r, err_w = os.pipe()
        try:
            wire.send(self._channel(), request, [out_w, err_w])
        except OSError as exc:
            self.broken = True
            for fd in (out_r, err_r):
                os.close(fd)
            raise WorkerFailed(f"warm worker is gone: {exc}") from exc
        finally:
            os.close(out_w)
            os.close(err_w)
        handle = _WarmHandle(self)
        out, err = Capture(spec.limits.output_bytes, "stdout"), Capture(spec.limits.output_bytes, "stderr")
        with open(out_r, "rb", buffering=0) as out_pipe, open(err_r, "rb", buffering=0) as err_pipe:
            timed_out, cancelled = pump(
                handle, [(out_pipe, out), (err_pipe, err)], started + spec.timeout_s, cancel, mirror
            )
            if not handle.poll():
                handle.kill()
                if not handle.wait(REPLY_TIMEOUT_S):
                    self.broken = True
        if self.cgroup is not None:
            if self.broken or not self.kill_all:
                # The run's leftovers, daemons too. (A namespaced worker's runner has already killed everything
                # in its PID namespace, timed out or not, before it answered.)
                self.cgroup.kill(keep=frozenset() if self.broken else self.keep)
            now = self.cgroup.counts()
            notes.extend(self.cgroup.notes(*self._counts, now=now))
            self._counts = now
        if handle.worker_died:
            notes.append("the run killed its warm worker (replaced for the next run)")
        notes.extend(handle.notes)
        if self.template.notice:
            notes.append(self.template.notice)
        exit_code = os.waitstatus_to_exitcode(handle.status) if handle.status is not None else -9
        outcome = RunOutcome.captured(
            out,
            err,
            exit_code=exit_code,
            started=started,
            notes=notes,
            timed_out=timed_out,
            cancelled=cancelled,
            report=None if cancelled else run.read_report(spec.timeout_s if timed_out else None),
            isolation={
                "prepared_session": handle.prepared,
                "warm_pytest": "plain pytest.main" if self.template.notice else "patched",
                **({"workspace": "overlay of the read-only base"} if run.overlay else {}),
            },
        )
        if not self.broken:
            try:
                run.empty()
            except OSError:
                self.broken = True
        return outcome

    def signal_close(self) -> None:
        """The first half of `close`, which does not wait: its processes are told to die."""
        self.broken = True
        if self.pid:
            try:
                os.kill(self.pid, 9)  # (bwrap) PID 1 of its namespace: everything in there goes with it
            except OSError:
                pass
        if self.cgroup is not None:
            self.cgroup.signal_all()

    def close(self) -> None:
        self.broken = True
        with self._close_lock:
            if self._closed:
                return
            self._closed = True
            self._close()

    def _close(self) -> None:
        if self.ctrl is not None:
            try:
                self.ctrl.close()
            except OSError:
                pass
        self.signal_close()
        if self.cgroup is not None:
            self.cgroup.remove()  # waits until the cgroup is empty
        if self.root.is_dir():  # (not made yet when its start failed early)
            for linked in self.root.glob(".base-*"):  # the user's own files, linked: removed without any chmod
                remove_linked(linked)
        RunDir(self.root, self.root, self.root, self.root).remove()


class _WarmHandle:
    def __init__(self, worker: Worker):
        self.worker = worker
        self.status: int | None = None
        self.finished = self.worker_died = False
        self.notes: list[str] = []
        self.prepared = False  # whether the run started from a prepared pytest session

    def _check(self, timeout: float) -> bool:
        if self.finished:
            return True
        try:
            message = self.worker._receive(timeout)
        except TimeoutError:
            return False
        if message is None:
            self.finished = self.worker_died = True
        elif isinstance(message, (wire.Started, wire.Done)):
            # the worker's own processes, to spare when its cgroup is cleared
            self.worker.keep = self.worker.own | frozenset(message.keep)
            if isinstance(message, wire.Started):
                self.prepared = message.prepared
            else:
                self.finished, self.status, self.notes = True, message.status, list(message.notes)
        return self.finished

    def poll(self) -> bool:
        return self._check(0.0)

    def wait(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while not self._check(max(0.0, deadline - time.monotonic())):
            if time.monotonic() >= deadline:
                return False
        return True

    def kill(self) -> None:
        self.worker.interrupt()


class WarmPool:
    """Idle workers ready to take a run; grows to the number of runs in flight (a new worker is a fork)."""

    def __init__(self, cold: LocalSandbox):
        self.cold = cold
        # The template is started from this long-lived thread: bwrap's --die-with-parent fires when the
        # *thread* that started it exits, so it must not be started from a short-lived one.
        self._starter = ThreadPoolExecutor(max_workers=1, thread_name_prefix="chain-warm-start")
        self._template: Template | None = None
        self._starting: Template | None = None  # the one being started, for close() to abort without waiting
        self._start: Future[Template] | None = None  # its start, which close() lets finish (it is quick once aborted)
        self._template_lock = threading.Lock()
        self._idle: deque[Worker] = deque()
        self._busy: set[Worker] = set()
        self._lock = threading.Lock()
        self.closed = False

    def template(self) -> Template:
        with self._template_lock:
            if self.closed:
                raise WorkerFailed("the warm pool is closed")
            if self._template is None or self._template.broken:
                if self._template is not None:
                    self._template.close()
                    self._template = None
                self._starting = starting = Template(self.cold)
                try:
                    self._start = self._starter.submit(starting.start)
                    self._template = self._start.result()
                finally:
                    self._starting = None
            return self._template

    def _new_worker(self) -> Worker:
        try:
            return Worker(self.template()).start()
        except WorkerFailed:
            if self._template is None or not self._template.broken:
                raise
            return Worker(self.template()).start()  # the template died (a local run can kill it): one restart

    def acquire(self) -> Worker:
        with self._lock:
            if self._idle:
                worker = self._idle.pop()
                self._busy.add(worker)
                return worker
        worker = self._new_worker()
        with self._lock:
            self._busy.add(worker)
        return worker

    def release(self, worker: Worker) -> None:
        with self._lock:
            self._busy.discard(worker)
            keep = not (worker.broken or self.closed)
            if keep:
                self._idle.append(worker)
        if not keep:
            worker.close()

    def prewarm(self, count: int) -> None:
        """Start the template and `count` workers in the background so the first runs do not wait."""

        def start() -> None:
            try:
                workers = [self._new_worker() for _ in range(count)]
            except (WorkerFailed, OSError):
                return  # the first run will try again and report why
            with self._lock:
                closed = self.closed
                if not closed:
                    self._idle.extend(workers)
            if closed:
                for worker in workers:
                    worker.close()

        threading.Thread(target=start, name="chain-warm-prewarm", daemon=True).start()

    def interrupt_all(self) -> None:
        for worker in list(self._busy):
            worker.interrupt(sweep=True)

    def close(self) -> None:
        with self._lock:
            self.closed = True
            workers = [*self._idle, *self._busy]
            self._idle.clear()
        for worker in workers:  # all told first, then waited for: one by one, -j 200 waited ~1.1 s, this ~0.56 s
            worker.signal_close()
        for worker in workers:
            worker.close()
        starting = self._starting
        if starting is not None:  # a stage that ends before its first task (or at ^C) does not wait for it
            starting.close()
            if self._start is not None:  # but for its start's own clean-up, so that close leaves nothing running
                wait([self._start], timeout=REPLY_TIMEOUT_S)
        with self._template_lock:
            if self._template is not None:
                self._template.close()
        self._starter.shutdown(wait=False, cancel_futures=True)
