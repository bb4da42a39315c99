"""The warm template, its workers and their runners: pytest imported and configured once, a fresh child
per run.

`chain.sandbox.warm` starts this script by path (so it imports nothing of chain but the report plugin) as
`python warm_worker.py CTRL_FD [--namespaces]`, inside the same sandbox a cold run gets. That process, the
template, imports pytest and builds a configured pytest Config, then forks a worker whenever chain asks.
With --namespaces (bwrap) each worker enters its own mount, PID, network, IPC and UTS namespaces and mounts
its own directory as /tmp (`Namespaces`), so workers are as separate from each other as cold bwrap runs
are, and a new worker costs a fork rather than a Python start.

A worker serves one run at a time through its runners (`Worker`): a plain runner, whose children each run
a whole session, and up to two prepared runners (`PreparedSession`), which have gone through a session's
start-up once for one key (see `warm_pool.prepare_key`) and whose children go on from there. Each run is
a fresh fork of a runner. With namespaces a runner is PID 1 of a PID namespace of its own and has no
capabilities; after each run it kills whatever the run left behind with kill(-1) (atomic: nothing can fork
past it); without namespaces chain kills the worker's cgroup around the worker and its runners.

What a run no longer pays for: starting Python, importing pytest and its plugins, scanning installed
distributions for pytest11 entry points, registering the ~40 built-in plugins (a prebuilt Config is handed
to `pytest.main` through `get_config`), scanning those plugins for fixtures (`_cache_fixture_scans`),
importing what every session imports (`learn_imports`), and from a prepared runner the session's start-up
and compiling sources it has seen before (`CodeCache`). gc.freeze() keeps the warm heap out of every
collection.

Each child starts a new session, closes its socket, takes the run's cwd, environment and rlimits, and
leaves with os._exit. Messages are JSON over SOCK_SEQPACKET sockets; a run request carries the child's
stdout and stderr as passed file descriptors, which the worker hands on to the runner.
"""

import array
import ast
import gc
import importlib.machinery
import importlib.util
import json
import os
import pathlib
import resource
import select
import signal
import socket
import stat
import sys
import tempfile
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


def set_limits(limits):
    mb = 1 << 20
    for which, value in ((resource.RLIMIT_CPU, limits["cpu_s"]), (resource.RLIMIT_AS, limits["memory_mb"] * mb),
                         (resource.RLIMIT_FSIZE, limits["file_mb"] * mb), (resource.RLIMIT_NPROC, limits["nproc"]),
                         (resource.RLIMIT_CORE, 0)):
        resource.setrlimit(which, (value, value))


def take_environment(request):
    """The run's cwd, environment, sys.path and argv, as `python -m pytest` in that directory would have them."""
    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update(request["env"])
    for entry in reversed(request["env"].get("PYTHONPATH", "").split(os.pathsep)):
        if entry and entry not in sys.path:
            sys.path.insert(0, entry)
    if request["cwd_on_path"]:  # `python -m pytest` puts the working directory first on sys.path
        sys.path.insert(0, request["cwd"])
    sys.argv = ["pytest", *request["args"]]


def become_run(fds, sock):
    """First steps of every run's child: its own session, no line to chain, stdin empty, stdout/stderr the
    run's pipes, and signals as a fresh Python has them (the runner ignores the ones a run could send it)."""
    os.setsid()
    sock.close()  # the code under test must not be able to talk to chain
    out, err = fds
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.dup2(out, 1)
    os.dup2(err, 2)
    os.close(null)
    for sig in RUNNER_IGNORES:
        signal.signal(sig, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.default_int_handler)


def finish_run(code):
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except BaseException:
        pass
    os._exit(code)


def plain_child(request, fds, sock, warm):
    """In the forked child of a plain runner: become the run, then run a whole pytest session. Never returns."""
    code = 70
    try:
        become_run(fds, sock)
        for fd in fds:
            os.close(fd)
        take_environment(request)
        set_limits(request["limits"])
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
        finish_run(code)


