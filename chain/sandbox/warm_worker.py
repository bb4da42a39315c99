"""A warm worker: a long-lived interpreter with pytest imported and configured, forking one child per run.

Started by `chain.sandbox.warm` as `python warm_worker.py CTRL_FD` (by path, so it imports nothing of
chain but the report plugin), inside the same sandbox a cold run gets. It speaks JSON messages over a
SOCK_SEQPACKET socket; a run request carries the child's stdout and stderr as passed file descriptors.

What a run no longer pays for: starting Python, importing pytest and its plugins, scanning installed
distributions for pytest11 entry points, and registering the ~40 built-in plugins (a prebuilt Config is
handed to `pytest.main` through `get_config`). gc.freeze() keeps the warm heap out of every collection.

Each child starts a new session, closes the control socket, takes the run's cwd, environment and rlimits,
and leaves with os._exit. After each run the worker kills whatever the run left behind: in its own PID
namespace (bwrap) with kill(-1) (everything but itself and the namespace's init, atomically); elsewhere
the host kills the run's cgroup.
"""

import array
import gc
import json
import os
import pathlib
import resource
import select
import signal
import socket
import sys
import time

MAX_MESSAGE = 1 << 20


def send(sock, message):
    sock.send(json.dumps(message).encode())


def receive(sock):
    fds = array.array("i")
    data, ancdata, _flags, _addr = sock.recvmsg(MAX_MESSAGE, socket.CMSG_SPACE(8 * fds.itemsize))
    for level, kind, payload in ancdata:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            fds.frombytes(payload[: len(payload) - (len(payload) % fds.itemsize)])
    if not data:
        return None, []
    return json.loads(data), list(fds)


class WarmPytest:
    """pytest imported once, with a Config whose plugins are registered before any run asks for one."""

    def __init__(self):
        import _pytest.config as pytest_config
        import pytest  # noqa: F401  (imported so every child has it)

        self.pc = pytest_config
        self.config = pytest_config.get_config(None, prog="pytest")
        pm = self.config.pluginmanager
        before = {name for name, _ in pm.list_name_plugin()}
        pm.load_setuptools_entrypoints("pytest11")  # what a cold run scans site-packages for, done once
        self.entrypoint_plugins = [n for n, _ in pm.list_name_plugin() if n not in before]
        pm.load_setuptools_entrypoints = lambda group, name=None: 0  # already loaded
        # The scan that marks entry-point plugins for assertion rewriting is moot once they are imported
        # (and would warn that they were); keep only its side effect of handing the hook over.
        self.config._mark_plugins_for_rewrite = lambda hook, disable_autoload: setattr(pm, "rewrite_hook", hook)
        pytest_config.get_config = self._get_config

    def _get_config(self, args=None, plugins=None, *, prog=None):
        config = self.config
        config.invocation_params = self.pc.Config.InvocationParams(
            args=args or (), plugins=plugins, dir=pathlib.Path.cwd())
        if args:
            config.pluginmanager.consider_preparse(args, exclude_only=True)
        if os.environ.get("PYTEST_DISABLE_PLUGIN_AUTOLOAD"):
            for name in self.entrypoint_plugins:
                config.pluginmanager.unregister(name=name)
        return config

    def main(self, args):
        return self.pc._main(args=args, prog="pytest")


def child(request, fds, ctrl, warm):
    """In the forked child: become the run, then run pytest. Never returns."""
    code = 70
    try:
        os.setsid()
        ctrl.close()  # the code under test must not be able to talk to chain
        out, err = fds
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.dup2(out, 1)
        os.dup2(err, 2)
        for fd in (null, out, err):
            os.close(fd)
        os.chdir(request["cwd"])
        os.environ.clear()
        os.environ.update(request["env"])
        limits = request["limits"]
        mb = 1 << 20
        for which, value in ((resource.RLIMIT_CPU, limits["cpu_s"]), (resource.RLIMIT_AS, limits["memory_mb"] * mb),
                             (resource.RLIMIT_FSIZE, limits["file_mb"] * mb), (resource.RLIMIT_NPROC, limits["nproc"]),
                             (resource.RLIMIT_CORE, 0)):
            resource.setrlimit(which, (value, value))
        for entry in reversed(request["env"].get("PYTHONPATH", "").split(os.pathsep)):
            if entry and entry not in sys.path:
                sys.path.insert(0, entry)
        if request["cwd_on_path"]:  # `python -m pytest` puts the working directory first on sys.path
            sys.path.insert(0, request["cwd"])
        sys.argv = ["pytest", *request["args"]]
        report_plugin = sys.modules.get("chain_pytest_report")
        if report_plugin is not None:
            report_plugin._started = time.time()
        code = int(warm.main(request["args"]))
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    except BaseException:
        import traceback

        traceback.print_exc()
    finally:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        except BaseException:
            pass
        os._exit(code)


def own_pid_namespace(host_pidns):
    try:
        return bool(host_pidns) and os.readlink("/proc/self/ns/pid") != host_pidns and os.getpid() != 1
    except OSError:
        return False


def kill_leftovers(pid, kill_all):
    try:
        os.killpg(pid, signal.SIGKILL)
    except OSError:
        pass
    if kill_all:
        try:
            os.kill(-1, signal.SIGKILL)  # everything in this namespace but us and its init
        except OSError:
            pass


def serve(ctrl, warm, kill_all):
    while True:
        request, fds = receive(ctrl)
        if request is None:
            return
        if request.get("op") != "run":
            for fd in fds:
                os.close(fd)
            continue
        pid = os.fork()
        if pid == 0:
            child(request, fds, ctrl, warm)
        for fd in fds:
            os.close(fd)
        send(ctrl, {"op": "started", "pid": pid})
        pidfd = os.pidfd_open(pid)
        status = None
        try:
            while status is None:
                ready, _, _ = select.select([ctrl, pidfd], [], [])
                if pidfd in ready:
                    status = os.waitpid(pid, 0)[1]
                elif ctrl in ready:
                    message, extra = receive(ctrl)
                    for fd in extra:
                        os.close(fd)
                    if message is None:  # chain went away
                        kill_leftovers(pid, kill_all)
                        return
                    if message.get("op") == "kill":
                        kill_leftovers(pid, kill_all)
        finally:
            os.close(pidfd)
        if kill_all:
            kill_leftovers(pid, True)
        while True:  # reap anything of ours that is left
            try:
                if os.waitpid(-1, os.WNOHANG)[0] == 0:
                    break
            except ChildProcessError:
                break
        send(ctrl, {"op": "done", "status": status})


def main():
    ctrl = socket.socket(fileno=int(sys.argv[1]))
    sys.path.pop(0)  # this script's directory must not shadow the task's modules
    try:
        warm = WarmPytest()
        error = None
    except Exception as exc:  # pytest missing or its internals changed: chain falls back to cold runs
        warm, error = None, f"{type(exc).__name__}: {exc}"
    kill_all = own_pid_namespace(os.environ.pop("CHAIN_HOST_PIDNS", ""))
    send(ctrl, {"op": "ready", "error": error, "pid": os.getpid(), "kill_all": kill_all})
    if warm is None:
        return
    gc.collect()
    gc.freeze()  # the warm heap is shared with every child and never collected again
    serve(ctrl, warm, kill_all)


if __name__ == "__main__":
    main()
