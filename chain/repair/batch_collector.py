"""Runs inside the sandbox (shipped as _chain_batch_collector.py; standard library + pytest): a pytest plugin
(`python -m pytest -p _chain_batch_collector ARGS`) that turns one session into the collected session every
candidate of a batch is forked from. A plain pytest command, so a warm backend serves it from its warm pool
(no interpreter start, no pytest import, no plugin set-up per batch).

The session runs on the original files with the batch's arguments up to the end of collection (pytest's
configuration, conftest.py, the test modules and the code under test imported, items collected and modified
by the hooks), recording which functions of the candidates' files run meanwhile. Then the plugin takes over
the run-test loop: for each candidate it writes the candidate's files and forks a child that switches the
candidate's code in (chain.repair.batch_swap, which refuses what it cannot show equal to a fresh import),
keeps only the phase's items (the screening nodeids in their order, or the whole suite) and returns into
pytest's own run-test loop, session end and unconfigure; the child's counts come back on a pipe. The
collector itself runs no test, so every child starts from the same state. One line per candidate on stdout,
as chain.repair.batch_runner writes them, or {"index": i, "fallback": why} for a candidate the swap refused
(or a screening nodeid that is not an item of the session): chain.repair.batch runs those afresh with the
batch runner. The first line says the collection's CPU time ({"collected_cpu_s": s}), the fresh children's
import limit.
"""

import gc
import json
import linecache
import os
import resource
import sys
import time

import _chain_batch_runner as runner  # type: ignore[import-not-found]
import _chain_batch_swap as swap  # type: ignore[import-not-found]
import chain_test_limits  # type: ignore[import-not-found]
import pytest

BATCH_FILE = "_chain_batch.json"
CPU_FACTOR = 10.0  # a test may take this many times the CPU it took on the original (chain.repair.limits)
TEST_FLOOR_S = 0.03  # per-test CPU floor where the original's own cost of the test is known
FALLBACK = "fallback"
_OUT = os.dup(1)  # the run's stdout, before pytest's capturing takes fd 1 over
_state = {}  # type: ignore[var-annotated]


def _cpu():
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def emit(record):
    # On a line of its own whatever else reached the run's stdout (a child's stray output, say).
    os.write(_OUT, ("\n" + runner.MARK + json.dumps(record) + "\n").encode())


def _silence(config):
    """A child's output goes nowhere: its stdin, stdout and stderr, and the descriptors pytest's capturing
    saved them in (it puts those back between tests, the terminal reporter writes there)."""
    targets = {0, 1, 2}
    capman = config.pluginmanager.getplugin("capturemanager")
    capturing = getattr(capman, "_global_capturing", None)
    for capture in (getattr(capturing, name, None) for name in ("in_", "out", "err")):
        saved = getattr(capture, "targetfd_save", None)
        if isinstance(saved, int):
            targets.add(saved)
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in targets:
        os.dup2(devnull, fd)
    os.close(devnull)


@pytest.hookimpl(tryfirst=True)
def pytest_load_initial_conftests(early_config, parser, args):
    """Before conftest.py is imported: the batch, the candidates' original files, and the call recording."""
    with open(BATCH_FILE, encoding="utf-8") as fh:
        batch = json.load(fh)
    os.unlink(BATCH_FILE)  # the code under test has no business reading the other candidates
    sys.dont_write_bytecode = True  # candidates replace files within the same second: no stale bytecode
    watched = {p for cand in batch["candidates"] for p in cand["files"]}
    originals = {}
    for path in watched:
        try:
            with open(path, encoding="utf-8") as fh:
                originals[path] = fh.read()
        except (OSError, UnicodeDecodeError):
            pass
    index = swap.Index(watched)
    _state.update(batch=batch, index=index, originals=originals, cpu=_cpu())
    sys.setprofile(index.profile)  # which of the candidates' functions run at import and collection


def pytest_configure(config):
    if "batch" not in _state:
        return
    pm = config.pluginmanager
    report_plugin = sys.modules.get("chain_pytest_report")
    recorder = runner.Recorder(arm=report_plugin is None or not pm.is_registered(report_plugin))
    pm.register(recorder, "chain-batch-recorder")
    if not pm.is_registered(chain_test_limits):
        pm.register(chain_test_limits, "chain-test-limits")
    pm.register(Driver(_state, recorder), "chain-batch-driver")