class Namespaces:
    """Namespaces of a worker and of its runners, inside the template's bubblewrap sandbox.

    The template runs as uid 0 of its own user namespace with capabilities there (never on the host), so a
    forked worker can unshare new mount, PID, network, IPC and UTS namespaces, mount its own directory as
    /tmp (hiding every other worker's) and a /proc of its PID namespace. The worker keeps its capabilities
    (it runs nothing of a task's) to give each runner a PID namespace of its own; a runner mounts that
    namespace's /proc and then drops every capability for good (bounding set emptied, no_new_privs) before
    it runs anything, so no run ever has one."""

    CLONE = {"mount": 0x00020000, "pid": 0x20000000, "net": 0x40000000, "ipc": 0x08000000, "uts": 0x04000000}
    MS_BIND, MS_REC, MS_PRIVATE, MS_NOSUID, MS_NODEV, MS_NOEXEC = 4096, 16384, 1 << 18, 2, 4, 8
    MS_RDONLY, MS_REMOUNT = 1, 32

    PR_CAPBSET_DROP, PR_SET_NO_NEW_PRIVS, PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL = 24, 38, 47, 4

    def __init__(self, exposed=()):
        import ctypes

        self.exposed = list(exposed)  # paths under /tmp to keep visible inside (chain's warm_pool says which)
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
        for path in self.exposed:
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
        self._mount_proc()
        self.own_pid_namespace = os.open("/proc/self/ns/pid", os.O_RDONLY | os.O_CLOEXEC)

    def _mount_proc(self):
        self._check(self.libc.mount(b"proc", b"/proc", b"proc", self.MS_NOSUID | self.MS_NODEV | self.MS_NOEXEC,
                                    None), "mount /proc")

    def before_runner(self):
        """In the worker: the next child it forks is PID 1 of a new PID namespace..."""
        self._check(self.libc.unshare(self.CLONE["pid"]), "unshare a PID namespace for a runner")

    def after_runner(self):
        """...and the ones after it are not (a second unshare would fail until this is undone)."""
        self._check(self.libc.setns(self.own_pid_namespace, self.CLONE["pid"]), "setns back to the worker's PID namespace")

    def enter_runner(self):
        """In a new runner, PID 1 of its namespace: a /proc that shows it, then no capabilities."""
        os.close(self.own_pid_namespace)
        self._check(self.libc.unshare(self.CLONE["mount"]), "unshare a mount namespace for a runner")
        self._mount_proc()
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


# Signals a run could send its runner (its parent, and with namespaces its PID 1): ignored by the runner,
# restored in each run's child.
RUNNER_IGNORES = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1, signal.SIGUSR2)


