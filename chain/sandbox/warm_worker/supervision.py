"""The worker and its runners: who forks whom, who relays what, and who kills and reaps what is left.
stdlib only (+ pytest through the runners' children)."""

import os
import select
import signal
import socket

from .prepared_session import PreparedSession
from .protocol import Done, Kill, Run, RunnerDone, RunnerStarted, Started, Unprepared, close_all, receive, send
from .run_child import RUNNER_IGNORES, finish_run, plain_child

MAX_PREPARED = 2  # prepared sessions a worker keeps, besides its plain runner (least recently used go first)


def kill_leftovers(pid, kill_all):
    try:
        os.killpg(pid, signal.SIGKILL)
    except OSError:
        pass
    if kill_all:
        try:
            os.kill(-1, signal.SIGKILL)  # everything in this PID namespace but us (we are its PID 1)
        except OSError:
            pass


def alive(pid):
    """Whether our child `pid` still runs (a dead one is reaped here, or was by `reap` already)."""
    try:
        return os.waitpid(pid, os.WNOHANG)[0] == 0
    except ChildProcessError:
        return False


def reap():
    while True:
        try:
            if os.waitpid(-1, os.WNOHANG)[0] == 0:
                return
        except ChildProcessError:
            return


class ChildExits:
    """SIGCHLD as a descriptor to select on (signal.set_wakeup_fd), so a loop waiting on its sockets also
    wakes when one of its children exits and reaps it then, rather than polling for zombies. A process
    forked from one that watches calls `stop()` first: the handler and the descriptor are its parent's."""

    def __init__(self):
        self.read_end = self.write_end = -1

    def start(self):
        self.read_end, self.write_end = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        # The wakeup fd is written by Python's C-level handler, installed only with a Python handler.
        signal.signal(signal.SIGCHLD, lambda signum, frame: None)
        signal.set_wakeup_fd(self.write_end, warn_on_full_buffer=False)
        return self

    def fileno(self):
        return self.read_end

    def reap(self):
        """Called when `fileno()` is readable: forget the wakeups, then reap every child that has exited."""
        try:
            while os.read(self.read_end, 4096):
                pass
        except BlockingIOError:
            pass
        reap()

    def stop(self):
        if self.read_end < 0:
            return
        signal.set_wakeup_fd(-1)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        os.close(self.read_end)
        os.close(self.write_end)
        self.read_end = self.write_end = -1


class Runner:
    """A process that serves runs one at a time from one pytest state, forking a fresh child per run.

    A plain runner keeps pytest as the template built it: each child runs a whole session. A prepared runner
    (`PreparedSession`) has gone through a session's start-up once, for one key (the run's arguments,
    environment and workspace layout: see `prepared_key.prepare_key`), and each child goes on from there.
    With namespaces a runner is PID 1 of a PID namespace of its own, so after each run it kills everything
    left in there at once (kill(-1)); without, chain kills the run's leftovers through the worker's cgroup."""

    def __init__(self, sock, kill_all):
        self.sock = sock
        self.kill_all = kill_all

    def serve_one(self, request, fds, start_child, last=None):
        """Fork the run's child and see it through. Returns True in the child (after `start_child`).
        `last`: why this runner retires after the run, if it does (the worker learns it with the run's end)."""
        pid = os.fork()
        if pid == 0:
            start_child(request, fds)
            return True
        close_all(fds)
        send(self.sock, RunnerStarted())
        pidfd = os.pidfd_open(pid)
        status = None
        try:
            while status is None:
                ready, _, _ = select.select([self.sock, pidfd], [], [])
                if pidfd in ready:
                    status = os.waitpid(pid, 0)[1]
                elif self.sock in ready:
                    message, extra = receive(self.sock)[:2]
                    close_all(extra)
                    if message is None:  # the worker went away
                        kill_leftovers(pid, self.kill_all)
                        os._exit(0)
                    if isinstance(message, Kill):
                        kill_leftovers(pid, self.kill_all)
        finally:
            os.close(pidfd)
        if self.kill_all:
            kill_leftovers(pid, True)  # daemons, setsid'd or not: nothing outlives the run
        reap()
        send(self.sock, RunnerDone(status=status, retire=last))
        return False

    def next_run(self):
        """The next run request and its fds; exits when the worker is gone."""
        while True:
            request, fds = receive(self.sock)[:2]
            if request is None:
                os._exit(0)
            if isinstance(request, Run):
                return request, fds
            close_all(fds)

    def serve_plain(self, warm):
        def start_child(request, fds):
            plain_child(request, fds, self.sock, warm)

        while True:
            request, fds = self.next_run()
            self.serve_one(request, fds, start_child)


def start_runner(key, request, fds, sock, warm, namespaces):
    """In a fresh child of the worker: become a runner (PID 1 of a new PID namespace with namespaces) and
    serve. Never returns in the runner; returns the exit code in a prepared session's run child."""
    if namespaces is not None:
        namespaces.enter_runner()
    for sig in RUNNER_IGNORES:
        signal.signal(sig, signal.SIG_IGN)
    runner = Runner(sock, kill_all=namespaces is not None)
    if key is None:
        runner.serve_plain(warm)
    return PreparedSession(runner, warm, request, fds).start()


