"""The warm template and its workers: pytest imported and configured once, a fresh child per run.

`chain.sandbox.warm` starts this script by path (so it imports nothing of chain but the report plugin) as
`python warm_worker.py CTRL_FD [--namespaces]`, inside the same sandbox a cold run gets. That process, the
template, imports pytest and builds a configured pytest Config, then forks a worker whenever chain asks.
A worker serves one run at a time, forking a fresh child per run. With --namespaces (bwrap) each worker
first enters its own mount, PID, network, IPC and UTS namespaces, mounts its own directory as /tmp and
drops every capability (`Namespaces`), so workers are as separate from each other as cold bwrap runs are,
and a new worker costs a fork rather than a Python start.

What a run no longer pays for: starting Python, importing pytest and its plugins, scanning installed
distributions for pytest11 entry points, registering the ~40 built-in plugins (a prebuilt Config is handed
to `pytest.main` through `get_config`), scanning those plugins for fixtures (`_cache_fixture_scans`), and
importing what every session imports (`learn_imports`). gc.freeze() keeps the warm heap out of every
collection.

Each child starts a new session, closes the control socket, takes the run's cwd, environment and rlimits,
and leaves with os._exit. After each run the worker kills whatever the run left behind: as PID 1 of its
own PID namespace with kill(-1) (atomic: nothing can fork past it); without namespaces chain kills the
worker's cgroup around it. Messages are JSON over SOCK_SEQPACKET sockets; a run request carries the
child's stdout and stderr as passed file descriptors.
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
        self._preregister_env_plugins(pm)
        _cache_fixture_scans()
        pytest_config.get_config = self._get_config

    @staticmethod
    def _preregister_env_plugins(pm):
        """Import and register PYTEST_PLUGINS now (chain's report plugin); the run's own lookup then finds
        them registered and skips the import and its assertion rewriting."""
        for name in filter(None, (n.strip() for n in os.environ.get("PYTEST_PLUGINS", "").split(","))):
            try:
                pm.register(__import__(name), name)
            except Exception:
                pass  # the run imports it the ordinary way and reports any error itself

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

    def learn_imports(self):
        """Run one throwaway session in a child and import, here, the modules it needed (pdb, faulthandler,
        plugins' hook modules, ...), so that no real run imports them again."""
        import importlib
        import shutil
        import tempfile

        where = tempfile.mkdtemp(prefix="warmup-")
        with open(os.path.join(where, "test_chain_warmup.py"), "w") as fh:
            fh.write("def test_warmup():\n    assert True\n")
        read_end, write_end = os.pipe()
        pid = os.fork()
        if pid == 0:
            code = 0
            try:
                null = os.open(os.devnull, os.O_WRONLY)
                os.dup2(null, 1)
                os.dup2(null, 2)
                os.chdir(where)
                os.environ.pop("CHAIN_PYTEST_REPORT", None)
                before = set(sys.modules)
                self.main(["-q"])
                os.write(write_end, json.dumps(sorted(set(sys.modules) - before)).encode())
            except BaseException:
                code = 1
            os._exit(code)
        os.close(write_end)
        with os.fdopen(read_end, "rb") as fh:
            names = json.loads(fh.read() or b"[]")
        os.waitpid(pid, 0)
        shutil.rmtree(where, ignore_errors=True)
        for name in names:
            if "warmup" not in name:
                try:
                    importlib.import_module(name)
                except Exception:
                    pass


def _cache_fixture_scans():
    """Make pytest's fixture scan of long-lived plugins cheap.

    At every session start pytest walks dir() of each registered plugin (~2,000 names) looking for fixtures.
    The plugins are the same modules and classes in every run, so the worker computes once which names can
    matter to that scan (fixture definitions, and anything wrapped that the scan would warn about) and
    `_pytest.fixtures` gets a dir() that answers from this table for those holders; any other holder (test
    modules, test classes, conftests) gets the real dir()."""
    import builtins
    import inspect
    import types

    import _pytest.fixtures as fixtures

    definition = getattr(fixtures, "FixtureFunctionDefinition", None)
    if definition is None:
        return  # another pytest: leave its scan alone
    real_dir = builtins.dir

    def relevant(holder, name):
        raw = holder.__dict__.get(name) if isinstance(holder, types.ModuleType) else inspect.getattr_static(
            holder, name, None)
        try:
            value = getattr(holder, name, None)
        except Exception:
            return True
        return (type(value) is definition or type(raw) is definition or isinstance(raw, (staticmethod, classmethod))
                or hasattr(raw, "__wrapped__") or hasattr(raw, "_mock_name"))

    holders = set()
    for name, module in list(sys.modules.items()):
        if not isinstance(module, types.ModuleType) or name == "__main__":
            continue
        if name.startswith(("_pytest", "pytest", "pluggy", "xdist", "pytest_", "chain_pytest_report")):
            holders.add(module)
            holders.update(v for v in vars(module).values() if isinstance(v, type) and v.__module__ == name)
    table = {}
    for holder in holders:
        try:
            table[holder] = [n for n in real_dir(holder) if relevant(holder, n)]
        except Exception:
            pass

    def fast_dir(*args):
        if len(args) != 1:
            return real_dir(*args)
        obj = args[0]
        holder = obj if isinstance(obj, (types.ModuleType, type)) else type(obj)
        try:
            names = table.get(holder)
        except TypeError:
            names = None
        # For an instance, the scan looks every name up on its type, so the type's names are all that matter.
        return real_dir(obj) if names is None else list(names)

    fixtures.dir = fast_dir


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


class Namespaces:
    """Per-worker namespaces, entered by a forked worker inside the template's bubblewrap sandbox.

    The template runs as uid 0 of its own user namespace with capabilities there (never on the host), so a
    forked worker can unshare new mount, PID, network, IPC and UTS namespaces, mount its own directory as
    /tmp (hiding every other worker's), mount a /proc of its PID namespace, and then drop every capability
    for good (bounding set emptied, no_new_privs) before any task code runs under it."""

    CLONE = {"mount": 0x00020000, "pid": 0x20000000, "net": 0x40000000, "ipc": 0x08000000, "uts": 0x04000000}
    MS_BIND, MS_REC, MS_PRIVATE, MS_NOSUID, MS_NODEV, MS_NOEXEC = 4096, 16384, 1 << 18, 2, 4, 8
    MS_RDONLY, MS_REMOUNT = 1, 32

    @staticmethod
    def _needed_under_tmp():
        wanted = {sys.prefix, sys.base_prefix, sys.exec_prefix, os.path.dirname(os.path.realpath(sys.executable)),
                  os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))}
        under = sorted(p for p in wanted if p.startswith("/tmp/"))
        return [p for i, p in enumerate(under) if not any(p.startswith(q + "/") for q in under[:i])]
    PR_CAPBSET_DROP, PR_SET_NO_NEW_PRIVS, PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL = 24, 38, 47, 4

    def __init__(self):
        import ctypes

        self.ctypes = ctypes
        self.libc = ctypes.CDLL(None, use_errno=True)

    def _check(self, result, what):
        if result != 0:
            errno = self.ctypes.get_errno()
            raise OSError(errno, f"{what}: {os.strerror(errno)}")

    def enter(self, directory):
        """Called in the forked worker; returns in a grandchild that is PID 1 of the new namespaces."""
        flags = 0
        for flag in self.CLONE.values():
            flags |= flag
        self._check(self.libc.unshare(flags), "unshare")
        self._check(self.libc.mount(None, b"/", None, self.MS_REC | self.MS_PRIVATE, None), "make / private")
        # The worker's own /tmp would hide an interpreter or chain checkout that lives under /tmp (a CI
        # clone): carry them into the worker directory first, read-only, so they stay where they were.
        for path in self._needed_under_tmp():
            target = os.path.join(directory, os.path.relpath(path, "/tmp"))
            os.makedirs(target, exist_ok=True)
            self._check(self.libc.mount(path.encode(), target.encode(), None, self.MS_BIND | self.MS_REC, None),
                        f"expose {path}")
            self._check(self.libc.mount(None, target.encode(), None,
                                        self.MS_REMOUNT | self.MS_BIND | self.MS_RDONLY, None),
                        f"make {path} read-only")
        self._check(self.libc.mount(directory.encode(), b"/tmp", None, self.MS_BIND | self.MS_REC, None),
                    "bind the worker directory on /tmp")
        if os.fork() != 0:
            os._exit(0)  # the worker proper is our child, PID 1 of the new PID namespace
        self._check(self.libc.mount(b"proc", b"/proc", b"proc", self.MS_NOSUID | self.MS_NODEV | self.MS_NOEXEC,
                                    None), "mount /proc")
        self.drop_capabilities()

    def drop_capabilities(self):
        ctypes = self.ctypes
        for cap in range(64):
            self.libc.prctl(self.PR_CAPBSET_DROP, cap, 0, 0, 0)
        self.libc.prctl(self.PR_CAP_AMBIENT, self.PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0)
        self._check(self.libc.prctl(self.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "no_new_privs")

        class Header(ctypes.Structure):
            _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]

        class Data(ctypes.Structure):
            _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32),
                        ("inheritable", ctypes.c_uint32)]

        self._check(self.libc.capset(ctypes.byref(Header(0x20080522, 0)), (Data * 2)()), "capset")


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


