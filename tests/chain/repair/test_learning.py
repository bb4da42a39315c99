"""Operator learning: the store learns which operators became fixes, and the candidate order follows it,
deterministically per seed. Real SQLite state databases."""

from chain.api import run_stage_on
from chain.context import StageOptions
from chain.repair.learning import OperatorPriors, line_shapes, observations
from chain.repair.search import ranked_singles
from chain.store import ProfileStore
from tests.conftest import make_task

SRC = {"mod.py": "def pick(xs, i):\n    if i >= len(xs):\n        return None\n    return xs[i] + 1\n"}
LINES = [{"file": "mod.py", "line": 4, "score": 1.0}, {"file": "mod.py", "line": 2, "score": 0.5}]


def _order(priors, seed="0/t"):
    return [(c.edits[0].operator, c.edits[0].line, c.edits[0].text) for c in ranked_singles(SRC, LINES, priors,
                                                                                            "assert", seed)]


def test_same_seed_same_order_and_a_success_moves_its_operator_up(tmp_path):
    store = ProfileStore(tmp_path / "state.db")
    before = _order(OperatorPriors.load(store, "process"))
    assert before == _order(OperatorPriors.load(store, "process"))  # same seed, same order
    context = f"assert/{line_shapes(SRC['mod.py'])[4]}"
    first_unwrap = next(i for i, c in enumerate(before) if c[0] == "wrap call")
    # Three tasks whose fix was a wrapped call in this context; others tried alongside never won.
    for _ in range(3):
        store.fold_operators("process", observations({f"wrap call|{context}": 4, f"swap comparison|{context}": 9},
                                                     {"wrap call"}, context), alpha=0.4)
    after = _order(OperatorPriors.load(store, "process"))
    assert sorted(after) == sorted(before)  # the same candidates ...
    assert next(i for i, c in enumerate(after) if c[0] == "wrap call") < first_unwrap  # ... the learned one earlier
    assert after == _order(OperatorPriors.load(store, "process"))
    rows = {(r["operator"], r["context"]): r for r in store.operator_stats("process")}
    assert rows[("wrap call", context)]["fixes"] == 3 and rows[("swap comparison", context)]["fixes"] == 0
    assert rows[("wrap call", "*")]["tasks"] == 3


def test_process_records_the_operator_that_fixed_a_task(tmp_path):
    task = make_task("off", code="def last(xs):\n    return xs[len(xs)]\n",
                     tests="from mod import last\n\ndef test_last():\n    assert last([1, 2, 3]) == 3\n")
    state = tmp_path / "state.db"
    (result,) = run_stage_on("process", [task], state=state, options=StageOptions(time_budget_s=600))
    assert result.status == "passed"
    (edit,) = result.task.history[-1].data["repair"]["edits"]
    rows = ProfileStore(state).operator_stats("process")
    won = [r for r in rows if r["fixes"] and r["context"] != "*"]
    assert [r["operator"] for r in won] == [edit["operator"]]
    assert won[0]["context"].startswith("IndexError/")  # what the failing test showed, and the line's kind


def test_an_original_that_loops_forever_is_localized_and_repaired():
    loopy = make_task("loopy", code="def count(n):\n    i = 0\n    while i != n:\n        i += 2\n    return i\n",
                      tests="from mod import count\n\ndef test_odd():\n    assert count(3) == 3\n\n"
                            "def test_even():\n    assert count(4) == 4\n")
    (result,) = run_stage_on("process", [loopy], learn=False, options=StageOptions(time_budget_s=600))
    data = result.task.history[-1].data
    assert "stopped at the per-test CPU limit" in result.result
    assert data["repair"]["failure_shape"] == "loop"
    assert result.status == "passed" and "i += 1" in result.task.files["mod.py"]