class Runner:
    """A process that serves runs one at a time from one pytest state, forking a fresh child per run.

    A plain runner keeps pytest as the template built it: each child runs a whole session. A prepared runner
    (`PreparedSession`) has gone through a session's start-up once, for one key (the run's arguments,
    environment and workspace layout: see `warm_pool.prepare_key`), and each child goes on from there.
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
        for fd in fds:
            os.close(fd)
        send(self.sock, {"op": "started", "pid": pid})
        pidfd = os.pidfd_open(pid)
        status = None
        try:
            while status is None:
                ready, _, _ = select.select([self.sock, pidfd], [], [])
                if pidfd in ready:
                    status = os.waitpid(pid, 0)[1]
                elif self.sock in ready:
                    message, extra = receive(self.sock)
                    for fd in extra:
                        os.close(fd)
                    if message is None:  # the worker went away
                        kill_leftovers(pid, self.kill_all)
                        os._exit(0)
                    if message.get("op") == "kill":
                        kill_leftovers(pid, self.kill_all)
        finally:
            os.close(pidfd)
        if self.kill_all:
            kill_leftovers(pid, True)  # daemons, setsid'd or not: nothing outlives the run
        reap()
        send(self.sock, {"op": "done", "status": status, "retire": last})
        return False

    def next_run(self):
        """The next run request and its fds; exits when the worker is gone."""
        while True:
            request, fds = receive(self.sock)
            if request is None:
                os._exit(0)
            if request.get("op") == "run":
                return request, fds
            for fd in fds:
                os.close(fd)

    def serve_plain(self, warm):
        def start_child(request, fds):
            plain_child(request, fds, self.sock, warm)

        while True:
            request, fds = self.next_run()
            self.serve_one(request, fds, start_child)


class PreparedSession:
    """pytest's start-up for one key, done once in a runner; each run's child goes on from the fork point.

    The runner takes the first run's environment and calls pytest.main: the command line and ini files are
    parsed, plugins configured, the session started (fixture manager, terminal reporter) and the fork
    point, a first hook on pytest_collection, forks a child per run, which returns from it and collects and
    runs that run's tests. What the start-up wrote to stdout/stderr (the header) went to placeholder files
    and is replayed in each child; every descriptor the start-up duplicated from stdout/stderr is pointed at
    the run's pipes, and every anonymous temporary file it opened (capture buffers) is replaced by a fresh
    one, so nothing of one run reaches another. Timers the start-up set are restarted. A start-up that
    imported code from the workspace, started a thread or opened any other file is used for one run only."""

    def __init__(self, runner, warm, request, fds):
        self.runner, self.warm = runner, warm
        self.first = (request, fds)
        self.in_child = False
        self.why_single = None  # why this start-up cannot be shared, if it cannot

    # -- in the runner -------------------------------------------------------------------------------------

    def start(self):
        """Never returns in the runner; returns the run's exit code in a child."""
        request, _ = self.first
        take_environment(request)
        self.placeholders = [tempfile.TemporaryFile(), tempfile.TemporaryFile()]
        sys.stdout.flush()
        sys.stderr.flush()
        self.log = os.dup(2)  # the runner's own errors still go to the template's log
        os.dup2(self.placeholders[0].fileno(), 1)
        os.dup2(self.placeholders[1].fileno(), 2)
        self.fds_before = set(self._open_fds())
        self.modules_before = set(sys.modules)
        import pytest

        pytest.hookimpl(tryfirst=True)(PreparedSession.pytest_collection)
        self.warm.config.pluginmanager.register(self, "chain-fork-point")
        code = 1
        try:
            code = int(self.warm.main(request["args"]))
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
        except BaseException:
            import traceback

            if not self.in_child:
                os.write(self.log, traceback.format_exc().encode())
                os._exit(70)
            traceback.print_exc()
        if self.in_child:
            finish_run(code)
        # pytest ended before collecting (a usage error, --version, ...): the worker runs it plain
        send(self.runner.sock, {"op": "unprepared"})
        os._exit(0)

    @staticmethod
    def _open_fds():
        return [int(fd) for fd in os.listdir("/proc/self/fd")]

    def _inspect(self):
        """What the start-up left that each child must make its own (or that rules out reuse)."""
        sys.stdout.flush()
        sys.stderr.flush()
        self.preamble = []
        for handle in self.placeholders:
            handle.seek(0)
            self.preamble.append(handle.read())
        ids = [(lambda st: (st.st_dev, st.st_ino))(os.fstat(h.fileno())) for h in self.placeholders]
        own = {h.fileno() for h in self.placeholders}
        self.aliases = ([], [])
        self.temp_fds = []
        for fd in self._open_fds():
            if fd in own:
                continue
            try:
                st = os.fstat(fd)
            except OSError:
                continue  # the directory listing's own descriptor
            if (st.st_dev, st.st_ino) in ids:
                self.aliases[ids.index((st.st_dev, st.st_ino))].append(fd)
            elif fd in self.fds_before or stat.S_ISCHR(st.st_mode):
                continue
            elif stat.S_ISREG(st.st_mode) and st.st_nlink == 0:
                self.temp_fds.append(fd)
            else:
                self.why_single = f"start-up opened fd {fd}"
        workspace = os.getcwd()
        for name in set(sys.modules) - self.modules_before:
            path = getattr(sys.modules[name], "__file__", None) or ""
            if path.startswith(workspace + os.sep) or path.startswith(os.environ.get("TMPDIR", "/nonexistent") + os.sep):
                self.why_single = f"start-up imported {name} from the workspace"
        if threading_active() > 1:
            self.why_single = "start-up started a thread"

    def pytest_collection(self, session):
        self._inspect()
        gc.collect()
        gc.freeze()  # the started session is shared with every child and never collected again
        code_cache = CodeCache(self.warm.config)
        request, fds = self.first
        while True:
            code_cache.observe(request["cwd"])
            if self.runner.serve_one(request, fds, self._become_run, last=self.why_single):
                return None  # in the run's child: pytest goes on collecting
            if self.why_single:
                os._exit(0)
            request, fds = self.runner.next_run()

    # -- in each run's child -------------------------------------------------------------------------------

    def _become_run(self, request, fds):
        self.in_child = True
        os.close(self.log)
        become_run(fds, self.runner.sock)
        out, err = fds
        for target, aliases in zip((out, err), self.aliases):
            for fd in aliases:
                os.dup2(target, fd, inheritable=fd <= 2)
        for handle in self.placeholders:
            handle.close()
        for fd in self.temp_fds:
            fresh = fresh_temp_file()
            os.dup2(fresh, fd, inheritable=False)
            os.close(fresh)
        for fd in fds:
            os.close(fd)
        for data, fd in zip(self.preamble, (1, 2)):
            if data:
                os.write(fd, data)
        os.chdir(request["cwd"])  # the same path, but the directory itself is new for every run
        set_limits(request["limits"])
        restart_timers(self.warm.config)
        report_plugin = sys.modules.get("chain_pytest_report")
        if report_plugin is not None:
            report_plugin._started = time.time()