class Worker:
    """Serves chain's runs through its runners: relays each request and its pipes to the runner for the
    run's key (starting it if needed) and the runner's answers back, and keeps at most MAX_PREPARED
    prepared runners besides the plain one."""

    def __init__(self, ctrl, warm, namespaces, exits):
        self.ctrl, self.warm, self.namespaces = ctrl, warm, namespaces
        self.exits = exits  # ChildExits: runners that died (or were dropped) are reaped when they exit
        self.runners = {}  # key (None: plain) -> (pid, socket), least recently used first
        self.unpreparable = set()
        self.overlay = None  # the run in flight's overlay workspace (Run.overlay), mounted until it is done

    def _spawn(self, key, request, fds):
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        if self.namespaces is not None:
            self.namespaces.before_runner()
        try:
            pid = os.fork()
        except OSError:
            pid = -1
            raise
        finally:
            if pid != 0 and self.namespaces is not None:
                self.namespaces.after_runner()
        if pid == 0:
            code = 70
            try:
                self.exits.stop()
                ours.close()
                self.ctrl.close()
                for _, sock in self.runners.values():
                    sock.close()
                code = start_runner(key, request, fds, theirs, self.warm, self.namespaces)
            except BaseException:
                import traceback

                traceback.print_exc()
            finally:
                finish_run(code)
        theirs.close()
        self.runners[key] = (pid, ours)
        return ours, key is not None  # a new prepared runner already has this run

    def _drop(self, key):
        pid, sock = self.runners.pop(key)
        sock.close()
        try:
            os.kill(pid, signal.SIGKILL)  # (namespaces) PID 1 of its namespace: everything in there goes too
        except OSError:
            pass  # reaped by self.exits once it is gone

    def _runner_for(self, key, request, fds):
        """(socket, whether it already has the run). Forks the runner when there is none for `key`."""
        entry = self.runners.pop(key, None)
        if entry is not None:
            if alive(entry[0]):
                self.runners[key] = entry  # most recently used last
                return entry[1], False
            entry[1].close()
        prepared = [k for k in self.runners if k is not None]
        while key is not None and len(prepared) >= MAX_PREPARED:
            self._drop(prepared.pop(0))
        return self._spawn(key, request, fds)

    def keep(self):
        """Our processes chain must spare when it clears the cgroup after a run (without namespaces)."""
        return [] if self.namespaces is not None else [os.getpid(), *(pid for pid, _ in self.runners.values())]

    def serve(self):
        while True:
            ready, _, _ = select.select([self.ctrl, self.exits], [], [])
            if self.exits in ready:
                self.exits.reap()
            if self.ctrl not in ready:
                continue
            request, fds = receive(self.ctrl)[:2]
            if request is None:
                return
            try:
                if isinstance(request, Run):
                    self.run(request, fds)
            finally:
                close_all(fds)

    def run(self, request, fds):
        self.overlay = request.overlay if self.namespaces is not None else None
        if self.overlay:
            o = self.overlay
            try:
                self.namespaces.mount_overlay(o["lower"], o["upper"], o["work"], o["target"])
            except OSError as exc:
                self.overlay = None
                send(self.ctrl, Done(status=None, keep=self.keep(), notes=[f"cannot mount the workspace: {exc}"]))
                return
        try:
            self._run(request, fds)
        finally:
            self._unmount()

    def _unmount(self):
        """The run's overlay workspace goes before chain hears the run is over (chain then empties it)."""
        if self.overlay:
            target, self.overlay = self.overlay["target"], None
            try:
                self.namespaces.unmount(target)
            except OSError:
                pass

    def _done(self, done):
        self._unmount()
        send(self.ctrl, done)

    def _run(self, request, fds):
        key = request.prepare if self.warm.patched else None  # a prepared session needs the patched pytest
        if key in self.unpreparable:
            key = None
        sock, handed = self._runner_for(key, request, fds)
        if not handed:
            send(sock, request, fds)
        notes = []
        while True:
            ready, _, _ = select.select([self.ctrl, sock, self.exits], [], [])
            if self.exits in ready:
                self.exits.reap()
            if sock in ready:
                message, extra = receive(sock)[:2]
                close_all(extra)
                if message is None:  # the run killed its runner (possible without namespaces), or chain did
                    self.runners.pop(key, None)
                    sock.close()
                    notes.append("the warm runner serving the run died (replaced for the next run)")
                    self._done(Done(status=None, keep=self.keep(), notes=notes))
                    return
                if isinstance(message, Unprepared):  # pytest stopped before collecting: run it plain
                    self.unpreparable.add(key)
                    self._drop(key)
                    key = None
                    sock, handed = self._runner_for(None, request, fds)
                    send(sock, request, fds)
                elif isinstance(message, RunnerStarted):
                    send(self.ctrl, Started(keep=self.keep(), prepared=key is not None))
                elif isinstance(message, RunnerDone):
                    if message.retire and key in self.runners:
                        self._drop(key)  # a start-up that cannot be shared served its one run
                    self._done(Done(status=message.status, keep=self.keep(), notes=notes))
                    return
            if self.ctrl in ready:
                message, extra = receive(self.ctrl)[:2]
                close_all(extra)
                if message is None:  # chain went away
                    for k in list(self.runners):
                        self._drop(k)
                    os._exit(0)
                if isinstance(message, Kill):
                    try:
                        send(sock, Kill())
                    except OSError:
                        pass
