"""Runs inside the sandbox (shipped as _chain_batch_collector.py; standard library + pytest): the collected
session candidates are forked from (see chain.repair.batch_runner).

The collector is a process forked by the runner before any candidate is written: it runs pytest on the
original files with the batch's arguments up to the end of collection (pytest's configuration, conftest.py,
the test modules and the code under test imported, items collected and modified by the hooks), recording
which functions of the candidates' files run meanwhile. Then it serves the runner's requests, one at a time
("INDEX PHASE" lines on a pipe): for each it forks a child that switches the candidate's code in
(chain.repair.batch_swap, which refuses what it cannot show equal to a fresh import), keeps only the items of
the phase (the screening nodeids in their order, or the whole suite) and returns into pytest's own run-test
loop, session end and unconfigure; the child's counts come back as one JSON line, or {"fallback": why} when
the swap was refused or a screening nodeid is not an item of the collected session (the runner then runs
the candidate fresh). The collector itself runs no test, so every child starts from the same state.
"""

import gc
import json
import linecache
import os
import resource
import sys
import time

import pytest

FALLBACK = "fallback"


def _cpu():
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


class Driver:
    """pytest plugin in the collector: takes over the run-test loop to serve candidates."""

    def __init__(self, batch, index, originals, helpers, req_fd, resp_fd):
        self.batch, self.index, self.originals, self.helpers = batch, index, originals, helpers
        self.req, self.resp = os.fdopen(req_fd, "rb", buffering=0), resp_fd
        self.result_fd = None  # set in a candidate's child
        self.started_cpu = _cpu()

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
        if session.testsfailed or session.shouldfail or session.shouldstop:
            self.send("unavailable collection failed")
            os._exit(0)
        self.index.special = self._special(session)
        self.index.scan(gc.get_objects())
        items = {item.nodeid: item for item in session.items}
        all_items = list(session.items)
        gc.collect()
        gc.freeze()  # the children's collections neither walk nor copy-on-write the collected session
        self.send(f"ready {_cpu() - self.started_cpu:.4f}")
        while True:
            line = self.req.readline()
            if not line:
                os._exit(0)
            index, phase = line.decode().split()
            read_fd, write_fd = os.pipe()
            started = time.monotonic()
            pid = os.fork()
            if pid == 0:
                os.close(read_fd)
                if self._enter(session, int(index), phase, items, all_items, write_fd):
                    return None  # into pytest's own run-test loop with this candidate's items
            os.close(write_fd)
            self.send(json.dumps(self.helpers.wait(pid, read_fd, started, self.batch["wall_s"])))

    def _enter(self, session, index, phase, items, all_items, write_fd):
        """In the child: the candidate's code in, the phase's items kept; False after reporting a fallback."""
        os.close(self.resp)
        self.req.close()
        cand = self.batch["candidates"][index]
        try:
            selected = all_items
            if phase == "screen":
                missing = [n for n in cand["screen"] if n not in items]
                if missing:
                    raise self.helpers.Refused(f"screening nodeid not collected: {missing[0]}")
                selected = [items[n] for n in cand["screen"]]
            swapped = 0
            for path, text in cand["files"].items():
                if path not in self.originals:
                    raise self.helpers.Refused(f"{path}: a new file")
                swapped += self.index.swap(path, self.originals[path], text)
        except self.helpers.Refused as exc:
            os.write(write_fd, json.dumps({FALLBACK: str(exc)}).encode())
            os._exit(0)
        except BaseException as exc:  # a bug here must not decide a verdict: the fresh path does
            os.write(write_fd, json.dumps({FALLBACK: f"swap failed: {type(exc).__name__}: {exc}"}).encode())
            os._exit(0)
        self.helpers.prologue(self.batch["run_cpu_s"])
        linecache.clearcache()
        session.items = selected
        session.testsfailed = 0
        session.shouldfail = session.shouldstop = False
        self.result_fd = write_fd
        return True


def serve(batch, args, plugins, helpers, req_fd, resp_fd):
    """The collector process (never returns). Writes "ready CPU_S" (or "unavailable WHY") on resp_fd, then one
    JSON line per request."""
    watched = {p for cand in batch["candidates"] for p in cand["files"]}
    originals = {}
    for path in watched:
        try:
            with open(path, encoding="utf-8") as fh:
                originals[path] = fh.read()
        except (OSError, UnicodeDecodeError):
            pass
    index = helpers.Index(watched)
    driver = Driver(batch, index, originals, helpers, req_fd, resp_fd)
    recorder = plugins[0]
    error = None
    sys.setprofile(index.profile)  # which of the candidates' functions run at import and collection
    try:
        code = int(pytest.main(args, plugins=[driver, *plugins]))
    except BaseException as exc:
        code, error = 3, f"{type(exc).__name__}: {exc}"
    sys.setprofile(None)
    if driver.result_fd is not None:  # a candidate's child, back from its session
        helpers.report(driver.result_fd, code, error, recorder)
    else:
        driver.send(f"unavailable the session ended before its tests ({code}, {error})")
    os._exit(0)
