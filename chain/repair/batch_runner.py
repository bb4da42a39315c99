"""Runs inside the sandbox: validates a batch of repair candidates in one process, the way mutmut's fork mode
does. Standard library + pytest; it runs in the task's interpreter, not chain's, and is shipped into the
workspace as a file (see chain.repair.batch).

The runner validates candidates without the batch plugin (chain.repair.batch_plugin): with
`run_batch(collect=False)`, or for candidates the plugin's run left without a verdict. It imports pytest
once, then for each candidate writes the candidate's files over the workspace's, forks a child that runs
pytest in-process from scratch (collection, conftest.py, test modules and the code under test imported
fresh; import and collection under the batch's `collect_cpu_s` CPU-time limit when it has one, so a loop at
import time dies fast), waits for it within CPU and wall-clock limits and puts the original files back. A
candidate whose screening tests pass gets a second child that runs the whole suite. Children run with
--tb=no (a verdict needs outcomes, not tracebacks). One line per candidate goes to stdout as soon as known:
    CHAIN-BATCH {"index": i, "screen": {...}, "full": {...} | null}
with per-run pass/fail counts, the first failing test and why the run ended (exit code, "cpu", "wall").

Argument: the batch file (JSON: {"args": [...pytest flags], "paths": [...], "test_cpu_s": s, "run_cpu_s": n,
"wall_s": s, "collect_cpu_s": s | absent, "candidates": [{"files": {path: text}, "screen": [nodeid, ...] | null}]}).
"""

import json
import os
import resource
import select
import signal
import sys
import time

# The engine's per-test limits (chain/sandbox/plugin), on the sandbox's PYTHONPATH; not resolvable from the tree.
import chain_test_limits  # type: ignore[import-not-found]
import pytest

MARK = "CHAIN-BATCH "
CPU_SIGNALS = (signal.SIGXCPU, signal.SIGKILL, signal.SIGPROF)  # RLIMIT_CPU, its hard limit, the import limit


class Recorder:
    """pytest plugin in the child: outcomes per test, and the per-test CPU-time limit through the engine's own
    module (chain_test_limits, on the sandbox's PYTHONPATH; CHAIN_TEST_CPU_S is set by main): the same timer,
    the same BaseException and the same report marking as every other run of chain."""

    def __init__(self, arm=True):
        self.arm = arm  # False where chain's report plugin arms the same limits around each test
        self.passed = 0
        self.failed = []
        self.cpu_limited = 0  # tests stopped by the per-test CPU-time limit
        self.cpu = None  # {nodeid: CPU seconds of its setup, call and teardown} when asked for
        self.limited = set()

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_protocol(self, item, nextitem):
        if self.arm:
            chain_test_limits.arm(item.nodeid)
        started = time.process_time()
        try:
            yield
        finally:
            if self.cpu is not None:
                self.cpu[item.nodeid] = time.process_time() - started
            if self.arm:
                chain_test_limits.disarm()

    def pytest_runtest_logreport(self, report):
        if report.failed and report.nodeid not in self.failed:
            self.failed.append(report.nodeid)
            if chain_test_limits.timed_out(report):
                self.cpu_limited += 1
                self.limited.add(report.nodeid)
        elif report.when == "call" and report.passed:
            self.passed += 1

    def pytest_collectreport(self, report):
        if report.failed:
            self.failed.append(report.nodeid or "<collection>")


def prologue(run_cpu_s):
    """A candidate's process: its own group (whatever it spawns is killed with it), its CPU-time limit (a fork
    starts at zero CPU time: per candidate)."""
    try:
        os.setpgid(0, 0)
    except OSError:
        pass
    _, hard = resource.getrlimit(resource.RLIMIT_CPU)
    soft = run_cpu_s if hard == resource.RLIM_INFINITY else min(run_cpu_s, hard)
    resource.setrlimit(resource.RLIMIT_CPU, (soft, hard))


def report(result_fd, code, error, recorder):
    result = {
        "exit": code,
        "passed": recorder.passed,
        "error": error,
        "failed": recorder.failed[:5],
        "n_failed": len(recorder.failed),
        "cpu_limited": recorder.cpu_limited,
    }
    if recorder.cpu is not None:  # what each test cost, and whether it passed
        failed = set(recorder.failed)
        result["cpu"] = {n: [round(c, 6), n not in failed] for n, c in recorder.cpu.items()}
        result["cpu_limited_ids"] = sorted(recorder.limited)
    os.write(result_fd, json.dumps(result).encode())


def _child(args, recorder, batch, result_fd):
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)
    try:
        prologue(batch["run_cpu_s"])
        # Import and collection under a CPU-time limit from what the collector's took (a loop at import
        # time would otherwise run to RLIMIT_CPU): SIGPROF's default action ends the process; at the first
        # test chain_test_limits takes the timer over for the test's own limit.
        if batch.get("collect_cpu_s"):
            signal.signal(signal.SIGPROF, signal.SIG_DFL)
            signal.setitimer(signal.ITIMER_PROF, batch["collect_cpu_s"])
        code = int(pytest.main(args, plugins=[recorder, chain_test_limits]))
        error = None
    except BaseException as exc:
        code, error = 3, f"{type(exc).__name__}: {exc}"
    report(result_fd, code, error, recorder)
    os._exit(0)


