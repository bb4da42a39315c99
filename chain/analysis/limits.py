"""Per-test limits: how long one test may take before it is that test's `timeout` and the run goes on.

The limits travel to chain's pytest plugin (chain/sandbox/plugin/chain_test_limits.py) in the run's
environment, the one documented way to set them (docs/sandbox.md, "Per-test limits"):

    ctx.run_tests(files, command, env=limits_env(wall_s=2.0, cpu_s=0.05))

    CHAIN_TEST_TIMEOUT_S  wall-clock seconds per test (SIGALRM, then faulthandler's watchdog)
    CHAIN_TEST_CPU_S      CPU seconds per test (SIGPROF; a looping mutant stops in tens of ms)

A task's first run has no timing of its own, so its limit is the profile's `run.test_timeout_s` (default: a
quarter of the whole-run timeout, at most FIRST_RUN_CAP_S). Every later run of the task (analyze's reruns and
coverage run, repair candidates, optimize's timings) takes its limit from the suite's own timing: FACTOR x the
slowest test that finished, never under FLOOR_S, never over the first-run limit. analyze records that limit in
its data as `test_timeout_s`, for the stages after it. The whole-run timeout stays the last guard.
"""

from __future__ import annotations

from collections.abc import Iterable

from ..protocol import Task, TestCase
from ..strategy import Profile

FACTOR = 10.0
FLOOR_S = 1.0
COVERAGE_FACTOR = 3.0  # coverage with per-test contexts slows tests down
# A profile that sets no first-run limit: a quarter of its run timeout, at most this. Real suites have single tests
# of tens of seconds on a loaded CI machine (more-itertools' test_primes: 16 s), which a 15 s limit cut.
FIRST_RUN_CAP_S = 60.0


def limits_env(wall_s: float | None = None, cpu_s: float | None = None) -> dict[str, str]:
    env = {}
    if wall_s:
        env["CHAIN_TEST_TIMEOUT_S"] = f"{wall_s:.3f}"
    if cpu_s:
        env["CHAIN_TEST_CPU_S"] = f"{cpu_s:.3f}"
    return env


def first_run_limit(profile: Profile) -> float:
    return profile.run.test_timeout_s or min(profile.run.timeout_s / 4, FIRST_RUN_CAP_S)


def from_timing(cases: Iterable[TestCase], profile: Profile) -> float:
    """FACTOR x the slowest test that finished (a timeout says nothing of how long the test needs)."""
    slowest = max((c.duration_ms for c in cases if c.outcome != "timeout"), default=0.0) / 1000
    return round(min(first_run_limit(profile), max(FLOOR_S, FACTOR * slowest)), 3)


def for_task(task: Task, profile: Profile) -> float:
    """The limit for a task a previous stage has timed (analyze's `test_timeout_s`), else the first-run one."""
    for entry in reversed(task.history):
        limit = entry.data.get("test_timeout_s")
        if isinstance(limit, (int, float)) and limit > 0:
            return min(float(limit), first_run_limit(profile))
    return first_run_limit(profile)