def reap():
    while True:
        try:
            if os.waitpid(-1, os.WNOHANG)[0] == 0:
                return
        except ChildProcessError:
            return


def serve(ctrl, warm, kill_all):
    """A worker: one run at a time, each in a fresh child."""
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
            kill_leftovers(pid, True)  # daemons, setsid'd or not: nothing outlives the run
        reap()
        send(ctrl, {"op": "done", "status": status})


def become_worker(channel, template_ctrl, warm, directory, namespaces):
    """In a child of the template: set up, greet chain (which learns our host pid from the socket's
    credentials and moves us into our cgroup), then serve runs. Never returns."""
    code = 0
    try:
        template_ctrl.close()
        if namespaces is not None:
            namespaces.enter(directory)
            os.chdir("/tmp")
        else:
            os.chdir(directory)
        hello, _ = receive(channel)
        if hello is None:
            os._exit(0)
        send(channel, {"op": "ready", "pid": os.getpid(), "kill_all": namespaces is not None})
        serve(channel, warm, kill_all=namespaces is not None)
    except BaseException as exc:
        try:
            send(channel, {"op": "ready", "error": f"{type(exc).__name__}: {exc}"})
        except OSError:
            pass
        code = 1
    os._exit(code)


def template(ctrl, warm, namespaced):
    """The template: forks a worker per spawn request and hands chain the worker's socket."""
    namespaces = Namespaces() if namespaced else None
    while True:
        ready, _, _ = select.select([ctrl], [], [], 1.0)
        reap()
        if not ready:
            continue
        request, fds = receive(ctrl)
        for fd in fds:
            os.close(fd)
        if request is None:
            return
        if request.get("op") != "spawn":
            continue
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        pid = os.fork()
        if pid == 0:
            ours.close()
            become_worker(theirs, ctrl, warm, request["dir"], namespaces)
        theirs.close()
        socket.send_fds(ctrl, [json.dumps({"op": "spawned"}).encode()], [ours.fileno()])
        ours.close()


def main():
    ctrl = socket.socket(fileno=int(sys.argv[1]))
    namespaced = sys.argv[2:3] == ["--namespaces"]
    sys.path.pop(0)  # this script's directory must not shadow the task's modules
    try:
        warm = WarmPytest()
        warm.learn_imports()
        if namespaced:
            Namespaces()  # ctypes and libc found before the first spawn
        error = None
    except Exception as exc:  # pytest missing or its internals changed: chain falls back to cold runs
        warm, error = None, f"{type(exc).__name__}: {exc}"
    send(ctrl, {"op": "ready", "error": error})
    if warm is None:
        return
    gc.collect()
    gc.freeze()  # the warm heap is shared with every worker and child and never collected again
    template(ctrl, warm, namespaced)


if __name__ == "__main__":
    main()
