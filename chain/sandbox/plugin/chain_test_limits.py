"""Per-test limits for chain's pytest plugin: a test over its limit is that test's `timeout`, and the run goes on.

Set by the environment of the run (chain's stages set them; see docs/sandbox.md "Per-test limits"):
  CHAIN_TEST_TIMEOUT_S  wall-clock seconds per test (setup + call + teardown)
  CHAIN_TEST_CPU_S      CPU seconds per test (user + system of the test process)

Two layers, as pytest-timeout has them, but without a thread in the test process (a thread would make every
os.fork() in the code under test warn, an error under `-W error`):
- soft: setitimer (ITIMER_REAL -> SIGALRM, ITIMER_PROF -> SIGPROF) raises TestTimeLimit in the main thread, a
  BaseException so `except Exception` in the code under test does not swallow it. pytest reports the test as
  failed, chain as `timeout`; teardown runs and the session goes on. A suite that installed its own SIGALRM
  or SIGPROF handler keeps it: that timer is not used, and the hard layer still applies.
- hard: faulthandler's C watchdog (it needs neither the GIL nor signals, so it ends code stuck in C or with
  signals blocked) dumps the stacks into the journal and exits, between limit + grace and twice that after the
  test started. It is re-armed only when the armed deadline is too close for the test starting (once per
  window, not per test): arming and cancelling it starts and joins a thread, 4 ms a test on a loaded machine,
  a quarter of the wall time of a suite of 50,000 fast tests (packaging's). It is cancelled after the last
  test, before the session's own end (a plugin writing a coverage report may take long there). What finished
  is already in the journal (a line per test next to the report), so chain keeps it, marks the stuck test
  `timeout` and runs the tests that had not run in a new session.
"""

import faulthandler
import json
import os
import signal
import time
from json.encoder import encode_basestring_ascii as _quote
from typing import Any  # noqa: F401  (used in a type comment: the plugin runs on any interpreter)

import pytest

HARD_GRACE_S = 2.0  # after the soft limit, before the hard one: teardown and the report get this long
_signals = {"wall": (signal.SIGALRM, signal.ITIMER_REAL), "cpu": (signal.SIGPROF, signal.ITIMER_PROF)}
_limits = {}  # type: dict[str, float]
_state = {
    "nodeid": None,
    "saved": {},
    "armed": [],
    "journal": None,
    "read": False,
    "faulthandler_free": True,
    "hard_at": None,
    "fired": None,  # (nodeid, what, report): the limit that stopped the running test, and the report it failed
}  # type: dict[str, Any]


class TestTimeLimit(BaseException):
    __test__ = False

    def __init__(self, what):
        super().__init__(what)
        self.what = what


def _seconds(name):
    try:
        value = float(os.environ.get(name, "") or 0)
    except ValueError:
        return None
    return value if value > 0 else None


def limits():
    """{'wall': s, 'cpu': s} as this run's environment sets them (read when the first test starts: a warm
    worker imports this module before the run's environment is in place)."""
    if not _state["read"]:
        _state["read"] = True
        for kind, name in (("wall", "CHAIN_TEST_TIMEOUT_S"), ("cpu", "CHAIN_TEST_CPU_S")):
            value = _seconds(name)
            if value is not None:
                _limits[kind] = value
    return _limits


def describe():
    return {f"{kind}_s": value for kind, value in limits().items()}


def _what(kind):
    return f"{'wall-clock' if kind == 'wall' else 'CPU-time'} limit of {_limits[kind]:g} s"


def _on_signal(signum, frame):
    if _state["nodeid"] is None:
        return  # between tests: the timer was being disarmed
    kind = "wall" if signum == signal.SIGALRM else "cpu"
    what = _what(kind)
    _state["fired"] = [_state["nodeid"], what, None]
    raise TestTimeLimit(what)


def _journal():
    if _state["journal"] is None:
        path = os.environ.get("CHAIN_PYTEST_REPORT")
        if not path:
            return None
        # Unbuffered: each line is one write(2), on disk as soon as it returns, with no flush to pay for (two
        # lines a test: on a suite of 50,000 fast tests a buffered file's write + flush was a few per cent).
        _state["journal"] = open(path + ".journal", "ab", buffering=0)
    return _state["journal"]


_encode = json.JSONEncoder(separators=(",", ":")).encode  # one encoder, not one per line as json.dumps(...) builds

try:  # the handler as the C level has it: signal.getsignal converts every answer into an enum, a cost per test
    from _signal import getsignal as _getsignal  # type: ignore[import-not-found]
except ImportError:  # an interpreter without CPython's _signal
    _getsignal = signal.getsignal


