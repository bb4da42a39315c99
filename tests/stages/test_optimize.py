"""optimize on real code in the real sandbox: only measured, verified speedups are kept."""

import sys
from pathlib import Path

from chain.api import run_stage_on
from chain.context import StageOptions
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


SLOW_TOTAL = "def total(n):\n    s = 0\n    for i in range(n):\n        s += i\n    return s\n"
WEAK_TESTS = "from mod import total\n\ndef test_total():\n    assert total(300_000) > 0\n    assert total(0) == 0\n"


def _optimize_with_agent(tmp_path, rewrite: str):
    new = tmp_path / "new_mod.py"
    new.write_text(rewrite)
    agent = f"cmd:{sys.executable} {Path(__file__).with_name('rewrite_agent.py')} {new}"
    task = make_task("total", code=SLOW_TOTAL, tests=WEAK_TESTS)
    (result,) = run_stage_on("optimize", [task], learn=False, options=StageOptions(agent=agent))
    return task, result


def test_a_faster_rewrite_that_changes_a_recorded_return_value_is_rejected(tmp_path):
    # Far faster and it passes the weak tests, but total(300000) is off by 300000.
    task, result = _optimize_with_agent(tmp_path, "def total(n):\n    return n * (n + 1) // 2\n")
    data = result.task.history[-1].data
    assert data["applied"] == [] and result.task.files == task.files
    (rejected,) = data["rejected"]
    assert rejected["reason"].startswith("changes behaviour on a recorded call: total(300000) returns a different")
    assert rejected["equivalence"]["equivalent"] is False
    assert data.equivalence is None  # nothing was changed, so there is no verdict on a change


def test_an_honest_faster_rewrite_is_kept_with_its_equivalence_verdict(tmp_path):
    _, result = _optimize_with_agent(tmp_path, "def total(n):\n    return n * (n - 1) // 2 if n > 0 else 0\n")
    data = result.task.history[-1].data
    assert [a["rewrite"].startswith("agent cmd:") for a in data["applied"]] == [True]
    verdict = data.equivalence
    assert verdict.equivalent is True and verdict.scope == "all recorded inputs"
    assert verdict.functions == ["mod.py:total"] and verdict.calls_compared == 2
    assert result.model_dump(mode="json")["task"]["history"][-1]["data"]["equivalence"]["equivalent"] is True
