"""optimize on real code in the real sandbox: only measured, verified speedups are kept."""

from pathlib import Path

from chain.api import run_stage_on
from chain.tasks import tasks_from_paths
from tests.conftest import ROOT, make_task


def test_memoizes_the_slow_fibonacci_example_with_a_measured_speedup():
    (task,) = tasks_from_paths([ROOT / "examples" / "projects" / "slow_fib"])
    (result,) = run_stage_on("optimize", [task], learn=False)
    assert result.status == "passed"
    data = result.task.history[-1].data
    assert [a["rewrite"] for a in data["applied"]] == ["memoize fib"]
    assert data["speedup"]["ci_low"] > 1 + data["margin"]
    # The second figure, each test's fastest run summed, agrees that it is faster.
    assert data["min_of_n"]["tests"] >= 1 and data["min_of_n"]["ratio"] > 1
    assert "@functools.lru_cache(maxsize=None)" in result.task.files["fib.py"]
    assert "+@functools.lru_cache" in data["diff"]
    (recheck,) = run_stage_on("analyze", [result.task], learn=False, sandbox="local")
    assert recheck.status == "passed"


def test_a_rewrite_that_is_not_faster_is_rejected():
    # Memoizing a cheap recursion saves nothing measurable: the code must stay as it was.
    cheap = make_task("cheap", code="def depth(n):\n    return 0 if n == 0 else 1 + depth(n - 1)\n",
                      tests="from mod import depth\n\ndef test_depth():\n    assert depth(3) == 3\n")
    (result,) = run_stage_on("optimize", [cheap], learn=False, profile="conservative")
    data = result.task.history[-1].data
    assert data["applied"] == [] and data["rejected"][0]["rewrite"] == "memoize depth"
    assert result.task.files == cheap.files and data["diff"] == ""


def test_failing_tasks_are_not_optimized():
    broken = make_task("broken", code="def add(a, b):\n    return a - b\n")
    (result,) = run_stage_on("optimize", [broken], learn=False)
    assert result.status == "failed" and "not optimized" in result.result
