"""Runs inside the sandbox (shipped as _chain_batch_collector.py; standard library + pytest): the collected
session every swapped candidate of a batch is forked from (see chain.repair.batch_plugin, which starts it).

The collected session is a process forked by the plugin's first hook: it goes on through the session's
start on the original files with the batch's arguments up to the end of collection (conftest.py, the test
modules and the code under test imported, items collected and modified by the hooks), recording which
functions of the candidates' files run meanwhile. Then it takes over the run-test loop: it runs the
original's whole suite once in a child (what each test costs here: the per-test CPU limits of the
candidates' children), says "ready CPU_S" and serves the plugin's requests, one at a time ("INDEX PHASE"
lines on a pipe): for each it forks a child that switches the candidate's code in (chain.repair.batch_swap,
which refuses what it cannot show equal to a fresh import), keeps only the phase's items (the screening
nodeids in their order, or the whole suite) and returns into pytest's own run-test loop, session end and
unconfigure. The child's counts come back as one JSON line, or {"fallback": why} when the swap was refused
or a screening nodeid is not an item of the collected session. The collected session runs no test itself,
so every child starts from the same state.
"""

import gc
import json
import linecache
import os
import resource
import select
import sys
import time

import _chain_batch_runner as runner  # type: ignore[import-not-found]
import _chain_batch_swap as swap  # type: ignore[import-not-found]
import chain_test_limits  # type: ignore[import-not-found]
import pytest

CPU_FACTOR = 10.0  # a test may take this many times the CPU it took on the original (chain.repair.limits)
TEST_FLOOR_S = 0.03  # per-test CPU floor where the original's own cost of the test is known
BASELINE_TEST_S = 0.25  # the original's run in the session: a test over this is not measured (batch limit)
BASELINE_BUDGET_S = 1.0  # ... and the tests after this much CPU are not either (a big suite, once a batch)
LOCATIONS_WARMED = 5000  # items whose location the collected session computes for every child
FALLBACK = "fallback"
_state = {}  # type: ignore[var-annotated]


def _cpu():
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def silence(config):
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


def lean_failures():
    """In the children: a failing test's report without its formatted traceback. pytest formats one for every
    failure even under --tb=no (walking and filtering the traceback, a stat per frame: ~7 ms a failing
    candidate); a verdict needs the outcome only. Items with their own repr_failure keep it."""
    from _pytest.python import Function

    Function.repr_failure = lambda self, excinfo: excinfo.exconly()[:500]
    # Nor the explanation of a failing assert's comparison (a diff of the two sides, ~1 ms): the assert's
    # message stays pytest's plain one. A conftest's pytest_assertrepr_compare is not called in a child.
    # (pytest sets util._reprcompare around every test; rewritten asserts look this helper up when they fail.)
    from _pytest.assertion import rewrite, util

    explain = rewrite._call_reprcompare

    def plain(*args):
        saved, util._reprcompare = util._reprcompare, None
        try:
            return explain(*args)
        finally:
            util._reprcompare = saved

    rewrite._call_reprcompare = plain


def warm_caches(items):
    """What every child would otherwise compute again on its first test: pytest's node classes are ABCs,
    and the first isinstance() of an item against each of them walks the class tree (~17 ms a child)."""
    from _pytest.nodes import Node

    classes, todo = set(), [Node]
    while todo:
        cls = todo.pop()
        if cls not in classes:
            classes.add(cls)
            todo.extend(cls.__subclasses__())
    for kind in {type(item) for item in items}:
        for cls in classes:
            issubclass(kind, cls)
    # An item's location (a cached property: its file, line and name, from reportinfo) is what every child
    # asks for each test it runs (~0.5 ms an item); computed here once, for the items the children run most.
    for item in items[:LOCATIONS_WARMED]:
        try:
            _ = item.location
        except Exception:  # a plugin's item whose location fails fails the same way in the child, as in pytest
            pass


def start(batch, originals):
    """Fork the collected session: None in it (the caller returns into the session), its client in the
    plugin's process."""
    req_r, req_w = os.pipe()
    resp_r, resp_w = os.pipe()
    started = _cpu()
    pid = os.fork()
    if pid == 0:
        os.close(req_w)
        os.close(resp_r)
        index = swap.Index(set(originals))
        _state.update(batch=batch, originals=originals, index=index, req=req_r, resp=resp_w, cpu=_cpu())
        sys.setprofile(index.profile)  # which of the candidates' functions run at import and collection
        return None
    os.close(req_r)
    os.close(resp_w)
    return Client(pid, req_w, resp_r, batch, started)


class Client:
    """The plugin's side of the collected session: one phase of one candidate at a time; None when it cannot
    serve (the plugin then runs the candidate fresh)."""

    def __init__(self, pid, req, resp, batch, started):
        self.pid, self.req, self.resp, self.batch = pid, req, resp, batch
        self.ready, self.why, self.buffer = False, "the collected session did not start", b""
        self.started = started

    def handshake(self):
        """The collection's CPU time once the session is ready, else None."""
        line = self._line(max(10.0, 2 * self.batch["wall_s"]))
        if line and line.startswith("ready "):
            self.ready = True
            return float(line.split()[1])
        self.why = line or "the collected session did not answer"
        self.close()
        return None

    def _line(self, timeout):
        deadline = time.monotonic() + timeout
        while b"\n" not in self.buffer:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self.resp], [], [], left)[0]:
                return None
            chunk = os.read(self.resp, 65536)
            if not chunk:
                return None
            self.buffer += chunk
        line, self.buffer = self.buffer.split(b"\n", 1)
        return line.decode()

    def run(self, index, phase):
        if not self.ready:
            return None
        os.write(self.req, f"{index} {phase}\n".encode())
        line = self._line(2 * self.batch["wall_s"] + 5)
        if line is None:
            self.why = "the collected session stopped answering"
            self.close()
            return None
        return json.loads(line)

    def forget(self):
        """In a fresh child: the session is not this process's to talk to."""
        self.ready = False
        for fd in (self.req, self.resp):
            os.close(fd)

    def close(self):
        if self.pid:
            self.ready = False
            for fd in (self.req, self.resp):
                try:
                    os.close(fd)
                except OSError:
                    pass
            runner._kill(self.pid)
            try:
                os.kill(self.pid, 9)
            except OSError:
                pass
            os.waitpid(self.pid, 0)
            self.pid = 0


