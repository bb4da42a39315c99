"""pytest plugin that writes each test's outcome and duration as JSON for chain.

Loaded inside the sandbox through PYTEST_PLUGINS; the report goes to $CHAIN_PYTEST_REPORT, which lies outside
the workspace so the code under test cannot easily clobber it. The report file is chain's channel for results
of any size (the run's stdout is the user's, captured up to a cap). Standard library only: it runs in the
task's interpreter, not chain's.

What it records, beside each test's outcome:
- `counts`: pytest's own tally, from the same `pytest_report_teststatus` hook the terminal summary uses, so
  chain counts exactly what `python -m pytest` prints (subtests, xfail/xpass, teardown errors, collection
  errors and skips included).
- subtests (pytest's `subtests` fixture, unittest's `subTest`): one entry each, `subtest_of` its test.
- per-test limits (see chain_test_limits): a test over its limit is that test's `timeout`, and the run goes on;
  with limits set, a journal next to the report keeps what finished should the process be ended hard.
"""

import json
import os
import time

# A sibling on the sandbox PYTHONPATH (chain_test_limits.py), not a module mypy can resolve from the tree.
import chain_test_limits  # type: ignore[import-not-found]
import pytest

_MESSAGE_LIMIT = 4000
_tests = {}  # type: dict[str, dict]
_collect_errors = []  # type: list[dict]
_counts = {}  # type: dict[str, int]
_state = {"config": None}
_touched = []  # type: list[dict]  # entries the running test has written (itself and its subtests), for the limits journal
_started = time.time()
_cpu = {"max_test_s": 0.0, "started": 0.0}


def _message(report):
    text = getattr(report, "longreprtext", "") or ""
    if len(text) > _MESSAGE_LIMIT:  # the end has the assertion and where it failed; say what was cut
        return f"[chain: first {len(text) - _MESSAGE_LIMIT} of {len(text)} characters cut]\n" + text[-_MESSAGE_LIMIT:]
    return text or None


def _skip_message(report):
    """What pytest says of a skip (`-rs`, its JUnit body): `file:line: reason`, the file relative to the rootdir
    (the workspace's path means nothing outside the sandbox); an xfail's reason as pytest gives it."""
    if hasattr(report, "wasxfail"):
        return str(report.wasxfail).removeprefix("reason: ") or None
    longrepr = report.longrepr
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        filename, lineno, reason = longrepr
        config = _state["config"]
        if config is not None and os.path.isabs(str(filename)):
            try:
                filename = os.path.relpath(str(filename), str(config.rootpath))
            except ValueError:
                pass
        return f"{filename}:{lineno}: {str(reason).removeprefix('Skipped: ')}"
    return _message(report)


def pytest_configure(config):
    _state["config"] = config
    _state.pop("terminal", None)  # a later session in this process (repair's batches) has its own
    _state.pop("coverage", None)
    chain_test_limits.configure(config)


def pytest_collection_finish(session):
    chain_test_limits.collected([item.nodeid for item in session.items], _collect_errors)


# Categories of the terminal reporter's tally that are not test outcomes (chain's `counts` never held them).
_NOT_OUTCOMES = ("", "warnings", "deselected")


def _terminal():
    """pytest's terminal reporter, whose tally (`stats`) is what `python -m pytest` prints; looked up at the
    first report (it registers during configure), None with `-p no:terminal`."""
    if "terminal" not in _state:
        config = _state["config"]
        _state["terminal"] = config.pluginmanager.get_plugin("terminalreporter") if config is not None else None
    return _state["terminal"]


def _terminal_counts(terminal):
    counts = {}
    for category, reports in terminal.stats.items():
        if category not in _NOT_OUTCOMES:
            n = sum(1 for r in reports if getattr(r, "count_towards_summary", True))
            if n:
                counts[category] = n
    return counts


def _count(report):
    """pytest's category for a report, counted, when no terminal reporter keeps the tally for us (calling the
    teststatus hook again for each of a test's three reports was a third of this plugin's cost)."""
    if not getattr(report, "count_towards_summary", True):
        return
    config = _state["config"]
    category = None
    if config is not None:
        try:
            status = config.hook.pytest_report_teststatus(report=report, config=config)
            category = status[0] if status else None
        except Exception:  # a plugin's hook broke: fall back to the report's own outcome
            category = None
    if category is None:
        category = report.outcome if report.when == "call" or not report.passed else ""
    if category:
        _counts[category] = _counts.get(category, 0) + 1


def _is_subtest(report):
    return type(report).__name__ in ("SubtestReport", "SubTestReport") and hasattr(report, "context")


def _subtest_name(report):
    describe = getattr(report, "_sub_test_description", None)
    if callable(describe):
        return describe()
    context = report.context
    parts = [f"[{context.msg}]"] if getattr(context, "msg", None) is not None else []
    kwargs = getattr(context, "kwargs", None) or {}
    if kwargs:
        parts.append("(" + ", ".join(f"{k}={v}" for k, v in kwargs.items()) + ")")
    return " ".join(parts) or "(<subtest>)"


def _subtest_entry(report):
    base = f"{report.nodeid} {_subtest_name(report)}"
    nodeid, n = base, 1
    while nodeid in _tests:  # the same description twice in one test: still two subtests
        n += 1
        nodeid = f"{base} #{n}"
    entry = {
        "nodeid": nodeid,
        "outcome": "passed",
        "duration_ms": report.duration * 1000.0,
        "subtest_of": report.nodeid,
    }
    _tests[nodeid] = entry
    _touched.append(entry)
    return entry


