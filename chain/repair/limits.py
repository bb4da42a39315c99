"""Limits for candidate runs, from what the original costs: a looping mutant must die in milliseconds, a slow
correct one must survive a loaded machine.

Two limits, both on CPU time (a machine busy with other work slows the wall clock, not a test's own CPU use),
through the engine's one per-test mechanism (chain/sandbox/plugin/chain_test_limits.py, docs/sandbox.md
"Per-test limits"), so repair's runs are ordinary runs (a prepared warm session where the backend has one):
- per test: CHAIN_TEST_CPU_S (chain.analysis.limits.limits_env) arms an ITIMER_PROF timer (process CPU time,
  user + system) around each test; when it fires, the test is `timeout` and the session goes on to the next
  test (or stops, under -x). The limit is k x the costliest test of the original run, with a floor. The batch
  runner's forked candidates use the same module (chain.repair.batch_runner).
- per run: RLIMIT_CPU (Limits.cpu_s) at k x the original run's CPU time, a backstop for a loop that never
  returns to the interpreter (a C-level loop ignores the timer's Python-level exception).
The wall-clock timeout stays, generous, for code that sleeps or blocks. What the original cost comes from the
report file (chain's report plugin notes the costliest test's CPU time and the session's).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

from ..analysis.limits import limits_env
from ..context import Evaluation
from ..sandbox import Limits

CPU_FACTOR = 10.0  # a candidate may use this many times the original's CPU
TEST_FLOOR_S = 0.1  # per-test CPU floor: timer granularity, and a first call that imports what it needs
RUN_FLOOR_S = 3  # RLIMIT_CPU floor (whole seconds)
WALL_FACTOR = 30.0  # the wall clock, only a backstop, is far more generous
UNKNOWN_TEST_S = 2.0
COVERAGE_FACTOR = 4.0  # coverage.py's tracing, at most
COVERAGE_TEST_CAP_S = 4.0  # per-test CPU limit when the original gave no durations (its run timed out)


@dataclass(frozen=True)
class CandidateLimits:
    test_cpu_s: float
    run_cpu_s: int
    wall_s: float

    def env(self) -> dict[str, str]:
        """The run's environment for the per-test CPU limit."""
        return limits_env(cpu_s=round(self.test_cpu_s, 3))

    def limits(self, base: Limits) -> Limits:
        return replace(base, cpu_s=min(base.cpu_s, self.run_cpu_s))


def for_coverage(limits: CandidateLimits) -> CandidateLimits:
    """The limits of the coverage run: tracing makes every line several times dearer."""
    return replace(limits, test_cpu_s=min(COVERAGE_TEST_CAP_S, max(COVERAGE_FACTOR * limits.test_cpu_s, 0.5)))


def measured_cpu(ev: Evaluation | None) -> dict[str, float] | None:
    """The CPU times chain's report plugin noted in the original's run: its costliest test that ran to its end
    (`max_test_cpu_s`) and the whole session (`session_cpu_s`); None without a report."""
    found = ((ev.outcome.report or {}) if ev is not None else {}).get("cpu")
    if not isinstance(found, dict):
        return None
    try:
        return {"max_test_cpu_s": float(found["max_test_s"]), "session_cpu_s": float(found["session_s"])}
    except (KeyError, TypeError, ValueError):
        return None


def from_original(ev: Evaluation | None, run_timeout: float, factor: float = CPU_FACTOR) -> CandidateLimits:
    """Limits from the original's run: the CPU time of its costliest test and of the whole session, as chain's
    report plugin noted them; without those, its slowest test that ran to its end and its duration
    without the tests stopped at a CPU limit (wall times: they bound CPU time from above, but a loaded
    machine inflates them)."""
    usable = ev is not None and ev.status != "timeout"
    cases = ev.cases if ev is not None and usable else []
    limited = [c for c in cases if c.outcome == "timeout"]
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
