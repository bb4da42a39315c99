"""Per-test limits (CHAIN_TEST_TIMEOUT_S, CHAIN_TEST_CPU_S): a test over its limit is that test's `timeout`,
the run goes on with the next test and every other result is kept, on cold and warm backends."""

from __future__ import annotations

import time

import pytest

from chain import registry
from chain.analysis.limits import limits_env
from chain.context import StageContext
from chain.strategy import load_profile
from tests.chain.sandbox.conftest import backend_params

HANGS = {"test_hangs.py": """\
import signal, time

import pytest


@pytest.fixture
def breaks_on_teardown():
    yield
    raise RuntimeError("teardown broke")

def test_before():
    pass

def test_loops():
    while True:
        pass

def test_sleeps_and_swallows_exceptions():
    try:
        time.sleep(600)
    except Exception:
        pass

def test_blocks_the_signal():
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGALRM})
    time.sleep(600)

def test_loops_then_its_teardown_fails(breaks_on_teardown):
    while True:
        pass

def test_after():
    assert 1 + 1 == 2
"""}

SPINS = {"test_spin.py": """\
def test_spins():
    while True:
        pass

def test_quick():
    assert sum(range(1000)) == 499500
"""}


@pytest.fixture(scope="module", params=backend_params())
def ctx(request):
    box = registry.sandbox(request.param)
    yield StageContext(stage="analyze", profile=load_profile("balanced"), sandbox=box, timeout_s=120)
    box.close()


def outcomes(ev) -> dict[str, str]:
    return {c.nodeid.split("::")[1]: c.outcome for c in ev.cases}


def test_a_test_over_its_wall_clock_limit_times_out_and_the_run_goes_on(ctx):
    ev = ctx.run_tests(HANGS, "python -m pytest -q", env=limits_env(wall_s=1.0))
    assert outcomes(ev) == {"test_before": "passed", "test_loops": "timeout",
                            "test_sleeps_and_swallows_exceptions": "timeout", "test_blocks_the_signal": "timeout",
                            "test_loops_then_its_teardown_fails": "timeout", "test_after": "passed"}, ev.summary
    assert ev.status == "failed" and (ev.tests.passed, ev.tests.failed) == (2, 4)
    by_name = {c.nodeid.split("::")[1]: c for c in ev.cases}
    assert "wall-clock limit of 1 s" in by_name["test_loops"].message
    # the phase the limit stopped is the one reported, not the teardown that broke after it
    assert "wall-clock limit of 1 s" in by_name["test_loops_then_its_teardown_fails"].message
    # signals blocked: faulthandler's watchdog ended that session; its stacks are kept, the rest ran anew
    assert "did not respond to the signal" in by_name["test_blocks_the_signal"].message
    assert "test_blocks_the_signal" in by_name["test_blocks_the_signal"].message  # the stack names the test
    assert ev.outcome.report["hard_stops"] == ["test_hangs.py::test_blocks_the_signal"]
    assert ev.duration_ms < 60_000  # not the whole-run timeout (120 s)


def test_a_cpu_limit_stops_a_spinning_test_in_tens_of_ms(ctx):
    started = time.monotonic()
    ev = ctx.run_tests(SPINS, "python -m pytest -q", env=limits_env(cpu_s=0.05))
    assert outcomes(ev) == {"test_spins": "timeout", "test_quick": "passed"}, ev.summary
    spun = next(c for c in ev.cases if c.outcome == "timeout")
    assert "CPU-time limit of 0.05 s" in spun.message
    assert time.monotonic() - started < 60


def test_without_limits_nothing_is_armed(ctx):
    ev = ctx.run_tests({"test_t.py": "import signal\n\ndef test_t():\n"
                        "    assert signal.getsignal(signal.SIGALRM) == signal.SIG_DFL\n"}, "python -m pytest -q")
    assert ev.status == "passed" and "test_limits" not in ev.outcome.report


