"""Runs inside the sandbox (shipped as _chain_batch_plugin.py; standard library + pytest): the pytest plugin a
batch of repair candidates is validated by, `python -m pytest -p _chain_batch_plugin ARGS`. A plain pytest
command, so a warm backend serves it from its warm pool: no interpreter start, pytest import or plugin set-up
per batch.

Its first hook, before any conftest.py or test module is imported, makes the process the batch's server:
- it forks the collected session (chain.repair.batch_collector), which goes on into conftest.py and
  collection on the original files and then answers for one phase of one candidate at a time with a child
  that has the candidate's code swapped in, or refuses (the swap would not equal a fresh import);
- for each candidate it writes the candidate's files, asks the collected session, and for a refused one
  forks a fresh child from right here: the child returns from the hook and is an ordinary pytest session of
  the candidate's files (conftest.py, test modules, the code under test imported afresh; the screening
  nodeids as its arguments), its import and collection under a CPU-time limit from the collected session's;
- it puts the files back and writes one line per candidate, as chain.repair.batch_runner does:
    CHAIN-BATCH {"index": i, "screen": {...} | null, "full": {...} | null}   (each with "via")
Every child runs under the batch's CPU limits, with its output going nowhere.
"""

import json
import os
import signal
import sys
import time

import _chain_batch_collector as collector  # type: ignore[import-not-found]
import _chain_batch_runner as runner  # type: ignore[import-not-found]
import chain_test_limits  # type: ignore[import-not-found]
import pytest

BATCH_FILE = "_chain_batch.json"
FALLBACK = collector.FALLBACK
# A fresh child's import and collection may take this many times the CPU of the collected session's, which
# ran with the call recording on (about twice a plain collection's): about 10x what a fresh one costs.
COLLECT_FACTOR = 5.0
COLLECT_FLOOR_S = 0.25  # CPU time, at least this (a small project's fresh session takes 30-60 ms)
_OUT = os.dup(1)  # the run's stdout, before pytest's capturing takes fd 1 over
_state: dict = {"role": None}
IN_CHILD = object()


def emit(record):
    # On a line of its own whatever else reached the run's stdout.
    os.write(_OUT, ("\n" + runner.MARK + json.dumps(record) + "\n").encode())


@pytest.hookimpl(tryfirst=True)
def pytest_load_initial_conftests(early_config, parser, args):
    with open(BATCH_FILE, encoding="utf-8") as fh:
        batch = json.load(fh)
    os.unlink(BATCH_FILE)  # the code under test has no business reading the other candidates
    sys.dont_write_bytecode = True  # candidates replace files within the same second: no stale bytecode
    # No report or journal of chain's plugin written by a child (the verdicts are the lines on stdout), and
    # the children's per-test CPU limit.
    for name in ("CHAIN_PYTEST_REPORT", "CHAIN_TEST_TIMEOUT_S", "CHAIN_COVERAGE_CONTEXTS"):
        os.environ.pop(name, None)
    os.environ["CHAIN_TEST_CPU_S"] = str(batch["test_cpu_s"])
    originals = {}
    for path in {p for cand in batch["candidates"] for p in cand["files"]}:
        try:
            with open(path, encoding="utf-8") as fh:
                originals[path] = fh.read()
        except (OSError, UnicodeDecodeError):
            originals[path] = None
    session = collector.start(batch, {p: t for p, t in originals.items() if t is not None})
    if session is None:  # in the collected session's process: on into conftest.py and collection
        _state["role"] = "collector"
        return
    _serve(batch, originals, session, early_config)


def _serve(batch, originals, session, config):
    """The batch, candidate by candidate; returns only in a fresh child (into that child's session)."""
    cpu = session.handshake()
    if cpu is not None:
        batch["collect_cpu_s"] = max(COLLECT_FLOOR_S, COLLECT_FACTOR * cpu)
    for index, cand in enumerate(batch["candidates"]):
        runner._write(cand["files"])
        try:
            results = _validate(index, cand, batch, session, config)
        finally:
            if _state["role"] is None:
                runner._write({p: originals[p] for p in cand["files"] if originals.get(p) is not None})
                for path in (p for p in cand["files"] if originals.get(p) is None):
                    if os.path.exists(path):
                        os.unlink(path)
        if results is IN_CHILD:
            return
        screen, full = results
        emit({"index": index, "screen": screen, "full": full})
    session.close()
    os._exit(0)


def _validate(index, cand, batch, session, config):
    fallback = None
    out = []
    for phase in ("screen", "full"):
        if phase == "screen" and not cand.get("screen"):
            out.append(None)
            continue
        if phase == "full" and out[0] is not None and (out[0].get("exit") != 0 or out[0].get("n_failed")):
            out.append(None)
            break
        result = session.run(index, phase) if fallback is None else None
        if result is not None and FALLBACK not in result:
            result["via"] = "swap"
        else:
            fallback = fallback or (result[FALLBACK] if result is not None else session.why)
            result = _fresh(index, phase, cand, batch, session, config)
            if result is IN_CHILD:
                return IN_CHILD
            result["via"] = f"fresh: {fallback}"
        out.append(result)
    return out


def _fresh(index, phase, cand, batch, session, config):
    """Fork a child that goes on from this hook as a fresh session of the candidate; its result here."""
    read_fd, write_fd = os.pipe()
    started = time.monotonic()
    pid = os.fork()
    if pid != 0:
        os.close(write_fd)
        return runner.wait(pid, read_fd, started, batch["wall_s"])
    os.close(read_fd)
    session.forget()
    _state.update(role="fresh", result_fd=write_fd, args=cand["screen"] if phase == "screen" else None)
    collector.silence(config)
    os.close(_OUT)
    runner.prologue(batch["run_cpu_s"])
    collector.lean_failures()
    chain_test_limits._state["read"] = False  # read by the child at its first test
    chain_test_limits._limits.clear()
    if batch.get("collect_cpu_s"):  # SIGPROF's default ends the process; the first test takes the timer over
        signal.signal(signal.SIGPROF, signal.SIG_DFL)
        signal.setitimer(signal.ITIMER_PROF, batch["collect_cpu_s"])
    return IN_CHILD


def pytest_configure(config):
    if _state["role"] is None:
        return
    pm = config.pluginmanager
    report_plugin = sys.modules.get("chain_pytest_report")
    recorder = runner.Recorder(arm=report_plugin is None or not pm.is_registered(report_plugin))
    _state["recorder"] = recorder
    pm.register(recorder, "chain-batch-recorder")
    if not pm.is_registered(chain_test_limits):
        pm.register(chain_test_limits, "chain-test-limits")
    if _state["role"] == "collector":
        pm.register(collector.Driver(recorder), "chain-batch-driver")


@pytest.hookimpl(tryfirst=True)
def pytest_collection(session):
    if _state["role"] == "fresh" and _state["args"]:
        session.config.args = list(_state["args"])  # the screening nodeids, in their order


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session, exitstatus):
    _state["exit"] = int(exitstatus)


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config):
    if _state["role"] == "fresh":
        runner.report(_state["result_fd"], _state.get("exit", 3), None, _state["recorder"])
        os._exit(0)
    collector.child_done(_state.get("exit", 3))