class CodeCache:
    """Compiled code for workspace sources a runner has seen before, so its children skip compiling them.

    Repair and optimization evaluate many variants of one task: the tests and most modules are the same
    bytes every time, and a child compiles (test files: parses, rewrites asserts, compiles) each again.
    The runner reads the workspace before each run; a source seen a second time (same path, same bytes)
    is compiled here, by the runner, from the bytes it read, and every later child that imports exactly
    those bytes from that path gets the code object instead of compiling (a dict lookup on path and
    bytes). Nothing a run does can reach this cache: it lives in the runner, and children get a copy."""

    LIMIT = 256  # entries; oldest go first
    MAX_FILES = 64  # beyond this many .py files only test files are compiled ahead
    MAX_BYTES = 256 << 10

    def __init__(self, config):
        import fnmatch

        import _pytest.assertion.rewrite as rewrite

        self.config, self.rewrite, self.fnmatch = config, rewrite, fnmatch
        self.patterns = list(config.getini("python_files") or [])
        self.seen = {}  # (path, bytes) -> True, for sources seen once
        self.plain = {}  # (path, bytes) -> code
        self.rewritten = {}  # (path, bytes) -> (source hash, code)
        real_rewrite, real_compile = rewrite._rewrite_test, importlib.machinery.SourceFileLoader.source_to_code

        def rewrite_test(fn, config):
            try:
                cached = self.rewritten.get((str(fn), fn.read_bytes()))
            except OSError:
                cached = None
            return cached if cached is not None else real_rewrite(fn, config)

        def source_to_code(loader, data, path, *args, **kwargs):
            cached = self.plain.get((path, data)) if not args and not kwargs and isinstance(data, bytes) else None
            return cached if cached is not None else real_compile(loader, data, path, *args, **kwargs)

        rewrite._rewrite_test = rewrite_test
        importlib.machinery.SourceFileLoader.source_to_code = source_to_code
        self.real_rewrite, self.real_compile = real_rewrite, real_compile

    def _sources(self, root):
        found = []
        for directory, dirs, files in os.walk(root):
            dirs[:] = [d for d in dirs if not d.startswith(".") and d != "__pycache__"]
            found += [os.path.join(directory, f) for f in files if f.endswith(".py")]
            if len(found) > 4 * self.MAX_FILES:
                break
        return found

    def observe(self, root):
        paths = self._sources(root)
        only_tests = len(paths) > self.MAX_FILES
        for path in paths:
            is_test = any(self.fnmatch.fnmatch(os.path.basename(path), p) for p in self.patterns)
            if only_tests and not is_test:
                continue
            try:
                if os.path.getsize(path) > self.MAX_BYTES:
                    continue
                with open(path, "rb") as fh:
                    data = fh.read()
            except OSError:
                continue
            key = (path, data)
            if key in self.plain:
                continue
            if key not in self.seen:
                self._bounded(self.seen)[key] = True
                continue
            try:
                self._bounded(self.plain)[key] = compile(data, path, "exec", dont_inherit=True)
                if is_test:  # what rewrite._rewrite_test does, from the bytes read here
                    tree = ast.parse(data, filename=path)
                    self.rewrite.rewrite_asserts(tree, data, path, self.config)
                    self._bounded(self.rewritten)[key] = (
                        importlib.util.source_hash(data), compile(tree, path, "exec", dont_inherit=True))
            except Exception:  # a syntax error and the like: the child reports it the ordinary way
                self.plain.pop(key, None)

    def _bounded(self, table):
        while len(table) >= self.LIMIT:
            del table[next(iter(table))]
        return table


def threading_active():
    threading = sys.modules.get("threading")
    return threading.active_count() if threading is not None else 1


def fresh_temp_file():
    directory = tempfile.gettempdir()
    try:
        return os.open(directory, os.O_TMPFILE | os.O_RDWR, 0o600)
    except (OSError, AttributeError):
        fd, path = tempfile.mkstemp(dir=directory)
        os.unlink(path)
        return fd