def child_done(code):
    """At the end of a swapped child's session (the plugin's unconfigure): its counts to the collected
    session, and out."""
    driver = _state.get("driver")
    if driver is not None and driver.result_fd is not None:
        runner.report(driver.result_fd, code, None, driver.recorder)
        os._exit(0)


class Driver:
    """pytest plugin in the collected session: takes over the run-test loop to serve the plugin's requests."""

    def __init__(self, recorder):
        self.batch, self.index, self.originals = _state["batch"], _state["index"], _state["originals"]
        self.req, self.resp = os.fdopen(_state["req"], "rb", buffering=0), _state["resp"]
        self.started_cpu, self.recorder = _state["cpu"], recorder
        self.result_fd = None  # set in a candidate's child
        self.test_limits = {}  # nodeid -> CPU seconds, from the original's run of the test in this session
        self.queue = None  # in a child: the nodeids still to run, in order
        self.baseline = None  # the session, in the child running the original's suite
        _state["driver"] = self

    def send(self, text):
        os.write(self.resp, text.encode() + b"\n")

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
        silence(session.config)
        if session.testsfailed or session.shouldfail or session.shouldstop:
            self.send("unavailable: the original's collection failed")
            os._exit(0)
        collected_cpu = _cpu() - self.started_cpu
        self.index.special = self._special(session)
        self.index.scan(gc.get_objects())
        for path in sorted({p for cand in self.batch["candidates"] for p in cand["files"]}):
            if path in self.originals:
                self.index.prepare(path, self.originals[path])
        chain_test_limits.stop()  # anything the collection opened; each child reads its limits again
        chain_test_limits._state["read"] = False
        chain_test_limits._limits.clear()
        items = {item.nodeid: item for item in session.items}
        all_items = list(session.items)
        warm_caches(all_items)
        lean_failures()  # for every child, set once here
        gc.collect()
        gc.freeze()  # the children's collections neither walk nor copy-on-write the collected session
        baseline = self._fork(session, -1, "baseline", items, all_items)
        if baseline is None:
            return None  # in the child: the original's whole suite
        self._limits_from(baseline, len(all_items))
        self.send(f"ready {collected_cpu:.4f}")
        while True:
            line = self.req.readline()
            if not line:
                os._exit(0)
            index, phase = line.decode().split()
            result = self._fork(session, int(index), phase, items, all_items)
            if result is None:
                return None  # in the child: into pytest's own run-test loop with the candidate's items
            self.send(json.dumps(result))

    def _limits_from(self, baseline, n_items):
        """A test the original passed may take k x what it took here; one it failed (it may have stopped
        early), k x the costliest test: the batch's own limit, measured here rather than in a fresh process
        (whose first test pays for what the collected session has done already), and only when every test
        was measured to its end (else the batch's limit). A test not measured keeps the batch's limit."""
        costs = baseline.get("cpu") or {}
        limited = set(baseline.get("cpu_limited_ids") or [])
        complete = len(costs) == n_items and not limited
        costliest = max((c for c, _ in costs.values()), default=0.0)
        for nodeid, (used, passed) in costs.items():
            if nodeid not in limited and (passed or complete):
                limit = CPU_FACTOR * (used if passed else costliest)
                self.test_limits[nodeid] = min(self.batch["test_cpu_s"], max(TEST_FLOOR_S, limit))

    def _fork(self, session, index, phase, items, all_items):
        """The phase's result in the collected session; None in the child, which goes on into the session."""
        read_fd, write_fd = os.pipe()
        started = time.monotonic()
        pid = os.fork()
        if pid == 0:
            os.close(read_fd)
            self._enter(session, index, phase, items, all_items, write_fd)
            return None
        os.close(write_fd)
        return runner.wait(pid, read_fd, started, self.batch["wall_s"])

    def _enter(self, session, index, phase, items, all_items, write_fd):
        """In the child: the candidate's code in, the phase's items kept (or a fallback reported and out)."""
        os.close(self.resp)
        self.req.close()
        if phase == "baseline":  # the original, every test to its end: what each test costs here
            session.config.option.maxfail = 0
            self.recorder.cpu = {}
            self.queue, self.baseline = [item.nodeid for item in all_items], session
            chain_test_limits.limits()
            self._next_limit()
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
        runner.prologue(self.batch["run_cpu_s"])
        linecache.clearcache()
        session.items = selected
        session.testsfailed = 0
        session.shouldfail = session.shouldstop = False
        self.result_fd = write_fd

    def _next_limit(self):
        if self.queue:
            limit = self.test_limits.get(self.queue.pop(0), self.batch["test_cpu_s"])
            chain_test_limits._limits["cpu"] = min(limit, BASELINE_TEST_S) if self.baseline else limit

    def pytest_runtest_logfinish(self, nodeid, location):
        if self.result_fd is not None and self.queue is not None:
            self._next_limit()  # the timer of the next test is armed after this one's is disarmed
            if self.baseline is not None and time.process_time() > BASELINE_BUDGET_S:
                self.baseline.shouldstop = "the original's run in the session spent its CPU budget"
