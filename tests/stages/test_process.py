"""process: built-in repair, verified by real sandboxed test runs."""

import difflib

from chain.api import run_stage_on
from chain.context import StageOptions
from tests.conftest import make_task
from tests.stages.test_analyze import BUGGY


def process(tasks, **kw):
    # A generous time budget: the candidate budget binds, so a loaded machine cannot change the outcome.
    kw.setdefault("options", StageOptions(time_budget_s=600))
    return run_stage_on("process", tasks, learn=False, **kw)


def test_repairs_an_off_by_one_with_the_smallest_edit_and_a_diff():
    analyzed = run_stage_on("analyze", [BUGGY], learn=False)
    (result,) = process(analyzed)
    assert result.status == "passed" and result.tests.failed == 0
    data = result.task.history[-1].data
    (edit,) = data["repair"]["edits"]
    assert (edit["file"], edit["line"]) == ("mod.py", 7)
    assert "ordered[mid - 1]" in result.task.files["mod.py"]
    assert data["diff"].startswith("--- a/mod.py\n+++ b/mod.py\n")
    assert sum(l.startswith("-") and not l.startswith("---") for l in data["diff"].splitlines()) == 1
    # It does what the original did on the calls of the tests the original passed (test_odd's median([5, 1, 3])).
    verdict = data.equivalence
    assert verdict.scope == "inputs where the original was right" and verdict.equivalent is True
    assert verdict.functions == ["mod.py:median"] and verdict.calls_compared >= 1 and verdict.calls_out_of_scope >= 1
    assert "equivalent on" in data["repair"]["verification"]
    # The emitted files really pass, in a fresh run.
    (recheck,) = run_stage_on("analyze", [result.task], learn=False, sandbox="local")
    assert recheck.status == "passed"


def test_same_seed_same_repair_and_localizes_itself_without_analysis():
    first = process([BUGGY], seed=5)[0]
    second = process([BUGGY], seed=5)[0]
    assert first.status == second.status == "passed"
    assert first.task.files == second.task.files
    assert first.task.history[-1].data["repair"]["edits"] == second.task.history[-1].data["repair"]["edits"]


def test_unrepairable_task_stays_failed_and_unchanged():
    hopeless = make_task("hopeless", code="def add(a, b):\n    return 0\n",
                         tests="from mod import add\n\ndef test_add():\n    assert add(2, 3) == 5\n    assert add(1, 1) == 2\n")
    (result,) = process([hopeless], profile="conservative")
    assert result.status == "failed"
    assert result.task.files == hopeless.files and result.task.history[-1].data["diff"] == ""
    assert "no repair found" in result.result


def test_profiles_spend_different_budgets():
    pair_bug = make_task("pair", code="def span(xs):\n    return min(xs) - max(xs)\n",
                         tests="from mod import span\n\ndef test_span():\n    assert span([3, 9, 4]) == 6\n")
    runs = {p: process([pair_bug], profile=p)[0] for p in ("conservative", "aggressive")}
    budgets = {p: r.task.history[-1].data["repair"]["budget"] for p, r in runs.items()}
    assert budgets["conservative"] < budgets["aggressive"]
    assert runs["aggressive"].status == "passed"


def test_patch_in_the_task_is_applied_and_verified():
    fixed = BUGGY.files["mod.py"].replace("mid + 1", "mid - 1")
    patch = "".join(difflib.unified_diff(BUGGY.files["mod.py"].splitlines(True), fixed.splitlines(True),
                                         "a/mod.py", "b/mod.py"))
    task = BUGGY.model_copy(update={"metadata": {"patch": patch}})
    (result,) = process([task])
    assert result.status == "passed" and "patch applied" in result.result
    assert result.task.files["mod.py"] == fixed