class Driver:
    """Takes over the run-test loop to validate the batch's candidates."""

    def __init__(self, state, recorder):
        self.batch, self.index, self.originals = state["batch"], state["index"], state["originals"]
        self.started_cpu, self.recorder = state["cpu"], recorder
        self.result_fd = None  # set in a candidate's child
        self.test_limits = {}  # nodeid -> CPU seconds, from the original's run of the test in this session
        self.queue = None  # in a child: the nodeids still to run, in order

    def _special(self, session):
        """Files whose change a swap never covers: test modules, conftest.py files, plugins."""
        found = set()
        for item in session.items:
            module = getattr(item, "module", None)
            if getattr(module, "__file__", None):
                found.add(os.path.realpath(module.__file__))
        for plugin in session.config.pluginmanager.get_plugins():
            if getattr(plugin, "__file__", None):
                found.add(os.path.realpath(plugin.__file__))
        return found

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtestloop(self, session):
        sys.setprofile(None)
        cands = self.batch["candidates"]
        if session.testsfailed or session.shouldfail or session.shouldstop:
            for i in range(len(cands)):
                emit({"index": i, FALLBACK: "the original's collection failed"})
            os._exit(0)
        emit({"collected_cpu_s": round(_cpu() - self.started_cpu, 4)})
        self.index.special = self._special(session)
        self.index.scan(gc.get_objects())
        # The children's per-test limit, and no report or journal of chain's plugin written by a child (the
        # run's verdicts are the lines on stdout).
        chain_test_limits.stop()
        for name in ("CHAIN_PYTEST_REPORT", "CHAIN_TEST_TIMEOUT_S", "CHAIN_COVERAGE_CONTEXTS"):
            os.environ.pop(name, None)
        os.environ["CHAIN_TEST_CPU_S"] = str(self.batch["test_cpu_s"])
        chain_test_limits._state["read"] = False  # read again by each child at its first test
        chain_test_limits._limits.clear()
        items = {item.nodeid: item for item in session.items}
        all_items = list(session.items)
        gc.collect()
        gc.freeze()  # the children's collections neither walk nor copy-on-write the collected session
        baseline = self._fork(session, -1, "baseline", items, all_items)
        if baseline is None:
            return None  # in the child: the original's whole suite
        # A test the original passed may take k x what it took; one it failed (it may have stopped early), k x
        # the costliest test that ran to its end: the batch's own limit, measured here rather than in a
        # fresh process (whose first test pays for what the collected session has done already).
        costs = baseline.get("cpu") or {}
        limited = set(baseline.get("cpu_limited_ids") or [])
        costliest = max((c for n, (c, _) in costs.items() if n not in limited), default=self.batch["test_cpu_s"])
        for nodeid, (used, passed) in costs.items():
            if nodeid not in limited:
                limit = CPU_FACTOR * (used if passed else costliest)
                self.test_limits[nodeid] = min(self.batch["test_cpu_s"], max(TEST_FLOOR_S, limit))
        emit(
            {
                "baseline": {
                    "ms": round(baseline.get("ms", 0), 1),
                    "costliest_cpu_s": costliest,
                    "timed_tests": len(self.test_limits),
                }
            }
        )
        for i, cand in enumerate(cands):
            runner._write(cand["files"])
            try:
                screen = full = None
                if cand.get("screen"):
                    screen = self._fork(session, i, "screen", items, all_items)
                    if screen is None:
                        return None  # in the child: into pytest's own run-test loop
                if screen is None or (screen.get("exit") == 0 and not screen.get("n_failed")):
                    full = self._fork(session, i, "full", items, all_items)
                    if full is None:
                        return None
            finally:
                if self.result_fd is None:
                    runner._write({p: self.originals[p] for p in cand["files"] if p in self.originals})
                    for p in cand["files"]:
                        if p not in self.originals and os.path.exists(p):
                            os.unlink(p)
            refused = next((r[FALLBACK] for r in (screen, full) if r and FALLBACK in r), None)
            emit({"index": i, FALLBACK: refused} if refused else {"index": i, "screen": screen, "full": full})
        os._exit(0)

    def _fork(self, session, index, phase, items, all_items):
        """The phase's result in the collector; None in the child, which goes on into the session."""
        read_fd, write_fd = os.pipe()
        started = time.monotonic()
        pid = os.fork()
        if pid == 0:
            os.close(read_fd)
            self._enter(session, index, phase, items, all_items, write_fd)
            return None
        os.close(write_fd)
        result = runner.wait(pid, read_fd, started, self.batch["wall_s"])
        result["via"] = "swap"
        return result

    def _enter(self, session, index, phase, items, all_items, write_fd):
        """In the child: the candidate's code in, the phase's items kept (or a fallback reported and out)."""
        if phase == "baseline":  # the original, every test to its end: what each test costs here
            session.config.option.maxfail = 0
            self.recorder.cpu = {}
            return self._go(session, all_items, write_fd)
        cand = self.batch["candidates"][index]
        try:
            selected = all_items
            if phase == "screen":
                missing = [n for n in cand["screen"] if n not in items]
                if missing:
                    raise swap.Refused(f"screening nodeid not collected: {missing[0]}")
                selected = [items[n] for n in cand["screen"]]
            for path, text in cand["files"].items():
                if path not in self.originals:
                    raise swap.Refused(f"{path}: a new file")
                self.index.swap(path, self.originals[path], text)
        except swap.Refused as exc:
            os.write(write_fd, json.dumps({FALLBACK: str(exc)}).encode())
            os._exit(0)
        except BaseException as exc:  # a bug here must not decide a verdict: the fresh path does
            os.write(write_fd, json.dumps({FALLBACK: f"swap failed: {type(exc).__name__}: {exc}"}).encode())
            os._exit(0)
        # Each test's CPU limit from what it cost the original here (the batch's limit for one that failed).
        self.queue = [item.nodeid for item in selected]
        chain_test_limits.limits()
        self._next_limit()
        self._go(session, selected, write_fd)

    def _go(self, session, selected, write_fd):
        _silence(session.config)
        os.close(_OUT)
        runner.prologue(self.batch["run_cpu_s"])
        linecache.clearcache()
        session.items = selected
        session.testsfailed = 0
        session.shouldfail = session.shouldstop = False
        self.result_fd = write_fd

    def _next_limit(self):
        if self.queue:
            chain_test_limits._limits["cpu"] = self.test_limits.get(self.queue.pop(0), self.batch["test_cpu_s"])

    def pytest_runtest_logfinish(self, nodeid, location):
        if self.result_fd is not None and self.queue is not None:
            self._next_limit()  # the timer of the next test is armed after this one's is disarmed

    @pytest.hookimpl(trylast=True)
    def pytest_unconfigure(self, config):
        if self.result_fd is not None:  # a candidate's child, at the end of its session
            runner.report(self.result_fd, session_exit(config), None, self.recorder)
            os._exit(0)


def session_exit(config):
    return int(getattr(config, "_chain_exitstatus", 0))


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session, exitstatus):
    session.config._chain_exitstatus = int(exitstatus)
