"""Candidate validation in real sandboxes: batches of forked pytest runs under CPU-time limits from the
original's cost."""

import multiprocessing
import time

import pytest

from chain.api import make_context
from chain.repair import batch
from chain.repair.limits import CandidateLimits, from_original, measured_cpu
from chain.stages.process import FIRST_RUN_LIMITS as FIRST_RUN

CODE = """\
def work(n):
    total = 0
    for i in range(n):
        total += i % 7
    return total
"""
SLOW_TEST = """\
from mod import work
from helpers import expected


def test_work_is_slow_but_right():
    assert work(1_000_000) == expected()


def test_small():
    assert work(10) == 24
"""
HELPERS = "def expected():\n    return sum(i % 7 for i in range(1_000_000))\n"
CONFTEST = "def pytest_configure(config):\n    config.addinivalue_line('markers', 'edge: configuration only')\n"
FILES = {"mod.py": CODE, "test_mod.py": SLOW_TEST, "helpers.py": HELPERS, "conftest.py": CONFTEST}
LOOPING = CODE.replace("    total = 0\n", "    total = 0\n    while n:\n        total += 0\n")
WRONG = CODE.replace("i % 7", "i % 6")


def _spin(stop):
    while not stop.is_set():
        pass


@pytest.fixture
def ctx():
    context = make_context("process", "balanced", "auto", None)
    yield context
    context.sandbox.close()


def test_cpu_limits_stop_a_looping_candidate_and_spare_a_slow_correct_one_under_load(ctx):
    original = ctx.run_tests(FILES, "python -m pytest -q", env=FIRST_RUN.env())
    assert original.status == "passed"
    limits = from_original(original, ctx.run_timeout)
    assert measured_cpu(original)["max_test_cpu_s"] > 0  # the CPU the costliest test took, not its wall time
    # The slowest original test sets the per-test CPU limit, with room: well below the wall-clock backstop.
    assert limits.test_cpu_s < limits.wall_s
    stop = multiprocessing.Event()
    hogs = [multiprocessing.Process(target=_spin, args=(stop,)) for _ in range(4)]  # load: 4 spinning CPUs
    for hog in hogs:
        hog.start()
    try:
        started = time.monotonic()
        looping, slow_ok, wrong = batch.run_batch(
            ctx, FILES, [({"mod.py": LOOPING}, None), ({"mod.py": CODE}, None), ({"mod.py": WRONG}, None)],
            "python -m pytest -q", limits, "cpu-limits")
        elapsed = time.monotonic() - started
    finally:
        stop.set()
        for hog in hogs:
            hog.join()
    # The loop was stopped by the per-test CPU limit (not the wall clock), and failed.
    assert not looping.passed and looping.cpu_limited == 1 and looping.ended == "exit"
    # The slow but correct candidate passed although four busy processes shared the machine with it.
    assert slow_ok.passed and slow_ok.cpu_limited == 0
    assert not wrong.passed and wrong.first_failure.endswith("test_work_is_slow_but_right")
    assert elapsed < 3 * limits.wall_s  # nothing waited out a wall-clock limit


def test_screening_stops_at_the_first_failure_and_skips_the_full_run(ctx):
    limits = CandidateLimits(test_cpu_s=5.0, run_cpu_s=30, wall_s=60.0)
    screen = ["test_mod.py::test_small", "test_mod.py::test_work_is_slow_but_right"]
    broken = CODE.replace("return total", "return -1")
    (verdict,) = batch.run_batch(ctx, FILES, [({"mod.py": broken}, screen)], "python -m pytest -q", limits, "x")
    assert not verdict.screened and not verdict.passed
    assert verdict.first_failure == "test_mod.py::test_small" and verdict.fixed == 0


def test_limits_come_from_the_original_run(ctx):
    original = ctx.run_tests({"mod.py": CODE, "test_mod.py": "from mod import work\n\ndef test_w():\n"
                              "    assert work(10) == 24\n"}, "python -m pytest -q")
    fast = from_original(original, 60.0)
    slow = from_original(ctx.run_tests(FILES, "python -m pytest -q"), 60.0)
    assert fast.test_cpu_s <= slow.test_cpu_s and fast.run_cpu_s <= slow.run_cpu_s
    assert from_original(None, 60.0).test_cpu_s > fast.test_cpu_s  # nothing known: the generous default