def journal(record):
    """Append one line, written at once: what a hard stop leaves behind."""
    _write((_encode(record) + "\n").encode())


def _write(line):
    fh = _journal()
    if fh is not None:
        fh.write(line)


def collected(nodeids, collect_errors):
    if limits():
        journal({"collected": nodeids, "collect_errors": collect_errors})


def arm(nodeid):
    found = limits()
    if not found:
        return
    wall = found.get("wall")  # the start line by hand: it is written before every test
    limit = "null" if wall is None else repr(float(wall))
    _write(('{"start":' + _quote(nodeid) + ',"limit_s":' + limit + "}\n").encode())
    _state["nodeid"] = nodeid
    _state["fired"] = None
    for kind, seconds in found.items():
        signum, timer = _signals[kind]
        current = _getsignal(signum)
        if current is not _on_signal:
            if current not in (signal.SIG_DFL, signal.SIG_IGN, None):
                continue  # the suite uses this signal itself: leave it alone, the hard limit still holds
            # Taken over once and kept until the last test (`_restore`): a handler swapped in and out around
            # every test cost two sigaction calls and their enum conversions each time.
            _state["saved"].setdefault(kind, current)
            signal.signal(signum, _on_signal)
        _state["armed"].append(timer)
        signal.setitimer(timer, seconds)
    if _state["faulthandler_free"] and "wall" in found:  # a CPU limit alone never ends a test that waits
        _arm_hard(found["wall"] + HARD_GRACE_S)


def _arm_hard(window):
    """The watchdog fires no sooner than `window` from now: kept if its deadline is far enough, else re-armed
    for twice the window (so the next tests keep it)."""
    now = time.monotonic()
    if _state["hard_at"] is not None and _state["hard_at"] >= now + window:
        return
    fh = _journal()  # the stacks go into the journal, under the test's start line: chain shows them
    if fh is not None:
        faulthandler.dump_traceback_later(2 * window, exit=True, file=fh)
        _state["hard_at"] = now + 2 * window


def _cancel_hard():
    if _state["hard_at"] is not None:
        faulthandler.cancel_dump_traceback_later()
        _state["hard_at"] = None


def disarm(entries=(), last=True):
    """After a test: its timers off, its entries journaled. `last`: no test follows in this session (the
    watchdog is cancelled and the signal handlers given back; between two tests both stay, see the module's
    docstring and `arm`)."""
    if _state["nodeid"] is None:
        return
    _state["nodeid"] = None
    for timer in _state["armed"]:
        signal.setitimer(timer, 0)
    del _state["armed"][:]
    if last:
        _cancel_hard()
        _restore()
    if entries:
        journal({"done": list(entries)})


def tests_over():
    """No test follows in this session: the running one's timers off, the watchdog cancelled, the handlers given
    back (chain_pytest_report calls it when pytest's test loop ends)."""
    disarm()
    _cancel_hard()
    _restore()


def _restore():
    """The handlers `arm` took over, given back where they are still chain's (a test that installed its own
    keeps it)."""
    for kind, previous in _state["saved"].items():
        signum, _ = _signals[kind]
        if _getsignal(signum) is _on_signal:
            signal.signal(signum, previous)
    _state["saved"].clear()


def stop():
    tests_over()
    if _state["journal"] is not None:
        _state["journal"].close()
        _state["journal"] = None


def configure(config):
    # pytest's own faulthandler_timeout uses the one faulthandler timer: a suite that sets it keeps it.
    try:
        _state["faulthandler_free"] = not float(config.getini("faulthandler_timeout") or 0)
    except (ValueError, KeyError):
        _state["faulthandler_free"] = True


@pytest.hookimpl(trylast=True)
def pytest_exception_interact(node, call, report):
    # pytest's faulthandler plugin cancels the watchdog here (a failing test, before any debugger): arm it
    # again for the rest of the test running, and the tests after it.
    _state["hard_at"] = None
    if _state["nodeid"] is not None and _state["faulthandler_free"] and "wall" in _limits:
        _arm_hard(_limits["wall"] + HARD_GRACE_S)


def timed_out(report):
    """The limit a report's phase ran over ('wall-clock limit of 2 s'), or None: the first report of the running
    test that did not pass once its timer fired (the phase TestTimeLimit ended; an xfail-marked test's too).

    Known from the signal rather than from each phase's exception (a makereport hookwrapper, three a test, was a
    good part of what the plugins cost a fast test); the same report gets the same answer however often asked."""
    fired = _state["fired"]
    if fired is None or report.passed or report.nodeid != fired[0]:
        return None
    if fired[2] is None:
        fired[2] = report
    return fired[1] if fired[2] is report else None