@pytest.hookimpl(trylast=True)  # after the terminal reporter's: pytest's subtests hook marks a test with failed
def pytest_runtest_logreport(report):  # subtests as failed while it counts, and the entry must see that
    if _terminal() is None:
        _count(report)
    if _is_subtest(report):
        entry = _subtest_entry(report)
    else:
        entry = _tests.get(report.nodeid)
        if entry is None:
            entry = _tests[report.nodeid] = {"nodeid": report.nodeid, "outcome": "passed", "duration_ms": 0.0}
        entry["duration_ms"] += report.duration * 1000.0
    _touched.append(entry)
    limit = chain_test_limits.timed_out(report)
    if limit is not None:
        entry["outcome"] = "timeout"
        entry["message"] = f"test exceeded its {limit}; the run went on with the next test\n" + (_message(report) or "")
        return
    if entry["outcome"] == "timeout":
        return
    if report.when == "call":
        if hasattr(report, "wasxfail"):
            entry["outcome"] = "xfailed" if report.skipped else "xpassed"
            entry["message"] = _skip_message(report)
        elif report.failed:
            entry["outcome"] = "failed"
            entry["message"] = _message(report)
        elif report.skipped:
            entry["outcome"] = "skipped"
            entry["message"] = _skip_message(report)
    elif report.failed:  # setup or teardown broke: the test errored
        entry["outcome"] = "error"
        entry["message"] = _message(report)
    elif report.skipped and report.when == "setup":
        entry["outcome"] = "xfailed" if hasattr(report, "wasxfail") else "skipped"
        entry["message"] = _skip_message(report)


def pytest_collectreport(report):
    if report.failed:  # pytest counts it an error and names the file (or class) as the node
        if _terminal() is None:
            _counts["error"] = _counts.get("error", 0) + 1
        _collect_errors.append({"nodeid": report.nodeid, "message": _message(report)})
        _tests.setdefault(
            report.nodeid,
            {
                "nodeid": report.nodeid,
                "outcome": "error",
                "duration_ms": 0.0,
                "message": _message(report),
                "collection": True,
            },
        )
    elif report.skipped:
        if _terminal() is None:
            _counts["skipped"] = _counts.get("skipped", 0) + 1
        _tests.setdefault(
            report.nodeid,
            {
                "nodeid": report.nodeid,
                "outcome": "skipped",
                "duration_ms": 0.0,
                "message": _skip_message(report),
                "collection": True,
            },
        )


def report_data(exitstatus):
    data = {
        "exitstatus": int(exitstatus),
        "tests": list(_tests.values()),
        "collect_errors": _collect_errors,
        "counts": _counts if _terminal() is None else _terminal_counts(_terminal()),
        "duration_ms": (time.time() - _started) * 1000.0,
    }
    limits = chain_test_limits.describe()
    if limits:
        data["test_limits"] = limits
    data["cpu"] = {"max_test_s": round(_cpu["max_test_s"], 6), "session_s": round(time.process_time(), 6)}
    return data


def _note_cpu(nodeid, used):
    """The costliest test's CPU time (user + system), for limits from what the code costs (chain.repair.limits);
    a test stopped at a limit says nothing of what the tests need."""
    entry = _tests.get(nodeid)
    if entry is None or entry.get("outcome") != "timeout":
        _cpu["max_test_s"] = max(_cpu["max_test_s"], used)


def write_report(data):
    path = os.environ.get("CHAIN_PYTEST_REPORT")
    if not path:
        return
    tmp = path + ".tmp"
    # dumps, then one write: json.dump streams the encoder's chunks through the Python-level iterencode, a
    # write call each, ~10 us a test on a large suite
    text = json.dumps(data, separators=(",", ":"))
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write(text)
    os.replace(tmp, path)


def pytest_sessionfinish(session, exitstatus):
    chain_test_limits.stop()
    write_report(report_data(exitstatus))


def _coverage():
    """The running coverage.py measurement when chain's localization run asked for per-test contexts. Looked up
    at the first test (a warm worker imports this module before the run's environment is in place)."""
    if "coverage" not in _state:
        _state["coverage"] = None
        if os.environ.get("CHAIN_COVERAGE_CONTEXTS"):
            try:
                import coverage

                _state["coverage"] = coverage.Coverage.current()
            except Exception:
                pass
    return _state["coverage"]


# A test's limits, coverage context and CPU time go from its logstart to its logfinish, which pytest's runner
# (and any plugin that runs the protocol itself) calls around setup, call and teardown: two plain hooks, where
# a runtest_protocol hookwrapper, a generator pair and a Result per test through pluggy, cost more.
@pytest.hookimpl(tryfirst=True)
def pytest_runtest_logstart(nodeid, location):
    cov = _coverage()
    if cov is not None:
        cov.switch_context(nodeid)  # the spectrum names each test by its node id, setup and teardown too
    del _touched[:]
    chain_test_limits.arm(nodeid)
    _cpu["started"] = time.process_time()


@pytest.hookimpl(trylast=True)  # after the others' logfinish: repair's batches set the next test's limit there
def pytest_runtest_logfinish(nodeid, location):
    _note_cpu(nodeid, time.process_time() - _cpu["started"])
    chain_test_limits.disarm({id(e): e for e in _touched}.values(), last=False)
    cov = _coverage()
    if cov is not None:
        cov.switch_context("")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtestloop(session):
    """Once the tests are over (all run, -x, maxfail, ^C): the watchdog cancelled and the signal handlers given
    back before the session's own end, where a plugin writing a coverage report may take long."""
    try:
        yield
    finally:
        chain_test_limits.tests_over()


pytest_exception_interact = chain_test_limits.pytest_exception_interact
