"""A prepared runner: pytest's start-up done once for one key, each run's child going on from the fork
point, with the descriptors the start-up left pointed at the run's own pipes and files. stdlib + pytest."""

import gc
import os
import stat
import sys
import tempfile

from .code_cache import CodeCache
from .protocol import Unprepared, send
from .pytest_patches import restart_timers
from .run_child import become_run, confine, finish_run, mark_started, set_limits, take_environment


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
            code = int(self.warm.main(request.args))
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
        send(self.runner.sock, Unprepared())
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
        own_dirs = (os.getcwd() + os.sep, os.environ.get("TMPDIR", "/nonexistent") + os.sep)
        for name in set(sys.modules) - self.modules_before:
            path = getattr(sys.modules[name], "__file__", None) or ""
            if path.startswith(own_dirs):
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
            code_cache.observe(request.cwd)
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
        os.chdir(request.cwd)  # the same path, but the directory itself is new for every run
        set_limits(request.limits)
        restart_timers(self.warm.config)
        confine(request)
        mark_started()


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