def restart_timers(config):
    """Timers plugins started with the session (the terminal's "in 0.01s") start again with the run."""
    timing = sys.modules.get("_pytest.timing")
    instant = getattr(timing, "Instant", None)
    if instant is None:
        return
    for plugin in config.pluginmanager.get_plugins():
        attrs = getattr(plugin, "__dict__", None)
        if not isinstance(attrs, dict) or isinstance(plugin, type(sys)):
            continue
        for name, value in list(attrs.items()):
            if type(value) is instant:
                setattr(plugin, name, instant())


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


MAX_PREPARED = 2  # prepared sessions a worker keeps, besides its plain runner (least recently used go first)


class Worker:
    """Serves chain's runs through its runners: relays each request and its pipes to the runner for the
    run's key (starting it if needed) and the runner's answers back, and keeps at most MAX_PREPARED
    prepared runners besides the plain one."""

    def __init__(self, ctrl, warm, namespaces):
        self.ctrl, self.warm, self.namespaces = ctrl, warm, namespaces
        self.runners = {}  # key (None: plain) -> (pid, socket), least recently used first
        self.unpreparable = set()

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
            pass
        reap()

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
            request, fds = receive(self.ctrl)
            if request is None:
                return
            try:
                if request.get("op") == "run":
                    self.run(request, fds)
            finally:
                for fd in fds:
                    os.close(fd)

    def run(self, request, fds):
        key = request.get("prepare")
        if key in self.unpreparable:
            key = None
        sock, handed = self._runner_for(key, request, fds)
        if not handed:
            socket.send_fds(sock, [json.dumps(request).encode()], fds)
        notes = []
        while True:
            ready, _, _ = select.select([self.ctrl, sock], [], [])
            if sock in ready:
                message, extra = receive(sock)
                for fd in extra:
                    os.close(fd)
                if message is None:  # the run killed its runner (possible without namespaces), or chain did
                    self.runners.pop(key, None)
                    sock.close()
                    reap()
                    notes.append("the warm runner serving the run died (replaced for the next run)")
                    send(self.ctrl, {"op": "done", "status": None, "keep": self.keep(), "notes": notes})
                    return
                op = message.get("op")
                if op == "unprepared":  # pytest stopped before collecting: run it plain
                    self.unpreparable.add(key)
                    self._drop(key)
                    key = None
                    sock, handed = self._runner_for(None, request, fds)
                    socket.send_fds(sock, [json.dumps(request).encode()], fds)
                elif op == "started":
                    send(self.ctrl, {"op": "started", "pid": message.get("pid"), "keep": self.keep(),
                                     "prepared": key is not None})
                elif op == "done":
                    if message.get("retire") and key in self.runners:
                        self._drop(key)  # a start-up that cannot be shared served its one run
                    send(self.ctrl, {"op": "done", "status": message.get("status"), "keep": self.keep(),
                                     "notes": notes})
                    return
            if self.ctrl in ready:
                message, extra = receive(self.ctrl)
                for fd in extra:
                    os.close(fd)
                if message is None:  # chain went away
                    for k in list(self.runners):
                        self._drop(k)
                    os._exit(0)
                if message.get("op") == "kill":
                    try:
                        send(sock, {"op": "kill"})
                    except OSError:
                        pass


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
        Worker(channel, warm, namespaces).serve()
    except BaseException as exc:
        import traceback

        traceback.print_exc()  # into the template's log, which chain shows when a worker fails
        try:
            send(channel, {"op": "ready", "error": f"{type(exc).__name__}: {exc}"})
        except OSError:
            pass
        code = 1
    os._exit(code)


def template(ctrl, warm, namespaces):
    """The template: forks a worker per spawn request and hands chain the worker's socket."""
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
    exposed = sys.argv[3:]  # with --namespaces: paths under /tmp a worker's own /tmp must not hide
    sys.path.pop(0)  # this script's directory must not shadow the task's modules
    try:
        warm = WarmPytest()
        warm.learn_imports()
        namespaces = Namespaces(exposed) if namespaced else None  # ctypes and libc found before the first spawn
        error = None
    except Exception as exc:  # pytest missing or its internals changed: chain falls back to cold runs
        warm, namespaces, error = None, None, f"{type(exc).__name__}: {exc}"
    send(ctrl, {"op": "ready", "error": error})
    if warm is None:
        return
    gc.collect()
    gc.freeze()  # the warm heap is shared with every worker and child and never collected again
    template(ctrl, warm, namespaces)


if __name__ == "__main__":
    main()