OWN_ALARM = {"test_own_alarm.py": """import signal, time

fired = []


def handler(signum, frame):
    fired.append(signum)


def test_installs_its_own_alarm_handler():
    signal.signal(signal.SIGALRM, handler)


def test_the_handler_is_still_its_own_and_its_alarm_reaches_it():
    assert signal.getsignal(signal.SIGALRM) is handler
    signal.setitimer(signal.ITIMER_REAL, 0.05)
    time.sleep(0.3)
    assert fired == [signal.SIGALRM]
"""}


def test_a_suite_that_installs_its_own_alarm_handler_keeps_it_across_tests(ctx):
    # chain's wall-clock timer uses SIGALRM while no handler of the suite's own is there; a handler a test
    # installs stays for the next tests (chain's is given back only where it is still chain's), and that
    # test's own alarm reaches it.
    ev = ctx.run_tests(OWN_ALARM, "python -m pytest -q", env=limits_env(wall_s=5.0))
    assert ev.status == "passed", (ev.summary, [c.message for c in ev.cases if c.message])


# Many tests under their limit, back to back, then a session end slower than the watchdog's whole window (a
# plugin writing a coverage report): the watchdog, armed once for several tests, never ends one of them nor
# the session after the last (it would leave no report: every result lost).
WITHIN_LIMITS = {
    "conftest.py": "import time\n\ndef pytest_sessionfinish(session):\n    time.sleep(5.0)\n",
    "test_steady.py": "import time, pytest\n\n@pytest.mark.parametrize('n', range(8))\n"
                      "def test_steady(n):\n    time.sleep(0.15)\n",
}


@pytest.mark.parametrize("name", backend_params(["local", "bwrap-warm"]))
def test_tests_within_their_limit_and_a_slow_session_end_are_never_stopped_hard(name):
    box = registry.sandbox(name)
    try:
        ctx = StageContext(stage="analyze", profile=load_profile("balanced"), sandbox=box, timeout_s=120)
        # 0.4 s a test that sleeps 0.15 s: room for a loaded CI machine; the watchdog's window (2 x (0.4 + 2) s)
        # stays under the 5 s session end
        ev = ctx.run_tests(WITHIN_LIMITS, "python -m pytest -q", env=limits_env(wall_s=0.4))
    finally:
        box.close()
    assert ev.status == "passed" and ev.tests.passed == 8, ev.summary
    assert not ev.outcome.report.get("hard_stops") and ev.outcome.report["test_limits"] == {"wall_s": 0.4}


def test_the_whole_run_timeout_keeps_the_tests_that_finished_before_it(ctx):
    # The last guard: a test under a generous per-test limit outlasts the whole run's limit. The tests that
    # finished keep their results, the running one is its `timeout`, the rest is named (not run: time is spent).
    files = {"test_order.py": "import time\n\ndef test_a():\n    pass\n\ndef test_b():\n    assert False, 'b fails'\n\n"
             "def test_c():\n    time.sleep(600)\n\ndef test_d():\n    pass\n"}
    # 12 s: room for pytest's start-up on a loaded CI machine, so test_a..test_c have run when it ends
    short = StageContext(stage="analyze", profile=ctx.profile, sandbox=ctx.sandbox, timeout_s=12)
    ev = short.run_tests(files, "python -m pytest -q", env=limits_env(wall_s=300.0))
    assert ev.status == "timeout", ev.summary
    assert outcomes(ev) == {"test_a": "passed", "test_b": "failed", "test_c": "timeout"}, ev.summary
    assert "finished before it: 1 passed, 2 failed" in ev.summary  # a timeout counts as failed
    assert "1 tests not run before the whole run's limit: ['test_order.py::test_d']" in ev.summary
    stuck = next(c for c in ev.cases if c.outcome == "timeout")
    assert "whole run's wall-clock limit of 12 s" in stuck.message
