"""chain equivalence: records the calls of the functions a candidate changed while the original's tests run.

Shipped into the original's workspace as _chain_equiv_record.py (chain, not the task, wrote it) and loaded with
`-p _chain_equiv_record`; chain.equivalence.targets puts `@__import__("_chain_equiv_record").record` on each
changed function. Every distinct call (by its pickled arguments) is kept with the tests it ran in, what it
returned or raised, and its arguments afterwards when the call changed them. At the end one line goes to
stdout:
    CHAIN-EQUIV-RECORD {"records": [...], "tests": {nodeid: passed}, "unpicklable": {...}, "dropped": n,
                        "paths": [...]}
Runs on whatever interpreter the task uses: standard library and pytest only.
"""

import base64
import functools
import json
import os
import pickle
import sys
from typing import Any  # noqa: F401  (used in type comments: the recorder runs on any interpreter)

MARK = "CHAIN-EQUIV-RECORD "
MAX_CALLS = 100  # distinct calls kept per function
MAX_LOOKS = 20 * MAX_CALLS  # calls looked at per function: after that, a hot function costs nothing more
MAX_BYTES = 600_000  # of pickled data in all: the line must fit the sandbox's captured stdout

_state = {"test": None, "bytes": 0, "dropped": 0}
_records = []  # type: list[dict[str, Any]]
_seen = {}  # type: dict[tuple[str, bytes], dict[str, Any]]  # (function, pickled arguments) -> its record
_looks = {}  # type: dict[str, int]
_kept = {}  # type: dict[str, int]
_unpicklable = {}  # type: dict[str, int]
_tests = {}  # type: dict[str, bool]

# Each recorded call adds the wrapper's frame: deep recursion that fit before must still fit.
sys.setrecursionlimit(max(sys.getrecursionlimit(), 2 * sys.getrecursionlimit()))


def _dumps(value):
    try:
        return pickle.dumps(value, protocol=4)
    except BaseException:  # unpicklable, or too deep to pickle
        return None


def _text(data):
    return base64.b64encode(data).decode("ascii") if data is not None else None


def _keep(key, before, args, kwargs, raised, value=None):
    if before is None:
        _unpicklable[key] = _unpicklable.get(key, 0) + 1
        return
    seen = _seen.get((key, before))
    if seen is not None:  # the same call again: note the test (a call a failing test made is not trusted)
        if _state["test"] not in seen["tests"] and len(seen["tests"]) < 20:
            seen["tests"].append(_state["test"])
        return
    if _kept.get(key, 0) >= MAX_CALLS:
        return
    after = _dumps((args, kwargs))
    returned = None
    if raised is None:
        returned = _dumps(value)
        if returned is None:
            _unpicklable[key] = _unpicklable.get(key, 0) + 1
            return
    size = len(before) + len(returned or b"") + (len(after) if after is not None and after != before else 0)
    if _state["bytes"] + size > MAX_BYTES:
        _state["dropped"] += 1
        return
    _state["bytes"] += size
    _kept[key] = _kept.get(key, 0) + 1
    _seen[(key, before)] = rec = {
        "fn": key,
        "tests": [_state["test"]],
        "args": _text(before),
        "after": _text(after) if after is not None and after != before else None,
        "returned": _text(returned),
        "raised": raised,
    }
    _records.append(rec)


def record(func):
    key = func.__module__ + ":" + func.__qualname__

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        looked = _looks.get(key, 0)
        if looked >= MAX_LOOKS:
            return func(*args, **kwargs)
        _looks[key] = looked + 1
        before = _dumps((args, kwargs))
        try:
            value = func(*args, **kwargs)
        except Exception as exc:  # not BaseException: a time limit or an interrupt is not the function's answer
            _keep(key, before, args, kwargs, type(exc).__module__ + "." + type(exc).__qualname__)
            raise
        _keep(key, before, args, kwargs, None, value)
        return value

    return wrapper


def pytest_runtest_logstart(nodeid, location):
    _state["test"] = nodeid
    _tests.setdefault(nodeid, True)


def pytest_runtest_logreport(report):
    if report.failed or report.skipped:  # a skipped or expected failure checked nothing
        _tests[report.nodeid] = False


def pytest_runtest_logfinish(nodeid, location):
    _state["test"] = None


def _paths():
    """The import path entries inside the workspace (a conftest's or rootdir's insertions): the replay needs
    them to import the same modules."""
    here = os.getcwd()
    found = []
    for entry in sys.path:
        full = os.path.abspath(entry or here)
        if (full == here or full.startswith(here + os.sep)) and os.path.relpath(full, here) not in found:
            found.append(os.path.relpath(full, here))
    return found


def pytest_unconfigure(config):
    line = {
        "records": _records,
        "tests": _tests,
        "unpicklable": _unpicklable,
        "dropped": _state["dropped"],
        "paths": _paths(),
    }
    data = ("\n" + MARK + json.dumps(line) + "\n").encode()
    while data:  # a pipe may take a long line in parts
        data = data[os.write(1, data) :]
