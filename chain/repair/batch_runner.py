"""Runs inside the sandbox: validates a batch of repair candidates in one process, the way mutmut's fork mode
does. Standard library + pytest; it runs in the task's interpreter, not chain's, and is shipped into the
workspace as a file (see chain.repair.batch).

The runner imports pytest once, then for each candidate: writes the candidate's files over the workspace's,
forks a child that runs pytest in-process on the candidate's tests (collection, conftest.py, test modules and
the code under test are imported fresh in every child, so no candidate sees another's code), waits for it
within CPU and wall-clock limits, and puts the original files back. A candidate whose screening tests pass
gets a second child that runs the whole suite. One line per candidate goes to stdout as soon as it is known:
    CHAIN-BATCH {"index": i, "screen": {...}, "full": {...} | null}
with per-run pass/fail counts, the first failing test and why the run ended (exit code, "cpu", "wall").

Argument: the batch file (JSON: {"args": [...pytest flags], "paths": [...], "test_cpu_s": s, "run_cpu_s": n,
"wall_s": s, "candidates": [{"files": {path: text}, "screen": [nodeid, ...] | null}]}).
"""

import json
import os
import resource
import signal
import sys
import time

# The engine's per-test limits (chain/sandbox/plugin), on the sandbox's PYTHONPATH; not resolvable from the tree.
import chain_test_limits  # type: ignore[import-not-found]
import pytest

MARK = "CHAIN-BATCH "


class Recorder:
    """pytest plugin in the child: outcomes per test, and the per-test CPU-time limit through the engine's own
    module (chain_test_limits, on the sandbox's PYTHONPATH; CHAIN_TEST_CPU_S is set by main): the same timer,
    the same BaseException and the same report marking as every other run of chain."""

    def __init__(self):
        self.passed = 0
        self.failed = []
        self.cpu_limited = 0  # tests stopped by the per-test CPU-time limit

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_protocol(self, item, nextitem):
        chain_test_limits.arm(item.nodeid)
        try:
            yield
        finally:
            chain_test_limits.disarm()

    def pytest_runtest_logreport(self, report):
        if report.failed and report.nodeid not in self.failed:
            self.failed.append(report.nodeid)
            if chain_test_limits.timed_out(report):
                self.cpu_limited += 1
        elif report.when == "call" and report.passed:
            self.passed += 1

    def pytest_collectreport(self, report):
        if report.failed:
            self.failed.append(report.nodeid or "<collection>")


def _child(args, recorder, run_cpu_s, result_fd):
    try:
        os.setpgid(0, 0)  # its own group: whatever it spawns is killed with it
    except OSError:
        pass
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)
    try:
        _, hard = resource.getrlimit(resource.RLIMIT_CPU)
        soft = run_cpu_s if hard == resource.RLIM_INFINITY else min(run_cpu_s, hard)
        resource.setrlimit(resource.RLIMIT_CPU, (soft, hard))  # a fork starts at zero CPU time: per candidate
        code = int(pytest.main(args, plugins=[recorder, chain_test_limits]))
        error = None
    except BaseException as exc:
        code, error = 3, f"{type(exc).__name__}: {exc}"
    os.write(
        result_fd,
        json.dumps(
            {
                "exit": code,
                "passed": recorder.passed,
                "error": error,
                "failed": recorder.failed[:5],
                "n_failed": len(recorder.failed),
                "cpu_limited": recorder.cpu_limited,
            }
        ).encode(),
    )
    os._exit(0)


def run_one(args, batch):
    """Fork a child running pytest with `args`; its counts, or why it was stopped."""
    recorder = Recorder()
    read_fd, write_fd = os.pipe()
    started = time.monotonic()
    pid = os.fork()
    if pid == 0:
        os.close(read_fd)
        _child(args, recorder, batch["run_cpu_s"], write_fd)
    os.close(write_fd)
    deadline = started + batch["wall_s"]
    status = None
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        if time.monotonic() > deadline:
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
        time.sleep(0.002)
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
        ended = "cpu" if sig in (signal.SIGXCPU, signal.SIGKILL) else f"signal {sig}" if sig else "died"
        return {"exit": None, "ended": ended, "passed": 0, "failed": [], "n_failed": 0, "ms": ms}
    result = json.loads(data)
    result.update(ended="exit", ms=ms)
    return result


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
    base = ["-p", "no:cacheprovider", *batch["args"]]
    for index, cand in enumerate(batch["candidates"]):
        originals = {}
        for p in cand["files"]:
            with open(p, encoding="utf-8") as fh:
                originals[p] = fh.read()
        _write(cand["files"])
        try:
            screen = run_one([*base, "-x", *cand["screen"]], batch) if cand.get("screen") else None
            full = None
            if screen is None or (screen["exit"] == 0 and not screen["n_failed"]):
                full = run_one([*base, "-x", *batch["paths"]], batch)
        finally:
            _write(originals)
        sys.stdout.write(MARK + json.dumps({"index": index, "screen": screen, "full": full}) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main(sys.argv[1])