def run_one(args, batch):
    """Fork a child running pytest afresh with `args`; its counts, or why it was stopped."""
    recorder = Recorder()
    read_fd, write_fd = os.pipe()
    started = time.monotonic()
    pid = os.fork()
    if pid == 0:
        os.close(read_fd)
        _child(args, recorder, batch, write_fd)
    os.close(write_fd)
    return wait(pid, read_fd, started, batch["wall_s"])


def wait(pid, read_fd, started, wall_s):
    """The child's result line, or why it was stopped (wall clock, CPU limit, signal)."""
    deadline = started + wall_s
    status = None
    exited = _exit_watch(pid)
    try:
        while True:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                break
            left = deadline - time.monotonic()
            if left <= 0:
                _kill(pid)
                os.waitpid(pid, 0)
                os.close(read_fd)
                return {
                    "exit": None,
                    "ended": "wall",
                    "passed": 0,
                    "failed": [],
                    "n_failed": 0,
                    "ms": (time.monotonic() - started) * 1000,
                }
            if exited is None:
                time.sleep(0.002)
            else:
                select.select([exited], [], [], left)
    finally:
        if exited is not None:
            os.close(exited)
    _kill(pid)  # whatever the child left running
    data = b""
    while True:
        chunk = os.read(read_fd, 65536)
        if not chunk:
            break
        data += chunk
    os.close(read_fd)
    ms = (time.monotonic() - started) * 1000
    if not data:
        sig = os.WTERMSIG(status) if os.WIFSIGNALED(status) else None
        ended = "cpu" if sig in CPU_SIGNALS else f"signal {sig}" if sig else "died"
        return {"exit": None, "ended": ended, "passed": 0, "failed": [], "n_failed": 0, "ms": ms}
    result = json.loads(data)
    result.update(ended="exit", ms=ms)
    return result


def _exit_watch(pid):
    """A descriptor readable once the child has exited (a pidfd: waiting wakes at the exit, not at the next
    poll), or None where the kernel or a seccomp filter has no pidfd_open (then the wait polls)."""
    try:
        return os.pidfd_open(pid)
    except (AttributeError, OSError):
        return None


def _kill(pid):
    try:
        os.killpg(pid, signal.SIGKILL)
    except OSError:
        pass


def _write(files):
    for path, text in files.items():
        parent = os.path.dirname(path)
        if parent:
            os.makedirs(parent, exist_ok=True)
        with open(path, "w", encoding="utf-8") as fh:
            fh.write(text)


def _prepare():
    """Import once, in the parent, what every child's pytest would import again: pytest, its built-in plugins
    and the installed plugins' modules (entry points). Then freeze the heap so a child's garbage collections
    (pytest runs a few) neither walk nor copy-on-write the parent's objects."""
    import gc
    import importlib
    import importlib.metadata

    import pytest  # noqa: F401
    from _pytest.config import default_plugins

    for name in default_plugins:
        try:
            importlib.import_module("_pytest." + name)
        except Exception:  # a plugin this pytest lacks: the child's pytest will say so itself
            pass
    if not os.environ.get("PYTEST_DISABLE_PLUGIN_AUTOLOAD"):
        for entry in importlib.metadata.entry_points(group="pytest11"):
            try:
                entry.load()
            except Exception:
                pass
    gc.collect()
    gc.freeze()


def main(path):
    with open(path, encoding="utf-8") as fh:
        batch = json.load(fh)
    os.unlink(path)  # the code under test has no business reading the other candidates
    sys.dont_write_bytecode = True  # candidates replace files within the same second: no stale bytecode
    for name in ("PYTEST_PLUGINS", "CHAIN_PYTEST_REPORT"):
        os.environ.pop(name, None)  # chain's report plugin would write one report per child over the last
    _prepare()

    os.environ["CHAIN_TEST_CPU_S"] = str(batch["test_cpu_s"])  # read by each child at its first test
    os.environ.pop("CHAIN_TEST_TIMEOUT_S", None)  # the wall clock is the runner's own backstop (wall_s)
    # No tracebacks: a verdict needs outcomes, and formatting a failure's cost a failing candidate 20 ms.
    base = ["-p", "no:cacheprovider", *batch["args"], "--tb=no"]
    for index, cand in enumerate(batch["candidates"]):
        originals = {}
        for p in cand["files"]:
            try:
                with open(p, encoding="utf-8") as fh:
                    originals[p] = fh.read()
            except FileNotFoundError:
                originals[p] = None
        _write(cand["files"])
        try:
            screen = run_one([*base, "-x", *cand["screen"]], batch) if cand.get("screen") else None
            full = None
            if screen is None or (screen["exit"] == 0 and not screen["n_failed"]):
                full = run_one([*base, "-x", *batch["paths"]], batch)
        finally:
            _write({p: t for p, t in originals.items() if t is not None})
            for p in (p for p, t in originals.items() if t is None):
                os.unlink(p)
        sys.stdout.write(MARK + json.dumps({"index": index, "screen": screen, "full": full}) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main(sys.argv[1])
