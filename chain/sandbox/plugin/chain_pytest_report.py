"""pytest plugin that writes each test's outcome and duration as JSON for chain.

Loaded inside the sandbox through PYTEST_PLUGINS; the report goes to $CHAIN_PYTEST_REPORT, which lies outside
the workspace so the code under test cannot easily clobber it. Standard library only: it runs in the task's
interpreter, not chain's.
"""

import json
import os
import time

_MESSAGE_LIMIT = 4000
_tests = {}  # type: dict[str, dict]
_collect_errors = []  # type: list[dict]
_started = time.time()


def _message(report):
    text = getattr(report, "longreprtext", "") or ""
    return text[-_MESSAGE_LIMIT:] if text else None


def pytest_runtest_logreport(report):
    entry = _tests.setdefault(report.nodeid, {"nodeid": report.nodeid, "outcome": "passed", "duration_ms": 0.0})
    entry["duration_ms"] += report.duration * 1000.0
    if report.when == "call":
        if hasattr(report, "wasxfail"):
            entry["outcome"] = "xfailed" if report.skipped else "xpassed"
        elif report.failed:
            entry["outcome"] = "failed"
            entry["message"] = _message(report)
        elif report.skipped:
            entry["outcome"] = "skipped"
    elif report.failed:  # setup or teardown broke: the test errored
        entry["outcome"] = "error"
        entry["message"] = _message(report)
    elif report.skipped and report.when == "setup":
        entry["outcome"] = "skipped"


def pytest_collectreport(report):
    if report.failed:
        _collect_errors.append({"nodeid": report.nodeid, "message": _message(report)})


def pytest_sessionfinish(session, exitstatus):
    path = os.environ.get("CHAIN_PYTEST_REPORT")
    if not path:
        return
    data = {
        "exitstatus": int(exitstatus),
        "tests": list(_tests.values()),
        "collect_errors": _collect_errors,
        "duration_ms": (time.time() - _started) * 1000.0,
    }
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump(data, fh)
    os.replace(tmp, path)
