"""Limits for candidate runs, from what the original costs: a looping mutant must die in milliseconds, a slow
correct one must survive a loaded machine.

Two limits, both on CPU time (a machine busy with other work slows the wall clock, not a test's own CPU use):
- per test: a pytest plugin, written into the candidate's workspace as PLUGIN_FILE and loaded with `-p`, arms
  an ITIMER_PROF timer (process CPU time, user + system) around each test's setup, call and teardown; when it
  fires, the test fails with a "CPU time limit" error and the session goes on to the next test (or stops,
  under -x). The limit is k x the slowest test of the original run, with a floor.
- per run: RLIMIT_CPU (Limits.cpu_s) at k x the original run's duration, a backstop for a loop that never
  returns to the interpreter (a C-level loop ignores the timer's Python-level exception).
The wall-clock timeout stays, generous, for code that sleeps or blocks.
"""

from __future__ import annotations

import json
import math
import shlex
from dataclasses import dataclass, replace

from ..context import Evaluation
from ..pytest_command import split_pytest
from ..sandbox import Limits

PLUGIN_MODULE = "_chain_repair_limits"
PLUGIN_FILE = f"{PLUGIN_MODULE}.py"
CPU_MARK = "CHAIN-REPAIR-CPU "
CPU_FACTOR = 10.0  # a candidate may use this many times the original's CPU
TEST_FLOOR_S = 0.1  # per-test CPU floor: timer granularity, and a first call that imports what it needs
RUN_FLOOR_S = 3  # RLIMIT_CPU floor (whole seconds)
WALL_FACTOR = 30.0  # the wall clock, only a backstop, is far more generous
UNKNOWN_TEST_S = 2.0
COVERAGE_FACTOR = 4.0  # coverage.py's tracing, at most
COVERAGE_TEST_CAP_S = 4.0  # per-test CPU limit when the original gave no durations (its run timed out)

PLUGIN_TEMPLATE = '''"""chain repair: per-test CPU-time limit (ITIMER_PROF) for candidate runs, and the CPU time each test
used (for the limits of the candidates that follow). Written by chain, not the task."""
import json
import os
import signal
import time

import pytest

LIMIT_S = {limit!r}
_cpu = {{"max_test_cpu_s": 0.0}}


class CPUTimeLimit(BaseException):
    """Not an Exception: code under test that catches Exception must not swallow it."""


def _expire(signum, frame):
    _cpu["stopped"] = True
    raise CPUTimeLimit(f"CPU time limit of {{LIMIT_S:g}}s exceeded (chain repair)")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item, nextitem):
    _coverage_context(item.nodeid)
    previous = signal.signal(signal.SIGPROF, _expire)
    _cpu["stopped"] = False
    started = time.process_time()
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_PROF, 0)
        signal.signal(signal.SIGPROF, previous)
        used = time.process_time() - started
        if not _cpu.pop("stopped", False):  # a test stopped at the limit says nothing of what tests cost
            _cpu["max_test_cpu_s"] = max(_cpu["max_test_cpu_s"], used)


def pytest_unconfigure(config):
    _cpu["session_cpu_s"] = time.process_time()
    os.write(1, ("\\n{mark}" + json.dumps(_cpu) + "\\n").encode())


def _coverage_context(nodeid):
    """Under `coverage run` (repair's localization), record each test item, parametrization included, as its
    own context: cases of one test function that pass and fail must not share one."""
    try:
        import coverage
    except ImportError:
        return
    current = coverage.Coverage.current()
    if current is not None:
        current.switch_context(nodeid)


def _arm(phase):
    @pytest.hookimpl(hookwrapper=True)
    def wrapper(item):
        signal.setitimer(signal.ITIMER_PROF, LIMIT_S)
        try:
            yield
        finally:
            signal.setitimer(signal.ITIMER_PROF, 0)
    wrapper.__name__ = phase
    return wrapper


pytest_runtest_setup = _arm("pytest_runtest_setup")
pytest_runtest_call = _arm("pytest_runtest_call")
pytest_runtest_teardown = _arm("pytest_runtest_teardown")
'''


@dataclass(frozen=True)
class CandidateLimits:
    test_cpu_s: float
    run_cpu_s: int
    wall_s: float

    def plugin_source(self) -> str:
        return PLUGIN_TEMPLATE.format(limit=round(self.test_cpu_s, 3), mark=CPU_MARK)

    def limits(self, base: Limits) -> Limits:
        return replace(base, cpu_s=min(base.cpu_s, self.run_cpu_s))


def for_coverage(limits: CandidateLimits) -> CandidateLimits:
    """The limits of the coverage run: tracing makes every line several times dearer."""
    return replace(limits, test_cpu_s=min(COVERAGE_TEST_CAP_S, max(COVERAGE_FACTOR * limits.test_cpu_s, 0.5)))


def measured_cpu(ev: Evaluation | None) -> dict[str, float] | None:
    """The CPU times the limits plugin printed at the end of the original's run, if it ran."""
    for line in reversed((ev.outcome.stdout if ev is not None else "").splitlines()):
        if line.startswith(CPU_MARK):
            try:
                found = json.loads(line[len(CPU_MARK) :])
                return {k: float(v) for k, v in found.items()}
            except (ValueError, TypeError, AttributeError):
                return None
    return None


def from_original(ev: Evaluation | None, run_timeout: float, factor: float = CPU_FACTOR) -> CandidateLimits:
    """Limits from the original's run: the CPU time of its costliest test and of the whole session, as the
    limits plugin measured them; without those, its slowest test that ran to its end and its duration
    without the tests stopped at a CPU limit (wall times: they bound CPU time from above, but a loaded
    machine inflates them)."""
    usable = ev is not None and ev.status != "timeout"
    cases = ev.cases if ev is not None and usable else []
    limited = [c for c in cases if "CPU time limit" in (c.message or "")]
    finished = [c.duration_ms for c in cases if c not in limited]  # passed or failed, but ran to its end
    run_s = (ev.duration_ms - sum(c.duration_ms for c in limited)) / 1000 if ev is not None and usable else run_timeout
    wall = min(run_timeout, max(10.0, WALL_FACTOR * max(run_s, 0.0)))
    cpu = measured_cpu(ev) if usable else None
    if cpu and "session_cpu_s" in cpu:
        test_s = max(TEST_FLOOR_S, factor * cpu.get("max_test_cpu_s", 0.0))
        run_cpu = max(RUN_FLOOR_S, math.ceil(factor * cpu["session_cpu_s"]))
        return CandidateLimits(round(test_s, 3), run_cpu, wall)
    slowest = max(finished, default=0.0) / 1000
    test_s = max(TEST_FLOOR_S, factor * slowest) if finished else UNKNOWN_TEST_S
    run_cpu = max(RUN_FLOOR_S, math.ceil(factor * min(max(run_s, 0.0), run_timeout)))
    return CandidateLimits(round(test_s, 3), run_cpu, wall)


def with_plugin(test: str, nodeids: list[str] | None = None, first_failure: bool = False) -> str | None:
    """The task's pytest command loading the limits plugin; limited to `nodeids` in that order when given, and
    stopping at the first failure with `first_failure` (None when the command is not plain pytest)."""
    parts = split_pytest(test)
    if parts is None:
        return None
    base, args = parts
    flags = [a for a in args if a.startswith("-")] if nodeids is not None else list(args)
    extra = ["-p", PLUGIN_MODULE, *(["-x"] if first_failure else [])]
    return " ".join(shlex.quote(a) for a in [*base, *flags, *extra, *(nodeids or [])])
